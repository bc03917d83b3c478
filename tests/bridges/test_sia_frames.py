"""Pure parts of the SIA receiver: frame checks, answers, the code table, the accounts file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from Crypto.Cipher import AES
from pysiaalarm import SIAEvent

from alert_gateway.bridges.sia_accounts import Accounts, load_accounts
from alert_gateway.bridges.sia_codes import IGNORED, SIA_MAP, Route, mapping_for, wire_type
from alert_gateway.bridges.sia_frames import Answer, BadFrame, Frame, answer, crc16_arc, read_frame
from alert_gateway.db.messages import RejectReason
from alert_gateway.errors import ConfigError
from devices.contract import AlarmType, Qualifier

from .sia_panel import frame

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
KEY = "0123456789ABCDEF"


def accounts(tmp_path: Path) -> Accounts:
    """1234 in clear, AAA1 with KEY."""
    (tmp_path / "k").write_text(KEY, encoding="ascii")
    path = tmp_path / "a.yaml"
    path.write_text("accounts:\n  - {account: '1234', device: panel-1}\n"
                    "  - {account: 'aaa1', device: panel-2, key_file: k}\n", encoding="utf-8")
    return load_accounts(path)


def read(raw: bytes, tmp_path: Path, *, now: datetime = NOW) -> Frame | BadFrame:
    """read_frame with the two test accounts."""
    return read_frame(raw, accounts(tmp_path).for_pysiaalarm(), now=now)


def test_crc_is_crc16_arc() -> None:
    """The CRC-16/ARC check value of '123456789' is BB3D (and pysiaalarm agrees on a frame)."""
    assert crc16_arc("123456789") == "BB3D"
    body = '"SIA-DCS"0001R0L0#1234[#1234|Nri1/PA501]'
    assert crc16_arc(body) == SIAEvent._crc_calc(body)


def test_a_plain_frame_is_read(tmp_path: Path) -> None:
    """Account, sequence, code and zone come out of a frame in clear."""
    got = read(frame("1234", 7, "Nri1/PA501", at=NOW), tmp_path)
    assert isinstance(got, Frame), got
    assert (got.account, got.sequence, got.code, got.zone, got.encrypted, got.clock_off) == (
        "1234", "0007", "PA", "1", False, False)


def test_an_encrypted_frame_is_decrypted_with_the_accounts_key(tmp_path: Path) -> None:
    """AES-CBC content under the account's key reads like a plain one."""
    got = read(frame("AAA1", 8, "Nri2/FA002", at=NOW, key=KEY), tmp_path)
    assert isinstance(got, Frame), got
    assert (got.code, got.zone, got.encrypted, got.panel_time) == ("FA", "2", True, NOW)


@pytest.mark.parametrize(("raw", "reason"), [
    (frame("1234", 1, "Nri1/PA501", at=NOW, bad_crc=True), RejectReason.SIA_CRC),
    (frame("AAA1", 1, "Nri1/PA501", at=NOW, key="FEDCBA9876543210"), RejectReason.SIA_NO_KEY),
    (frame("5678", 1, "Nri1/PA501", at=NOW, key=KEY), RejectReason.SIA_NO_KEY),
    (b"\nhello panel\r", RejectReason.SIA_FORMAT),
    ("\n\u00e9\r".encode(), RejectReason.SIA_FORMAT),
])
def test_frames_we_cannot_take_say_why(raw: bytes, reason: RejectReason, tmp_path: Path) -> None:
    """Garbled, wrong key, unknown key, not DC-09, not ASCII: each a BadFrame with its reason."""
    got = read(raw, tmp_path)
    assert isinstance(got, BadFrame) and got.reason is reason, got


def test_a_sealed_event_may_hide_an_alarm_but_a_sealed_link_test_does_not(tmp_path: Path) -> None:
    """Without the key an encrypted event could be an alarm; an encrypted NULL is only a link test."""
    event = read(frame("5678", 1, "Nri1/PA501", at=NOW, key=KEY), tmp_path)
    link = read(frame("5678", 2, "", at=NOW, key=KEY, message_type="NULL"), tmp_path)
    assert isinstance(event, BadFrame) and event.may_hide_an_alarm
    assert isinstance(link, BadFrame) and not link.may_hide_an_alarm


def test_an_encrypted_frame_outside_the_replay_window_is_flagged(tmp_path: Path) -> None:
    """Two minutes late is outside DC-09's window: read, but flagged clock_off (the panel gets NAK)."""
    got = read(frame("AAA1", 9, "Nri1/PA501", at=NOW - timedelta(minutes=2), key=KEY), tmp_path)
    assert isinstance(got, Frame) and got.clock_off


def test_nak_carries_our_time_and_a_valid_crc() -> None:
    """NAK is `"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY`, framed with length and CRC."""
    raw = answer(Answer.NAK, None, now=NOW).decode("ascii")
    body = '"NAK"0000R0L0A0[]_18:00:00,11-26-2026'
    assert raw == f"\n{crc16_arc(body)}{len(body):04X}{body}\r"


