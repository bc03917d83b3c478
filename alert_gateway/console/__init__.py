"""The dispatch operators' web console: sign-in, live board, alert view, residents, report."""

from __future__ import annotations

from aiohttp import web

from ..appkeys import SERVICES
from . import (
    alert_actions,
    alert_view,
    audit_view,
    auth,
    board,
    calls_view,
    handover_view,
    history,
    import_view,
    line_link_view,
    operators_view,
    report_view,
    resident_parts_view,
    residents_view,
    sound,
    sse,
    sweep_view,
)
from .keys import JINJA, METRICS, THROTTLE
from .metrics import for_registry
from .render import STATIC_DIR, make_env
from .throttle import ThrottlePolicy


def add_routes(app: web.Application) -> None:
    """Mount every console route, its guard middleware and its shared state on `app`."""
    app[JINJA] = make_env()
    app[THROTTLE] = ThrottlePolicy()
    services = app[SERVICES]
    app[METRICS] = for_registry(services.metrics.registry)
    app.middlewares.append(auth.console_guard)
    app.on_response_prepare.append(auth.add_security_headers)
    auth.add_routes(app)
    board.add_routes(app)
    sse.add_routes(app)
    sound.add_routes(app)
    operators_view.add_routes(app)
    alert_view.add_routes(app)
    alert_actions.add_routes(app)
    calls_view.add_routes(app)
    handover_view.add_routes(app)
    import_view.add_routes(app)  # before residents_view: /residents/import beats /{id}
    residents_view.add_routes(app)
    resident_parts_view.add_routes(app)
    line_link_view.add_routes(app)
    history.add_routes(app)
    report_view.add_routes(app)
    audit_view.add_routes(app)
    sweep_view.add_routes(app)
    app.router.add_static("/console/static", STATIC_DIR)
