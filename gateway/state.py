"""Everything a gateway replica opens at start-up, in one typed object: settings, backend
clients, Redis, the cache, admission (rate limits), token verification, live sessions and
the audit log. The app's lifespan builds it; dependencies (gateway.deps) hand it to routes."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from gateway.admission import Admitter
from gateway.audit import Auditor
from gateway.auth import Verifier
from gateway.cache import Cache
from gateway.clients import Clients
from gateway.live import Live
from gateway.lockout import Lockout
from gateway.settings import GatewaySettings
from gateway.tickets import Tickets
from servicekit.revocations import RevokedSessions


@dataclass(frozen=True)
class Services:
    settings: GatewaySettings
    clients: Clients
    redis: aioredis.Redis
    cache: Cache
    admitter: Admitter
    verifier: Verifier
    live: Live
    tickets: Tickets
    lockout: Lockout
    # Sign-in sessions revoked while their access tokens live (kept by the hub).
    revoked: RevokedSessions
    auditor: Auditor
