"""A user's workout lists are answered from the shared cache until one of their workouts
changes: a repeated page is one Redis round trip, each change through a gateway shows in the
next list at once, and a change made elsewhere (over gRPC, as an import or another service
does) shows once its event reaches the gateways."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2_grpc
from servicekit.audit import AUDIT_STREAM
from tests.clock import Clock
from tests.helpers import log_workout, redis_commands_during, sign_up, wait_for


@pytest_asyncio.fixture
async def own_api(gateway_env: dict[str, str], own_redis: Server) -> AsyncIterator[Any]:
    """A gateway on a Redis of its own, so its commands can be counted alone."""
    gateway = await services.start_http("gateway", {**gateway_env, "REDIS_URL": own_redis.url})
    try:
        async with httpx.AsyncClient(base_url=f"{gateway.url}/api/v1", timeout=15) as api:
            yield api, own_redis
    finally:
        gateway.stop()


def _ids(page: httpx.Response) -> list[tuple[str, str]]:
    assert page.status_code == 200, page.text
    return [(w["session_id"], w["status"]) for w in page.json()["items"]]


async def test_a_repeated_page_is_one_round_trip_and_every_change_shows_at_once(
    own_api: tuple[httpx.AsyncClient, Server], clock: Clock
) -> None:
    api, redis_server = own_api
    me = await sign_up(api)
    path = f"/users/{me.user_id}/workouts?limit=5"
    began = clock.now - dt.timedelta(days=2)
    logged = await api.post(
        "/workouts",
        headers=me.headers,
        json={
            "workout_type": "running",
            "start_time": began.isoformat(),
            "end_time": (began + dt.timedelta(minutes=30)).isoformat(),
            "distance_m": 5000,
        },
    )
    assert logged.status_code == 201, logged.text
    first = await api.get(path, headers=me.headers)
    assert _ids(first) == [(logged.json()["session_id"], "completed")]

    commands, again = await redis_commands_during(
        redis_server.url, lambda: api.get(path, headers=me.headers)
    )
    assert [c[0] for c in commands if c[:2] != ["xadd", AUDIT_STREAM]] == ["evalsha"]
    assert again.content == first.content  # the stored bytes, as they were sent

    started = await api.post("/workouts/start", headers=me.headers, json={"workout_type": "yoga"})
    assert started.status_code == 201, started.text
    running = started.json()["session_id"]
    listed = _ids(await api.get(path, headers=me.headers))
    assert listed[0] == (running, "active")

    ended = await api.post(f"/workouts/{running}/end", headers=me.headers, json={})
    assert ended.status_code == 200, ended.text
    assert _ids(await api.get(path, headers=me.headers))[0] == (running, "completed")

    workout_id = logged.json()["session_id"]
    edited = await api.patch(
        f"/workouts/{workout_id}",
        headers={**me.headers, "If-Match": '"1"'},
        json={"distance_m": 5200},
    )
    assert edited.status_code == 200, edited.text
    page = (await api.get(path, headers=me.headers)).json()["items"]
    assert {w["session_id"]: w.get("distance_m") for w in page}[workout_id] == 5200

    deleted = await api.delete(
        f"/workouts/{workout_id}", headers={**me.headers, "If-Match": edited.headers["ETag"]}
    )
    assert deleted.status_code == 204, deleted.text
    assert _ids(await api.get(path, headers=me.headers)) == [(running, "completed")]


async def test_a_workout_logged_elsewhere_shows_once_its_event_arrives(
    api: httpx.AsyncClient,
    activity_stub: activity_pb2_grpc.ActivityServiceStub,
    clock: Clock,
) -> None:
    me = await sign_up(api)
    path = f"/users/{me.user_id}/workouts"
    assert _ids(await api.get(path, headers=me.headers)) == []  # now cached, empty
    made = await log_workout(activity_stub, me.user_id, clock.now - dt.timedelta(days=1), 20)

    async def shown() -> bool:
        return _ids(await api.get(path, headers=me.headers)) == [(made.workout_id, "completed")]

    await wait_for(shown, timeout=15)
