"""Every console route needs a session, unsafe requests need the CSRF token, names are text."""

from __future__ import annotations

import re

from aiohttp import web

from alert_gateway.db.alerts import Alert
from alert_gateway.db.residents import Resident

from .conftest import SUPERVISOR, Console

# Served without a session on purpose (issue 4): health, metrics, sign-in, static assets, the
# redirect from "/" (it only points at the sign-in-guarded board).
PUBLIC = {"/livez", "/healthz", "/readyz", "/metrics", "/console/login", "/", "/console/static/alarm.wav",
          # The API's schema carries no data; the API module serves it openly (its choice).
          "/api/v1/openapi.json",
          # The SMS answer page: its link's token is the credential (tests/escalation/test_answer_links.py).
          "/r/answer.css", "/r/{token}"}
XSS = "<script>alert(1)</script>"


def _concrete(path: str) -> str:
    """A real path for a route template: every placeholder becomes 1."""
    return re.sub(r"\{[^}]+\}", "1", path)


def _routes(app: web.Application) -> list[tuple[str, str]]:
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if route.method == "HEAD" or path is None:
            continue
        if "prefix" in info:  # the static directory: its files are public assets
            continue
        if path in PUBLIC:
            continue
        found.append((route.method, _concrete(path)))
    return found


async def test_every_protected_route_refuses_anonymous_requests(console: Console) -> None:
    """No page, fragment, stream or JSON endpoint answers without a session."""
    routes = _routes(console.app)
    assert len(routes) > 10
    for method, path in routes:
        for accept in ("text/html", "application/json"):
            response = await console.client.request(
                method, path, headers={"Accept": accept}, allow_redirects=False
            )
            body = await response.text()
            if response.status == 303:
                assert response.headers["Location"].startswith("/console/login"), (method, path)
            else:
                assert response.status in (401, 403), (method, path, response.status, body[:200])
            assert "ag_session" not in response.headers.get("Set-Cookie", ""), (method, path)


async def test_state_change_without_csrf_token_is_refused(console: Console) -> None:
    """A signed-in POST without the token (form field or header) is refused with 403."""
    await console.sign_in()
    response = await console.client.post("/console/me/language", data={"language": "en"})
    assert response.status == 403
    response = await console.client.post(
        "/console/me/language", data={"language": "en", "csrf_token": "forged"})
    assert response.status == 403
    response = await console.client.post("/console/logout")
    assert response.status == 403


async def test_csrf_header_is_accepted_for_fetch(console: Console) -> None:
    """Script requests may carry the token in X-CSRF-Token instead of a form field."""
    csrf = await console.sign_in()
    response = await console.client.post(
        "/console/me/language", data={"language": "en"}, headers={"X-CSRF-Token": csrf},
        allow_redirects=False,
    )
    assert response.status == 303


async def test_operator_cannot_reach_supervisor_pages(console: Console) -> None:
    """An operator gets 403 on account management; a supervisor gets the page."""
    csrf = await console.sign_in()
    assert (await console.client.get("/console/operators")).status == 403
    response = await console.client.post(
        "/console/operators", data={"csrf_token": csrf, "name": "evil", "password": "x" * 12,
                                    "role": "supervisor"})
    assert response.status == 403
    await console.client.post("/console/logout", data={"csrf_token": csrf})
    await console.sign_in(SUPERVISOR)
    assert (await console.client.get("/console/operators")).status == 200


async def test_script_in_a_resident_name_is_shown_as_text(console: Console) -> None:
    """A resident called <script>alert(1)</script> appears escaped on the board."""
    now = console.services.clock.now()
    async with console.services.sessions() as session:
        session.add(Resident(id="r-xss", name=XSS, kana=XSS))
        await session.flush()  # the alert's foreign key needs the resident row first
        session.add(Alert(resident_id="r-xss", type="sos", severity="P1", opened_at=now,
                          updated_at=now))
        await session.commit()
    await console.sign_in()
    for path in ("/console/", "/console/board/rows"):
        page = await (await console.client.get(path)).text()
        assert XSS not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    board = await (await console.client.get("/console/")).text()
    assert "script-src" not in board  # no inline script hole: the CSP header governs


async def test_pages_send_security_headers(console: Console) -> None:
    """Console pages forbid framing and inline scripts and are never cached."""
    await console.sign_in()
    response = await console.client.get("/console/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


async def test_streamed_downloads_and_redirects_send_security_headers(console: Console) -> None:
    """A CSV sent while it is read (its headers go out before the handler returns) and a
    redirect to the sign-in page carry the same headers as a page."""
    away = await console.client.get("/console/", allow_redirects=False,
                                    headers={"Accept": "text/html"})
    assert away.status == 303 and away.headers["X-Frame-Options"] == "DENY", away.headers
    await console.sign_in(SUPERVISOR)
    download = await console.client.get("/console/audit.csv")
    assert download.status == 200, await download.text()
    assert download.headers["X-Content-Type-Options"] == "nosniff", download.headers
    assert "default-src 'self'" in download.headers["Content-Security-Policy"]
    assert download.headers["Cache-Control"] == "no-store"
