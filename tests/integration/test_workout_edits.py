"""Editing and deleting workouts: UpdateWorkout and DeleteWorkout against the real activity
service (totals, weeks and the weekly score move by exactly the difference; a stale or
losing version is refused; a change a crash left is finished once), the user service's
goals from the change events (whatever their order), and PATCH/DELETE through the gateway
(ETag, If-Match, 412/428, a goal that stops being achieved says so)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import asdict
from typing import Any

import grpc
import httpx
import redis.asyncio as aioredis
from google.protobuf.field_mask_pb2 import FieldMask

from activity_service import weeks
from devstack import services
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2_grpc
from servicekit.errors import StaleVersion
from servicekit.events import (
    WORKOUTS_STREAM,
    WorkoutDeleted,
    WorkoutUpdated,
    notify_channel,
)
from servicekit.protofields import timestamp
from servicekit.status import field_violations, reason
from tests.clock import Clock
from tests.helpers import consumed, log_workout, register, rpc_error, sign_up, wait_for
from tests.helpers import workout_event as completed_event
from tests.integration.test_gateway import is_problem
from tests.integration.test_goal_events import drain, goal, notifications, progress, send
from tests.wsclient import Member

Stub = activity_pb2_grpc.ActivityServiceStub
FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()  # any day ahead will do
RUNNING, CYCLING = spb.WORKOUT_TYPE_RUNNING, spb.WORKOUT_TYPE_CYCLING


def user() -> str:
    return str(uuid.uuid4())


def change(user_id: str, workout_id: str, *versions: int, **fields: Any) -> Any:
    """An UpdateWorkoutRequest naming `fields`; a None value clears that field."""
    request = pb.UpdateWorkoutRequest(
        user_id=user_id,
        workout_id=workout_id,
        update_mask=FieldMask(paths=sorted(fields)),
        expected_versions=versions,
    )
    for name, value in fields.items():
        if isinstance(value, dt.datetime):
            getattr(request, name).CopyFrom(timestamp(value))
        elif value is not None:
            setattr(request, name, value)
    return request


async def edit(stub: Stub, user_id: str, workout_id: str, *versions: int, **fields: Any) -> Any:
    reply = await stub.UpdateWorkout(change(user_id, workout_id, *versions, **fields), timeout=10)
    return reply.workout


async def statistics(stub: Stub, user_id: str) -> Any:
    reply = await stub.GetStatistics(pb.GetStatisticsRequest(user_id=user_id), timeout=10)
    return reply.statistics


async def week_score(stub: Stub, user_id: str, week: str) -> Any:
    request = pb.GetActivityScoreRequest(user_id=user_id, week=week)
    return await stub.GetActivityScore(request, timeout=10)


async def event(redis: aioredis.Redis, event_id: str) -> dict[str, str]:
    entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
    found = [fields for _, fields in entries if fields.get("event_id") == event_id]
    assert found, f"no event {event_id}"
    return dict(found[-1])


def week_of(w: Any) -> str:
    return weeks.name(w.start_time.ToDatetime(tzinfo=dt.UTC))


async def test_an_edit_moves_totals_weeks_and_score_by_the_difference(
    activity_stub: Stub, redis: aioredis.Redis, clock: Clock
) -> None:
    me = user()
    first = await log_workout(
        activity_stub, me, clock.now - dt.timedelta(days=10), 30, distance_m=5000
    )
    other = await log_workout(
        activity_stub, me, clock.now - dt.timedelta(hours=3), 40, spb.WORKOUT_TYPE_YOGA
    )
    before = await statistics(activity_stub, me)
    start = clock.now - dt.timedelta(days=2, hours=1)
    edited = await edit(
        activity_stub,
        me,
        first.workout_id,
        1,
        workout_type=CYCLING,
        start_time=start,
        end_time=start + dt.timedelta(minutes=45),
        distance_m=15000.0,
    )
    assert (edited.version, edited.workout_type, edited.duration_seconds) == (2, CYCLING, 2700)
    assert edited.score_status == pb.SCORE_STATUS_SCORED
    assert edited.score.calories_burned != first.score.calories_burned
    after = await statistics(activity_stub, me)
    assert after.total_workouts == before.total_workouts == 2
    assert after.total_duration_seconds == before.total_duration_seconds + 2700 - 1800
    calories = before.total_calories_burned - first.score.calories_burned
    assert abs(after.total_calories_burned - (calories + edited.score.calories_burned)) < 0.02
    assert {t.workout_type: t.total_workouts for t in after.by_type} == {
        CYCLING: 1,
        spb.WORKOUT_TYPE_YOGA: 1,
    }
    # Each week holds what starts in it now: the old week lost it, the new one has it.
    now_in = [w for w in (edited, other) if week_of(w) == weeks.name(clock.now)]
    assert after.current_week.total_workouts == len(now_in)
    minutes = sum(w.score.intensity_minutes for w in now_in)
    assert abs(after.current_week.intensity_minutes - minutes) < 0.01
    assert (await week_score(activity_stub, me, week_of(first))).workouts == 0
    moved = await week_score(activity_stub, me, week_of(edited))
    held = [w for w in (edited, other) if week_of(w) == week_of(edited)]
    assert moved.workouts == len(held)
    assert abs(moved.score.intensity_minutes - sum(w.score.intensity_minutes for w in held)) < 0.01
    listed = await activity_stub.ListWorkouts(pb.ListWorkoutsRequest(user_id=me), timeout=10)
    assert [(w.workout_id, w.version) for w in listed.workouts] == [
        (other.workout_id, 1),
        (first.workout_id, 2),
    ]
    announced = await event(redis, f"{first.workout_id}@2")
    assert (announced["type"], announced["version"], announced["workout_type"]) == (
        "workout.updated",
        "2",
        "cycling",
    )
    assert float(announced["distance_m"]) == 15000


async def test_a_delete_takes_the_workout_out_once(
    activity_stub: Stub, redis: aioredis.Redis, clock: Clock
) -> None:
    me, key = user(), uuid.uuid4().hex
    kept = await log_workout(activity_stub, me, clock.now - dt.timedelta(hours=5), 20)
    gone = await log_workout(
        activity_stub, me, clock.now - dt.timedelta(hours=2), 30, CYCLING, request_id=key
    )
    await activity_stub.DeleteWorkout(
        pb.DeleteWorkoutRequest(user_id=me, workout_id=gone.workout_id, expected_versions=[1]),
        timeout=10,
    )
    stats = await statistics(activity_stub, me)
    assert (stats.total_workouts, stats.total_duration_seconds) == (1, 1200)
    assert abs(stats.total_calories_burned - kept.score.calories_burned) < 0.01
    assert [t.workout_type for t in stats.by_type] == [RUNNING]
    listed = await activity_stub.ListWorkouts(pb.ListWorkoutsRequest(user_id=me), timeout=10)
    assert [w.workout_id for w in listed.workouts] == [kept.workout_id]
    score = await week_score(activity_stub, me, week_of(gone))
    assert score.workouts == (1 if week_of(kept) == week_of(gone) else 0)
    names = pb.GetWorkoutRequest(user_id=me, workout_id=gone.workout_id)
    for call in (
        activity_stub.GetWorkout(names, timeout=10),
        activity_stub.DeleteWorkout(
            pb.DeleteWorkoutRequest(user_id=me, workout_id=gone.workout_id), timeout=10
        ),
        activity_stub.UpdateWorkout(change(me, gone.workout_id, distance_m=1.0), timeout=10),
    ):
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND
    # A repeat of the request that logged it does not bring it back.
    again = log_workout(
        activity_stub, me, clock.now - dt.timedelta(hours=2), 30, CYCLING, request_id=key
    )
    assert (await rpc_error(again)).code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await statistics(activity_stub, me)).total_workouts == 1
    announced = await event(redis, f"{gone.workout_id}@2")
    assert (announced["type"], announced["version"]) == ("workout.deleted", "2")


async def test_a_stale_version_is_refused_and_of_racing_edits_one_wins(
    activity_stub: Stub,
    clock: Clock,
) -> None:
    me = user()
    w = await log_workout(activity_stub, me, clock.now - dt.timedelta(hours=4), 30, distance_m=4000)
    assert (await edit(activity_stub, me, w.workout_id, 1, distance_m=5000.0)).version == 2
    for call in (
        activity_stub.UpdateWorkout(change(me, w.workout_id, 1, distance_m=6000.0), timeout=10),
        activity_stub.DeleteWorkout(
            pb.DeleteWorkoutRequest(user_id=me, workout_id=w.workout_id, expected_versions=[1]),
            timeout=10,
        ),
    ):
        error = await rpc_error(call)
        assert (error.code(), reason(error)) == (grpc.StatusCode.ABORTED, StaleVersion.reason)
    distances = [6000.0 + 500 * i for i in range(6)]
    results = await asyncio.gather(
        *(edit(activity_stub, me, w.workout_id, 2, distance_m=d) for d in distances),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, pb.Workout)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert (len(won), len(lost)) == (1, 5), results
    assert {(e.code(), reason(e)) for e in lost} == {(grpc.StatusCode.ABORTED, StaleVersion.reason)}
    stored = await activity_stub.GetWorkout(
        pb.GetWorkoutRequest(user_id=me, workout_id=w.workout_id), timeout=10
    )
    assert (stored.workout.version, stored.workout.distance_m) == (3, won[0].distance_m)
    stats = await statistics(activity_stub, me)
    assert stats.total_workouts == 1
    assert abs(stats.total_calories_burned - won[0].score.calories_burned) < 0.01


async def test_refusals_name_the_fields_and_hide_other_users_workouts(
    activity_stub: Stub,
    clock: Clock,
) -> None:
    me = user()
    w = await log_workout(activity_stub, me, clock.now - dt.timedelta(hours=6), 30, distance_m=4000)
    stranger = (
        activity_stub.UpdateWorkout(change(user(), w.workout_id, distance_m=1.0), timeout=10),
        activity_stub.DeleteWorkout(
            pb.DeleteWorkoutRequest(user_id=user(), workout_id=w.workout_id), timeout=10
        ),
    )
    for call in stranger:
        assert (await rpc_error(call)).code() == grpc.StatusCode.NOT_FOUND
    start = w.start_time.ToDatetime(tzinfo=dt.UTC)
    bad: dict[str, dict[str, Any]] = {
        "end_time": {"end_time": start - dt.timedelta(minutes=1)},
        "avg_heart_rate": {"avg_heart_rate": 20},
        "workout_type": {"workout_type": spb.WORKOUT_TYPE_UNSPECIFIED},
        "update_mask": {},
    }
    for field, fields in bad.items():
        error = await rpc_error(
            activity_stub.UpdateWorkout(change(me, w.workout_id, **fields), timeout=10)
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in {v.field for v in field_violations(error)}, (field, error.details())
    error = await rpc_error(
        activity_stub.UpdateWorkout(change(me, w.workout_id, 0, distance_m=1.0), timeout=10)
    )
    assert {v.field for v in field_violations(error)} == {"expected_versions"}
    running = await activity_stub.StartWorkout(
        pb.StartWorkoutRequest(user_id=me, workout_type=RUNNING), timeout=10
    )
    error = await rpc_error(
        activity_stub.UpdateWorkout(
            change(me, running.workout.workout_id, distance_m=1.0), timeout=10
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    # The same values again make no new version; a named, unset measurement is cleared.
    assert (await edit(activity_stub, me, w.workout_id, distance_m=4000.0)).version == 1
    cleared = await edit(activity_stub, me, w.workout_id, 1, distance_m=None)
    assert (cleared.version, cleared.HasField("distance_m")) == (2, False)


async def test_goals_follow_changes_once_in_any_order(
    user_stub: user_pb2_grpc.UserServiceStub,
    user_service: services.ServiceProcess,
    redis: aioredis.Redis,
    clock: Clock,
) -> None:
    person = await register(user_stub)
    minutes = await goal(user_stub, person.user_id, spb.GOAL_TYPE_INTENSITY_MINUTES, 100)
    first = completed_event(person.user_id, intensity_minutes=60.0)
    fields: dict[str, Any] = {**asdict(first), "event_id": f"{first.workout_id}@2"}
    # The edit's event comes before the completion it changed (another consumer was slower).
    steps = [
        (WorkoutUpdated(**{**fields, "version": 2, "intensity_minutes": 30.0}), 30),
        (first, 30),
        (WorkoutUpdated(**{**fields, "version": 2, "intensity_minutes": 30.0}), 30),
        (WorkoutUpdated(**{**fields, "version": 3, "intensity_minutes": 110.0}), 110),
        (
            WorkoutDeleted(f"{first.workout_id}@4", person.user_id, first.workout_id, 4, clock.now),
            0,
        ),
        (WorkoutUpdated(**{**fields, "version": 3, "intensity_minutes": 110.0}), 0),
    ]
    for sent, expected in steps:
        await send(redis, sent)  # type: ignore[arg-type]
        await wait_for(lambda: consumed(redis, "user_service"))
        got = await progress(user_stub, person.user_id, minutes.goal_id)
        assert got.current_progress == expected, sent
    kinds = [n.kind for n in await notifications(user_stub, person.user_id)]
    assert kinds == ["goal_unachieved", "goal_achieved"]  # newest first


async def test_patch_and_delete_through_the_gateway(api: httpx.AsyncClient, clock: Clock) -> None:
    me, stranger = await sign_up(api, weight_kg=70), await sign_up(api)
    body = {
        "workout_type": "running",
        "start_time": (clock.now - dt.timedelta(hours=3)).isoformat(),
        "end_time": (clock.now - dt.timedelta(hours=2, minutes=30)).isoformat(),
        "distance_m": 6000,
    }
    logged = (await api.post("/workouts", headers=me.headers, json=body)).json()
    path = f"/workouts/{logged['session_id']}"
    read = await api.get(path, headers=me.headers)
    assert (read.headers["etag"], read.json()["version"]) == ('"1"', 1)
    first = await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)  # now cached
    is_problem(await api.patch(path, headers=me.headers, json={"distance_m": 7000}), 428)
    weak = {**me.headers, "If-Match": 'W/"1"'}
    is_problem(await api.patch(path, headers=weak, json={"distance_m": 7000}), 412)
    at_1 = {**me.headers, "If-Match": '"1"'}
    null = is_problem(await api.patch(path, headers=at_1, json={"workout_type": None}), 400)
    assert [e["field"] for e in null["errors"]] == ["workout_type"]
    is_problem(await api.patch(path, headers=at_1, json={}), 400)
    late = {"end_time": (clock.now + dt.timedelta(hours=1)).isoformat()}
    assert (
        is_problem(await api.patch(path, headers=at_1, json=late), 400)["errors"][0]["field"]
        == "end_time"
    )
    for call in (
        api.patch(path, headers={**stranger.headers, "If-Match": "*"}, json={"distance_m": 1}),
        api.delete(path, headers={**stranger.headers, "If-Match": "*"}),
    ):
        is_problem(await call, 404)
    edited = await api.patch(path, headers=at_1, json={"distance_m": 7000, "avg_heart_rate": 150})
    assert edited.status_code == 200, edited.text
    assert (edited.headers["etag"], edited.json()["version"]) == ('"2"', 2)
    assert edited.json()["distance_m"] == 7000
    stats = (await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)).json()
    change_ = edited.json()["calories_burned"] - logged["calories_burned"]
    assert (
        abs(stats["total_calories_burned"] - first.json()["total_calories_burned"] - change_) < 0.02
    )
    is_problem(await api.patch(path, headers=at_1, json={"distance_m": 8000}), 412)
    is_problem(await api.delete(path, headers=at_1), 412)
    gone = await api.delete(path, headers={**me.headers, "If-Match": '"3", "2"'})
    assert gone.status_code == 204, gone.text
    is_problem(await api.get(path, headers=me.headers), 404)
    stats = (await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)).json()
    assert (stats["total_workouts"], stats["by_type"]) == (0, {})


async def test_a_goal_no_longer_achieved_says_so_and_can_be_achieved_again(
    api: httpx.AsyncClient, gateway: services.HttpProcess, redis: aioredis.Redis, clock: Clock
) -> None:
    me = await sign_up(api)
    created = await api.post(
        f"/users/{me.user_id}/goals",
        headers=me.headers,
        json={"goal_type": "distance_km", "target_value": 9, "target_date": FUTURE},
    )
    goal_path = f"/users/{me.user_id}/goals/{created.json()['goal_id']}"
    ids = []
    for hours, metres in ((6, 5000), (4, 5000)):
        start = clock.now - dt.timedelta(hours=hours)
        body = {
            "workout_type": "running",
            "start_time": start.isoformat(),
            "end_time": (start + dt.timedelta(minutes=30)).isoformat(),
            "distance_m": metres,
        }
        ids.append(
            (await api.post("/workouts", headers=me.headers, json=body)).json()["session_id"]
        )

    async def standing(expected: tuple[str, float]) -> bool:
        got = (await api.get(goal_path, headers=me.headers)).json()
        return (got["status"], got["current_progress"]) == expected

    await wait_for(lambda: standing(("achieved", 10)))
    socket = await Member.connect(gateway.url, me.token, me.user_id)
    pubsub = redis.pubsub()
    await pubsub.subscribe(notify_channel(me.user_id))
    gone = await api.delete(f"/workouts/{ids[1]}", headers={**me.headers, "If-Match": '"1"'})
    assert gone.status_code == 204
    await wait_for(lambda: standing(("active", 5)))
    frame = await socket.wait(lambda f: f.get("event") == "goal_unachieved")
    assert (frame["data"]["status"], frame["data"]["current_progress"]) == ("active", 5)
    moved = await api.patch(
        f"/workouts/{ids[0]}", headers={**me.headers, "If-Match": '"1"'}, json={"distance_m": 9500}
    )
    assert moved.status_code == 200, moved.text
    await wait_for(lambda: standing(("achieved", 9.5)))
    again = await socket.wait(
        lambda f: f.get("event") == "goal_achieved" and f["data"]["current_progress"] == 9.5
    )
    assert again["data"]["status"] == "achieved"
    await socket.close()
    # From the loss on (the first alert may still have been on its way when we listened).
    heard = [m["event"] for m in await drain(pubsub, quiet_for=0.5)]
    assert heard[heard.index("goal_unachieved") :] == ["goal_unachieved", "goal_achieved"]
    listed = (await api.get(f"/users/{me.user_id}/notifications", headers=me.headers)).json()
    assert [n["kind"] for n in listed["items"]] == [
        "goal_achieved",
        "goal_unachieved",
        "goal_achieved",
    ]
