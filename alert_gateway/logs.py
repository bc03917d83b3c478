"""Structured logging: one JSON object per line, personal data redacted before it is written."""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}
_CORE_KEYS = ("ts", "level", "logger", "event")

# Keys that hold personal data (resident card fields). Matched per `_`-separated word so that
# `resident_name`, `contact_phone`, `medical_notes` and `key_safe_code` are caught while
# `hostname` or `filename` are not.
_SENSITIVE_KEY = re.compile(
    r"(?:^|_)(?:name|names|kana|phone|phones|tel|mobile|medical|key_safe|keysafe|address|email|"
    r"birth|dob)(?:_|$)",
    re.IGNORECASE,
)

# A phone-number candidate: `+` or `0` (the area code may sit in brackets), a digit, then digits
# and separators, ASCII or full-width (Python's \d matches full-width digits too). The digit count
# decides in `_replace_phone`. A leading `-`, `.` or word character means an id or a date.
_PHONE_CANDIDATE = re.compile(
    r"(?<![\w+.\-(（])(?:[+＋]|[(（]?[0０])\d[\d\s\-‐－()（）]{6,18}\d(?!\w)"
)


def _replace_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if text[0] in "+＋":
        return REDACTED if 8 <= digits <= 15 else text  # E.164: at most 15 digits (ITU-T E.164)
    return REDACTED if digits in (10, 11) else text  # JP national: 0 + 9 or 10 digits


def redact_text(text: str) -> str:
    """Replace every phone number in free text with "[redacted]"."""
    return _PHONE_CANDIDATE.sub(_replace_phone, text)


def is_sensitive_key(key: str) -> bool:
    """True when a field name says it holds personal data (name, phone, medical, key safe ...)."""
    return bool(_SENSITIVE_KEY.search(key))


def redact_value(key: str, value: Any) -> Any:
    """A copy of one extra field that is safe to log: sensitive keys and phone numbers masked."""
    if is_sensitive_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value("", v) for v in value]
    return value


def record_extras(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller passed with `extra=`."""
    return {
        k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")
    }


class RedactingFilter(logging.Filter):
    """Masks personal data on a record in place, so every formatter downstream sees a safe copy."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the message (args merged first) and every extra field; never drops a record."""
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep the template rather than lose the event
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key, value in record_extras(record).items():
            setattr(record, key, redact_value(key, value))
        setattr(record, "_redacted", True)  # noqa: B010  (LogRecord has no such attribute)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, then the `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialise one (already redacted) record."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record_extras(record).items():
            # A field that would overwrite a core key is kept under another name, not lost.
            entry[f"extra_{key}" if key in _CORE_KEYS else key] = value
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact_text(self.formatStack(record.stack_info))
        return jsonlib.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the extra fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The classic line, then the extras, with exception text redacted like the message."""
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in record_extras(record).items())
        return redact_text(f"{line} {extras}" if extras else line)


def configure_logging(level: str, json: bool, *, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to one stream handler (stderr by default), JSON or text, redacted."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(RedactingFilter())
    handler.set_name("alert-gateway")
    root = logging.getLogger()
    # Replace our earlier handler (tests and `serve` may call this twice) but leave others alone.
    for old in [h for h in root.handlers if h.get_name() == "alert-gateway"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
