"""Load the rows of a batch of due escalations, ask the planner, write what it decided.

Load, decide, apply for the whole batch at once: a few set-based queries (steploads.py), the pure
planner per escalation, then one statement per table (steprows.py). No query runs per alert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange, ChangeKind
from ..db.models import (
    ACTIVE_STATUSES,
    AlertStatus,
    EscalationState,
    NotificationAttempt,
    NotifyChannel,
    Purpose,
    Target,
)
from ..i18n.said import say
from ..line.messages import alert_body as line_alert_body
from ..outbox.claiming import cap_since
from ..outbox.notices import facts_of
from ..outbox.texts import AlertFacts, alert_sms, alert_voice, exhausted_sms, resident_voice
from ..responses import links
from ..settings import Settings
from .daynight import NightHours
from .hooks import UNCHOSEN_POLICY, plan_values
from .people import people_of
from .planner import plan_next
from .planner_types import EscalationView, Plan, PlanEnv, Send
from .policy import Policy, PolicySet
from .steploads import StepInputs, load_inputs
from .steprows import Claim, NewAttempt, People, StepRows


@dataclass
class BatchOutcome:
    """What a batch changed: bus notices to publish after commit, how the outbox grew (and which
    of its new rows were claimed, with their ids), and the earliest next look it planned."""

    changes: list[AlertChange] = field(default_factory=list)
    queued: int = 0
    claimed: list[NotificationAttempt] = field(default_factory=list)
    next_due_at: datetime | None = None
    first_send_at: datetime | None = None  # the earliest `not_before` of the sends it queued


class Stepper:
    """Runs the planner over a batch of claimed escalations inside the caller's transaction."""

    def __init__(self, settings: Settings, policies: PolicySet) -> None:
        self.settings = settings
        self.policies = policies
        self.hours = NightHours.of(settings.timezone, settings.night_start_hour, settings.night_end_hour)

    async def run(self, session: AsyncSession, escalations: Sequence[Any], *,
                  now: datetime, claim: Claim | None = None, rows: StepRows | None = None,
                  opened: Mapping[int, Any] | None = None,
                  people: People | None = None) -> BatchOutcome:
        """Plan and apply every escalation of the batch (escalation table rows, locked by the
        caller, or the columns of ones inserted in this transaction); `claim` takes sends at
        once; `rows` may hold rows to write with the steps'; `opened`: the columns of alerts
        opened in this transaction (nothing else to read about them); `people`: residents and
        contacts already read in it. The caller commits."""
        out = BatchOutcome()
        rows = rows or StepRows()
        loaded = await load_inputs(session, [e.alert_id for e in escalations], rows=rows,
                                   opened=opened or {}, known=people,
                                   cap_since=None if claim is None else cap_since(now, self.settings))
        chosen = {a.id: self._policy_of(e, a) for e in escalations
                  if (a := loaded.alerts.get(e.alert_id)) is not None}
        await loaded.caps.load(session, self._cap_windows(loaded, chosen, now=now))
        policy_of = {e.alert_id: e.policy for e in escalations}  # as stored, until planned below
        for esc in escalations:
            alert = loaded.alerts.get(esc.alert_id)
            if alert is None:
                continue
            policy = chosen[alert.id]
            if policy.name != esc.policy:
                rows.event(alert.id, now, "escalation_step",
                           say("timeline.escalation.policy", policy=policy.name), policy=policy.name)
            policy_of[alert.id] = policy.name
            plan = self._plan(esc, alert, policy, loaded, policy_of, now=now)
            self._apply(esc, alert, policy, plan, loaded, rows, now=now, out=out)
        out.claimed = await rows.write(session, claim)
        return out

    def _policy_of(self, esc: Row[Any], alert: Row[Any]) -> Policy:
        """The escalation's policy, chosen now when it has none (or one no longer configured)."""
        if esc.policy == UNCHOSEN_POLICY or self.policies.get(esc.policy) is None:
            return self.policies.select(alert.type, alert.severity)
        return self.policies.policies[esc.policy]

    @staticmethod
    def _cap_windows(loaded: StepInputs, chosen: dict[int, Policy], *,
                     now: datetime) -> dict[str, datetime]:
        """Residents whose escalation's policy has a rate cap, and how far back it counts."""
        windows: dict[str, datetime] = {}
        for alert_id, policy in chosen.items():
            resident_id = loaded.alerts[alert_id].resident_id
            if policy.resident_cap is not None and resident_id:
                since = now - timedelta(hours=policy.resident_cap_hours)
                windows[resident_id] = min(since, windows.get(resident_id, since))
        return windows

    def _plan(self, esc: Row[Any], alert: Row[Any], policy: Policy, loaded: StepInputs,
              policy_of: dict[int, str], *, now: datetime) -> Plan:
        recent = 0
        if policy.resident_cap is not None and alert.resident_id:
            recent = loaded.caps.recent(alert.resident_id, policy, policy_of, now=now)
        env = PlanEnv(
            is_night=self.hours.is_night, next_change=self.hours.next_change,
            fall_guard_seconds=self.settings.fall_guard_seconds,
            reminder_seconds=self.settings.ack_resolve_reminder_minutes * 60,
            acknowledged_at=alert.acknowledged_at, resolved=alert.status == AlertStatus.RESOLVED.value,
            responders=loaded.responders[alert.id], resident_recent_steps=recent,
        )
        view = EscalationView(EscalationState(esc.state), esc.step_index, esc.round, esc.started_at,
                              esc.next_due_at, esc.step_due_at, esc.reminders)
        mine = [a for created, a in loaded.attempts[alert.id] if created >= esc.started_at]
        resident = loaded.residents.get(alert.resident_id or "")
        people = people_of(resident, loaded.contacts.get(alert.resident_id or "", []), self.settings)
        return plan_next(view, policy, people, mine, now, env=env)

    def _apply(self, esc: Row[Any], alert: Row[Any], policy: Policy, plan: Plan, loaded: StepInputs,
               rows: StepRows, *, now: datetime, out: BatchOutcome) -> None:
        rows.escalations.append(plan_values(alert.id, policy.name, plan, now=now))
        if plan.next_due_at is not None and (out.next_due_at is None or plan.next_due_at < out.next_due_at):
            out.next_due_at = plan.next_due_at
        facts = facts_of(alert, loaded.residents.get(alert.resident_id or ""))
        active = alert.status in ACTIVE_STATUSES
        for send in plan.sends:
            code = None
            if send.person.contact_id is not None and send.purpose is Purpose.ALERT:
                code = rows.notified(alert.id, active, send.person, now)
            link = None if facts.technical else self._answer_link(alert.id, send, rows, now=now)
            rows.attempts.append(NewAttempt(
                alert_id=alert.id, step_index=send.step_index, round=send.round,
                target=send.person.target.value, contact_id=send.person.contact_id,
                to_number=send.person.phone, channel=send.channel.value, purpose=send.purpose.value,
                priority=esc.severity_rank, dial_no=send.dial_no,
                body=_body(send, facts, code, link), created_at=now, not_before=send.not_before))
            out.queued += 1
            if out.first_send_at is None or send.not_before < out.first_send_at:
                out.first_send_at = send.not_before
        if any(s.purpose is Purpose.ALERT for s in plan.sends) and alert.resident_id:
            loaded.caps.note(alert.resident_id, alert.id, policy.name, now=now)
        for note in plan.notes:
            rows.event(alert.id, now, note.kind.value, note.said, **note.data)
        if plan.notes:
            kind = ChangeKind.REMINDER if plan.remind else ChangeKind(plan.notes[-1].kind)
            out.changes.append(AlertChange(alert.id, kind, by_step=True))

    def _answer_link(self, alert_id: int, send: Send, rows: StepRows, *, now: datetime) -> str | None:
        """A one-tap answer link for a contact's SMS (replies do not reach us everywhere: Japan
        has no two-way SMS); its hashed token is stored with the attempt."""
        contact_id = send.person.contact_id
        if send.channel is not NotifyChannel.SMS or contact_id is None:
            return None
        token, row = links.issue(alert_id=alert_id, contact_id=contact_id, now=now,
                                 lifetime=timedelta(hours=self.settings.answer_link_hours))
        rows.links.append(row)
        return links.url_of(self.settings.public_url, token)


def _body(send: Send, facts: AlertFacts, code: str | None, link: str | None) -> str:
    """SMS text; for a call the spoken texts as JSON (TwiML is built at send time); for LINE the
    recipient and text as JSON (the buttons are built at send time)."""
    lang = send.person.language
    exhausted = send.purpose is Purpose.EXHAUSTED
    if send.channel is NotifyChannel.LINE:
        return line_alert_body(lang, facts, to=send.person.line_user_id or "")
    if send.channel is NotifyChannel.SMS:
        return exhausted_sms(lang, facts, link) if exhausted else alert_sms(lang, facts, code, link)
    spoken = (resident_voice(lang) if send.person.target is Target.RESIDENT
              else alert_voice(lang, facts, exhausted=exhausted,
                               dispatch=send.person.target is Target.DISPATCH))
    return json.dumps({"language": spoken.language, "text": spoken.text, "repeat": spoken.repeat,
                       "goodbye": spoken.goodbye}, ensure_ascii=False)
