"""LINE in the demo: the fake LINE beside the fake Twilio, the demo contacts' and residents'
accounts linked, and policies that send LINE with every SMS and call (the built-in ones say
"both")."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from aiohttp import web
from pydantic import SecretStr
from sqlmodel import col, select

from ..db.engine import SessionFactory
from ..db.residents import Contact, PhoneType, Resident
from ..escalation.policy import DEFAULT_POLICIES
from ..line.fake_server import fake_line_of, make_fake_line_app
from ..settings import Settings

DEMO_LINE_SECRET = "demo-fake-line-channel-secret"  # shared with the in-process fake only
DEMO_LINE_TOKEN = "demo-fake-line-access-token"
FAKE_LINE_PATH = "/line"  # mounted on the fake Twilio's server: the phones page shows it


def line_settings(twilio_port: int) -> dict[str, object]:
    """Settings that point LINE at the fake mounted on the fake Twilio's port."""
    return {"line_api_base": f"http://127.0.0.1:{twilio_port}{FAKE_LINE_PATH}",
            "line_channel_secret": SecretStr(DEMO_LINE_SECRET),
            "line_channel_access_token": SecretStr(DEMO_LINE_TOKEN)}


def policies_path(data_dir: Path) -> Path:
    """Where the demo's policies live (written by `write_policies` before the gateway starts)."""
    return data_dir / "policies-with-line.toml"


def write_policies(path: Path) -> None:
    """The built-in policies with LINE beside every SMS and call (they say "both")."""
    text = resources.files("alert_gateway.escalation").joinpath(DEFAULT_POLICIES).read_text("utf-8")
    path.write_text(text.replace('channels = "both"', 'channels = "sms+line+voice"'), "utf-8")


def user_id_of(phone: str) -> str:
    """A stable fake LINE user id for a demo phone number."""
    return "U" + hashlib.sha256(phone.encode()).hexdigest()[:32]


async def link_accounts(sessions: SessionFactory) -> dict[str, str]:
    """Link every demo contact with a mobile, and every resident (a sweep's message and its
    buttons reach them there), to a fake LINE account; {user id: label}."""
    accounts: dict[str, str] = {}
    async with sessions() as session:
        contacts = (await session.exec(select(Contact).where(
            col(Contact.phone_type) == PhoneType.MOBILE.value, col(Contact.active).is_(True)))).all()
        residents = (await session.exec(select(Resident).where(
            col(Resident.phone).is_not(None), col(Resident.active).is_(True)))).all()
        people: list[Contact | Resident] = [*contacts, *residents]
        for person in people:
            assert person.phone is not None
            person.line_user_id = user_id_of(person.phone)
            accounts[person.line_user_id] = f"{person.name} ({person.phone})"
        await session.commit()
    return accounts


def mount_fake_line(twilio_app: web.Application, settings: Settings,
                    accounts: dict[str, str]) -> None:
    """Serve the fake LINE under /line/ of the fake Twilio's app, its accounts following."""
    app = make_fake_line_app(channel_secret=DEMO_LINE_SECRET, access_token=DEMO_LINE_TOKEN,
                             webhook_url=settings.public_url + "/line/webhook")
    fake = fake_line_of(app)
    for user_id, label in accounts.items():
        account = fake.user(user_id)
        account.label, account.following = label, True
    twilio_app.add_subapp(FAKE_LINE_PATH + "/", app)
