"""One attempt's request to Twilio, and the callback URLs that name the attempt."""

from __future__ import annotations

import json
from collections.abc import Callable

from ..db.models import NotificationAttempt, NotifyChannel, Purpose
from ..line.client import LineSender
from ..twilio.client import PermanentSendError, ProviderResult, TransientSendError, TwilioSender
from ..twilio.twiml import alert_call_twiml


def callback_url(base: str, path: str, attempt_id: int) -> str:
    """A webhook URL on our public base, naming the attempt (callbacks may beat the API answer)."""
    return f"{base.rstrip('/')}/twilio/{path}?attempt={attempt_id}"


def gather_url(base: str, attempt: NotificationAttempt) -> str:
    """The <Gather> action of `attempt`'s call. A sweep call's says so: its "1" then takes the
    one-statement path (responses/sweep_fine.py), which a contact's key on an alarm call never
    tries (a round trip that could match nothing). Only a hint: that statement checks the row."""
    assert attempt.id is not None
    url = callback_url(base, "voice/gather", attempt.id)
    return f"{url}&purpose={attempt.purpose}" if attempt.purpose == Purpose.SWEEP.value else url


def status_callback(attempt: NotificationAttempt, *, base: str) -> str:
    """The status callback URL of `attempt`'s requests (also the key of one that timed out)."""
    assert attempt.id is not None
    path = "sms/status" if attempt.channel == NotifyChannel.SMS.value else "voice/status"
    return callback_url(base, path, attempt.id)


async def request(sender: TwilioSender, attempt: NotificationAttempt, *, base: str,
                  voice_for: Callable[[str], str | None],
                  line: LineSender) -> ProviderResult | Exception:
    """Send the SMS, place the call or push the LINE message; a send error is returned, to be
    recorded like an answer."""
    assert attempt.id is not None
    try:
        if attempt.channel == NotifyChannel.LINE.value:
            return await line.push(attempt_id=attempt.id, created_at=attempt.created_at,
                                   body=attempt.body)
        if attempt.channel == NotifyChannel.SMS.value:
            return await sender.send_sms(
                to=attempt.to_number, body=attempt.body or "",
                status_callback=status_callback(attempt, base=base))
        spoken = json.loads(attempt.body or "{}")
        language = spoken.get("language", "ja-JP")
        twiml = alert_call_twiml(
            text=spoken.get("text", ""), language=language,
            action_url=gather_url(base, attempt),
            repeat_text=spoken.get("repeat", ""), goodbye_text=spoken.get("goodbye", ""),
            voice=voice_for(language))
        return await sender.place_call(
            to=attempt.to_number, twiml=twiml,
            status_callback=status_callback(attempt, base=base),
            amd_callback=callback_url(base, "voice/amd", attempt.id))
    except (TransientSendError, PermanentSendError) as exc:
        return exc
