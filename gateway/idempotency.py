"""`Idempotency-Key` on creating writes: a retried request gets the first response back and
creates nothing twice. The first response is kept in Redis for a day; a retry that arrives
while the first is still running gets 409 rather than running twice. The fingerprint that
tells a reuse with another request leaves secrets out, so none is kept in Redis.

Redis is the fast path. The durable record is the write itself: the handler hands the key
and the fingerprint to the service, which stores them with what it creates, so a reuse
with another request is still refused (422) after Redis has lost its record."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import Response
from pydantic import BaseModel

from gateway.cache import Cache
from gateway.errors import KEY_REUSED, ApiError, conflict

log = structlog.get_logger("idempotency")
IN_PROGRESS = b"in-progress"
MAX_KEY = 255


@dataclass(frozen=True)
class Attempt:
    """What the handler passes on for the service to store with its write: the client's
    key ('' when it gave none), within its scope, and the fingerprint of the request ('' too
    without a key: a token the gateway makes up never repeats)."""

    key: str
    scope: str
    fingerprint: str

    @property
    def request_id(self) -> str:
        """The client's key, or a fresh token when it gave none."""
        return self.key or uuid.uuid4().hex

    @property
    def scoped_key(self) -> str:
        """The key and its scope as one digest ('' without a key), for a service that sees
        the requests of every scope, such as registrations from every address: the same
        key from two scopes is two keys there too, as in Redis."""
        return hashlib.sha256(f"{self.scope}\0{self.key}".encode()).hexdigest() if self.key else ""


def _fingerprint(request: BaseModel, secrets: set[str]) -> str:
    fields = request.model_dump(mode="json", exclude=secrets)
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _answer(body: bytes, status: int, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status, headers, media_type="application/json")


def kept_by_service(key: str | None, scope: str, request: BaseModel) -> Attempt:
    """The attempt of a creating write that only its service keeps to one per key, for an
    answer that must not be stored in Redis (it holds a secret): a repeat of the key gets
    the first answer from the service, and one with another request is refused there."""
    return Attempt(key, scope, _fingerprint(request, set())) if key else Attempt("", scope, "")


async def once(
    cache: Cache,
    key: str | None,
    scope: str,
    request: BaseModel,
    ttl: int,
    handler: Callable[[Attempt], Awaitable[BaseModel]],
    status: int = 201,
    secrets: frozenset[str] = frozenset(),
) -> Response:
    """Run `handler` once per key and scope; a repeat of the key gets its first answer."""
    if not key:
        return _answer((await handler(Attempt("", scope, ""))).model_dump_json().encode(), status)
    if len(key) > MAX_KEY:
        raise ApiError(
            400,
            f"Idempotency-Key is longer than {MAX_KEY} characters",
            [{"field": "Idempotency-Key", "message": f"at most {MAX_KEY} characters"}],
        )
    slot = f"fitmesh:idempotency:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
    fingerprint = _fingerprint(request, set(secrets))
    attempt = Attempt(key, scope, fingerprint)
    redis = cache.redis

    async def claim() -> bool:
        return bool(await redis.set(slot, IN_PROGRESS, nx=True, ex=60))

    claimed = await cache.guarded(claim, None)
    if claimed is None:
        # Redis down: the service's record of the key still keeps it to one write.
        log.warning("idempotency_unavailable", scope=scope)
        return _answer((await handler(attempt)).model_dump_json().encode(), status)
    if not claimed:
        return await _replay(cache, slot, fingerprint)
    try:
        body = (await handler(attempt)).model_dump_json().encode()
    except BaseException:
        await cache.delete(slot)  # a failed attempt may be retried with the same key
        raise
    record = {"status": status, "body": body.decode(), "fingerprint": fingerprint}

    async def keep() -> None:
        await redis.set(slot, json.dumps(record), ex=ttl)

    await cache.guarded(keep, None)
    return _answer(body, status)


async def _replay(cache: Cache, slot: str, fingerprint: str) -> Response:
    stored: Any = await cache.guarded(lambda: cache.redis.get(slot), None)
    if stored is None or stored == IN_PROGRESS:
        raise conflict("a request with this Idempotency-Key is still running")
    first = json.loads(stored)
    if first["fingerprint"] != fingerprint:
        raise ApiError(422, KEY_REUSED)
    return _answer(first["body"].encode(), first["status"], replayed=True)
