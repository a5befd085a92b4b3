"""The web page's sign-in session. The page keeps its access token in memory only; the
refresh token lives in a cookie the page's scripts cannot read (httpOnly), sent only to
these routes (Path=/api/v1/web) and only from this site (SameSite=Strict), over HTTPS
outside development (Secure). A reload signs back in by refreshing through the cookie.

A cookie is sent by the browser whoever made the request, so every route here also asks
for a header a cross-site form cannot send (`X-Fitmesh-CSRF: 1`; a cross-origin script
would need a CORS preflight, which is never granted) and refuses an `Origin` other than
the gateway's own."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Depends, Header, Request, Response

from gateway import bodies, responses
from gateway.deps import AuthRoute, Svc
from gateway.errors import ApiError, forbidden, unauthorized
from gateway.routes.users import sign_in
from servicekit.keys import DEVELOPMENT

PATH = "/api/v1/web"
COOKIE = "fitmesh_refresh"
CSRF_HEADER = "X-Fitmesh-CSRF"


def csrf(request: Request, marker: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> None:
    """Refuses what another site could make a browser send with the cookie."""
    if marker != "1":
        raise forbidden(f"the {CSRF_HEADER}: 1 header is required")
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise forbidden("requests from another origin are refused")


router = APIRouter(prefix="/web", tags=["web page"], dependencies=[AuthRoute, Depends(csrf)])
RefreshCookie = Annotated[str | None, Cookie(alias=COOKIE, max_length=128)]


def _flags(svc: Svc) -> dict[str, Any]:
    """Where the cookie goes and who may read it: the same on setting and on clearing."""
    secure = svc.settings.environment != DEVELOPMENT
    return {"path": PATH, "secure": secure, "httponly": True, "samesite": "strict"}


def _keep(response: Response, svc: Svc, login: responses.LoginResponse) -> None:
    response.set_cookie(
        COOKIE, login.refresh_token, max_age=login.refresh_expires_in, **_flags(svc)
    )


def _forget(response: Response, svc: Svc) -> None:
    response.delete_cookie(COOKIE, **_flags(svc))


@router.post("/session", response_model=responses.WebSession)
async def open_session(
    body: bodies.LoginRequest, request: Request, response: Response, svc: Svc
) -> responses.WebSession:
    """Signs in as POST /users/login does (the same limits on failures), but answers the
    access token only and sets the refresh token as an httpOnly cookie."""
    login = await sign_in(body, request, svc)
    _keep(response, svc, login)
    return responses.WebSession.of(login)


@router.post("/session/refresh", response_model=responses.WebSession)
async def refresh_session(
    response: Response, svc: Svc, token: RefreshCookie = None
) -> responses.WebSession:
    """A new access token for the cookie's refresh token, which rotates (the new one is set).
    Without a cookie, or with a spent or revoked one, 401 and the cookie is cleared."""
    if not token:
        raise unauthorized("no web session; sign in", token_given=False)
    try:
        login = await svc.clients.users.sessions.refresh(token)
    except ApiError as error:
        if error.status == 401:
            # The error's own answer replaces this one: the clearing goes in its headers.
            cleared = Response()
            _forget(cleared, svc)
            error.headers = {**(error.headers or {}), "set-cookie": cleared.headers["set-cookie"]}
        raise
    _keep(response, svc, login)
    return responses.WebSession.of(login)


@router.delete("/session", status_code=204)
async def close_session(svc: Svc, token: RefreshCookie = None) -> Response:
    """Signs the cookie's session out (its access tokens stop at once) and clears the cookie.
    204 whether or not there was one."""
    if token:
        await svc.clients.users.sessions.logout(token)
    response = Response(status_code=204)
    _forget(response, svc)
    return response
