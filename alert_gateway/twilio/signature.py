"""Webhook signature check: Twilio signs the public URL it called plus every posted parameter."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from twilio.request_validator import RequestValidator

from ..settings import Settings


def public_url_for(settings: Settings, path_qs: str) -> str:
    """The URL Twilio called: our configured public base, not the address we were reached on."""
    return settings.public_url.rstrip("/") + path_qs


@lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def check_signature(
    settings: Settings, *, path_qs: str, params: Mapping[str, Any], signature: str | None
) -> bool:
    """True when `signature` (X-Twilio-Signature) matches; params may be a MultiDict."""
    if not signature:
        return False
    validator = _validator(settings.twilio_auth_token.get_secret_value())
    # Behind a proxy the address we were reached on differs from the one Twilio signed:
    # https://www.twilio.com/docs/usage/security#validating-requests
    url = public_url_for(settings, path_qs)
    # Twilio signs the URL exactly as we gave it (callback_url: public_url + path): one HMAC.
    # `validate` costs as much again (it reparses the URL and tries it with and without a
    # port); it runs only when that fails, so it accepts nothing more than before.
    if hmac.compare_digest(validator.compute_signature(url, params).encode(),
                           signature.encode("utf-8", "surrogatepass")):
        return True
    return bool(validator.validate(url, params, signature))
