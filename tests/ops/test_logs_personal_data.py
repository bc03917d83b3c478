"""A night with failures, logged at DEBUG: not one line holds a resident's or contact's data.

The run: a supervisor's resident edit refused at the edge (a NUL) and then by the database,
searches by name, kana, address and phone (percent-encoded too) in the console and the API, a
token sent as `?access_token=`, and an alarm from a resident with a full record whose first
notifications the database refuses before they go out to the contacts by SMS and call.
"""

from __future__ import annotations

import io
import json
import re
from urllib.parse import quote

import aiohttp
from sqlalchemy import text

from alert_gateway.clock import FakeClock
from alert_gateway.console import accounts
from alert_gateway.db.auth import Role
from alert_gateway.db.engine import is_sqlite, make_engine, make_sessions
from alert_gateway.db.models import Contact, Device, Resident
from tests.conftest import create_schema
from tests.escalation.env import Env, escalation_env
from tests.harness import device_client

NAME, KANA = "山田 花子", "ヤマダ ハナコ"
ADDRESS = "石川県金沢市広坂1丁目1番1号"
MEDICAL = "心房細動 ワルファリン服用"
KEY_SAFE = "KS-7Q4Z"
RESIDENT_PHONE = "+81762201234"  # 076-220-1234
DAUGHTER, DAUGHTER_PHONE = "山田 京子", "+819011110001"  # 090-1111-0001
SON, SON_PHONE = "やまだ いちろう", "+819011110002"  # 090-1111-0002
SUPERVISOR, PASSWORD = "sato", "correct-horse-battery"

# Every piece of personal data in the run, and the forms it may take in a log line.
SECRETS = {
    "resident name": ["山田", "花子", "ヤマダ", "ハナコ"],
    "contact names": ["京子", "やまだ", "いちろう"],
    "address": ["広坂", "金沢市", "1丁目1番1号"],
    "medical notes": ["心房細動", "ワルファリン"],
    "key-safe code": [KEY_SAFE, "7Q4Z"],
    "phones": ["762201234", "076-220-1234", "0762201234", "9011110001",
               "090-1111-0001", "09011110001", "9011110002", "%2B81"],
}


async def seed(url: str) -> None:
    """A resident with a full record, her pendant, two contacts; a supervisor."""
    await create_schema(url)
    engine = make_engine(url)
    try:
        async with make_sessions(engine)() as s:
            s.add(Resident(id="r-1", name=NAME, kana=KANA, address=ADDRESS, medical_notes=MEDICAL,
                           key_safe_location="玄関横", key_safe_code=KEY_SAFE, phone_type="landline",
                           access_notes="裏口の鍵は山田 京子が保管"))
            await s.flush()
            s.add(Device(id="pendant-1", resident_id="r-1"))
            s.add(Contact(resident_id="r-1", name=DAUGHTER, relation="family", phone=DAUGHTER_PHONE,
                          phone_type="mobile", priority=1))
            s.add(Contact(resident_id="r-1", name=SON, relation="family", phone=SON_PHONE,
                          phone_type="mobile", priority=2))
            await accounts.create(s, name=SUPERVISOR, role=Role.SUPERVISOR, password=PASSWORD,
                                  now=FakeClock().now(), display_name="佐藤 主任")
            await s.commit()
    finally:
        await engine.dispose()


