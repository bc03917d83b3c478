"""Structured logging: JSON lines with extras, and no personal data written."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import StatementError

from alert_gateway.logs import REDACTED, configure_logging, redact_text


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """Put the root logger's handlers and level back, so other tests see logging untouched."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    """Every line written so far, parsed as JSON (fails if a line is not JSON)."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_one_json_line_per_record_with_core_fields_and_extras(stream: io.StringIO) -> None:
    """A record becomes one line with ts, level, logger, event and its extra= ids."""
    logging.getLogger("alert_gateway.engine").info(
        "alert opened", extra={"alert_id": 42, "device_id": "pendant-7"}
    )
    (entry,) = lines(stream)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "alert_gateway.engine"
    assert entry["event"] == "alert opened"
    assert entry["alert_id"] == 42
    assert entry["device_id"] == "pendant-7"
    assert str(entry["ts"]).endswith("+00:00")


def test_level_filters_records() -> None:
    """Records below the configured level are not written."""
    buffer = io.StringIO()
    configure_logging("WARNING", json=True, stream=buffer)
    logging.getLogger("x").info("quiet")
    logging.getLogger("x").warning("loud")
    assert [e["event"] for e in lines(buffer)] == ["loud"]


@pytest.mark.parametrize(
    "number",
    [
        "+819012345678",
        "+81 90-1234-5678",
        "090-1234-5678",
        "09012345678",
        "076-220-1234",
        "(076) 220-1234",
        "０９０－１２３４－５６７８",
        "+14155550123",
    ],
)
def test_phone_numbers_in_messages_are_redacted(stream: io.StringIO, number: str) -> None:
    """E.164 and Japanese national numbers never reach the log, whatever their separators."""
    logging.getLogger("alert_gateway.twilio").warning("call to %s failed", number)
    (entry,) = lines(stream)
    assert entry["event"] == f"call to {REDACTED} failed"


@pytest.mark.parametrize(
    "text",
    [
        "alert 1234 device pendant-0901234567",
        "2026-11-26T09:00:00+09:00",
        "retry 3 of 5",
        "batch of 0123 rows",
        "version 0.1.0",
    ],
)
def test_ids_dates_and_counts_are_kept(text: str) -> None:
    """Things that only look a little like numbers (ids, dates, counts) are left alone."""
    assert redact_text(text) == text


def test_personal_keys_in_extras_are_redacted(stream: io.StringIO) -> None:
    """Extras named like name/phone/medical/key_safe are replaced, nested ones too; ids stay."""
    logging.getLogger("alert_gateway.escalation").info(
        "contact notified",
        extra={
            "alert_id": 7,
            "resident_name": "山田 花子",
            "contact_phone": "+819012345678",
            "medical_notes": "酸素療法",
            "key_safe_code": "1234",
            "contact": {"name": "Taro", "phone": "09012345678", "order": 1},
            "note": "call 090-1234-5678 first",
        },
    )
    (entry,) = lines(stream)
    assert entry["alert_id"] == 7
    for key in ("resident_name", "contact_phone", "medical_notes", "key_safe_code"):
        assert entry[key] == REDACTED
    assert entry["contact"] == {"name": REDACTED, "phone": REDACTED, "order": 1}
    assert entry["note"] == f"call {REDACTED} first"
    raw = stream.getvalue()
    for secret in ("山田", "9012345678", "酸素", '1234"', "Taro"):
        assert secret not in raw


def test_exception_text_is_redacted(stream: io.StringIO) -> None:
    """A traceback carrying a phone number in its message is masked too."""
    try:
        raise ValueError("Twilio refused +819012345678")
    except ValueError:
        logging.getLogger("alert_gateway.twilio").exception("send failed", extra={"alert_id": 1})
    (entry,) = lines(stream)
    assert "ValueError" in str(entry["exc"])
    assert "+819012345678" not in stream.getvalue()


def test_text_mode_redacts_too() -> None:
    """The human-readable format applies the same redaction and shows extras."""
    buffer = io.StringIO()
    configure_logging("INFO", json=False, stream=buffer)
    logging.getLogger("x").info("sms to 090-1234-5678", extra={"phone": "x", "alert_id": 3})
    out = buffer.getvalue()
    assert "090-1234-5678" not in out
    assert f"phone={REDACTED}" in out and "alert_id=3" in out


def test_configuring_twice_keeps_one_handler() -> None:
    """Calling configure_logging again replaces our handler instead of doubling every line."""
    root = logging.getLogger()
    first = configure_logging("INFO", json=True, stream=io.StringIO())
    second = configure_logging("INFO", json=True, stream=io.StringIO())
    assert first not in root.handlers
    assert [h for h in root.handlers if h.get_name() == "alert-gateway"] == [second]


def test_database_errors_are_logged_by_kind_never_with_the_values(stream: io.StringIO) -> None:
    """A driver error quoting a name, as %s argument, extra and traceback: the statement's kind only."""
    driver = ValueError("invalid input for query argument $1: '山田 花子' (expected str)")
    error = StatementError(str(driver), "INSERT INTO resident (name, phone) VALUES ($1, $2)",
                           ("山田 花子", "+819012345678"), driver)
    log = logging.getLogger("alert_gateway.escalation.engine")
    log.error("database error, retrying: %s", error, extra={"cause": error})
    try:
        raise error from driver
    except StatementError:
        log.exception("unhandled error in API handler")
    raw = stream.getvalue()
    first, second = lines(stream)
    assert first["event"] == "database error, retrying: ValueError in INSERT INTO resident"
    assert first["cause"] == "ValueError in INSERT INTO resident"
    assert "sqlalchemy.exc.StatementError: ValueError in INSERT INTO resident" in str(second["exc"])
    assert "山田" not in raw and "9012345678" not in raw, raw


def test_validation_errors_do_not_quote_their_input(stream: io.StringIO) -> None:
    """pydantic's `input_value=` (a medical note, a name) stays out of the log."""
    class Card(BaseModel):
        age: int

    try:
        Card.model_validate({"age": "心房細動"})
    except ValidationError as exc:
        logging.getLogger("x").warning("card refused: %s", exc)
    assert "心房細動" not in stream.getvalue()
    assert lines(stream)[0]["event"] == "card refused: ValidationError"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /console/residents?q=%E5%B1%B1%E7%94%B0&page=2",
         f"GET /console/residents?q={REDACTED}&page={REDACTED}"),
        ("POST https://api.example/x?access_token=abc123 failed",
         f"POST https://api.example/x?access_token={REDACTED} failed"),
        ("phone /_fake/phones/%2B819012345678/sms", f"phone /_fake/phones/{REDACTED}/sms"),
    ],
)
def test_query_values_and_encoded_phones_are_redacted_after_decoding(text: str, expected: str) -> None:
    """Percent-encoding hides nothing: values after `?`/`&` and `%2B81…` numbers are masked."""
    assert redact_text(text) == expected


def test_debug_runs_keep_aiosqlite_quiet() -> None:
    """aiosqlite's DEBUG lines carry every statement's parameters: held at INFO even at DEBUG."""
    configure_logging("debug", json=True, stream=io.StringIO())
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("alert_gateway").isEnabledFor(logging.DEBUG)
