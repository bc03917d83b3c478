"""SIA DC-09 frames: check and read one (pysiaalarm parses and decrypts), build our answers.

A frame is `<LF><crc><0LLL>"<id>"<seq>R<rcvr>L<line>#<acct>[<data>]_<timestamp><CR>`: the CRC is
CRC-16/ARC over everything from the first quote to the end, `0LLL` that part's length in hex
(ANSI/SIA DC-09-2013). The length is not enforced: the CRC already proves the frame intact,
and pysiaalarm (which Home Assistant's panels work with) does not check it either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.errors import EventFormatError, NoAccountError
from pysiaalarm.utils import MAIN_MATCHER, MessageTypes

from ..db.messages import RejectReason

# An encrypted frame's timestamp must lie in this window around our time, or it could be a
# replay (DC-09; pysiaalarm's default band). The NAK carries our time so the panel
# can set its clock.
REPLAY_PAST = timedelta(seconds=40)
REPLAY_FUTURE = timedelta(seconds=20)
TIMESTAMP_FORMAT = "_%H:%M:%S,%m-%d-%Y"


class Answer(StrEnum):
    """What the receiver tells the panel."""

    ACK = "ACK"  # we hold it: the panel stops repeating
    NAK = "NAK"  # not taken (garbled, unreadable, or not committed in time): the panel repeats
    DUH = "DUH"  # well-formed, but nothing we act on: the panel does not repeat


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame we cannot take, and why (kept as a rejected message, answered NAK)."""

    reason: RejectReason
    detail: str
    account: str | None = None
    sequence: str | None = None
    supervision: bool = False  # a NULL frame (link test), not an event

    @property
    def may_hide_an_alarm(self) -> bool:
        """Intact but unreadable for want of the key: the event in it could be an alarm."""
        return self.reason is RejectReason.SIA_NO_KEY and not self.supervision


@dataclass(frozen=True, slots=True)
class Frame:
    """A checked, decrypted, parsed frame."""

    event: SIAEvent  # kept to encrypt the answer with the account's key
    account: str
    sequence: str
    code: str
    zone: str | None
    panel_time: datetime | None
    cid_event: str | None  # Contact ID event code of an ADM-CID frame
    # Encrypted, and its timestamp is outside the replay window (or missing): DC-09 wants a NAK
    # with our time so the panel sets its clock and repeats. The event is still taken, so a panel
    # with a wrong clock never loses an alarm; its repeat is then a duplicate.
    clock_off: bool = False

    @property
    def supervision(self) -> bool:
        """A NULL frame: the panel checks its link, no event in it."""
        return self.event.message_type == MessageTypes.NULL

    @property
    def encrypted(self) -> bool:
        """Sent encrypted (answered encrypted)."""
        return bool(self.event.encrypted)


def crc16_arc(text: str) -> str:
    """CRC-16/ARC (poly 0xA001 reflected, init 0) as four upper-case hex digits."""
    crc = 0
    for byte in text.encode("ascii"):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return f"{crc:04X}"


def read_frame(raw: bytes, accounts: dict[str, SIAAccount], *, now: datetime) -> Frame | BadFrame:
    """Check the CRC, decrypt with the account's key, parse; every failure says why."""
    try:
        line = raw.decode("ascii").strip("\r\n")
    except UnicodeDecodeError:
        return BadFrame(RejectReason.SIA_FORMAT, "not ASCII")
    header = MAIN_MATCHER.match(line)
    if header is None:
        return BadFrame(RejectReason.SIA_FORMAT, "not a DC-09 frame")
    account = (header["account"] or "").upper() or None
    if crc16_arc(line[8:]) != line[:4].upper():
        return BadFrame(RejectReason.SIA_CRC, f"CRC {line[:4]} sent, {crc16_arc(line[8:])} "
                        "computed", account)
    encrypted = bool(header["encrypted_flag"])

    def sealed(detail: str) -> BadFrame:
        return BadFrame(RejectReason.SIA_NO_KEY, detail, account, header["sequence"],
                        header["message_type"] == MessageTypes.NULL.value)

    try:
        event = SIAEvent.from_line(line, accounts)
    except NoAccountError:
        return sealed("encrypted, and no key for this account")
    except (EventFormatError, ValueError) as exc:
        if encrypted:
            return sealed("encrypted content does not decrypt to a DC-09 message with this "
                          "account's key")
        return BadFrame(RejectReason.SIA_FORMAT, f"content not readable: {exc}"[:300], account)
    account = (event.account or "").upper()
    if not account:
        return BadFrame(RejectReason.SIA_FORMAT, "no account number in the frame")
    panel_time = event.timestamp if isinstance(event.timestamp, datetime) else None
    return Frame(event=event, account=account, sequence=event.sequence or "0000",
                 code=(event.code or "").upper(), zone=event.ri or None, panel_time=panel_time,
                 cid_event=event.event_type,
                 clock_off=encrypted and not _in_window(panel_time, now))


def _in_window(panel_time: datetime | None, now: datetime) -> bool:
    return panel_time is not None and now - REPLAY_PAST <= panel_time <= now + REPLAY_FUTURE


def answer(kind: Answer, frame: Frame | None, *, now: datetime) -> bytes:
    """The framed reply: NAK carries our time; an encrypted frame's ACK is encrypted too."""
    stamp = now.astimezone(UTC).strftime(TIMESTAMP_FORMAT)
    if kind is Answer.NAK or frame is None:
        body = f'"NAK"0000R0L0A0[]{stamp}'
    else:
        event = frame.event
        route = f"{frame.sequence}{event.receiver or ''}{event.line or 'L0'}#{frame.account}"
        sealed = frame.encrypted and kind is Answer.ACK and event.sia_account is not None
        if sealed:
            body = f'"*{kind.value}"{route}[{event.encrypt_content("]" + stamp)}'
        else:
            body = f'"{kind.value}"{route}[]'
    return f"\n{crc16_arc(body)}{len(body):04X}{body}\r".encode("ascii")
