"""Sign-in, sessions, sign-out, throttling and the CLI that creates accounts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from alert_gateway.db.auth import Operator, WebSession

from ..conftest import create_schema
from .conftest import OPERATOR, PASSWORD, SUPERVISOR, Console


async def test_sign_in_sets_a_hardened_session_cookie(console: Console) -> None:
    """A correct password opens a session in an HttpOnly, SameSite=Lax cookie."""
    token = await console.csrf_of("/console/login")
    response = await console.client.post(
        "/console/login", data={"name": OPERATOR, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    cookie = response.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("ag_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # served over plain http in this test
    async with console.services.sessions() as session:
        stored = (await session.exec(select(WebSession))).one()
    assert stored.token_hash not in session_cookie  # only the hash is stored


async def test_wrong_password_is_refused(console: Console) -> None:
    """A wrong password leaves the operator on the sign-in page with 401."""
    token = await console.csrf_of("/console/login")
    response = await console.client.post(
        "/console/login", data={"name": OPERATOR, "password": "nope-nope-nope", "csrf_token": token},
    )
    assert response.status == 401
    board = await console.client.get("/console/", headers={"Accept": "text/html"},
                                     allow_redirects=False)
    assert board.status == 303


async def test_sign_in_form_needs_its_token(console: Console) -> None:
    """A sign-in post without the form's token is refused (login CSRF)."""
    response = await console.client.post(
        "/console/login", data={"name": OPERATOR, "password": PASSWORD},
    )
    assert response.status == 403


async def test_repeated_failures_slow_the_account_down(console: Console) -> None:
    """After three wrong passwords from one address the next try waits a moment, then works."""
    token = await console.csrf_of("/console/login")
    for _ in range(3):
        response = await console.client.post(
            "/console/login", data={"name": OPERATOR, "password": "wrong-password!", "csrf_token": token},
        )
        assert response.status == 401
    response = await console.client.post(
        "/console/login", data={"name": OPERATOR, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status == 429
    wait = int(response.headers["Retry-After"])
    assert 1 <= wait <= 2 and f"{wait}秒" in await response.text()
    await console.services.clock.advance(seconds=wait)  # type: ignore[attr-defined]
    response = await console.client.post(
        "/console/login", data={"name": OPERATOR, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303


async def test_sign_out_ends_the_session(console: Console) -> None:
    """After sign-out the same cookie no longer opens the board."""
    csrf = await console.sign_in()
    response = await console.client.post("/console/logout", data={"csrf_token": csrf},
                                         allow_redirects=False)
    assert response.status == 303
    async with console.services.sessions() as session:
        assert (await session.exec(select(WebSession))).first() is None
    board = await console.client.get("/console/api/board")
    assert board.status == 401


async def test_session_expires(console: Console) -> None:
    """A session older than a shift and handover is refused."""
    await console.sign_in()
    assert (await console.client.get("/console/api/board")).status == 200
    await console.services.clock.advance(hours=15)  # type: ignore[attr-defined]
    assert (await console.client.get("/console/api/board")).status == 401


async def test_language_follows_the_operator(console: Console) -> None:
    """Japanese by default; switching to English is remembered on the account."""
    csrf = await console.sign_in()
    page = await (await console.client.get("/console/")).text()
    assert "通報ボード" in page
    await console.client.post("/console/me/language", data={"csrf_token": csrf, "language": "en"})
    page = await (await console.client.get("/console/")).text()
    assert "Live board" in page and 'lang="en"' in page
    async with console.services.sessions() as session:
        operator = (await session.exec(select(Operator).where(Operator.name == OPERATOR))).one()
    assert operator.language == "en"


def test_user_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    """`alert-gateway user add` takes the password from a pipe and stores an argon2 hash."""
    import asyncio

    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    asyncio.run(create_schema(url))
    result = subprocess.run(
        [sys.executable, "-m", "alert_gateway", "user", "add", "kenji", "--role", "supervisor"],
        input=f"{PASSWORD}\n", capture_output=True, text=True, timeout=60,
        env={"ALERT_GATEWAY_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    again = subprocess.run(
        [sys.executable, "-m", "alert_gateway", "user", "add", "kenji"],
        input=f"{PASSWORD}\n", capture_output=True, text=True, timeout=60,
        env={"ALERT_GATEWAY_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
    )
    assert again.returncode == 2 and "already exists" in again.stderr
    short = subprocess.run(
        [sys.executable, "-m", "alert_gateway", "user", "add", "short"],
        input="abc\n", capture_output=True, text=True, timeout=60,
        env={"ALERT_GATEWAY_DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
    )
    assert short.returncode == 2
    assert SUPERVISOR  # the fixture's supervisor name is unrelated to this database


async def test_sign_ins_are_counted(console: Console) -> None:
    """Prometheus sees sign-in results without any name in the labels."""
    await console.sign_in()
    text = await (await console.client.get("/metrics")).text()
    assert 'alert_gateway_console_sign_ins_total{result="ok"} 1.0' in text
    assert OPERATOR not in text
