"""CSV downloads sent while they are read (a city's rows read at once held the event loop for
up to a second): UTF-8 with a BOM so Excel in Japan opens them right, never cached (they hold
names and phone numbers)."""

from __future__ import annotations

from aiohttp import web


async def start_csv(request: web.Request, filename: str) -> web.StreamResponse:
    """The response, headers and BOM sent: write the lines, then `write_eof()`."""
    response = web.StreamResponse(headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})
    response.content_type, response.charset = "text/csv", "utf-8"
    await response.prepare(request)
    await response.write("\ufeff".encode())
    return response
