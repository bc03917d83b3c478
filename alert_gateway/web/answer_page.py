"""The one-tap answer page behind each alert SMS: GET /r/{token} shows, POST /r/{token} answers.

A GET never changes anything (link previews and mail scanners fetch links); the answer is a POST
from the page carrying a CSRF token of its own (bound to a cookie and to this link). Every answer
goes through `responses.answers.answer`, the path SMS replies and LINE postbacks take. A token
that is no alert's may be a resident's sweep link (sweep_answer.py): their fine / help goes
through the sweep's own acceptance path. A wrong, expired or refused request gets a plain page in
Japanese and English, never a stack trace.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlmodel.ext.asyncio.session import AsyncSession

from ..access import client_address
from ..appkeys import SERVICES
from ..console.auth import SECURITY_HEADERS
from ..db.answer_links import Answer
from ..db.models import AckChannel, Alert, AlertResponder, AnswerLink, Contact, Resident
from ..errors import GatewayError
from ..i18n import language_of, t
from ..metrics import Metrics
from ..outbox.notices import facts_of
from ..outbox.texts import alarm_name
from ..responses import links
from ..responses.answers import answer
from ..responses.callbacks import HookResult
from ..responses.keypress import taker_name
from ..unit_of_work import publish
from .answer_view import Page, Shown, is_closed, is_expired, plain, shown
from .rate_limit import SlidingWindow
from .sweep_answer import SWEEP_CHOICES, sweep_page

log = logging.getLogger(__name__)
LIMIT: web.AppKey[SlidingWindow] = web.AppKey("answer_page_limit", SlidingWindow)
TEMPLATES: web.AppKey[Environment] = web.AppKey("answer_page_templates", Environment)
COOKIE = "ag_answer"
CSRF_FIELD = "csrf"
# The URL holds the token: never send it on as a Referer, never cache or index the page.
HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
           "X-Robots-Tag": "noindex"}


def add_routes(app: web.Application) -> None:
    """Register the answer page with its own request limit and templates."""
    settings = app[SERVICES].settings
    app[LIMIT] = SlidingWindow(settings.answer_page_requests_per_minute, timedelta(minutes=1))
    app[TEMPLATES] = Environment(loader=PackageLoader(__package__ or "alert_gateway.web"),
                                 autoescape=select_autoescape(["html"]), undefined=StrictUndefined)
    app.router.add_get(links.PATH_PREFIX + "answer.css", _css)
    app.router.add_get(links.PATH_PREFIX + "{token}", _show)
    app.router.add_post(links.PATH_PREFIX + "{token}", _answer)


VERBS = frozenset({*Answer, *SWEEP_CHOICES})  # what a form may post, to either kind of link


async def _page(session: AsyncSession, token: str, *, now: datetime, zone: ZoneInfo,
                centre: str, metrics: Metrics, verb: str | None = None) -> Page:
    """Load the link's rows, decide what the page shows and, for a POST, apply the answer."""
    link = await links.find(session, token)
    if link is None:
        return await sweep_page(session, token, now=now, zone=zone, centre=centre,
                                metrics=metrics, verb=verb)
    alert = await session.get(Alert, link.alert_id)
    contact = await session.get(Contact, link.contact_id)
    if alert is None or alert.id is None or contact is None:
        return plain("invalid", 404)
    if not is_closed(alert) and is_expired(link, now):
        return plain("expired", 410)
    lang = language_of(contact.language)
    responder = await session.get(AlertResponder, (alert.id, link.contact_id))
    state = responder.state if responder else None
    view = await _shown(session, alert, link, state, lang, zone)
    message, status, changes = None, 200, []
    if verb is not None and verb not in view.choices:  # a replayed or stale form acts once only
        message = t(lang, "page.already") if link.answer == verb else None
        status = 409
    elif verb is not None:
        given = Answer(verb)
        result = HookResult(language=lang)
        message = await answer(session, alert, link.contact_id, given, channel=AckChannel.LINK,
                               now=now, tz=zone, result=result)
        link.answer, link.answered_at, changes = given.value, now, result.changes
        after = {Answer.ACCEPT: "accepted", Answer.DECLINE: "declined", Answer.ARRIVE: "arrived"}
        view = await _shown(session, alert, link, after[given], lang, zone)
    resident = await session.get(Resident, alert.resident_id) if alert.resident_id else None
    facts = facts_of(alert, resident)  # the name and address exactly as the SMS gives them
    local = alert.opened_at.astimezone(zone).strftime("%m/%d %H:%M")
    return Page(
        lang=lang,
        heading=t(lang, "page.heading", name=facts.resident_name,
                  alarm=alarm_name(lang, facts.alarm_type)),
        when=t(lang, "page.when", time=local),
        address=t(lang, "page.address", address=facts.address) if facts.address else "",
        notice=t(lang, f"page.{view.notice}", **view.params) if view.notice else None,
        choices=view.choices, message=message, status=status, changes=changes,
        answered=verb is not None and status == 200)


