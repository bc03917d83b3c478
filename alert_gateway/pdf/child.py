"""The gateway's side: lay out a page as PDF in a child Python process, with a time limit.

Not a thread: WeasyPrint is pure Python, so a render thread holds the GIL, and its full garbage
collections stalled the event loop (and so the alarms) for 0.1-0.8 s on the shared 2-core
machine. A child costs about half a second of start-up and returns its ~100 MB when it exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from ..errors import GatewayError

log = logging.getLogger(__name__)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds alert_gateway/


class PdfFailed(GatewayError):
    """The PDF could not be made (the child failed or ran out of time); the page still works."""

    http_status = 503


async def render_pdf(html: str, *, base_url: str, static_dir: Path, url_path: str,
                     time_limit: float) -> bytes:
    """The page as PDF bytes, from `python -m alert_gateway.pdf.weasy`; killed past the limit."""
    # the gateway's settings (secrets among them) stay out of a process that only lays out a page
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("ALERT_GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), env.get("PYTHONPATH")]))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alert_gateway.pdf.weasy", base_url, str(static_dir), url_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)
    try:
        async with asyncio.timeout(time_limit):
            pdf, errors = await child.communicate(html.encode())
    except TimeoutError:
        raise PdfFailed(f"the PDF took longer than {time_limit:g} s") from None
    finally:
        if child.returncode is None:  # timed out or cancelled: leave no child behind
            child.kill()
            await child.wait()
    if child.returncode != 0 or not pdf.startswith(b"%PDF"):
        # WeasyPrint's own messages name CSS rules and URLs, not the page's text
        log.warning("PDF child failed", extra={"returncode": child.returncode,
                                               "stderr": errors.decode(errors="replace")[-2000:]})
        raise PdfFailed("the PDF could not be made")
    return pdf
