"""Sign-in, sign-out and the middleware that guards every console route (session + CSRF)."""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from sqlmodel import col, select

from ..access import client_address
from ..appkeys import SERVICES
from ..db.auth import Operator, Role
from ..errors import Forbidden, GatewayError
from . import handover, throttle_store
from .inputs import check_form, check_request, displayable
from .keys import CSRF, METRICS, OPERATOR, THROTTLE
from .passwords import verify_password_async
from .render import render, translator
from .sessions import SESSION_LIFETIME, close_session, find_session, open_session

log = logging.getLogger(__name__)

PREFIX = "/console"
COOKIE = "ag_session"
LOGIN_COOKIE = "ag_login_csrf"  # double-submit token for the sign-in form (no session yet)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
PUBLIC_PATHS = frozenset({f"{PREFIX}/login"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# CSP without inline scripts: even if escaping failed somewhere, injected <script> would not run.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_console(path: str) -> bool:
    """True for paths the console owns."""
    return path == PREFIX or path.startswith(f"{PREFIX}/")


def is_public(path: str) -> bool:
    """Console paths served without a session: the sign-in page and static assets."""
    return path in PUBLIC_PATHS or path.startswith(f"{PREFIX}/static/")


def wants_html(request: web.Request) -> bool:
    """A page a browser navigated to (redirect it to sign-in) rather than fetch/SSE (answer 401)."""
    accept = request.headers.get("Accept", "")
    fetched = request.headers.get("X-Fragment") is not None  # the page's own fetch()
    return request.method in SAFE_METHODS and "text/html" in accept and not fetched


def current(request: web.Request) -> Operator:
    """The signed-in operator (the middleware guarantees there is one)."""
    return request[OPERATOR]


def actor(request: web.Request) -> str:
    """The operator's name as it goes on an alert's timeline."""
    return current(request).name


def require_supervisor(request: web.Request) -> Operator:
    """The operator, if a supervisor; Forbidden otherwise."""
    operator = current(request)
    if operator.role != Role.SUPERVISOR.value:
        raise Forbidden("supervisors only")
    return operator


def _csrf_ok(expected: str, given: str | None) -> bool:
    # surrogatepass: a garbled token is simply wrong, not an encoding error.
    return bool(given) and hmac.compare_digest(expected.encode(),
                                               (given or "").encode("utf-8", "surrogatepass"))


async def _given_csrf(request: web.Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached on the request: the handler reads it again for free
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


@web.middleware
async def console_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a live session on console routes, a CSRF token on unsafe methods; map errors
    (the security headers are added as each response is prepared: `add_security_headers`)."""
    if not is_console(request.path):
        return await handler(request)
    try:
        if not is_public(request.path):
            refused = await _authenticate(request)
            if refused is not None:
                return refused
        check_request(request)
        return await handler(request)
    except GatewayError as exc:
        return _error_page(request, exc)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every console response gets SECURITY_HEADERS as its headers go out,
    streamed ones (a CSV sent while it is read, the live events) and redirects included."""
    if is_console(request.path):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)


async def _authenticate(request: web.Request) -> web.StreamResponse | None:
    services = request.app[SERVICES]
    token = request.cookies.get(COOKIE)
    found = None
    if token:
        async with services.sessions() as session:
            found = await find_session(session, token=token, now=services.clock.now())
    if found is None:
        if wants_html(request):
            raise web.HTTPSeeOther(f"{PREFIX}/login?next={request.path_qs}")
        return web.json_response({"error": "sign in first"}, status=401)
    web_session, operator = found
    request[OPERATOR] = operator
    request[CSRF] = web_session.csrf_token
    if request.method not in SAFE_METHODS and not _csrf_ok(
        web_session.csrf_token, await _given_csrf(request)
    ):
        log.warning("console request without a valid CSRF token", extra={"path": request.path})
        return web.json_response({"error": "missing or wrong CSRF token"}, status=403)
    return None


def _error_page(request: web.Request, exc: GatewayError) -> web.Response:
    if "text/html" not in request.headers.get("Accept", ""):
        return web.json_response({"error": str(exc)}, status=exc.http_status)
    return render(request, "error.html", status=exc.http_status, message=str(exc))


def _login_page(request: web.Request, *, status: int = 200, error: str | None = None,
                name: str = "") -> web.Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    request[CSRF] = token
    response = render(request, "login.html", status=status, error=error, name=name,
                      next=safe_next(request.query.get("next")))
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", path=PREFIX,
                        secure=_secure(request))
    return response


def safe_next(value: str | None) -> str:
    """Where to go after sign-in: one of our own pages, else the board."""
    # Only our own pages: an open redirect after sign-in would help phishing.
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//"):
        return value
    return f"{PREFIX}/"


def _secure(request: web.Request) -> bool:
    return request.app[SERVICES].settings.public_url.startswith("https://")


async def login_form(request: web.Request) -> web.Response:
    """GET /console/login."""
    return _login_page(request)


async def login(request: web.Request) -> web.Response:
    """POST /console/login: check the double-submit token, the throttle, then the password."""
    services = request.app[SERVICES]
    _ = translator(request)
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    try:
        check_form(request, form)
    except GatewayError as exc:
        return _login_page(request, status=exc.http_status, error=str(exc), name=displayable(name))
    cookie_token = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie_token or not _csrf_ok(cookie_token, str(form.get(CSRF_FIELD, ""))):
        return _login_page(request, status=403, error=_("login.expired"), name=name)
    now = services.clock.now()
    address = client_address.of(request)  # the client's, behind trusted proxies too
    policy = request.app[THROTTLE]
    async with services.sessions() as session:  # committed before the slow hash: see throttle.py
        wait = await throttle_store.reserve(session, account=name, address=address, now=now,
                                            policy=policy)
        await session.commit()
    if wait is not None:
        seconds = wait.seconds(now)
        log.warning("sign-in throttled", extra={"remote": address, "limit": wait.scope.value,
                                                "retry_after_seconds": seconds})
        request.app[METRICS].sign_ins.labels("throttled").inc()
        request.app[METRICS].sign_ins_throttled.labels(wait.scope.value).inc()
        page = _login_page(request, status=429, name=name,
                           error=_("login.throttled", seconds=seconds))
        page.headers["Retry-After"] = str(seconds)
        return page
    async with services.sessions() as session:
        operator = (await session.exec(
            select(Operator).where(col(Operator.name) == name, col(Operator.active).is_(True))
        )).first()
        ok = await verify_password_async(operator.password_hash if operator else None, password)
        if operator is None or not ok:
            log.info("sign-in failed", extra={"remote": address})
            request.app[METRICS].sign_ins.labels("failed").inc()
            return _login_page(request, status=401, error=_("login.failed"), name=name)
        await throttle_store.give_back(session, account=name, address=address)
        token = await open_session(session, operator=operator, now=now)
        # the previous shift's handover comes first, then the page asked for
        unread = await handover.unread_at_sign_in(session, reader=operator.name,
                                                  last_sign_in=operator.last_sign_in_at)
        operator.last_sign_in_at = now
        await session.commit()
    log.info("signed in", extra={"operator_id": operator.id})
    request.app[METRICS].sign_ins.labels("ok").inc()
    target = safe_next(str(form.get("next", "")))
    if unread:
        target = f"{PREFIX}/handover?signed_in=1&next={quote(target, safe='/')}"
    response = web.HTTPSeeOther(target)
    response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", path=PREFIX,
                        secure=_secure(request), max_age=int(SESSION_LIFETIME.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path=PREFIX)
    raise response


async def logout(request: web.Request) -> web.Response:
    """POST /console/logout: end the session."""
    services = request.app[SERVICES]
    async with services.sessions() as session:
        await close_session(session, token=request.cookies.get(COOKIE, ""))
        await session.commit()
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise response


def add_routes(app: web.Application) -> None:
    """Register sign-in and sign-out."""
    app.router.add_get(f"{PREFIX}/login", login_form)
    app.router.add_post(f"{PREFIX}/login", login)
    app.router.add_post(f"{PREFIX}/logout", logout)
