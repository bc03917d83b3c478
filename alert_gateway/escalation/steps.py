"""Load the rows of a batch of due escalations, ask the planner, write what it decided."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from string import ascii_uppercase
from typing import Any

from sqlalchemy import Table, func, insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ..bus import AlertChange, ChangeKind
from ..db.models import (
    ACTIVE_STATUSES,
    Alert,
    AlertEvent,
    AlertResponder,
    AlertStatus,
    AnswerLink,
    AttemptStatus,
    Contact,
    Escalation,
    EscalationState,
    NotificationAttempt,
    NotifyChannel,
    Purpose,
    Resident,
    ResponderState,
    Target,
)
from ..i18n.said import Said, say
from ..line.messages import alert_body as line_alert_body
from ..outbox.notices import facts_of
from ..outbox.texts import AlertFacts, alert_sms, alert_voice, exhausted_sms, resident_voice
from ..responses import links
from ..settings import Settings
from . import hooks
from .daynight import NightHours
from .hooks import UNCHOSEN_POLICY
from .people import people_of
from .planner import plan_next
from .planner_types import AttemptView, EscalationView, Person, Plan, PlanEnv, Send
from .policy import PolicySet

ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[attr-defined]
# Marks some of the attempts just planned SENDING under a lease (intake); returns those.
Claim = Callable[[AsyncSession, list[NotificationAttempt]], Awaitable[list[NotificationAttempt]]]


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

    async def run(self, session: AsyncSession, escalations: Sequence[Escalation], *,
                  now: datetime, claim: Claim | None = None) -> BatchOutcome:
        """Plan and apply every escalation of the batch; `claim` takes sends at once. The caller commits."""
        out = BatchOutcome()
        ids = [e.alert_id for e in escalations]
        alerts = {a.id: a for a in (await session.exec(select(Alert).where(col(Alert.id).in_(ids)))).all()}
        resident_ids = {a.resident_id for a in alerts.values() if a.resident_id}
        residents = {r.id: r for r in (await session.exec(
            select(Resident).where(col(Resident.id).in_(resident_ids)))).all()}
        contacts: dict[str, list[Contact]] = defaultdict(list)
        for c in (await session.exec(select(Contact).where(col(Contact.resident_id).in_(resident_ids))
                                     .order_by(col(Contact.priority), col(Contact.id)))).all():
            contacts[c.resident_id].append(c)
        attempts: dict[int, list[tuple[datetime, AttemptView]]] = defaultdict(list)
        rows: Any = await session.exec(select(*_VIEWED).where(  # type: ignore[call-overload]
            ATTEMPT.c.alert_id.in_(ids), ATTEMPT.c.purpose == Purpose.ALERT.value))
        for row in rows.all():
            attempts[row.alert_id].append((row.created_at, _view(row)))
        responders: dict[int, dict[int, ResponderState]] = defaultdict(dict)
        batch = _Batch(claim=claim, claimed=out.claimed)
        for r in (await session.exec(select(AlertResponder).where(
                col(AlertResponder.alert_id).in_(ids)))).all():
            responders[r.alert_id][r.contact_id] = ResponderState(r.state)
            batch.rows[(r.alert_id, r.contact_id)] = r
        phones = {c.phone for cs in contacts.values() for c in cs}
        if phones:
            for phone, alert_id, code in (await session.exec(
                    select(Contact.phone, AlertResponder.alert_id, AlertResponder.short_code)
                    .join(Contact, col(Contact.id) == col(AlertResponder.contact_id))
                    .join(Alert, col(Alert.id) == col(AlertResponder.alert_id))
                    .where(col(Contact.phone).in_(phones), col(Alert.status).in_(ACTIVE_STATUSES)))).all():
                batch.codes[phone].append((alert_id, code))
        for esc in escalations:
            alert = alerts.get(esc.alert_id)
            if alert is None:
                continue
            resident = residents.get(alert.resident_id or "")
            await self._one(session, esc, alert, resident, contacts.get(alert.resident_id or "", []),
                            attempts[esc.alert_id], responders[esc.alert_id], batch, now=now, out=out)
        await batch.insert_new(session)
        return out

    async def _one(self, session: AsyncSession, esc: Escalation, alert: Alert, resident: Resident | None,
                   contacts: list[Contact], attempts: list[tuple[datetime, AttemptView]],
                   responders: dict[int, ResponderState], batch: _Batch, *, now: datetime,
                   out: BatchOutcome) -> None:
        assert alert.id is not None
        if esc.policy == UNCHOSEN_POLICY or self.policies.get(esc.policy) is None:
            esc.policy = self.policies.select(alert.type, alert.severity).name
            batch.new.append(self._event(alert.id, now, "escalation_step",
                                         say("timeline.escalation.policy", policy=esc.policy),
                                         policy=esc.policy))
        policy = self.policies.policies[esc.policy]
        recent = 0
        if policy.resident_cap is not None and alert.resident_id:
            await batch.insert_new(session)  # the count must see what this batch planned so far
            recent = await self._resident_recent(session, alert.resident_id, esc.policy,
                                                 now - timedelta(hours=policy.resident_cap_hours))
        env = PlanEnv(
            is_night=self.hours.is_night, next_change=self.hours.next_change,
            fall_guard_seconds=self.settings.fall_guard_seconds,
            reminder_seconds=self.settings.ack_resolve_reminder_minutes * 60,
            acknowledged_at=alert.acknowledged_at, resolved=alert.status == AlertStatus.RESOLVED.value,
            responders=responders, resident_recent_steps=recent,
        )
        view = EscalationView(EscalationState(esc.state), esc.step_index, esc.round, esc.started_at,
                              esc.next_due_at, esc.step_due_at, esc.reminders)
        mine = [view for created_at, view in attempts if created_at >= esc.started_at]
        plan = plan_next(view, policy, people_of(resident, contacts, self.settings), mine, now, env=env)
        self._apply(session, esc, alert, resident, plan, batch, now=now, out=out)

    def _apply(self, session: AsyncSession, esc: Escalation, alert: Alert, resident: Resident | None,
               plan: Plan, batch: _Batch, *, now: datetime, out: BatchOutcome) -> None:
        assert alert.id is not None
        hooks.follow_plan(esc, plan, now=now)
        if plan.next_due_at is not None and (out.next_due_at is None or plan.next_due_at < out.next_due_at):
            out.next_due_at = plan.next_due_at
        facts = facts_of(alert, resident)
        for send in plan.sends:
            code = None
            if send.person.contact_id is not None and send.purpose is Purpose.ALERT:
                code = batch.notified(session, alert, send.person, now)
            link = None if facts.technical else self._answer_link(alert.id, send, batch, now=now)
            batch.new.append(NotificationAttempt(
                alert_id=alert.id, step_index=send.step_index, round=send.round,
                target=send.person.target.value, contact_id=send.person.contact_id,
                to_number=send.person.phone, channel=send.channel.value, purpose=send.purpose.value,
                priority=esc.severity_rank, dial_no=send.dial_no,
                body=_body(send, facts, code, link),
                created_at=now, not_before=send.not_before,
            ))
            out.queued += 1
            if out.first_send_at is None or send.not_before < out.first_send_at:
                out.first_send_at = send.not_before
        for note in plan.notes:
            batch.new.append(self._event(alert.id, now, note.kind.value, note.said, **note.data))
        if plan.notes:
            kind = ChangeKind.REMINDER if plan.remind else ChangeKind(plan.notes[-1].kind)
            out.changes.append(AlertChange(alert.id, kind, by_step=True))

    def _answer_link(self, alert_id: int, send: Send, batch: _Batch, *, now: datetime) -> str | None:
        """A one-tap answer link for a contact's SMS (replies do not reach us everywhere: Japan
        has no two-way SMS); its hashed token is stored with the attempt."""
        contact_id = send.person.contact_id
        if send.channel is not NotifyChannel.SMS or contact_id is None:
            return None
        token, row = links.issue(alert_id=alert_id, contact_id=contact_id, now=now,
                                 lifetime=timedelta(hours=self.settings.answer_link_hours))
        batch.new.append(row)
        return links.url_of(self.settings.public_url, token)

    async def _resident_recent(self, session: AsyncSession, resident_id: str, policy: str,
                               since: datetime) -> int:
        """Steps of this policy that notified this resident's people since `since` (rate cap)."""
        count = await session.exec(
            select(func.count(func.distinct(NotificationAttempt.alert_id)))
            .join(Alert, col(Alert.id) == col(NotificationAttempt.alert_id))
            .join(Escalation, col(Escalation.alert_id) == col(Alert.id))
            .where(Alert.resident_id == resident_id, Escalation.policy == policy,
                   col(NotificationAttempt.purpose) == Purpose.ALERT.value,
                   col(NotificationAttempt.created_at) >= since,
                   col(NotificationAttempt.status).not_in(
                       [AttemptStatus.SKIPPED.value, AttemptStatus.CANCELED.value])))
        return int(count.one() or 0)

    @staticmethod
    def _event(alert_id: int, now: datetime, kind: str, said: Said, **data: object) -> AlertEvent:
        return AlertEvent(alert_id=alert_id, at=now, kind=kind, actor="system",
                          message=said.english, data={**data, **said.data()})


