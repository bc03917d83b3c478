"""The device contract, version 1: topics and JSON payloads between home devices and the gateway.

These pydantic models are the source of truth. `python -m devices.schema` writes the JSON Schema
files in devices/schema/ and devices/README.md's type table from them; a test fails if they drift.
Types follow ../shared/DOMAIN.md and map to SCAIP device types / status codes where one exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

CONTRACT_VERSION = "v1"
TOPIC_ROOT = "eldercare/v1/devices"
MAX_PAYLOAD_BYTES = 4096
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

DeviceId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
MessageId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Channel(StrEnum):
    """The last topic level: what kind of message it is."""

    ALARM = "alarm"
    CANCEL = "cancel"
    HEARTBEAT = "heartbeat"
    STATUS = "status"
    ACTIVITY = "activity"
    FEEDBACK = "feedback"


class Severity(StrEnum):
    """Priority class: P1 life-threatening ... P4 informational (DOMAIN.md)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """Lower is more urgent."""
        return int(self.value[1])


class AlarmType(StrEnum):
    """Every alarm type the gateway knows. Anything else is kept and raised as UNKNOWN (P1)."""

    SOS = "sos"
    FALL = "fall"
    INACTIVITY = "inactivity"
    SMOKE = "smoke"
    HEAT = "heat"
    CO = "co"
    GAS = "gas"
    FLOOD = "flood"
    TEMPERATURE_HIGH = "temperature_high"
    TEMPERATURE_LOW = "temperature_low"
    DOOR_EXIT = "door_exit"
    BED_EXIT = "bed_exit"
    MEDICATION_MISSED = "medication_missed"
    LOW_BATTERY = "low_battery"
    POWER_FAILURE = "power_failure"
    TAMPER = "tamper"
    DEVICE_OFFLINE = "device_offline"
    LINK_FAILURE = "link_failure"
    MASS_OUTAGE = "mass_outage"
    TEST = "test"
    CHECKIN = "checkin"
    CONSULT = "consult"
    WELLBEING_HELP = "wellbeing_help"  # raised by the gateway: 9 pressed on a wellbeing call
    WELLBEING_UNANSWERED = "wellbeing_unanswered"  # raised by the gateway: every try unanswered
    SWEEP_HELP = "sweep_help"  # raised by the gateway: 9 pressed on a disaster sweep call
    SWEEP_UNREACHED = "sweep_unreached"  # raised by the gateway: sweep calls unanswered
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AlarmTypeInfo:
    """What the gateway does with one alarm type."""

    severity: Severity
    scaip_device_type: str | None = None  # SCAIP device type code (personal trigger 0003 ...)
    scaip_status: str | None = None  # SCAIP status code (battery low 0016 ...)
    fire: bool = False  # goes to the dispatch centre first; the resident cannot cancel it
    technical: bool = False  # rate-limited, never wakes neighbours at night
    escalates: bool = True  # False: logged (test) or queued for the centre only (consult)


ALARM_TYPES: dict[AlarmType, AlarmTypeInfo] = {
    AlarmType.SOS: AlarmTypeInfo(Severity.P1, scaip_device_type="0003"),
    AlarmType.FALL: AlarmTypeInfo(Severity.P1, scaip_device_type="0005"),
    AlarmType.INACTIVITY: AlarmTypeInfo(Severity.P1, scaip_device_type="0010"),
    AlarmType.SMOKE: AlarmTypeInfo(Severity.P1, scaip_device_type="0023", fire=True),
    AlarmType.HEAT: AlarmTypeInfo(Severity.P1, scaip_device_type="0025", fire=True),
    AlarmType.CO: AlarmTypeInfo(Severity.P1, scaip_device_type="0026", fire=True),
    AlarmType.GAS: AlarmTypeInfo(Severity.P1, scaip_device_type="0021", fire=True),
    AlarmType.UNKNOWN: AlarmTypeInfo(Severity.P1),
    AlarmType.FLOOD: AlarmTypeInfo(Severity.P2, scaip_device_type="0033"),
    AlarmType.TEMPERATURE_HIGH: AlarmTypeInfo(Severity.P2),
    AlarmType.TEMPERATURE_LOW: AlarmTypeInfo(Severity.P2),
    AlarmType.DOOR_EXIT: AlarmTypeInfo(Severity.P2, scaip_device_type="0014"),
    AlarmType.BED_EXIT: AlarmTypeInfo(Severity.P2, scaip_device_type="0012"),
    AlarmType.MEDICATION_MISSED: AlarmTypeInfo(Severity.P2, scaip_device_type="0011"),
    AlarmType.LOW_BATTERY: AlarmTypeInfo(Severity.P3, scaip_status="0016", technical=True),
    AlarmType.POWER_FAILURE: AlarmTypeInfo(
        Severity.P3, scaip_device_type="0041", scaip_status="0085", technical=True
    ),
    AlarmType.TAMPER: AlarmTypeInfo(Severity.P3, scaip_device_type="0038", technical=True),
    AlarmType.DEVICE_OFFLINE: AlarmTypeInfo(Severity.P3, technical=True),
    AlarmType.LINK_FAILURE: AlarmTypeInfo(Severity.P3, technical=True),
    AlarmType.MASS_OUTAGE: AlarmTypeInfo(Severity.P3, technical=True, escalates=False),
    AlarmType.TEST: AlarmTypeInfo(Severity.P4, scaip_status="0102", escalates=False),
    AlarmType.CHECKIN: AlarmTypeInfo(Severity.P4, escalates=False),
    AlarmType.CONSULT: AlarmTypeInfo(Severity.P4, escalates=False),
    AlarmType.WELLBEING_HELP: AlarmTypeInfo(Severity.P2),
    AlarmType.WELLBEING_UNANSWERED: AlarmTypeInfo(Severity.P3),
    AlarmType.SWEEP_HELP: AlarmTypeInfo(Severity.P1),
    AlarmType.SWEEP_UNREACHED: AlarmTypeInfo(Severity.P2),
}

