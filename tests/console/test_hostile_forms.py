"""Hostile values in every console page's path and query and every form field: never a 5xx."""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import FormData

from alert_gateway.clock import FakeClock
from alert_gateway.db.escalation import AlertResponder

from ..api.hostile import (
    ENCODED_SURROGATE,
    HOSTILE_NUMBERS,
    HOSTILE_VALUES,
    LONG,
    NUL,
    Edge,
    edge_app,
    form_body,
    url,
)
from .conftest import SUPERVISOR

QUERY_NAMES = ("q", "all", "from", "to", "type", "resident", "outcome", "month", "done", "next")
BAD_DATES = ("9999-12-31", "0001-01-01", "0000-01", "2026-11\n", "٢٠٢٦-١١", "2026-13")
# Not walked: the SSE stream never ends (its owner tests it), static files, sign-out (it would
# end the walk's session), and the two redirects to the board.
NOT_WALKED = {"/console/events", "/console/logout", "/console/static/alarm.wav", "/console",
              "/"}


def _pages(edge: Edge) -> list[str]:
    a, c = edge.alert_id, edge.contact_id
    return ["/console/", "/console/board/rows", "/console/api/board", f"/console/alerts/{a}",
            f"/console/alerts/{a}/live", "/console/residents", "/console/residents/new",
            "/console/residents/r-0001", "/console/residents/r-0001/edit",
            "/console/residents/r-0001/line", "/console/residents/import",
            f"/console/contacts/{c}/edit", f"/console/contacts/{c}/line",
            "/console/operators",
            "/console/history", "/console/report", "/console/report.csv", "/console/audit",
            "/console/audit.csv", "/console/login", "/console/handover", "/console/sweeps"]


def _forms(edge: Edge) -> dict[str, dict[str, str]]:
    a, c = f"/console/alerts/{edge.alert_id}", edge.contact_id
    resident = {"name": "山田 花子", "kana": "ヤマダ", "address": "金沢市", "phone": "+81762201111",
                "language": "ja", "date_of_birth": "1938-04-12", "medical_notes": "x", "gp": "x",
                "home_care": "x", "property_type": "house", "access_notes": "x",
                "key_safe_location": "x", "key_safe_code": "1234", "risk_notes": "x",
                "notes": "x", "activity_watch_hours": "24", "oxygen_in_home": "1", "away": "0"}
    contact = {"name": "山田 次郎", "relation": "family", "phone": "+819011113333",
               "priority": "3", "language": "ja", "channels": "sms,voice", "availability": "x"}
    return {
        f"{a}/take": {"force": "1"}, f"{a}/acknowledge": {}, f"{a}/note": {"text": "x"},
        f"{a}/escalate": {}, f"{a}/arrival": {"contact_id": str(c)},
        f"{a}/resolve": {"outcome": "other", "note": "x"}, f"{a}/reveal-key": {},
        # no phone to ring first (the phone form below clears it): nothing reaches Twilio
        f"{a}/call": {"callee": "resident"}, "/console/handover": {"text": "x"},
        "/console/operators/1/phone": {"phone": ""},
        "/console/me/language": {"language": "ja", "next": "/console/"},
        "/console/me/sound": {"sound": "off", "next": "/console/"},
        "/console/operators": {"name": "yoru", "role": "operator", "display_name": "夜勤",
                               "password": "a-long-enough-password", "language": "ja"},
        "/console/operators/1/active": {"active": "1"},
        "/console/operators/throttles/clear": {"key": "pair:nobody|127.0.0.1"},
        "/console/residents": {"id": "r-0100"} | resident,
        "/console/residents/r-0001": resident | {"clear_key_safe_code": "0"},
        "/console/residents/r-0001/contacts": contact,
        f"/console/contacts/{c}": contact | {"active": "1"},
        f"/console/contacts/{c}/line": {"action": "code"},
        "/console/residents/r-0001/line": {"action": "code"},
        "/console/residents/r-0001/devices": {"id": "pendant-0100", "kind": "pendant",
                                              "location": "居間", "heartbeat_interval": "300",
                                              "active": "1"},
        # a sweep of everyone first (it is sweep 1), then its controls
        "/console/sweeps": {"scope": "all", "area_prefix": "金沢市", "message_ja": "x",
                            "message_en": "x"},
        **{f"/console/sweeps/1/{action}": {} for action in ("pause", "resume", "stop")},
    }


