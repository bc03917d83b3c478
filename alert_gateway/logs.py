"""Structured logging: one JSON object per line, personal data redacted before it is written."""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import unquote

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


# A query-string value in any text (a URL in an exception, a request line): the key stays, the
# value may be a search for a name or phone, a `?access_token=`, a sign-in `next` URL ...
_QUERY_VALUE = re.compile(r"(?<=[?&])([\w.\-\[\]]{1,40})=[^&#\s\"'<>]*")

# Exceptions from these packages can quote the values they choke on: SQL parameters (hidden by
# `hide_parameters`, but a driver's own message says `invalid input for query argument $1: '…'`),
# or pydantic's `input_value=…`. Only their class and SQLSTATE are logged.
_DATA_QUOTING_PACKAGES = frozenset(
    {"sqlalchemy", "asyncpg", "sqlite3", "aiosqlite", "psycopg", "psycopg2", "pydantic",
     "pydantic_core"}
)


def _replace_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if text[0] in "+＋":
        return REDACTED if 8 <= digits <= 15 else text  # E.164: at most 15 digits (ITU-T E.164)
    return REDACTED if digits in (10, 11) else text  # JP national: 0 + 9 or 10 digits


def redact_text(text: str) -> str:
    """Replace query-string values and every phone number in free text with "[redacted]".

    Percent-decoded first, so that `%2B8190…` is seen as the phone number it is.
    """
    if "%" in text:
        text = unquote(text)
    if "=" in text:
        text = _QUERY_VALUE.sub(rf"\1={REDACTED}", text)
    return _PHONE_CANDIDATE.sub(_replace_phone, text)


def exception_summary(exc: BaseException, *, quotes_data: bool = False) -> str:
    """What an exception may say in a log: its message, or only its kind if it can quote data."""
    if quotes_data or _quotes_data(exc):
        from .ingest.dberrors import describe  # class, SQLSTATE, statement's first words

        return describe(exc)
    return redact_text(str(exc))


def safe_traceback(exc: BaseException) -> str:
    """A traceback like `traceback.format_exception`, each message passed through exception_summary.

    Frames show code, never values; the chained causes are where a driver's message hides, so
    the cause of a database or validation error is summarised too, whatever its class (a driver
    raises plain ValueErrors that quote the parameter).
    """
    parts: list[str] = []
    seen: set[int] = set()

    def add(current: BaseException, tainted: bool) -> None:
        seen.add(id(current))
        tainted = tainted or _quotes_data(current)
        cause, context = current.__cause__, current.__context__
        if cause is not None and id(cause) not in seen:
            add(cause, tainted)
            parts.append("\nThe above exception was the direct cause of the following exception:\n\n")
        elif context is not None and not current.__suppress_context__ and id(context) not in seen:
            add(context, tainted)
            parts.append("\nDuring handling of the above exception, another exception occurred:\n\n")
        if current.__traceback__ is not None:
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.format_tb(current.__traceback__))
        kind = type(current)
        name = kind.__qualname__
        if kind.__module__ not in ("builtins", "__main__"):
            name = f"{kind.__module__}.{name}"
        parts.append(f"{name}: {exception_summary(current, quotes_data=tainted)}\n")

    add(exc, False)
    return redact_text("".join(parts).rstrip("\n"))  # source lines may hold literals too


def _quotes_data(exc: BaseException) -> bool:
    return any(
        kind.__module__.split(".", 1)[0] in _DATA_QUOTING_PACKAGES for kind in type(exc).__mro__
    )


def is_sensitive_key(key: str) -> bool:
    """True when a field name says it holds personal data (name, phone, medical, key safe ...)."""
    return bool(_SENSITIVE_KEY.search(key))


def redact_value(key: str, value: Any) -> Any:
    """A copy of one extra field that is safe to log: sensitive keys and phone numbers masked."""
    if is_sensitive_key(key):
        return REDACTED
    if isinstance(value, BaseException):
        return exception_summary(value)
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
        record.args = _safe_args(record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: keep the template rather than lose the event
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key, value in record_extras(record).items():
            setattr(record, key, redact_value(key, value))
        if record.exc_info and record.exc_info[1] is not None:
            # formatters use exc_text as it stands: the raw traceback is never formatted
            record.exc_text = safe_traceback(record.exc_info[1])
        setattr(record, "_redacted", True)  # noqa: B010  (LogRecord has no such attribute)
        return True


def _safe_args(args: Any) -> Any:
    """`%s` arguments with exceptions replaced by their safe summary (`log.error("…: %s", exc)`)."""
    if isinstance(args, tuple):
        return tuple(exception_summary(a) if isinstance(a, BaseException) else a for a in args)
    if isinstance(args, dict):
        return {k: exception_summary(v) if isinstance(v, BaseException) else v for k, v in args.items()}
    return args


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
        if record.exc_text:  # set by RedactingFilter from the exception, summarised
            entry["exc"] = record.exc_text
        elif record.exc_info:
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


# Libraries whose DEBUG lines repeat the data they carry: aiosqlite logs every call with its
# statement's parameters (`executing functools.partial(…, ('山田 花子', …))`). Their INFO and
# above stay; a debug run of the gateway must not hold residents' data. (SQLAlchemy, which logs
# result rows at DEBUG, sets its own logger to WARN on import; left alone here.)
_QUIET_LOGGERS = {"aiosqlite": logging.INFO}


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
    for name, floor in _QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    return handler