@dataclass
class _Batch:
    """A batch's responder rows and the short codes in use per phone number, loaded once; the
    attempts and timeline entries it plans."""

    rows: dict[tuple[int, int], AlertResponder] = field(default_factory=dict)
    # inserted at the end
    new: list[AlertEvent | NotificationAttempt | AnswerLink] = field(default_factory=list)
    codes: defaultdict[str, list[tuple[int, str | None]]] = field(default_factory=lambda: defaultdict(list))
    claim: Claim | None = None
    claimed: list[NotificationAttempt] = field(default_factory=list)  # inserted, with their ids

    async def insert_new(self, session: AsyncSession) -> None:
        """One executemany per table: the ORM would insert row by row on SQLite to learn ids
        (RETURNING order is not guaranteed there). Only claimed attempts need theirs."""
        taken: list[NotificationAttempt] = []
        if self.claim is not None:
            taken = await self.claim(session, [r for r in self.new if isinstance(r, NotificationAttempt)])
        taken_rows = {id(t) for t in taken}
        by_model: dict[type[SQLModel], list[dict[str, object]]] = defaultdict(list)
        for row in self.new:
            if id(row) not in taken_rows:
                by_model[type(row)].append(row.model_dump(exclude={"id"}))
        for model, rows in by_model.items():
            await session.exec(insert(model), params=rows)  # type: ignore[call-overload]
        await _insert_with_ids(session, taken)
        self.claimed += taken
        self.new.clear()

    def notified(self, session: AsyncSession, alert: Alert, person: Person, now: datetime) -> str | None:
        """Mark the contact notified; returns a short code when their number has other open alerts."""
        assert person.contact_id is not None and alert.id is not None
        codes = self.codes[person.phone]
        others = [code for alert_id, code in codes if alert_id != alert.id]
        row = self.rows.get((alert.id, person.contact_id))
        if row is None:
            used = {c for c in others if c}
            code = next((c for c in ascii_uppercase if c not in used), None)
            row = AlertResponder(alert_id=alert.id, contact_id=person.contact_id,
                                 state=ResponderState.NOTIFIED.value, short_code=code, updated_at=now)
            session.add(row)
            self.rows[(alert.id, person.contact_id)] = row
            if alert.status in ACTIVE_STATUSES:
                codes.append((alert.id, code))
        return row.short_code if others else None


