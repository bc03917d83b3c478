"""The device contract's generated docs match the models, and the README's examples are valid."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from devices import schema
from devices.contract import ALARM_TYPES, AlarmMessage, AlarmType, FeedbackMessage, Severity

MINIMAL_ALARM = {"id": "a1b2", "type": "sos", "ts": "2026-11-26T12:00:00+09:00", "battery": 81}


def load_schema(name: str) -> dict[str, object]:
    """A checked-in schema file."""
    return json.loads((schema.SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(schema.expected_files(), key=str), ids=lambda p: p.name)
def test_generated_files_match_the_models(path: Path) -> None:
    expected = schema.expected_files()[path]
    assert path.is_file(), f"{path} is missing: run python -m devices.schema"
    assert path.read_text(encoding="utf-8") == expected, "drift: run python -m devices.schema"


def test_check_mode_reports_no_drift() -> None:
    assert schema.drifted() == []
    assert schema.main(["--check"]) == 0


def test_readme_tables_cover_every_alarm_type() -> None:
    tables = schema.render_tables()
    for alarm_type, info in ALARM_TYPES.items():
        assert f"| `{alarm_type.value}` | {info.severity.value} |" in tables
    assert set(ALARM_TYPES) == set(AlarmType)


def test_readme_without_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="markers"):
        schema.render_readme("# no markers here\n")


def test_minimal_alarm_validates_against_schema_and_model() -> None:
    jsonschema.validate(MINIMAL_ALARM, load_schema("alarm"))
    alarm = AlarmMessage.model_validate(MINIMAL_ALARM)
    assert alarm.alarm_type is AlarmType.SOS
    assert ALARM_TYPES[alarm.alarm_type].severity is Severity.P1


def test_unknown_alarm_type_is_valid_and_maps_to_unknown() -> None:
    payload = {**MINIMAL_ALARM, "type": "spaceship_landed"}
    jsonschema.validate(payload, load_schema("alarm"))
    alarm = AlarmMessage.model_validate(payload)
    assert alarm.alarm_type is AlarmType.UNKNOWN
    assert ALARM_TYPES[AlarmType.UNKNOWN].severity is Severity.P1


def test_alarm_without_id_fails_schema_and_model() -> None:
    payload = {k: v for k, v in MINIMAL_ALARM.items() if k != "id"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, load_schema("alarm"))
    with pytest.raises(ValueError):
        AlarmMessage.model_validate(payload)


def test_feedback_example_validates() -> None:
    example: dict[str, object] = {"ref": "a1b2", "state": "received", "alert_id": 42}
    example["ts"] = "2026-11-26T12:00:01+09:00"
    jsonschema.validate(example, load_schema("feedback"))
    assert FeedbackMessage.model_validate(example).alert_id == 42


def test_readme_json_examples_validate() -> None:
    """Every one-line JSON example in the README validates against the schema its keys imply."""
    readme = schema.README.read_text(encoding="utf-8")
    examples = [json.loads(line) for line in readme.splitlines() if line.startswith('{"')]
    assert len(examples) >= 7
    for payload in examples:
        jsonschema.validate(payload, load_schema(_kind(payload)))
        schema.MODELS[_kind(payload)].model_validate(payload)


def _kind(payload: dict[str, object]) -> str:
    """Which message an example is, by its distinctive key."""
    for key, name in (("ref", "feedback"), ("alarm_id", "cancel"), ("type", "alarm")):
        if key in payload:
            return name
    return "activity" if "kind" in payload else "heartbeat"