def _hostile_paths(edge: Edge) -> list[str]:
    """Pages and forms with an id beyond the column range or a hostile resident id."""
    paths = []
    for number in (str(n) for n in HOSTILE_NUMBERS if n > 0):
        paths += [f"/console/alerts/{number}", f"/console/alerts/{number}/live",
                  f"/console/contacts/{number}/edit", f"/console/sweeps/{number}",
                  f"/console/sweeps/{number}/live", f"/console/sweeps/{number}.csv"]
    for raw in (*(quote(v, safe="") for v in HOSTILE_VALUES), ENCODED_SURROGATE):
        paths += [f"/console/residents/{raw}", f"/console/residents/{raw}/edit",
                  f"/console/residents/{raw}/deactivate", f"/console/residents/{raw}/line"]
    return paths


def _route_paths(edge: Edge) -> set[str]:
    found = set()
    for route in edge.client.app.router.routes():  # type: ignore[union-attr]
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if (path and path.startswith("/console")) or path == "/":
            found.add(re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path))
    return found


def _template(path: str, edge: Edge) -> str:
    path = path.replace(f"/alerts/{edge.alert_id}", "/alerts/{alert_id}")
    path = path.replace(f"/contacts/{edge.contact_id}", "/contacts/{contact_id}")
    path = path.replace("/operators/1/", "/operators/{operator_id}/")
    path = re.sub(r"^/console/sweeps/1/(pause|resume|stop)$", "/console/sweeps/{sweep_id}/{action}",
                  path)
    path = re.sub(r"^/console/sweeps/1(\.csv|/live)?$", r"/console/sweeps/{sweep_id}\1", path)
    return path.replace("/residents/r-0001", "/residents/{resident_id}")


def _values_for(usual: str) -> tuple[str, ...]:
    """Every hostile value for a number field; for text, those a database cannot hold (an
    out-of-range number is only text there, and the walk is the suite's longest test)."""
    return HOSTILE_VALUES if usual.isdigit() else (NUL, LONG, "abc")


async def _walk(edge: Edge, csrf: str) -> set[str]:
    """Every page, query and form field with each hostile value; returns the paths walked."""
    walked = set()
    pages, forms = _pages(edge), _forms(edge)
    for page in pages:
        for value in HOSTILE_VALUES:
            await edge.note(await edge.client.get(url(page, dict.fromkeys(QUERY_NAMES, value))))
        for name in ("from", "to", "month"):
            for value in BAD_DATES:
                await edge.note(await edge.client.get(url(page, {name: value})))
        await edge.note(await edge.client.get(url(f"{page}?q={ENCODED_SURROGATE}")))
        walked.add(page)
    for path in _hostile_paths(edge):
        await edge.note(await edge.client.get(url(path)))
        await edge.note(await edge.client.post(url(path), data={"csrf_token": csrf}))
    for path, base in forms.items():
        for name in [*base, "csrf_token"]:
            for value in _values_for(base.get(name, "")):
                fields = base | {"csrf_token": csrf, name: value}
                body, headers = form_body(fields)
                await edge.note(await edge.client.post(path, data=body, headers=headers), fields)
            body, headers = form_body({k: v for k, v in base.items() if k != name} |
                                      {"csrf_token": csrf}, raw=f"{name}={ENCODED_SURROGATE}")
            await edge.note(await edge.client.post(path, data=body, headers=headers), body)
        walked.add(path)
    # The PDF reads only `month`; a valid month would lay out a PDF for seconds each time
    for value in (*HOSTILE_VALUES, *BAD_DATES):
        await edge.note(await edge.client.get(url("/console/report.pdf", {"month": value})))
    walked.add("/console/report.pdf")
    for page in ("/console/sweeps/1", "/console/sweeps/1/live", "/console/sweeps/1.csv"):
        for value in HOSTILE_VALUES:
            await edge.note(await edge.client.get(url(page, dict.fromkeys(QUERY_NAMES, value))))
        walked.add(page)
    for filename, content in (("r.csv", b"id,name\nr-0200,a\x00b\n"), ("r\u00e9.csv", b"id\n"),
                              ("r.yaml", b"- id: r-0201\n  name: \"a\\0b\"\n"),
                              ("r.csv", b"\xff\xfe\x00\x00")):
        upload = FormData()
        upload.add_field("csrf_token", csrf)
        upload.add_field("file", content, filename=filename, content_type="text/csv")
        await edge.note(await edge.client.post("/console/residents/import", data=upload),
                        (filename, content))
    walked.add("/console/residents/import")
    last = "/console/residents/r-0001/deactivate"  # last: it changes what the forms above use
    await edge.note(await edge.client.post(last, data={"csrf_token": csrf}))
    walked.add(last)
    return walked


