"""The web page: a dashboard of the week, workouts, health, group sessions and the account
(README, "The web page"). Its scripts, styles and the vendored charting library
(static/vendor/) are served from here: the page asks no other origin. It signs in through
gateway/routes/web.py."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
# The page's own files only: no inline script or style, no other origin. uPlot sizes its
# elements through the CSSOM (`element.style.width = ...`), which style-src does not
# govern, so styles need no 'unsafe-inline'. 'self' covers the same origin's ws:/wss:.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# Starlette's static files: safe paths, ETag and If-None-Match, media types.
files = StaticFiles(directory=STATIC)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)


@router.get("/static/{path:path}")
async def static(path: str, request: Request) -> Response:
    response = await files.get_response(path, request.scope)
    # index.html is here too: the same policy wherever the page is read from.
    response.headers.update(PAGE_HEADERS)
    return response
