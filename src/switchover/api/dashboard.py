"""The dashboard: static pages at ``/`` that call the same HTTP API and event stream.

Every asset ships in the package (``switchover/dashboard``): plain HTML, CSS and JavaScript
modules, no build step, nothing fetched from elsewhere, so the Python install alone serves it
and it works offline. The page holds no data of its own and needs no token to load; it asks
for one, keeps it in the browser session and sends it as the bearer token of every call, so
the API decides what a caller may see and do, as it does for the CLI.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ASSETS = Path(__file__).resolve().parent.parent / "dashboard"
"""Where the dashboard's files are: inside the package, installed with it."""

# Scripts and styles from this origin only, no inline code, no framing, no other hosts: a
# page that holds an operator's token loads nothing it did not ship with.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Hardened:
    """Adds ``SECURITY_HEADERS`` to every answer of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, sending)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (its page) and ``/ui/`` (its assets) on ``app``."""
    index = ASSETS / "index.html"
    mimetypes.add_type("text/javascript", ".js")  # module scripts need it; some hosts map .js oddly

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers=SECURITY_HEADERS)

    app.mount("/ui", _Hardened(StaticFiles(directory=ASSETS)), name="dashboard")
