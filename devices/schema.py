"""Write devices/schema/*.json and README tables from the contract models; --check finds drift."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from devices.contract import (
    ALARM_TYPES,
    CONTRACT_VERSION,
    TOPIC_ROOT,
    ActivityMessage,
    AlarmMessage,
    CancelMessage,
    Channel,
    FeedbackMessage,
    HeartbeatMessage,
)

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schema"
README = HERE / "README.md"
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

MODELS: dict[str, type[BaseModel]] = {
    "alarm": AlarmMessage,
    "cancel": CancelMessage,
    "heartbeat": HeartbeatMessage,
    "activity": ActivityMessage,
    "feedback": FeedbackMessage,
}

# channel → (direction, QoS, retained); the payload column links the schema file
TOPICS: dict[Channel, tuple[str, str, str]] = {
    Channel.ALARM: ("device → gateway", "1", "no"),
    Channel.CANCEL: ("device → gateway", "1", "no"),
    Channel.HEARTBEAT: ("device → gateway", "0 or 1", "no"),
    Channel.ACTIVITY: ("device → gateway", "0 or 1", "no"),
    Channel.STATUS: ("device → gateway", "1", "yes"),
    Channel.FEEDBACK: ("gateway → device", "1", "no"),
}
STATUS_PAYLOAD = "plain text `online` / `offline` (`offline` is the last will)"


def render_schema(model: type[BaseModel]) -> str:
    """One model's JSON Schema: sorted keys, two-space indent, trailing newline."""
    schema = {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema()}
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_tables() -> str:
    """The generated README section: the topic table and the alarm-type table."""
    lines = [
        f"Contract {CONTRACT_VERSION}. Topics are `{TOPIC_ROOT}/{{device_id}}/<channel>`.",
        "",
        "| channel | topic | direction | QoS | retained | payload |",
        "|---|---|---|---|---|---|",
    ]
    for channel, (direction, qos, retained) in TOPICS.items():
        topic = f"`{TOPIC_ROOT}/{{device_id}}/{channel.value}`"
        name = channel.value
        payload = f"[{name}.json](schema/{name}.json)" if name in MODELS else STATUS_PAYLOAD
        lines.append(f"| {name} | {topic} | {direction} | {qos} | {retained} | {payload} |")
    lines += [
        "",
        "| type | priority | SCAIP device type | SCAIP status | fire | technical | escalates |",
        "|---|---|---|---|---|---|---|",
    ]
    ordered = sorted(ALARM_TYPES.items(), key=lambda item: item[1].severity.rank)
    for alarm_type, info in ordered:
        lines.append(
            f"| `{alarm_type.value}` | {info.severity.value} | {info.scaip_device_type or '—'} "
            f"| {info.scaip_status or '—'} | {_yes(info.fire)} | {_yes(info.technical)} "
            f"| {_yes(info.escalates)} |"
        )
    return "\n".join(lines) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def render_readme(current: str) -> str:
    """The README with the text between the markers replaced by render_tables()."""
    start, end = current.find(BEGIN), current.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{README.name}: the {BEGIN} / {END} markers are missing")
    return current[: start + len(BEGIN)] + "\n" + render_tables() + current[end:]


def expected_files() -> dict[Path, str]:
    """Every generated file and the text it should have."""
    files = {SCHEMA_DIR / f"{name}.json": render_schema(m) for name, m in MODELS.items()}
    files[README] = render_readme(README.read_text(encoding="utf-8"))
    return files


def drifted() -> list[Path]:
    """Generated files whose checked-in text differs from what the models generate."""
    return [
        path
        for path, text in expected_files().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated files, or with --check exit 1 when any has drifted."""
    parser = argparse.ArgumentParser(prog="python -m devices.schema", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 on drift")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        for path in stale:
            print(f"out of date: {path.relative_to(HERE.parent)}", file=sys.stderr)
        if stale:
            print("run: python -m devices.schema", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for path, text in expected_files().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
