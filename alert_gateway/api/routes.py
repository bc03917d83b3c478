"""The route table of /api/v1: registered on the app and documented in OpenAPI from one list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp.typedefs import Handler
from pydantic import BaseModel

from devices.contract import AlarmType, Severity

from ..db.alerts import AlertStatus
from ..db.messages import RejectReason
from ..i18n import LANGUAGES
from ..residents.reads import DeviceRead
from ..sweep.schemas import SweepIn, SweepRead
from ..sweep.service import RESIDENTS_PAGE, RESIDENTS_PAGE_MAX
from ..validation import MAX_COUNT
from ..wellbeing.schemas import WellbeingIn, WellbeingRead
from . import actions, alerts, directory, rejected, sweeps, wellbeing
from .alerts import ACTIVE
from .params import DEFAULT_LIMIT, MAX_LIMIT
from .schemas import (
    NO_NUL,
    AcknowledgeIn,
    AlertDetail,
    AlertPage,
    AlertRead,
    ArrivalIn,
    DevicePage,
    NoteIn,
    RejectedMessagePage,
    ResidentDetail,
    ResidentPage,
    ResolveIn,
    TakeIn,
    TimelineEventRead,
)


@dataclass(frozen=True)
class Param:
    """A documented query parameter."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One operation: where it lives, what it takes and what it answers."""

    method: str
    path: str  # below /api/v1, OpenAPI style: /alerts/{alert_id}
    handler: Handler
    summary: str
    response: type[BaseModel] | None  # None: a CSV file (text/csv), not JSON
    status: int = 200
    body: type[BaseModel] | None = None
    query: tuple[Param, ...] = ()


def _text(name: str, description: str) -> Param:
    return Param(name, description, {"type": "string", "pattern": NO_NUL})


def _one_of(name: str, description: str, enum: type[StrEnum]) -> Param:
    return Param(name, description, {"type": "string", "enum": [e.value for e in enum]})


def _list_of(name: str, description: str, enum: type[StrEnum], *, alone: str | None = None) -> Param:
    """Comma-separated values of `enum` (or the single word `alone`), as params.enum_list_query reads."""
    choice = "|".join(re.escape(e.value) for e in enum)
    listed = f"({choice})(,({choice}))*"
    pattern = f"^({re.escape(alone)}|{listed})$" if alone else f"^{listed}$"
    return Param(name, description, {"type": "string", "pattern": pattern})


def _bool(name: str, description: str) -> Param:
    return Param(name, description, {"type": "boolean"})


