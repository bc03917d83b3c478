"""The child's side: one HTML page from stdin to PDF on stdout, fetching only our static files.

Run as `python -m alert_gateway.pdf.weasy BASE_URL STATIC_DIR URL_PATH`. It imports nothing of
the gateway but this package, so it starts in about half a second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

_TYPES = {".css": "text/css"}  # all a page links to that matters on paper (scripts are not read)


class StaticOnlyFetcher(URLFetcher):
    """Serves `url_path`*.css from `static_dir`; refuses every other URL (never opens a socket)."""

    def __init__(self, static_dir: Path, url_path: str) -> None:
        super().__init__()
        self.static_dir = static_dir
        self.url_path = url_path

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """The static file `url` names, or ValueError (WeasyPrint logs it and goes on)."""
        path = unquote(urlsplit(url).path)
        name = path.removeprefix(self.url_path)
        file = self.static_dir / name
        if (not path.startswith(self.url_path) or "/" in name or file.suffix not in _TYPES
                or not file.is_file()):
            raise ValueError(f"not fetched for a PDF: {url}")
        return URLFetcherResponse(url, file.read_bytes(), {"Content-Type": _TYPES[file.suffix]})


def html_to_pdf(html: str, *, base_url: str, static_dir: Path, url_path: str) -> bytes:
    """The page as PDF bytes, laid out for print media."""
    document = HTML(string=html, base_url=base_url, media_type="print",
                    url_fetcher=StaticOnlyFetcher(static_dir, url_path))
    pdf: bytes = document.write_pdf()
    return pdf


def main(argv: list[str]) -> None:
    """Read the page from stdin, write the PDF to stdout."""
    base_url, static_dir, url_path = argv
    html = sys.stdin.buffer.read().decode("utf-8")
    sys.stdout.buffer.write(html_to_pdf(html, base_url=base_url, static_dir=Path(static_dir),
                                        url_path=url_path))


if __name__ == "__main__":
    main(sys.argv[1:])