SCAIP_CANCEL_STATUS = "0019"
SCAIP_POWER_RESTORED_STATUS = "0086"


def resolve_alarm_type(raw: str) -> AlarmType:
    """Map a wire type to a known type; an unknown one is UNKNOWN, never dropped."""
    try:
        return AlarmType(raw)
    except ValueError:
        return AlarmType.UNKNOWN


class Qualifier(StrEnum):
    """SCAIP-style event qualifier."""

    NEW = "new"
    RESTORE = "restore"  # the condition ended (mains restored)
    REPEAT = "repeat"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class AlarmMessage(_Payload):
    """`eldercare/v1/devices/{device_id}/alarm`, QoS 1; repeated (same id) until `received`."""

    id: MessageId = Field(description="Unique per device; repeats of one alarm keep the same id.")
    type: Annotated[str, StringConstraints(min_length=1, max_length=40)] = Field(
        description="Alarm type (see the table in devices/README.md). "
        "Unknown types are raised as P1."
    )
    ts: AwareDatetime = Field(description="Device time, ISO 8601 with an offset.")
    qualifier: Qualifier = Qualifier.NEW
    battery: int | None = Field(default=None, ge=0, le=100, description="Battery percent.")
    data: dict[str, str | int | float | bool | None] | None = Field(
        default=None, description="Sensor readings, e.g. {\"temperature\": 35.2}."
    )

    @property
    def alarm_type(self) -> AlarmType:
        """The known type this alarm maps to."""
        return resolve_alarm_type(self.type)


class CancelMessage(_Payload):
    """`eldercare/v1/devices/{device_id}/cancel`, QoS 1: the resident cancelled an earlier alarm."""

    id: MessageId = Field(description="Unique per device, like an alarm id.")
    alarm_id: MessageId = Field(description="The id of the alarm being cancelled.")
    ts: AwareDatetime = Field(description="Device time of the button press, with an offset.")


class HeartbeatMessage(_Payload):
    """`eldercare/v1/devices/{device_id}/heartbeat`, QoS 0 or 1: periodic check-in."""

    ts: AwareDatetime = Field(description="Device time, ISO 8601 with an offset.")
    battery: int | None = Field(default=None, ge=0, le=100, description="Battery percent.")
    firmware: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        default=None, description="Firmware version, free text."
    )


class ActivityKind(StrEnum):
    """What a motion or door sensor saw; counts towards the activity watch (生活リズム)."""

    MOTION = "motion"
    DOOR_OPEN = "door_open"
    DOOR_CLOSE = "door_close"


class ActivityMessage(_Payload):
    """`eldercare/v1/devices/{device_id}/activity`, QoS 0 or 1: the resident is moving about."""

    ts: AwareDatetime = Field(description="Device time of the event, with an offset.")
    kind: ActivityKind = ActivityKind.MOTION


class DeviceState(StrEnum):
    """Retained payload of `.../status`; `offline` is the device's last will."""

    ONLINE = "online"
    OFFLINE = "offline"


class FeedbackState(StrEnum):
    """What the gateway tells a base unit so it can reassure the resident."""

    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    HELP_ON_THE_WAY = "help_on_the_way"
    CANCELLED = "cancelled"
    RESOLVED = "resolved"


class FeedbackMessage(_Payload):
    """`eldercare/v1/devices/{device_id}/feedback`, QoS 1, gateway to device."""

    ref: MessageId = Field(description="The alarm id this feedback is about.")
    state: FeedbackState
    ts: datetime = Field(description="Gateway time.")
    alert_id: int | None = Field(default=None, description="The gateway's alert number, if any.")


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic that has the contract's shape."""

    device_id: str
    channel: Channel


_DEVICE_ID_RE = re.compile(DEVICE_ID_PATTERN)
_CHANNELS = {c.value: c for c in Channel}


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names under one root; tests and drills use their own root so runs never collide."""

    root: str = TOPIC_ROOT

    def for_device(self, device_id: str, channel: Channel) -> str:
        """The topic for one device and message kind."""
        return f"{self.root}/{device_id}/{channel.value}"

    def parse(self, value: str) -> ParsedTopic | None:
        """Split `{root}/{device_id}/{channel}`; None when the shape is wrong."""
        prefix = self.root + "/"
        if not value.startswith(prefix):
            return None
        rest = value[len(prefix) :].split("/")
        if len(rest) != 2 or not _DEVICE_ID_RE.fullmatch(rest[0]):
            return None
        channel = _CHANNELS.get(rest[1])  # a dict lookup: Channel(...) is slow on the hot path
        return None if channel is None else ParsedTopic(rest[0], channel)


StatusPayload = Literal["online", "offline"]
