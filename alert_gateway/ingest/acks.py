"""Acknowledge QoS 1/2 messages to the broker only after they are committed.

aiomqtt 2.5 exposes no manual acknowledgement and paho acks inside on_message, before our handler
runs (../shared/STACK.md §1). paho 2.x supports manual acks; this adapter (with pahotune.py, for reads)
is the only place that reaches into aiomqtt's private paho client (empicano/aiomqtt#345), so a
future aiomqtt API replaces it here alone.
"""

from __future__ import annotations

import aiomqtt


def enable_manual_ack(client: aiomqtt.Client) -> None:
    """Stop paho from sending PUBACK/PUBCOMP on receipt; must run before connecting."""
    # No fallback, unlike pahotune: without this, alarms would be acked before their commit.
    client._client.manual_ack_set(True)


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Send PUBACK (QoS 1) or PUBCOMP (QoS 2) for a message we have committed; QoS 0 needs none."""
    if message.qos > 0:
        client._client.ack(message.mid, message.qos)
