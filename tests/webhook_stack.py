"""What the webhook tests share: a real HTTP receiver with a behaviour per path, and a stack
of the test's own (Redis, a database, user_service replicas, a gateway), so its streams,
schedule and breakers are nobody else's and its replicas can be killed."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import redis.asyncio as aioredis
from psycopg.rows import dict_row

from devstack import services
from devstack.servers import Server, free_port, running, start_redis
from servicekit.events import WORKOUTS_STREAM
from tests.conftest import fresh_database
from tests.helpers import Account, sign_up, wait_for, workout_event


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# What a path answers to its n-th POST (0-based): status, headers, seconds to wait first.
Behaviour = Callable[[int], tuple[int, dict[str, str], float]]


def always(status: int, delay: float = 0.0) -> Behaviour:
    return lambda n: (status, {}, delay)


def failing_first(
    times: int, status: int = 500, headers: dict[str, str] | None = None
) -> Behaviour:
    return lambda n: (status, headers or {}, 0.0) if n < times else (204, {}, 0.0)


@dataclass
class Receiver:
    """An HTTP server in threads of its own (the test's event loop never holds it up). It
    answers the subscription challenge on every path but those in `no_challenge`, and POSTs
    by the path's behaviour (204 when it has none); it records every request."""

    server: ThreadingHTTPServer
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    no_challenge: set[str] = field(default_factory=set)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def posts(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _record(self, body: bytes) -> int:
            parts = urlsplit(self.path)
            headers = dict(self.headers.items())
            with receiver.lock:
                path = parts.path
                seen = sum(1 for r in receiver.requests if r.method == "POST" and r.path == path)
                receiver.requests.append(
                    Received(self.command, path, parse_qs(parts.query), headers, body, time.time())
                )
            return seen

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            self._record(b"")
            query = parse_qs(parts.query)
            if parts.path in receiver.no_challenge or "hub.challenge" not in query:
                self._answer(200, {}, b'{"hello": "world"}')
                return
            echo = json.dumps({"hub.challenge": query["hub.challenge"][0]}).encode()
            self._answer(200, {"Content-Type": "application/json"}, echo)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen = self._record(body)
            behaviour = receiver.behaviours.get(urlsplit(self.path).path, always(204))
            status, headers, delay = behaviour(seen)
            if delay:
                time.sleep(delay)
            self._answer(status, headers, b"")

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the sender gave up waiting

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


@contextlib.contextmanager
def receiving() -> Any:
    receiver = start_receiver()
    try:
        yield receiver
    finally:
        receiver.close()


# Short times, so retries, leases and horizons pass in a test's time.
FAST = {
    "WEBHOOK_ALLOW_HTTP": "true",
    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOK_RETRY_CAP_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_LEASE_SECONDS": "3",
    "WEBHOOK_POLL_SECONDS": "0.05",
    "WEBHOOK_RATE_LIMIT": "1000/second",
    "CONSUMER_CLAIM_IDLE_MS": "1000",
    "CONSUMER_BLOCK_MS": "200",
    "HEALTH_PROBE_SECONDS": "0.5",
}


@dataclass
class Stack:
    redis_server: Server
    redis: aioredis.Redis
    database_url: str
    env: dict[str, str]
    replicas: list[services.ServiceProcess]
    gateway: services.HttpProcess
    api: httpx.AsyncClient
    activity: services.ServiceProcess | None = None

    async def add_replica(self) -> services.ServiceProcess:
        replica = await services.start("user_service", self.env)
        self.replicas.append(replica)
        return replica

    async def account(self) -> Account:
        return await sign_up(self.api)

    async def subscribe(
        self, me: Account, url: str, events: list[str] | None = None, **extra: Any
    ) -> dict[str, Any]:
        body = {"url": url, "events": events or ["workout.completed"], **extra}
        answer = await self.api.post("/webhooks", json=body, headers=me.headers)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    async def workout(self, user_id: str) -> str:
        """A workout.completed event on the stack's stream, as the activity service writes
        it; its event id."""
        event = workout_event(user_id, uuid.uuid4().hex)
        fields: dict[Any, Any] = event.to_fields()
        await self.redis.xadd(WORKOUTS_STREAM, fields)
        return event.event_id

    def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.database_url, row_factory=dict_row) as conn:
            return conn.execute(query, params).fetchall()

    def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT * FROM deliveries WHERE webhook_id = %s ORDER BY created_at", webhook_id
        )

    def attempts(self, delivery_id: Any) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT * FROM delivery_attempts WHERE delivery_id = %s ORDER BY n", delivery_id
        )

    async def settled(self, webhook_id: str, count: int, timeout: float = 20) -> list[Any]:
        """Wait until the webhook has `count` deliveries, none pending; return them."""

        async def done() -> bool:
            rows = self.deliveries(webhook_id)
            return len(rows) == count and all(r["status"] != "pending" for r in rows)

        await wait_for(done, timeout=timeout, interval=0.1)
        return self.deliveries(webhook_id)


