"""Small builders shared by the integration tests."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import httpx
import pytest
import redis.asyncio as aioredis

from devstack import services
from devstack.__main__ import ports
from devstack.servers import free_port
from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.health.v1 import health_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as upb
from fitmesh.user.v1 import user_pb2_grpc
from servicekit.events import WorkoutCompleted
from servicekit.protofields import timestamp

PASSWORD = "correct horse battery"
T = TypeVar("T")


def unique(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


async def register(stub: user_pb2_grpc.UserServiceStub, **profile: object) -> upb.User:
    name = unique()
    reply = await stub.Register(
        upb.RegisterRequest(
            username=name,
            email=f"{name}@example.com",
            password=PASSWORD,
            profile=upb.Profile(**profile),  # type: ignore[arg-type]
        ),
        timeout=10,
    )
    return reply.user


def workout_event(user_id: str, event_id: str | None = None, **values: float) -> WorkoutCompleted:
    defaults: dict[str, Any] = {
        "duration": 1800.0,
        "calories_burned": 300.0,
        "moderate_minutes": 0.0,
        "vigorous_minutes": 30.0,
        "intensity_minutes": 60.0,
        "distance_m": 5000.0,
    }
    defaults.update(values)
    return WorkoutCompleted(
        event_id=event_id or uuid.uuid4().hex,
        user_id=user_id,
        workout_id=uuid.uuid4().hex,
        workout_type="running",
        ended_at=dt.datetime.now(dt.UTC),
        **defaults,
    )


# What the gateway's background loops send on their own connections (cache invalidation
# from the workout stream, the WebSocket hub): not part of any request.
BACKGROUND = {"xreadgroup", "xautoclaim", "xack", "xgroup", "ping", "subscribe", "psubscribe"}


async def redis_commands_during(
    redis_url: str, request: Callable[[], Awaitable[T]]
) -> tuple[list[list[str]], T]:
    """The commands (lower-case name, then arguments) clients sent to Redis while `request`
    ran, counted with MONITOR, but a script's own calls (the script's, not round trips) and
    the background's; with the request's answer."""
    seen: list[list[str]] = []
    monitor_client = aioredis.from_url(redis_url, decode_responses=True)
    try:
        async with monitor_client.monitor() as monitor:
            listening = asyncio.Event()

            async def collect() -> None:
                listening.set()
                async for command in monitor.listen():
                    if command.get("client_type") == "lua":
                        continue
                    words = command["command"].split(" ")
                    words[0] = words[0].lower()
                    if words[0] not in BACKGROUND:
                        seen.append(words)

            collector = asyncio.create_task(collect())
            await listening.wait()
            await asyncio.sleep(0.2)
            answer = await request()
            await asyncio.sleep(0.3)  # MONITOR lines arrive after the commands ran
            collector.cancel()
    finally:
        await monitor_client.aclose()
    return seen, answer


async def wait_for(predicate: object, timeout: float = 20, interval: float = 0.05) -> None:
    """Poll an async predicate until it holds."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


async def consumed(redis: object, group: str, stream: str = "fitmesh.workouts") -> bool:
    """True when the group has read every entry of the stream and acknowledged it."""
    info = await redis.xinfo_groups(stream)  # type: ignore[attr-defined]
    mine = [g for g in info if g["name"] == group]
    return bool(mine) and mine[0]["pending"] == 0 and mine[0]["lag"] == 0


class Account:
    """A registered, logged-in user of the REST API."""

    def __init__(self, user_id: str, token: str, email: str) -> None:
        self.user_id, self.token, self.email = user_id, token, email
        self.headers = {"Authorization": f"Bearer {token}"}