def test_an_encrypted_ack_decrypts_to_our_time(tmp_path: Path) -> None:
    """The ACK to an encrypted frame is encrypted under the same key and ends with our timestamp."""
    got = read(frame("AAA1", 8, "Nri2/FA002", at=NOW, key=KEY), tmp_path)
    assert isinstance(got, Frame)
    body = answer(Answer.ACK, got, now=NOW).decode("ascii").strip("\r\n")[8:]
    assert body.startswith('"*ACK"0008R0L0#AAA1[')
    sealed = bytes.fromhex(body.split("[", 1)[1])
    plain = AES.new(KEY.encode(), AES.MODE_CBC, bytes(16)).decrypt(sealed).decode("ascii")
    assert plain.endswith("]_18:00:00,11-26-2026"), plain


@pytest.mark.parametrize(("code", "alarm_type", "qualifier"), [
    ("PA", AlarmType.SOS, Qualifier.NEW), ("PH", AlarmType.SOS, Qualifier.RESTORE),
    ("MA", AlarmType.SOS, Qualifier.NEW), ("FA", AlarmType.SMOKE, Qualifier.NEW),
    ("GA", AlarmType.GAS, Qualifier.NEW), ("WA", AlarmType.FLOOD, Qualifier.NEW),
    ("KA", AlarmType.HEAT, Qualifier.NEW), ("TA", AlarmType.TAMPER, Qualifier.NEW),
    ("YT", AlarmType.LOW_BATTERY, Qualifier.NEW), ("YR", AlarmType.LOW_BATTERY, Qualifier.RESTORE),
    ("AT", AlarmType.POWER_FAILURE, Qualifier.NEW),
    ("AR", AlarmType.POWER_FAILURE, Qualifier.RESTORE), ("RP", AlarmType.TEST, Qualifier.NEW),
])
def test_the_code_table(code: str, alarm_type: AlarmType, qualifier: Qualifier) -> None:
    """The documented codes map to our alarm types and qualifiers."""
    mapping = mapping_for(code)
    assert (mapping.route, mapping.alarm_type, mapping.qualifier) == (Route.ALARM, alarm_type,
                                                                     qualifier)


def test_codes_outside_the_table() -> None:
    """OP/CL are activity, CA/CO panel bookkeeping (not carbon monoxide), BA an unknown alarm."""
    assert mapping_for("OP").route is mapping_for("CL").route is Route.ACTIVITY
    assert mapping_for("CA").route is mapping_for("CO").route is Route.IGNORED
    burglary = mapping_for("BA")
    assert (burglary.route, wire_type(burglary, "BA")) == (Route.ALARM, "sia_BA")


def test_contact_id_162_is_carbon_monoxide(tmp_path: Path) -> None:
    """An ADM-CID 162 (CO detected), which pysiaalarm turns into GA, is our co."""
    got = read(frame("1234", 4, "1162 01 004", at=NOW, message_type="ADM-CID"), tmp_path)
    assert isinstance(got, Frame), got
    assert (got.code, got.cid_event) == ("GA", "162")
    assert mapping_for(got.code, cid_event=got.cid_event).alarm_type is AlarmType.CO


@pytest.mark.parametrize(("text", "message"), [
    ("accounts: 3\n", "needs a list under `accounts:`"),
    ("accounts:\n  - {account: '12', device: d}\n", "entry 1: account must be 3 to 16 hex"),
    ("accounts:\n  - {account: '123', device: 'bad id'}\n", "entry 1: device 'bad id' is not"),
    ("accounts:\n  - {account: '123', device: d, key: x}\n", "entry 1: expected keys"),
    ("accounts:\n  - {account: '123', device: d, key_file: missing}\n", "cannot read key_file"),
    ("accounts:\n  - {account: '123', device: d}\n  - {account: '123', device: e}\n",
     "account 123 listed twice"),
])
def test_accounts_file_mistakes_are_config_errors(text: str, message: str, tmp_path: Path) -> None:
    """Each mistake names the file and the entry, and says what is wrong."""
    path = tmp_path / "accounts.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="SIA accounts file") as caught:
        load_accounts(path)
    assert message in str(caught.value)


def test_an_unlisted_account_reports_as_a_made_up_device(tmp_path: Path) -> None:
    """Listed accounts are their devices (any case); others are sia-<ACCOUNT>."""
    known = accounts(tmp_path)
    assert (known.device_for("aaa1"), known.device_for("beef")) == ("panel-2", "sia-BEEF")


def test_the_docs_list_every_code_of_the_table() -> None:
    """docs/devices/sia-dc09.md's code table names every code the receiver maps or ignores."""
    doc = (Path(__file__).parents[2] / "docs" / "devices" / "sia-dc09.md").read_text("utf-8")
    table = doc.split("## SIA codes", 1)[1].split("## Accounts", 1)[0]
    listed = set(re.findall(r"\b[A-Z]{2}\b", table))
    assert set(SIA_MAP) | IGNORED <= listed, sorted((set(SIA_MAP) | IGNORED) - listed)


def test_the_example_accounts_file_loads(tmp_path: Path) -> None:
    """config/examples/sia-accounts.yaml is valid once its key file exists."""
    example = Path(__file__).parents[2] / "config" / "examples" / "sia-accounts.yaml"
    (tmp_path / "k").write_text(KEY, encoding="ascii")
    text = example.read_text("utf-8").replace("/run/secrets/sia-a5c9.key", str(tmp_path / "k"))
    (tmp_path / "a.yaml").write_text(text, encoding="utf-8")
    loaded = load_accounts(tmp_path / "a.yaml")
    assert (loaded.device_for("1234"), loaded.by_number["A5C9"].key) == ("panel-0001", KEY)