def _send_key(a: NotificationAttempt) -> tuple[object, ...]:
    return (a.alert_id, a.channel, a.to_number, a.purpose, a.step_index, a.round, a.dial_no)


async def _insert_with_ids(session: AsyncSession, attempts: list[NotificationAttempt]) -> None:
    """Insert attempts with one statement and set their ids, matched on what makes each send
    distinct in one plan (alert, channel, number, purpose, step, round, dial)."""
    if not attempts:
        return
    table = ATTEMPT
    key_columns = [table.c.alert_id, table.c.channel, table.c.to_number, table.c.purpose,
                   table.c.step_index, table.c.round, table.c.dial_no]
    keys = [_send_key(a) for a in attempts]
    params = [a.model_dump(exclude={"id"}) for a in attempts]
    if len(set(keys)) < len(keys):  # not matchable (never planned so): one statement each
        for attempt, row in zip(attempts, params, strict=True):
            attempt.id = (await session.exec(  # type: ignore[call-overload]
                insert(table).returning(table.c.id), params=row)).scalar_one()
        return
    rows = await session.exec(insert(table).returning(table.c.id, *key_columns),  # type: ignore[call-overload]
                              params=params)
    ids = {tuple(r[1:]): r[0] for r in rows}
    for attempt, key in zip(attempts, keys, strict=True):
        attempt.id = ids[key]


# The planner's view of an attempt read as plain rows: a later step reads every attempt of its
# alert so far, and ORM objects for them (identity map, instance state) cost more than the plan.
_VIEWED = (ATTEMPT.c.alert_id, ATTEMPT.c.created_at, ATTEMPT.c.id, ATTEMPT.c.step_index,
           ATTEMPT.c.round, ATTEMPT.c.target, ATTEMPT.c.contact_id, ATTEMPT.c.to_number,
           ATTEMPT.c.channel, ATTEMPT.c.status, ATTEMPT.c.dial_no,
           ATTEMPT.c.provider_sid.is_not(None).label("has_sid"))


def _view(a: Any) -> AttemptView:
    return AttemptView(a.id, a.step_index or 0, a.round or 0, Target(a.target), a.contact_id,
                       a.to_number, NotifyChannel(a.channel), AttemptStatus(a.status), a.dial_no,
                       has_sid=bool(a.has_sid))


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
