"""Phone numbers become E.164 with a mobile/landline type from the Japanese numbering plan."""

from __future__ import annotations

import pytest

from alert_gateway.db.residents import PhoneType
from alert_gateway.errors import InvalidInput
from alert_gateway.residents.phones import normalize_phone


@pytest.mark.parametrize(
    ("raw", "e164", "kind"),
    [
        ("09012345678", "+819012345678", PhoneType.MOBILE),
        ("090-1234-5678", "+819012345678", PhoneType.MOBILE),
        ("080-2345-6789", "+818023456789", PhoneType.MOBILE),
        ("070-1234-5678", "+817012345678", PhoneType.MOBILE),
        (
            "０９０－１２３４－５６７８",
            "+819012345678",
            PhoneType.MOBILE,
        ),  # full-width, as typed in Excel
        ("+81 90 1234 5678", "+819012345678", PhoneType.MOBILE),
        ("076-220-1111", "+81762201111", PhoneType.LANDLINE),
        ("(076) 220-1111", "+81762201111", PhoneType.LANDLINE),
        ("+81762201111", "+81762201111", PhoneType.LANDLINE),
        ("050-1234-5678", "+815012345678", PhoneType.UNKNOWN),  # VoIP: no SMS on a guess
    ],
)
def test_numbers_are_normalized_and_classified(raw: str, e164: str, kind: PhoneType) -> None:
    """National and international forms give E.164 and the type the numbering plan says."""
    assert normalize_phone(raw) == (e164, kind)


@pytest.mark.parametrize("raw", ["090-1234-567", "12345", "abc", "", "   "])
def test_invalid_numbers_raise_a_clear_error(raw: str) -> None:
    """A number that cannot be dialled is refused with the number in the message."""
    with pytest.raises(InvalidInput, match="phone number"):
        normalize_phone(raw)


def test_another_region_can_be_the_default() -> None:
    """The region decides how a national number is read."""
    assert normalize_phone("020 7946 0000", region="GB") == ("+442079460000", PhoneType.LANDLINE)