async def sign_up(api: object, **profile: object) -> Account:
    assert isinstance(api, httpx.AsyncClient)
    name = unique()
    body: dict[str, object] = {
        "username": name,
        "email": f"{name}@example.com",
        "password": PASSWORD,
    }
    if profile:
        body["profile"] = profile
    created = await api.post("/users/register", json=body)
    assert created.status_code == 201, created.text
    login = await api.post("/users/login", json={"email": body["email"], "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Account(login.json()["user_id"], login.json()["token"], str(body["email"]))


async def log_workout(
    stub: activity_pb2_grpc.ActivityServiceStub,
    user_id: str,
    start: dt.datetime,
    minutes: float,
    kind: Any = spb.WORKOUT_TYPE_RUNNING,
    **extra: Any,
) -> apb.Workout:
    """Log a finished workout of `minutes` from `start` through the activity service."""
    reply = await stub.LogWorkout(
        apb.LogWorkoutRequest(
            user_id=user_id,
            workout_type=kind,
            start_time=timestamp(start),
            end_time=timestamp(start + dt.timedelta(minutes=minutes)),
            **extra,
        ),
        timeout=10,
    )
    return reply.workout


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """The error a gRPC call fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


def free_offset() -> int:
    """A `make run --offset` whose every port is free now (the throwaway servers of other
    tests listen on random ports, so a random offset alone may land on one of them)."""
    for _ in range(100):
        offset = random.randrange(2000, 12000)
        try:
            for port in ports(offset):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return offset
    raise RuntimeError("no offset with every port of the suite free")


def sample(kind: Any, value: float, at: dt.datetime, client_id: str = "", **extra: Any) -> Any:
    """A health sample of `kind` recorded at `at`."""
    s = hpb.MetricSample(metric_type=kind, value=value, client_id=client_id, **extra)
    s.recorded_at.CopyFrom(timestamp(at))
    return s


def night(minutes: float, end: dt.datetime, client_id: str = "") -> hpb.MetricSample:
    """A night's sleep of `minutes` that ended at `end`."""
    return hpb.MetricSample(
        metric_type=hpb.METRIC_TYPE_SLEEP_MINUTES,
        value=minutes,
        start_time=timestamp(end - dt.timedelta(minutes=minutes)),
        end_time=timestamp(end),
        client_id=client_id,
    )


async def record(
    stub: health_pb2_grpc.HealthServiceStub, user_id: str, *samples: hpb.MetricSample
) -> list[Any]:
    """Record samples through the health service; each one as stored."""
    request = hpb.RecordMetricsRequest(user_id=user_id, samples=samples)
    return list((await stub.RecordMetrics(request, timeout=10)).metrics)


@dataclass
class Replicas:
    """Two scoring and two activity replicas of a test's own, and a gateway over them, so a
    test can kill or stop them. Scoring listens on fixed ports, so a killed replica can come
    back where it was."""

    gateway: services.HttpProcess
    scoring: list[services.ServiceProcess]
    activity: list[services.ServiceProcess]
    scoring_ports: list[int]

    def stop(self) -> None:
        self.gateway.stop()
        for s in self.scoring + self.activity:
            s.stop()


async def start_replicas(
    gateway_env: dict[str, str], activity_env: dict[str, str], **gateway_settings: str
) -> Replicas:
    scoring_ports = [free_port(), free_port()]
    scoring = [
        await services.start("scoring_service", {"GRPC_PORT": str(p)}) for p in scoring_ports
    ]
    scoring_addrs = ",".join(s.address for s in scoring)
    activity = [
        await services.start(
            "activity_service", {**activity_env, "SCORING_SERVICE_ADDRS": scoring_addrs}
        )
        for _ in range(2)
    ]
    env = {
        **gateway_env,
        "ACTIVITY_SERVICE_ADDRS": ",".join(a.address for a in activity),
        "SCORING_SERVICE_ADDRS": scoring_addrs,
        **gateway_settings,
    }
    gateway = await services.start_http("gateway", env)
    return Replicas(gateway, scoring, activity, scoring_ports)


async def audit_log(api: httpx.AsyncClient, me: Account, count: int) -> list[dict[str, Any]]:
    """The account's records, newest first, once `count` of them have arrived."""
    items: list[dict[str, Any]] = []

    async def arrived() -> bool:
        nonlocal items
        answer = await api.get(
            f"/users/{me.user_id}/audit", params={"limit": 100}, headers=me.headers
        )
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        return len(items) >= count

    await wait_for(arrived)
    return items


async def verify_audit(api: httpx.AsyncClient, me: Account) -> dict[str, Any]:
    answer = await api.get(f"/users/{me.user_id}/audit/verify", headers=me.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def read_profile(api: httpx.AsyncClient, me: Account, count: int) -> None:
    for _ in range(count):
        answer = await api.get(f"/users/{me.user_id}", headers=me.headers)
        assert answer.status_code == 200


@dataclass
class Replica:
    """A service process that can be killed and started again at the same address."""

    module: str
    env: dict[str, str]
    process: services.ServiceProcess

    @classmethod
    async def start(cls, module: str, env: dict[str, str]) -> Replica:
        # Its port is fixed for its restarts; metrics are off, so no other port must be.
        env = {**env, "GRPC_PORT": str(free_port()), "METRICS_PORT": "0"}
        return cls(module, env, await services.start(module, env))

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    async def restart(self) -> None:
        self.process = await services.start(self.module, self.env)
