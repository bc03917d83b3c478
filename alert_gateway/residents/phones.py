"""Phone numbers: E.164 and mobile/landline from the numbering plan (libphonenumber)."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from ..db.residents import PhoneType
from ..errors import InvalidInput

# Only these two classes are certain; VoIP (050), toll-free (0120), M2M (020) and
# "fixed line or mobile" stay unknown, so callers never send an SMS on a guess.
_TYPES: dict[int, PhoneType] = {
    PhoneNumberType.MOBILE: PhoneType.MOBILE,
    PhoneNumberType.FIXED_LINE: PhoneType.LANDLINE,
}


def normalize_phone(raw: str, *, region: str = "JP") -> tuple[str, PhoneType]:
    """E.164 and mobile/landline for a number; InvalidInput if it is not a valid number."""
    text = str(raw).strip()
    if not text:
        raise InvalidInput("phone number is empty")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidInput(f"not a phone number: {text!r}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidInput(
            f"not a valid phone number: {text!r} (expected e.g. 090-1234-5678, "
            "076-220-1111 or +819012345678)"
        )
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return e164, _TYPES.get(phonenumbers.number_type(number), PhoneType.UNKNOWN)