async def _sign_in_hostile(edge: Edge) -> None:
    console = edge.console()
    for name in ("name", "password", "next", "csrf_token"):
        for value in HOSTILE_VALUES:
            token = await console.csrf_of("/console/login")
            fields = {"name": "nobody", "password": "wrong", "next": "/console/",
                      "csrf_token": token} | {name: value}
            body, headers = form_body(fields)
            await edge.note(await edge.client.post("/console/login", data=body, headers=headers,
                                                   allow_redirects=False), fields)


async def test_no_console_route_answers_5xx_to_hostile_input(
        database_url: str, clock: FakeClock) -> None:
    """NUL, unpaired surrogates, 2**31, 2**63, -1, 10**30, words and impossible dates in every
    console page and form field, as a supervisor: never a 5xx; every console route is walked."""
    async with edge_app(database_url, clock) as edge:
        csrf = await edge.console().sign_in(SUPERVISOR)
        walked = await _walk(edge, csrf)
        await _sign_in_hostile(edge)
        assert edge.failures == [], "\n".join(edge.failures)
        templates = {_template(path, edge) for path in walked}
        missing = _route_paths(edge) - templates - NOT_WALKED - {"/console/alerts/{alert_id}/{action}"}
        assert missing == set(), f"console routes the hostile walk does not cover: {missing}"


async def test_nul_in_a_resident_form_shows_the_form_again_in_japanese(
        database_url: str, clock: FakeClock) -> None:
    """A NUL in the name re-renders the edit form (400) with a Japanese message naming the field."""
    async with edge_app(database_url, clock) as edge:
        csrf = await edge.console().sign_in(SUPERVISOR)
        body, headers = form_body({"csrf_token": csrf, "name": NUL, "address": "金沢市"})
        response = await edge.client.post("/console/residents/r-0001", data=body,
                                          headers=headers | {"Accept": "text/html"})
        page = await response.text()
        assert response.status == 400, page[:500]
        assert "「name」に保存できない文字" in page, page[:2000]
        assert 'value="金沢市"' in page, page[:2000]  # the operator's other input is kept


async def test_console_arrival_naming_another_residents_contact_is_refused(
        database_url: str, clock: FakeClock) -> None:
    """The alert page answers 400 with the reason, and no responder row is written."""
    async with edge_app(database_url, clock) as edge:
        csrf = await edge.console().sign_in(SUPERVISOR)
        response = await edge.client.post(
            f"/console/alerts/{edge.alert_id}/arrival",
            data={"csrf_token": csrf, "contact_id": str(edge.other_contact_id)},
            headers={"Accept": "text/html"}, allow_redirects=False)
        page = await response.text()
        assert response.status == 400, page[:500]
        assert f"contact {edge.other_contact_id} is not a contact of resident r-0001" in page
        async with edge.services.sessions() as session:
            assert await session.get(AlertResponder, (edge.alert_id, edge.other_contact_id)) is None
