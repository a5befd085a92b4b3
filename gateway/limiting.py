"""Rate-limit dependencies: per client IP and per user on every route, harder on auth."""

from __future__ import annotations

import contextlib

import jwt
from fastapi import HTTPException, Request

from gateway.auth import verified_subject
from gateway.state import gateway


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def caller_ip(request: Request) -> str:
    """`client_ip` as a dependency (a coroutine, so it runs on the event loop)."""
    return client_ip(request)


async def _apply(request: Request, item_name: str, *identity: str, last: bool = True) -> None:
    """Count the request against one limit. The RateLimit-* headers show the last limit
    applied, so an earlier one (`last=False`) reads its counts only when it refuses."""
    limits = gateway(request).limits
    verdict = await limits.hit(getattr(limits, item_name), item_name, *identity, counts=last)
    if verdict is None:
        return
    request.state.ratelimit = verdict
    if not verdict.allowed:
        # The RateLimit-* headers are added by the middleware to every answer; this one adds
        # what only a refusal carries.
        retry = verdict.headers()["Retry-After"]
        raise HTTPException(429, "too many requests; slow down", headers={"Retry-After": retry})


async def per_client(request: Request) -> None:
    """Every route: the client IP, and the user when a valid token says who it is."""
    user_id = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        with contextlib.suppress(jwt.InvalidTokenError):
            user_id = verified_subject(request, header[7:].strip())
    await _apply(request, "ip", client_ip(request), last=user_id is None)
    if user_id is not None:
        await _apply(request, "user", user_id)


async def auth_routes(request: Request) -> None:
    await _apply(request, "auth", client_ip(request))
