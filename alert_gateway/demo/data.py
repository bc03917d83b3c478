"""The demo's settings and database: SQLite in the data folder, migrated, demo residents imported."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr
from sqlmodel import select

from ..db.engine import SessionFactory
from ..db.migrate import upgrade
from ..db.residents import Contact, Resident
from ..errors import ConfigError
from ..residents.importer import ImportReport, import_file
from ..settings import Settings
from .broker import DemoBroker
from .line import line_settings, policies_path

DEMO_RESIDENTS = Path(__file__).resolve().parents[2] / "config" / "demo" / "residents.yaml"
DEMO_TWILIO_TOKEN = "demo-fake-twilio-token"  # shared with the in-process fake only
DEFAULT_DISPATCH_PHONE = "+81762000000"  # fictional, like every number of the demo
DEFAULT_DESK_PHONE = "+81762000099"  # rung first by click-to-call; answered on the phones page


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `alert-gateway demo` was asked to do."""

    data_dir: Path = Path("data/demo")
    port: int = 8080
    twilio_port: int = 8099
    scenario: str = "demo"  # demo (gentle random + an early pendant), random, or a scenario
    mqtt_url: str | None = None
    embedded_broker: bool = False
    residents: Path = DEMO_RESIDENTS
    verbose: bool = False


def demo_key(data_dir: Path) -> str:
    """A short stable id of the data folder: its topic root and client id never meet another's."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]


def demo_settings(base: Settings, options: DemoOptions, broker: DemoBroker) -> Settings:
    """`base` pointed at the data folder, the chosen broker, the fake Twilio and the demo ports."""
    key = demo_key(options.data_dir)
    public_url = f"http://127.0.0.1:{options.port}"
    update: dict[str, object] = {
        "database_url": f"sqlite+aiosqlite:///{(options.data_dir / 'alert-gateway.db').resolve()}",
        "mqtt_url": broker.url,
        "mqtt_client_id": f"alert-gateway-demo-{key}",
        # real devices use eldercare/v1/devices; a demo on a shared broker must never see them
        "mqtt_topic_root": f"demo-{key}/eldercare/v1/devices",
        "mqtt_share_group": None,
        "http_host": "127.0.0.1",
        "http_port": options.port,
        "public_url": public_url,
        "metrics_require_auth": False,
        # the fake only: the demo numbers are real-looking and must never reach Twilio
        "twilio_api_base": f"http://127.0.0.1:{options.twilio_port}",
        "twilio_auth_token": SecretStr(DEMO_TWILIO_TOKEN),
        "dispatch_phone": base.dispatch_phone or DEFAULT_DISPATCH_PHONE,
        "desk_phone": base.desk_phone or DEFAULT_DESK_PHONE,
        **line_settings(options.twilio_port),
        "policies_file": base.policies_file or policies_path(options.data_dir),
        "log_json": False,
        "log_level": "INFO" if options.verbose else "WARNING",
    }
    if broker.embedded:
        # amqtt speaks 3.1.1 only and queues for offline sessions only when they log in
        update |= {"mqtt_protocol": "3.1.1", "mqtt_username": "alert-gateway-demo",
                   "mqtt_password": None}
    elif options.mqtt_url is None:
        update |= {"mqtt_username": None, "mqtt_password": None}  # the local Mosquitto
    return base.model_copy(update=update)


async def prepare_database(settings: Settings, sessions: SessionFactory, residents: Path,
                           *, now: datetime) -> ImportReport:
    """Migrate the SQLite file, then import the demo residents (idempotent: matched by id)."""
    await upgrade(settings.database_url)
    async with sessions() as session:
        report = await import_file(session, residents, now=now)
    if not report.ok:
        lines = "; ".join(str(e) for e in report.errors[:5])
        raise ConfigError(f"{residents} did not import (--residents FILE): {lines}")
    return report


async def demo_phones(sessions: SessionFactory, settings: Settings) -> list[str]:
    """Every number the escalation may call: residents, contacts and the dispatch centre."""
    async with sessions() as session:
        numbers = set((await session.exec(select(Contact.phone))).all())
        numbers |= {p for p in (await session.exec(select(Resident.phone))).all() if p}
    return sorted(numbers | ({settings.dispatch_phone} if settings.dispatch_phone else set()))
