"""What a request handler reaches through the app: backends, cache, limits, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.auth import Verifier
from gateway.backends import Backends
from gateway.cache import Cache
from gateway.ratelimit import RateLimits
from gateway.settings import GatewaySettings


@dataclass
class Gateway:
    settings: GatewaySettings
    backends: Backends
    cache: Cache
    limits: RateLimits
    verifier: Verifier


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


async def _gateway(request: Request) -> Gateway:
    # FastAPI runs a plain `def` dependency in a worker thread; a coroutine stays on the
    # event loop, which saves a thread hand-off on every request.
    return gateway(request)


Gw = Annotated[Gateway, Depends(_gateway)]