async def _shown(session: AsyncSession, alert: Alert, link: AnswerLink, state: str | None, lang: str,
                 zone: ZoneInfo) -> Shown:
    taker = await taker_name(session, alert, lang) if alert.acknowledged_by else ""
    taken_at = alert.acknowledged_at.astimezone(zone).strftime("%H:%M") \
        if alert.acknowledged_at else ""
    return shown(alert, link, state, taker=taker, taken_at=taken_at)


def _limited(request: web.Request) -> web.Response | None:
    """429 when this client asked too often (guessing tokens, or a stuck reload loop)."""
    services = request.app[SERVICES]
    address = client_address.of(request)
    if request.app[LIMIT].allow(address, services.clock.now()):
        return None
    log.warning("answer page rate-limited", extra={"remote": address})
    response = _render_plain(request, "busy", 429)
    response.headers["Retry-After"] = "60"
    return response


def _csrf(cookie: str, token: str) -> str:
    """The form's token: bound to this browser's cookie and to this link (no server state)."""
    return hmac.new(cookie.encode(), links.hash_of(token).encode(), hashlib.sha256).hexdigest()


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SERVICES].settings.timezone)


async def _show(request: web.Request) -> web.Response:
    """GET /r/{token}: show the alert and the buttons; changes nothing."""
    refused = _limited(request)
    if refused is not None:
        return refused
    services, token = request.app[SERVICES], request.match_info["token"]
    async with services.sessions() as session:
        page = await _page(session, token, now=services.clock.now(), zone=_zone(request),
                           centre=services.settings.dispatch_name, metrics=services.metrics)
    cookie = request.cookies.get(COOKIE) or secrets.token_urlsafe(32)
    response = _render(request, page, token, cookie)
    if page.plain is None:
        response.set_cookie(COOKIE, cookie, path=links.PATH_PREFIX, httponly=True,
                            samesite="Strict", secure=services.settings.public_url.startswith("https"))
    return response


async def _answer(request: web.Request) -> web.Response:
    """POST /r/{token}: the contact's answer, through the acceptance path every channel shares."""
    refused = _limited(request)
    if refused is not None:
        return refused
    services, token = request.app[SERVICES], request.match_info["token"]
    form = await request.post()
    cookie = request.cookies.get(COOKIE, "")
    given = str(form.get(CSRF_FIELD) or "")
    if not links.TOKEN_SHAPE.match(token):
        return _render_plain(request, "invalid", 404)
    if not cookie or not hmac.compare_digest(_csrf(cookie, token).encode(),
                                             given.encode("utf-8", "surrogatepass")):
        return _render_plain(request, "reopen", 403)
    verb = str(form.get("answer") or "")
    if verb not in VERBS:
        return _render_plain(request, "invalid", 400)
    now, zone = services.clock.now(), _zone(request)
    centre, metrics = services.settings.dispatch_name, services.metrics
    try:
        page = await services.writes.run(lambda s: _page(s, token, now=now, zone=zone,
                                                         centre=centre, metrics=metrics, verb=verb))
    except GatewayError as exc:  # e.g. the contact was moved to another resident meanwhile
        log.warning("answer page: answer refused", extra={"reason": type(exc).__name__})
        return _render_plain(request, "invalid", 409)
    await publish(services.bus, page.changes)
    if page.answered:
        log.info("answer page: answer applied", extra={"answer": verb})
    if page.answered and verb in SWEEP_CHOICES:
        services.wakers.sweeps()  # a resident's sweep answer frees a place for the next call
    return _render(request, page, token, cookie)


def _render(request: web.Request, page: Page, token: str, cookie: str) -> web.Response:
    if page.plain is not None:
        return _render_plain(request, page.plain, page.status)
    outcome = "answered" if page.answered else "replayed" if page.status == 409 else "shown"
    request.app[SERVICES].metrics.answer_page.labels(outcome=outcome).inc()
    template = request.app[TEMPLATES].get_template("answer.html")
    html = template.render(page={**vars(page), "action": links.PATH_PREFIX + token,
                                 "csrf": _csrf(cookie, token)},
                           t=lambda key, **kw: t(page.lang, key, **kw))
    return _html(html, page.status)


def _render_plain(request: web.Request, key: str, status: int) -> web.Response:
    outcome = {"busy": "limited", "reopen": "csrf"}.get(key, key)
    request.app[SERVICES].metrics.answer_page.labels(outcome=outcome).inc()
    template = request.app[TEMPLATES].get_template("answer_plain.html")
    html = template.render(ja=t("ja", f"plain.{key}"), en=t("en", f"plain.{key}"))
    return _html(html, status)


def _html(text: str, status: int) -> web.Response:
    return web.Response(text=text, status=status, headers={
        **HEADERS, "Content-Type": "text/html; charset=utf-8"})


async def _css(request: web.Request) -> web.Response:
    css = resources.files(__package__ or "alert_gateway.web").joinpath("static/answer.css")
    return web.Response(text=css.read_text("utf-8"), headers={
        **HEADERS, "Content-Type": "text/css; charset=utf-8", "Cache-Control": "max-age=3600"})
