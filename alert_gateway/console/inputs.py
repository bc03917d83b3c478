"""What the console reads from a request, checked against the shared edge rules (validation.py).

Path and query values are checked for every console route by the guard middleware; form values
by `checked_form`, which each form handler reads inside its own error handling so that the form
is shown again with the message, in the operator's language.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from ..errors import InvalidInput, NotFound
from ..validation import BadText, first_bad_text, parse_id
from .render import translator


def _refusal(request: web.Request, bad: BadText) -> InvalidInput:
    return InvalidInput(translator(request)("error.bad_text", field=bad.field[:40]))


def check_request(request: web.Request) -> None:
    """Path and query values the databases can store; InvalidInput (a 400 page) otherwise."""
    for items in (request.match_info.items(), request.query.items()):
        if (bad := first_bad_text(items)) is not None:
            raise _refusal(request, bad)


def check_form(request: web.Request, form: MultiDictProxy[Any]) -> None:
    """Every text value of the form can be stored; InvalidInput otherwise."""
    if (bad := first_bad_text(form.items())) is not None:
        raise _refusal(request, bad)


async def checked_form(request: web.Request) -> MultiDictProxy[Any]:
    """The posted form, if every text value can be stored; InvalidInput otherwise."""
    form = await request.post()
    check_form(request, form)
    return form


def shown_again(form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form's text values fit to show again in a page (a refused character becomes U+FFFD)."""
    return {name: displayable(value) for name, value in form.items() if isinstance(value, str)}


def displayable(value: str) -> str:
    """`value` with NUL and unpaired surrogates replaced, so the page can be encoded."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def path_id(request: web.Request, name: str, what: str) -> int:
    """A record id from the path; beyond the column's range it cannot name a record: NotFound."""
    raw = request.match_info[name]
    value = parse_id(raw)
    if value is None:
        raise NotFound(f"no {what} {raw[:40]}")
    return value


def optional_id(value: str, what: str) -> int | None:
    """An id chosen in a form (blank means none); InvalidInput for anything else."""
    if not value:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise InvalidInput(f"{value[:40]!r} is not a {what}")
    return parsed
