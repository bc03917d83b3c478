"""Jinja2 rendering with the operator's language, CSRF token and the centre's time zone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .. import timefmt
from ..appkeys import SERVICES
from ..i18n import Translator
from .board_data import resident_state
from .keys import CSRF, JINJA, OPERATOR

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


def make_env() -> Environment:
    """The template environment; autoescape on every .html so names are always shown as text."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a typo in a template fails the test instead of going blank
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = timefmt.duration
    env.filters["resident_state"] = resident_state
    return env


def context(request: web.Request) -> dict[str, Any]:
    """What every page needs: translator, operator, CSRF token, time helpers."""
    services = request.app[SERVICES]
    operator = request.get(OPERATOR)
    translate = Translator(operator.language if operator else "ja")
    zone = services.settings.timezone
    now = services.clock.now()
    return {
        "_": translate,
        "lang": translate.lang,
        "operator": operator,
        "is_supervisor": bool(operator and operator.role == "supervisor"),
        "csrf": request.get(CSRF, ""),
        "now": now,
        "local": lambda value, fmt="%Y-%m-%d %H:%M:%S": timefmt.local(value, zone, fmt),
        "since": lambda value: timefmt.seconds_between(value, now),
        # a closed alert's time stops at its closing (`end`); an open one's runs to now
        "elapsed": lambda start, end=None: timefmt.seconds_between(start, end or now),
        "iso": lambda value: timefmt.aware(value).isoformat() if value else "",
        "path": request.path,
    }


def render_html(request: web.Request, template: str, **values: Any) -> str:
    """A template rendered with what every page needs, as text."""
    return request.app[JINJA].get_template(template).render(context(request) | values)


def render(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    """Render a template as an HTML response (never cached: pages carry personal data)."""
    html = render_html(request, template, **values)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def translator(request: web.Request) -> Translator:
    """The signed-in operator's translator (Japanese when nobody is signed in)."""
    operator = request.get(OPERATOR)
    return Translator(operator.language if operator else "ja")
