"""Acknowledge QoS 1/2 messages to the broker only after they are committed.

aiomqtt 2.5 exposes no manual acknowledgement and paho acks inside on_message, before our handler
runs (../shared/STACK.md §1). paho 2.x supports manual acks; this adapter (with pahotune.py, for reads)
is the only place that reaches into aiomqtt's private paho client (empicano/aiomqtt#345), so a
future aiomqtt API replaces it here alone.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt

from .pahotune import BufferedSocket


def enable_manual_ack(client: aiomqtt.Client) -> None:
    """Stop paho from sending PUBACK/PUBCOMP on receipt; must run before connecting."""
    client._client.manual_ack_set(True)


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Send PUBACK (QoS 1) or PUBCOMP (QoS 2) for a message we have committed."""
    if message.qos > 0:
        client._client.ack(message.mid, message.qos)


_PUBACK = 0x40  # MQTT PUBACK fixed header; remaining length 2 = packet id only (success, v3.1.1 and v5)


class AckBatch:
    """PUBACKs for messages acknowledged on receipt (heartbeats), sent together once per loop turn.

    paho queues each `ack` as its own packet and asks the event loop for a writer each time (a
    self-pipe write, two epoll changes and a `send` per message). Here the PUBACKs of one turn are
    concatenated and written at once. QoS 2 goes through `ack` (it has a handshake). Alarms are
    never acked here: they are acked by `ack` after their commit.
    """

    def __init__(self) -> None:
        self._client: aiomqtt.Client | None = None
        self._packets: list[bytes] = []
        self._scheduled = False

    def add(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        """Acknowledge `message` with the next batch."""
        if message.qos != 1:
            ack(client, message)
            return
        if client is not self._client:
            self.flush()
            self._client = client
        self._packets.append(bytes((_PUBACK, 2, message.mid >> 8, message.mid & 0xFF)))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Send what is pending in one write on the client's socket."""
        self._scheduled = False
        if self._client is None or not self._packets:
            return
        data, self._packets = b"".join(self._packets), []
        paho = self._client._client
        sock = paho._sock
        sent = 0
        # Straight to the socket when paho has nothing queued (so no packet is half written):
        # paho's own queue would cost a thread-safe call, two epoll changes and a loop turn.
        if isinstance(sock, BufferedSocket) and not paho._out_packet:
            with contextlib.suppress(BlockingIOError):
                sent = sock.send(data)
        if sent < len(data):
            paho._packet_queue(_PUBACK, data[sent:], 0, 0)
