"""The fake's <Dial>: a second leg from the caller id to the dialled number, bridged to the first.

Like Twilio: the dialled phone rings (as scripted on the phones page), an answered leg talks until
either side hangs up (here: a few network steps), and the <Dial>'s action is posted with
DialCallStatus, DialCallSid and DialCallDuration; its TwiML continues the first call.
(twilio.com/docs/voice/twiml/dial#attributes-action)
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from .fake_state import FakeCall, new_sid

if TYPE_CHECKING:
    from .fake_lifecycle import Network

UNANSWERED = {"busy": "busy", "no-answer": "no-answer", "failed": "failed"}
TALK_STEPS = 3  # how long the bridged people talk, in network steps (a demo sees the bridge)


async def dial(network: Network, parent: FakeCall, verb: ET.Element) -> str | None:
    """Ring the dialled number for `parent`; the action's TwiML, or None without an action."""
    fake = network.fake
    number = (verb.findtext("Number") or verb.text or "").strip()
    leg = FakeCall(new_sid("CA"), verb.get("callerId") or parent.from_, number, "queued",
                   {"ParentCallSid": [parent.sid]}, parent_sid=parent.sid)
    fake.calls[leg.sid] = leg
    parent.bridged.append(leg.sid)
    await fake.changed()
    leg.lifecycle = fake.spawn(_ring(network, leg, float(verb.get("timeout") or 30)))
    try:
        await asyncio.wait([leg.lifecycle])
    except asyncio.CancelledError:  # the first call ended: the bridge goes with it
        network.hang_up(leg, "completed" if leg.status == "in-progress" else "canceled")
        raise
    action = verb.get("action")
    if not action:
        return None
    params = network.call_params(parent, "in-progress")
    params.update({"DialCallStatus": leg.dial_status or "failed", "DialCallSid": leg.sid,
                   "DialCallDuration": str(leg.duration),
                   "DialBridged": "true" if leg.dial_status == "completed" else "false"})
    _, reply = await network.post("webhook", urljoin(parent.param("Url") or "", action), params)
    parent.replies.append(reply)
    return reply


async def _ring(network: Network, leg: FakeCall, ring_seconds: float) -> None:
    """initiated → ringing → the dialled phone's scripted answer; a talk when it picks up."""
    mode = network.fake.phone(leg.to).call
    started = time.monotonic()
    try:
        for status in ("initiated", "ringing"):
            await network.step()
            await network.call_status(leg, status, status)
        if mode == "ring":
            await asyncio.sleep(min(ring_seconds, network.fake.wait_timeout))
            leg.dial_status = "no-answer"
        elif mode in UNANSWERED:
            await network.step()
            leg.dial_status = UNANSWERED[mode]
        else:
            await network.call_status(leg, "answered", "in-progress")
            leg.answered_by = "human" if mode == "answer" else "machine_start"
            for _ in range(TALK_STEPS):
                await network.step()
            leg.duration = max(1, round(time.monotonic() - started))
            leg.dial_status = "completed"
    except asyncio.CancelledError:
        if leg.hung_up is None:
            raise
        leg.dial_status = "completed" if leg.answered_by else "canceled"
    leg.finished = True
    await network.call_status(leg, "completed", "completed" if leg.answered_by else
                              leg.dial_status or "canceled")
