"""Webhook signature check: Twilio signs the public URL it called plus every posted parameter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

from ..settings import Settings


def public_url_for(settings: Settings, path_qs: str) -> str:
    """The URL Twilio called: our configured public base, not the address we were reached on."""
    return settings.public_url.rstrip("/") + path_qs


def check_signature(
    settings: Settings, *, path_qs: str, params: Mapping[str, Any], signature: str | None
) -> bool:
    """True when `signature` (X-Twilio-Signature) matches; params may be a MultiDict."""
    if not signature:
        return False
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    # Behind a proxy the address we were reached on differs from the one Twilio signed:
    # https://www.twilio.com/docs/usage/security#validating-requests
    return bool(validator.validate(public_url_for(settings, path_qs), params, signature))