PAGE = (
    Param("limit", f"Page size, at most {MAX_LIMIT}.",
          {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}),
    Param("offset", "Rows to skip.",
          {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": 0}),
)

READ_ROUTES: tuple[Route, ...] = (
    Route("GET", "/alerts", alerts.list_alerts,
          "Alerts: active first by severity then age, resolved after them newest first.",
          AlertPage,
          query=(
              _list_of("status", "Comma-separated statuses (open,acknowledged, no spaces), or "
                       "'active' for all but resolved.", AlertStatus, alone=ACTIVE),
              _one_of("type", "Alarm type, e.g. sos or fall.", AlarmType),
              _text("resident_id", "Only this resident's alerts."),
              _one_of("severity", "P1 to P4.", Severity),
              *PAGE,
          )),
    Route("GET", "/alerts/{alert_id}", alerts.get_alert,
          "One alert with its timeline, notification attempts and responders.", AlertDetail),
    Route("GET", "/residents", directory.list_residents,
          "Residents by id; total is null when the count is not known.", ResidentPage,
          query=(_text("search", "Part of the id, name, kana (hiragana works) or address."),
                 _bool("active", "Only active (true) or inactive (false) residents."), *PAGE)),
    Route("GET", "/residents/{resident_id}", directory.get_resident,
          "One resident with contacts and devices (never the key-safe code).", ResidentDetail),
    Route("GET", "/devices", directory.list_devices, "Devices by id.", DevicePage,
          query=(_text("resident_id", "Only this resident's devices."),
                 _bool("online", "Only online (true) or offline (false) devices."), *PAGE)),
    Route("GET", "/devices/{device_id}", directory.get_device,
          "One device with its supervision state.", DeviceRead),
    Route("GET", "/rejected-messages", rejected.list_rejected,
          "MQTT messages that were not accepted, newest first, with the raw payload.",
          RejectedMessagePage,
          query=(_text("device_id", "Only messages from this device."),
                 _list_of("reason", "Comma-separated reasons (bad_topic,oversized, no spaces).",
                          RejectReason), *PAGE)),
)

_ALERT = "/alerts/{alert_id}"
ACTION_ROUTES: tuple[Route, ...] = (
    Route("POST", f"{_ALERT}/acknowledge", actions.acknowledge,
          "Acknowledge: someone has taken responsibility and the escalation stops.", AlertRead,
          body=AcknowledgeIn),
    Route("POST", f"{_ALERT}/take", actions.take,
          "Take the alert over (as api:<token name>); force takes it from someone else.",
          AlertRead, body=TakeIn),
    Route("POST", f"{_ALERT}/notes", actions.add_note, "Add a note to the timeline.",
          TimelineEventRead, status=201, body=NoteIn),
    Route("POST", f"{_ALERT}/arrival", actions.record_arrival,
          "Record that a responder is at the home.", AlertRead, body=ArrivalIn),
    Route("POST", f"{_ALERT}/escalate", actions.escalate_now,
          "Run the next escalation step now.", AlertRead),
    Route("POST", f"{_ALERT}/resolve", actions.resolve,
          "Resolve the alert with its outcome.", AlertRead, body=ResolveIn),
)

_WELLBEING = "/residents/{resident_id}/wellbeing"
WELLBEING_ROUTES: tuple[Route, ...] = (
    Route("GET", _WELLBEING, wellbeing.get_wellbeing,
          "The resident's wellbeing call schedule (お元気コール) and recent results.", WellbeingRead),
    Route("PUT", _WELLBEING, wellbeing.put_wellbeing,
          "Set the resident's wellbeing call schedule; a null schedule stops the calls.",
          WellbeingRead, body=WellbeingIn),
)

_SWEEP = "/sweeps/{sweep_id}"
SWEEP_ROUTES: tuple[Route, ...] = (
    Route("POST", "/sweeps", sweeps.start_sweep,
          "Start a disaster sweep (災害時安否確認) of every resident or of an address prefix; "
          "residents at risk are called first.", SweepRead, status=201, body=SweepIn),
    Route("GET", _SWEEP, sweeps.get_sweep,
          "A sweep with its counts per state and a page of its residents in call order "
          "(residents_total has them all; POST answers the first page).", SweepRead,
          query=(Param("limit", f"Residents in the page, at most {RESIDENTS_PAGE_MAX}.",
                       {"type": "integer", "minimum": 1, "maximum": RESIDENTS_PAGE_MAX,
                        "default": RESIDENTS_PAGE}),
                 Param("offset", "Residents to skip, in call order.",
                       {"type": "integer", "minimum": 0, "maximum": MAX_COUNT, "default": 0}))),
    Route("GET", f"{_SWEEP}/entries.csv", sweeps.sweep_entries_csv,
          "The sweep's residents in call order as CSV (UTF-8 with BOM), the same file as the "
          "console's export.", None,
          query=(Param("lang", "Language of the state and relation labels (default ja).",
                       {"type": "string", "enum": list(LANGUAGES)}),)),
    Route("POST", f"{_SWEEP}/pause", sweeps.pause_sweep,
          "Pause: no new calls; calls on the line still finish.", SweepRead),
    Route("POST", f"{_SWEEP}/resume", sweeps.resume_sweep, "Resume a paused sweep.", SweepRead),
    Route("POST", f"{_SWEEP}/stop", sweeps.stop_sweep,
          "Stop: residents not yet called are not called.", SweepRead),
)

ROUTES: tuple[Route, ...] = READ_ROUTES + ACTION_ROUTES + WELLBEING_ROUTES + SWEEP_ROUTES
