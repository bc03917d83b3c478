"""The monthly report page laid out as an A4 PDF by WeasyPrint, with no network access.

The HTML is the report page itself; its print stylesheet (console.css, @media print) sets the
A4 page and the Japanese fonts. Charts are inline SVG, so the only resource fetched is our own
stylesheet, read from the package's static folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/console/static/"
_TYPES = {".css": "text/css"}  # all the report page links to (console.js is a script: not read)


class StaticOnlyFetcher(URLFetcher):
    """Serves /console/static/*.css from disk; refuses every other URL (never opens a socket)."""

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """The static file `url` names, or ValueError (WeasyPrint logs it and goes on)."""
        path = unquote(urlsplit(url).path)
        name = path.removeprefix(STATIC_PATH)
        file = STATIC_DIR / name
        if (not path.startswith(STATIC_PATH) or "/" in name or file.suffix not in _TYPES
                or not file.is_file()):
            raise ValueError(f"not fetched for a PDF: {url}")
        return URLFetcherResponse(url, file.read_bytes(), {"Content-Type": _TYPES[file.suffix]})


def html_to_pdf(html: str, *, base_url: str) -> bytes:
    """The page as PDF bytes (CPU-bound, seconds: call it in a worker thread)."""
    document = HTML(string=html, base_url=base_url, url_fetcher=StaticOnlyFetcher(),
                    media_type="print")
    pdf: bytes = document.write_pdf()
    return pdf
