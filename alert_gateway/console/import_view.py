"""Upload a residents file (CSV or YAML) through the same importer as the CLI (supervisors)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from aiohttp import web

from ..appkeys import SERVICES
from ..errors import InvalidInput
from ..residents.importer import import_file
from .auth import current, require_supervisor
from .inputs import checked_form
from .render import render

SUFFIXES = (".csv", ".yaml", ".yml")


async def import_page(request: web.Request) -> web.Response:
    """GET /console/residents/import."""
    require_supervisor(request)
    return render(request, "import.html", report=None, filename=None)


async def import_upload(request: web.Request) -> web.Response:
    """POST /console/residents/import: all or nothing; every row error is listed."""
    require_supervisor(request)
    services = request.app[SERVICES]
    form = await checked_form(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise InvalidInput("choose a .csv or .yaml file")
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput("the file must end in .csv, .yaml or .yml")
    with tempfile.TemporaryDirectory(prefix="ag-import-") as folder:
        # The importer reads paths (it is shared with the CLI); the copy lives only this long.
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(upload.file.read())
        async with services.sessions() as session:
            report = await import_file(session, path, now=services.clock.now(),
                                       actor=f"operator:{current(request).name}")
    return render(request, "import.html", status=200 if report.ok else 400, report=report,
                  filename=upload.filename)


def add_routes(app: web.Application) -> None:
    """Register the import routes (before /console/residents/{id})."""
    app.router.add_get("/console/residents/import", import_page)
    app.router.add_post("/console/residents/import", import_upload)
