"""Webhook signature check: Twilio signs the public URL it called plus every posted parameter."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from functools import lru_cache
from hashlib import sha1
from typing import Any

from twilio.request_validator import RequestValidator

from ..settings import Settings


def public_url_for(settings: Settings, path_qs: str) -> str:
    """The URL Twilio called: our configured public base, not the address we were reached on."""
    return settings.public_url.rstrip("/") + path_qs


@lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


@lru_cache(maxsize=4)
def _keyed(token: str) -> hmac.HMAC:
    """HMAC-SHA1 keyed with the auth token, copied per request (keying it is half the cost)."""
    return hmac.new(token.encode("utf-8"), digestmod=sha1)


def expected_signature(token: str, url: str, params: Mapping[str, Any]) -> str:
    """What the SDK's `RequestValidator.compute_signature` (HMAC-SHA1) gives: the URL, then each
    parameter name in order followed by each of its distinct values in order. The distinct
    (name, value) pairs sorted are that order (a MultiDict's items hold each repeated field)."""
    signed = url + "".join(name + value for name, value in sorted(set(params.items())))
    mac = _keyed(token).copy()
    mac.update(signed.encode("utf-8"))
    return base64.b64encode(mac.digest()).decode("ascii")


def check_signature(
    settings: Settings, *, path_qs: str, params: Mapping[str, Any], signature: str | None
) -> bool:
    """True when `signature` (X-Twilio-Signature) matches; params may be a MultiDict."""
    if not signature:
        return False
    token = settings.twilio_auth_token.get_secret_value()
    # Behind a proxy the address we were reached on differs from the one Twilio signed:
    # https://www.twilio.com/docs/usage/security#validating-requests
    url = public_url_for(settings, path_qs)
    # Twilio signs the URL exactly as we gave it (callback_url: public_url + path): one HMAC.
    # `validate` costs as much again (it reparses the URL and tries it with and without a
    # port); it runs only when that fails, so it accepts nothing more than before.
    if hmac.compare_digest(expected_signature(token, url, params).encode(),
                           signature.encode("utf-8", "surrogatepass")):
        return True
    return bool(_validator(token).validate(url, params, signature))