# The two stacks the webhook tests share (tests.conftest): one replica, for the API and
# deliveries to a receiver; two, for replicas and breakers.
SINGLE = {
    "WEBHOOK_MAX_PER_USER": "3",
    "WEBHOOK_HORIZON_SECONDS": "3",
    "WEBHOOK_MAX_ATTEMPTS": "50",
    "WEBHOOK_RATE_LIMIT": "5/second",
    "WEBHOOK_BREAKER_FAILURES": "1000",  # the breaker's own test uses the other stack
}
PAIR = {
    "WEBHOOK_BREAKER_FAILURES": "3",
    "WEBHOOK_BREAKER_RESET_SECONDS": "30",
    # Shorter than the reset: what an open breaker holds dies at once, unsent.
    "WEBHOOK_HORIZON_SECONDS": "10",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_LEASE_SECONDS": "3",
    "WEBHOOK_PER_DESTINATION": "4",
    "WEBHOOK_CONCURRENCY": "16",
    "WEBHOOK_RECONCILE_SECONDS": "1",
}


async def _activity(
    mongo: Server | None, redis_url: str, scoring: services.ServiceProcess
) -> services.ServiceProcess | None:
    """An activity service on the stack's Redis (its import.finished events reach the
    stack's dispatcher), with a database of its own; None when the stack needs none."""
    if mongo is None:
        return None
    env = {
        "MONGODB_URL": mongo.url,
        "MONGODB_DATABASE": f"t_{uuid.uuid4().hex[:12]}",
        "REDIS_URL": redis_url,
        "SCORING_SERVICE_ADDRS": scoring.address,
        "RECOVERY_INTERVAL_SECONDS": "1",
        "HEALTH_PROBE_SECONDS": "0.5",
    }
    return await services.start("activity_service", env)


@contextlib.asynccontextmanager
async def stack(
    postgres: Server,
    scoring: services.ServiceProcess,
    replicas: int,
    settings: dict[str, str],
    mongo: Server | None = None,
) -> AsyncIterator[Stack]:
    """`mongo` adds an activity service, for imports and their callbacks."""
    with running(start_redis) as redis_server:
        env = {
            **FAST,
            "DATABASE_URL": fresh_database(postgres),
            "REDIS_URL": redis_server.url,
            "SCORING_SERVICE_ADDRS": scoring.address,
            **settings,
        }
        ports = [free_port() for _ in range(replicas)]
        activity = await _activity(mongo, redis_server.url, scoring)
        gateway_env = {
            "USER_SERVICE_ADDRS": ",".join(f"127.0.0.1:{p}" for p in ports),
            # Not called by these tests unless the stack has one.
            "ACTIVITY_SERVICE_ADDRS": activity.address if activity else "127.0.0.1:1",
            "SCORING_SERVICE_ADDRS": scoring.address,
            "REDIS_URL": redis_server.url,
            "RATE_LIMIT_IP": "100000/minute",
            "RATE_LIMIT_USER": "100000/minute",
            "RATE_LIMIT_AUTH": "100000/minute",
        }
        # Started side by side: each takes seconds to import and start.
        started, gateway = await asyncio.gather(
            asyncio.gather(
                *(services.start("user_service", {**env, "GRPC_PORT": str(p)}) for p in ports)
            ),
            services.start_http("gateway", gateway_env),
        )
        client = aioredis.from_url(redis_server.url, decode_responses=True)
        api = httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=20)
        built = Stack(
            redis_server, client, env["DATABASE_URL"], env, list(started), gateway, api, activity
        )
        try:
            yield built
        finally:
            await api.aclose()
            await client.aclose()
            gateway.stop()
            for replica in built.replicas:
                replica.stop()
            if activity is not None:
                activity.stop()


def since(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat()
