"""The shared edge rules (pure functions, no I/O)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from alert_gateway.errors import InvalidInput
from alert_gateway.validation import (
    MAX_ID,
    BadText,
    RecordId,
    check_texts,
    parse_id,
    text_problem,
    walk_json,
)


class _Body(BaseModel):
    contact_id: RecordId | None = None


@pytest.mark.parametrize(("raw", "expected"), [
    ("1", 1), (str(MAX_ID), MAX_ID), (str(MAX_ID + 1), None), ("0", None), ("-1", None),
    (str(10**30), None), ("abc", None), ("", None), ("٣", None), ("²", None), (" 1", None),
])
def test_parse_id_takes_ascii_digits_within_the_int32_column(raw: str, expected: int | None) -> None:
    """Only ASCII digits naming 1..2**31-1 are ids; Unicode digits, signs and overflow are not."""
    assert parse_id(raw) == expected


def test_text_problem_names_nul_and_unpaired_surrogates() -> None:
    """NUL and lone surrogates are refused; other control characters and any script are fine."""
    assert text_problem("a\x00b") == "contains a NUL character"
    assert text_problem("a\ud800") is not None
    assert text_problem("山田 花子\t\x01😀") is None


def test_check_texts_names_the_field_and_is_an_invalid_input() -> None:
    """The error is a 400-kind InvalidInput naming the field, never echoing the value."""
    with pytest.raises(BadText) as caught:
        check_texts([("name", "ok"), ("address", "secret\x00street")])
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.field == "address"
    assert "secret" not in str(caught.value)


def test_walk_json_reaches_nested_values_and_keys() -> None:
    """Strings in nested objects and lists, and the keys themselves, are all checked."""
    found = dict(walk_json({"a": [{"b": "x"}], "k\x00": 1}))
    assert found["body.a[0].b"] == "x"
    with pytest.raises(BadText):
        check_texts(walk_json({"a": [{"b": "x\x00"}]}))
    with pytest.raises(BadText):
        check_texts(walk_json({"k\x00": 1}))


def test_record_id_refuses_loose_or_out_of_range_values() -> None:
    """RecordId refuses booleans, numeric strings and numbers beyond the column."""
    assert _Body.model_validate({"contact_id": 7}).contact_id == 7
    for bad in ({"contact_id": True}, {"contact_id": "7"}, {"contact_id": 0},
                {"contact_id": MAX_ID + 1}):
        with pytest.raises(ValidationError):
            _Body.model_validate(bad)
