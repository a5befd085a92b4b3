"""The per-request story of every API route, as typed dependencies.

- `Svc`: the replica's services (clients, cache, settings, live sessions).
- `Authenticated`: the token's `Caller`, with the per-address and per-user limits applied.
- `Public` / `AuthRoute`: the per-address limit; auth routes add their own, harder one.
- `CachedReadOf(...)`: a caller whose admission also read the route's cached answer.

Admission is one Redis round trip whatever the route: every limit of the request is
checked and counted, and a cached answer is read, by one script (gateway.admission). The
RateLimit headers of the limit shown go on the response, whatever answers it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, Request, Response
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel

from gateway import context
from gateway.admission import Admission, CacheRead, Limit
from gateway.cache import looked_up
from gateway.errors import ApiError, forbidden, unauthorized
from gateway.state import Services


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


Svc = Annotated[Services, Depends(services)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    token_expires_at: float
    session_id: str

    def owns(self, user_id: str) -> None:
        """A user reaches only their own data."""
        if user_id != self.user_id:
            raise forbidden()


async def _admit(svc: Services, limits: list[Limit], cache: CacheRead | None = None) -> Admission:
    admission = await svc.admitter.admit(limits, cache)
    shown = admission.shown
    if shown is not None:
        context.current().headers.extend(shown.headers())
        if not shown.allowed:
            raise ApiError(
                429, "too many requests; slow down", headers={"Retry-After": str(shown.retry_after)}
            )
    return admission


class Bearer(HTTPBearer):
    """The token and the admission of a request, as one dependency: FastAPI solves each
    dependency on every request, so the hot path keeps to one. Being a security scheme, it
    also puts bearer authentication in the OpenAPI document."""

    def __init__(self) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="bearer",
            description="An access token from POST /users/login.",
        )

    @staticmethod
    def admit(request: Request) -> tuple[Services, Caller | ApiError, list[Limit]]:
        """Who calls, and the limits that apply: every request counts against its address;
        a valid token's user counts too."""
        svc: Services = request.app.state.services
        verified = verify(svc, request.headers.get("authorization"))
        limits = [Limit(svc.admitter.ip, client_ip(request))]
        if isinstance(verified, Caller):
            context.current().user_id = verified.user_id
            limits.append(Limit(svc.admitter.user, verified.user_id))
        return svc, verified, limits


def verify(svc: Services, header: str | None) -> Caller | ApiError:
    """The caller an Authorization header names, or the 401 to answer with."""
    scheme, token = get_authorization_scheme_param(header)
    if not token or scheme.lower() != "bearer":
        return unauthorized("an access token is required", token_given=False)
    try:
        verified = svc.verifier.verify(token)
    except jwt.ExpiredSignatureError:
        return unauthorized("the access token has expired")
    except jwt.InvalidTokenError:
        return unauthorized("the access token is not valid")
    if verified.session_id in svc.revoked:
        return unauthorized("the session has ended; sign in again")
    return Caller(*verified)


class CallerOf(Bearer):
    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        svc, verified, limits = self.admit(request)
        await _admit(svc, limits)
        if isinstance(verified, ApiError):
            raise verified
        return verified


async def public(request: Request, svc: Svc) -> None:
    await _admit(svc, [Limit(svc.admitter.ip, client_ip(request))])


async def auth_route(request: Request, svc: Svc) -> None:
    ip = client_ip(request)
    await _admit(svc, [Limit(svc.admitter.ip, ip), Limit(svc.admitter.auth, ip)])


Authenticated = Annotated[Caller, Depends(CallerOf())]
Public = Depends(public)
AuthRoute = Depends(auth_route)


@dataclass(frozen=True, slots=True)
class CachedRead:
    """A caller and the cached answer of the route for them, if there was one."""

    caller: Caller
    kind: str
    entry: CacheRead
    admission: Admission
    svc: Services

    async def answer(self, load: Callable[[], Awaitable[BaseModel]]) -> Response:
        """The cached bytes as they are, or the loaded answer, cached (for the lifetime the
        settings give this kind, in the generation the read found) as the bytes sent."""
        body, seen = self.admission.cached, self.admission.seen
        looked_up(self.kind, body is not None).inc()
        if body is None:
            body = (await load()).model_dump_json().encode()
            if seen is not None:  # else Redis did not answer the read
                ttl = getattr(self.svc.settings, f"cache_{self.kind}_seconds")
                await self.svc.cache.put(self.entry.name, seen, body, ttl, self.entry.field)
        return Response(body, media_type="application/json")


class CachedReadOf(Bearer):
    """A caller, admitted, with the cached answer of the entry `key(user)` (and
    `field(request)` of that hash) read in the same round trip."""

    def __init__(
        self, kind: str, key: Callable[[str], str], field: Callable[[Request], str] | None = None
    ) -> None:
        super().__init__()
        self.kind, self.key, self.field = kind, key, field

    async def __call__(self, request: Request) -> CachedRead:  # type: ignore[override]
        svc, verified, limits = self.admit(request)
        if isinstance(verified, ApiError):
            await _admit(svc, limits)
            raise verified
        entry = CacheRead(self.key(verified.user_id), self.field(request) if self.field else None)
        admission = await _admit(svc, limits, entry)
        return CachedRead(verified, self.kind, entry, admission, svc)
