"""API schemas validate once at the edge and never show the key-safe code."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from alert_gateway.db.residents import PhoneType, Relation, Resident
from alert_gateway.residents.reads import ResidentRead
from alert_gateway.residents.schemas import ContactIn, ResidentIn

NOW = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)


def test_resident_read_never_contains_the_key_safe_code() -> None:
    """From a table row or a dict, only has_key_safe_code comes through."""
    row = Resident(id="r-1", name="山田 花子", key_safe_code="4721", created_at=NOW, updated_at=NOW)
    for source in (row, row.model_dump()):
        read = ResidentRead.model_validate(source)
        assert read.has_key_safe_code is True
        assert "key_safe_code" not in read.model_dump()
        assert "4721" not in read.model_dump_json()
        assert "4721" not in repr(read)
    assert ResidentRead.model_validate(Resident(id="r-2", name="x")).has_key_safe_code is False


def test_resident_input_hides_the_code_from_reprs() -> None:
    """A ResidentIn printed in a log or a traceback does not show the code."""
    assert "4721" not in repr(ResidentIn(id="r-1", name="x", key_safe_code="4721"))


def test_resident_phone_and_dates_are_normalized() -> None:
    """A national phone becomes E.164 with its type; Excel's 1938/5/14 is a date."""
    resident = ResidentIn(id="r-1", name="x", phone="076-220-1111", date_of_birth="1938/5/14")
    assert (resident.phone, resident.phone_type) == ("+81762201111", PhoneType.LANDLINE)
    assert resident.date_of_birth == date(1938, 5, 14)


def test_contact_type_is_derived_unless_given() -> None:
    """The numbering plan decides the type, but a given type wins."""
    assert ContactIn(name="a", relation="family", phone="09012345678").phone_type == "mobile"
    given = ContactIn(name="a", relation="family", phone="09012345678", phone_type="landline")
    assert given.phone_type == PhoneType.LANDLINE
    assert given.channels == "voice"


def test_landline_contacts_default_to_voice_and_refuse_sms() -> None:
    """SMS is never sent to a landline."""
    assert ContactIn(name="a", relation="family", phone="076-220-1111").channels == "voice"
    assert ContactIn(name="a", relation="family", phone="090-1234-5678").channels == "sms,voice"
    with pytest.raises(ValidationError, match="landline cannot receive SMS"):
        ContactIn(name="a", relation="family", phone="076-220-1111", channels="sms,voice")


def test_contact_channels_and_relations_accept_spreadsheet_spellings() -> None:
    """ "voice, sms", a list, "neighbor" and 協力員 are understood."""
    contact = ContactIn(name="a", relation="協力員", phone="09012345678", channels="voice, sms")
    assert (contact.relation, contact.channels) == (Relation.NEIGHBOUR, "sms,voice")
    assert ContactIn(name="a", relation="neighbor", phone="09012345678").relation == "neighbour"
    contact = ContactIn(name="a", relation="family", phone="09012345678", channels=["voice"])
    assert contact.channels == "voice"
    with pytest.raises(ValidationError, match="channels must be"):
        ContactIn(name="a", relation="family", phone="09012345678", channels="fax")


def test_unknown_fields_are_refused() -> None:
    """A misspelt field is an error, not silently dropped."""
    with pytest.raises(ValidationError, match="phon"):
        ResidentIn.model_validate({"id": "r-1", "name": "x", "phon": "09012345678"})