async def refuse(url: str, table: str, *, on: str) -> None:
    """Make the database refuse every `on` (INSERT/UPDATE) on `table` until `allow`."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            if is_sqlite(url):
                await conn.execute(text(f"CREATE TRIGGER refuse_{table} BEFORE {on} ON {table} "
                                        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"))
                return
            await conn.execute(text(
                "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"))
            await conn.execute(text(f"CREATE TRIGGER refuse_{table} BEFORE {on} ON {table} "
                                    "FOR EACH ROW EXECUTE FUNCTION refuse()"))
    finally:
        await engine.dispose()


async def allow(url: str, table: str) -> None:
    """Drop the trigger `refuse` made."""
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            on = "" if is_sqlite(url) else f" ON {table}"
            await conn.execute(text(f"DROP TRIGGER refuse_{table}{on}"))
    finally:
        await engine.dispose()


async def console_session(env: Env) -> tuple[aiohttp.ClientSession, str]:
    """A browser signed in as the supervisor, and its CSRF token."""
    http = aiohttp.ClientSession(env.settings.public_url, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def csrf_of(path: str) -> str:
        async with http.get(path, headers={"Accept": "text/html"}) as page:
            match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
        assert match, f"no CSRF token on {path}"
        return match[1]

    form = {"name": SUPERVISOR, "password": PASSWORD, "csrf_token": await csrf_of("/console/login")}
    async with http.post("/console/login", data=form, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
    return http, await csrf_of("/console/")


def resident_form(csrf: str, **changes: str) -> dict[str, str]:
    """The edit form as a supervisor submits it, every personal field filled in."""
    return {"csrf_token": csrf, "name": NAME, "kana": KANA, "address": ADDRESS,
            "phone": "076-220-1234", "language": "ja", "medical_notes": MEDICAL,
            "key_safe_location": "玄関横", "key_safe_code": KEY_SAFE, "clear_key_safe_code": "0",
            "access_notes": f"{DAUGHTER} 090-1111-0001", "property_type": "house"} | changes


def leaks(buffer: io.StringIO) -> list[str]:
    """Each (kind, fragment, line) where personal data reached the log."""
    found = []
    for line in buffer.getvalue().splitlines():
        for kind, fragments in SECRETS.items():
            for fragment in (f for f in fragments if f in line):
                at = line.index(fragment)
                found.append(f"{kind} {fragment!r}: {line[:120]} … {line[max(at - 150, 0):at + 80]}")
    return found


async def test_a_night_with_failures_logs_no_personal_data(
    database_url: str, topic_root: str, clock: FakeClock, stream: io.StringIO
) -> None:
    """Refused edits, searches, a token in a URL, refused sends, an escalation: no log line leaks."""
    await seed(database_url)

    def logged(fragment: str) -> bool:
        return fragment in stream.getvalue()

    async with escalation_env(database_url, topic_root, clock) as env, \
            device_client(topic_root, clock=clock) as dev:
        browser, csrf = await console_session(env)
        async with browser:
            # A supervisor's edit: refused at the edge (a NUL), then by the database itself.
            async with browser.post("/console/residents/r-1",
                                    data=resident_form(csrf, name=f"{NAME}\x00")) as response:
                assert response.status == 400, await response.text()
            await refuse(database_url, "resident", on="UPDATE")
            async with browser.post("/console/residents/r-1", data=resident_form(csrf)) as response:
                assert response.status >= 400, await response.text()
            await allow(database_url, "resident")

            # Searches by name, kana, address and phone, as typed and percent-encoded.
            for query in (NAME, KANA, "広坂", RESIDENT_PHONE, "076-220-1234", DAUGHTER_PHONE):
                async with browser.get(f"/console/residents?q={quote(query)}") as response:
                    assert response.status == 200, await response.text()

        token = await env.api_token()
        bearer = {"Authorization": f"Bearer {token}"}
        for query in (NAME, KANA, SON_PHONE, "090-1111-0002"):
            async with env.http.get(f"{env.settings.public_url}/api/v1/residents",
                                    params={"search": query}, headers=bearer) as response:
                assert response.status == 200, await response.text()
        async with env.http.get(f"{env.settings.public_url}/api/v1/alerts?access_token={token}",
                                headers=bearer) as response:
            assert response.status < 500, await response.text()

        # The alarm; the database refuses its notifications until the engine has said so.
        await refuse(database_url, "notificationattempt", on="INSERT")
        await dev.alarm("pendant-1", "m-1", "sos")

        async def engine_refused() -> bool:
            return logged("escalation engine: database error")

        await env.changes.until(engine_refused)
        await allow(database_url, "notificationattempt")
        await env.until_fake(lambda f: env.sent(DAUGHTER_PHONE, "Messages")
                             and env.sent(DAUGHTER_PHONE, "Calls"))
        [sms] = env.sent(DAUGHTER_PHONE, "Messages")
        assert NAME in sms.params["Body"][0]  # the data did go where it belongs

    assert logged("GET /console/residents 200"), "no access-log line for the searches"
    assert not (found := leaks(stream)), "\n".join(found[:20])
    for line in stream.getvalue().splitlines():
        json.loads(line)  # one JSON object per line, even for tracebacks
    assert token not in stream.getvalue()
