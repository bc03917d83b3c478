"""SIA event codes (SIA DC-03, as listed in pysiaalarm's table) to device-contract messages.

The table is documented in docs/devices/sia-dc09.md; keep the two in step. A code that is not
listed here and not in IGNORED is still an alarm: it is forwarded as type `sia_<code>`, which the
gateway raises as P1 `unknown` (an alarm we cannot read is never dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from devices.contract import ActivityKind, AlarmType, Qualifier


class Route(StrEnum):
    """Which contract channel an event goes to."""

    ALARM = "alarm"  # stored, then `received`: the panel is ACKed after commit
    ACTIVITY = "activity"  # a sign of life for the inactivity watch; ACKed after the broker has it
    IGNORED = "ignored"  # well-formed but nothing we act on: kept as rejected, answered DUH


@dataclass(frozen=True, slots=True)
class Mapping:
    """What one SIA code becomes."""

    route: Route
    alarm_type: AlarmType | None = None
    qualifier: Qualifier = Qualifier.NEW
    activity: ActivityKind | None = None


def _alarm(alarm_type: AlarmType, qualifier: Qualifier = Qualifier.NEW) -> Mapping:
    return Mapping(Route.ALARM, alarm_type, qualifier)


_NEW, _RESTORE = Qualifier.NEW, Qualifier.RESTORE

# Alarm / restore pairs. DC-03 has no carbon-monoxide code (CA is "automatic closing", CO
# "command sent"); panels send CO as GA, and Contact ID 162 is told apart in `mapping_for`.
SIA_MAP: dict[str, Mapping] = {
    "PA": _alarm(AlarmType.SOS), "PH": _alarm(AlarmType.SOS, _RESTORE),  # panic
    "MA": _alarm(AlarmType.SOS), "MH": _alarm(AlarmType.SOS, _RESTORE),  # medical
    "QA": _alarm(AlarmType.SOS), "QR": _alarm(AlarmType.SOS, _RESTORE),  # emergency
    "HA": _alarm(AlarmType.SOS), "HH": _alarm(AlarmType.SOS, _RESTORE),  # hold-up (duress)
    "FA": _alarm(AlarmType.SMOKE), "FH": _alarm(AlarmType.SMOKE, _RESTORE),  # fire
    "KA": _alarm(AlarmType.HEAT), "KH": _alarm(AlarmType.HEAT, _RESTORE),  # heat
    "GA": _alarm(AlarmType.GAS), "GH": _alarm(AlarmType.GAS, _RESTORE),  # gas
    "WA": _alarm(AlarmType.FLOOD), "WH": _alarm(AlarmType.FLOOD, _RESTORE),  # water
    "TA": _alarm(AlarmType.TAMPER), "TR": _alarm(AlarmType.TAMPER, _RESTORE),  # tamper
    "YT": _alarm(AlarmType.LOW_BATTERY), "YR": _alarm(AlarmType.LOW_BATTERY, _RESTORE),  # system
    "XT": _alarm(AlarmType.LOW_BATTERY), "XR": _alarm(AlarmType.LOW_BATTERY, _RESTORE),  # sensor
    "AT": _alarm(AlarmType.POWER_FAILURE), "AR": _alarm(AlarmType.POWER_FAILURE, _RESTORE),
    "RP": _alarm(AlarmType.TEST), "RX": _alarm(AlarmType.TEST), "TX": _alarm(AlarmType.TEST),
    # disarm / arm by the resident: a sign of life, not a door
    "OP": Mapping(Route.ACTIVITY, activity=ActivityKind.MOTION),
    "CL": Mapping(Route.ACTIVITY, activity=ActivityKind.MOTION),
}

# Panel bookkeeping with no meaning for a resident's safety.
IGNORED = frozenset({"LB", "LX", "LS", "RS", "RB", "CA", "CG", "CO", "OA", "OG", "JT"})

CID_CARBON_MONOXIDE = "162"  # Contact ID event 162; pysiaalarm maps it to GA like a gas leak


def mapping_for(code: str, *, cid_event: str | None = None) -> Mapping:
    """The contract message a SIA code becomes; an unlisted code is an alarm of unknown type."""
    code = code.upper()
    if cid_event == CID_CARBON_MONOXIDE and code in ("GA", "GH"):
        return _alarm(AlarmType.CO, _NEW if code == "GA" else _RESTORE)
    if code in SIA_MAP:
        return SIA_MAP[code]
    if code in IGNORED:
        return Mapping(Route.IGNORED)
    return Mapping(Route.ALARM, None)


def wire_type(mapping: Mapping, code: str) -> str:
    """The contract `type` field: ours, or `sia_<code>` (raised as P1 unknown, raw code kept)."""
    return mapping.alarm_type.value if mapping.alarm_type else f"sia_{code.upper()}"
