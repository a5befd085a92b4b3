"""`python -m activity_service rebuild` turns workouts stored by an older version into the
read model: lists, statistics and scores answer as the workouts say, running workouts can
be ended, unfinished ones are finished; running it again changes nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from pymongo import monitoring

from activity_service import rebuild
from activity_service.store import Doc, Store
from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.events import WORKOUTS_STREAM
from servicekit.protofields import timestamp
from tests.helpers import wait_for

ROOT = services.ROOT
START = dt.datetime(2024, 3, 1, 6, tzinfo=dt.UTC)
TYPES = ("running", "yoga", "strength", "cycling")


def score(minutes: float, kind: str) -> dict[str, Any]:
    vigorous = minutes if kind == "running" else 0.0
    moderate = minutes if kind in ("strength", "cycling") else 0.0
    return {
        "met": 9.8,
        "intensity": "vigorous" if vigorous else "moderate" if moderate else "light",
        "intensity_source": "met",
        "calories_burned": round(minutes * 8.5, 2),
        "moderate_minutes": moderate,
        "vigorous_minutes": vigorous,
        "intensity_minutes": moderate + 2 * vigorous,
        "points": 0.0,
        "weight_kg_used": 70.0,
    }


def old_workout(user: str, n: int, **changes: Any) -> Doc:
    """A completed workout as the version before the read model stored it."""
    workout_id, kind, minutes = str(uuid.uuid4()), TYPES[n % 4], 20.0 + n % 30
    start = START + dt.timedelta(hours=13 * n)
    return {
        "_id": workout_id,
        "user_id": user,
        "workout_type": kind,
        "status": "completed",
        "active_key": f"done:{workout_id}",
        "start_time": start,
        "end_time": start + dt.timedelta(minutes=minutes),
        "duration_seconds": minutes * 60,
        "avg_heart_rate": None,
        "distance_m": None,
        "athlete": {
            "weight_kg": None,
            "age_years": None,
            "resting_heart_rate": None,
            "max_heart_rate": None,
        },
        "score": score(minutes, kind),
        "score_status": "scored",
        "totals_applied": True,
        "event_published": True,
        "pending": False,
        **changes,
    }


@pytest_asyncio.fixture
async def old_database(mongo: Server) -> AsyncIterator[tuple[str, dict[str, list[Doc]]]]:
    name = f"rebuild_{uuid.uuid4().hex[:8]}"
    store = Store(mongo.url, name)
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    data = {
        a: [old_workout(a, n) for n in range(600)],
        b: [old_workout(b, n) for n in range(700)],
        c: [
            old_workout(c, 0),
            old_workout(c, 1, pending=True, event_published=False),  # perhaps not announced
            old_workout(
                c,
                2,
                pending=True,
                totals_applied=False,
                event_published=False,
                score=None,
                score_status="pending",
            ),
        ],
    }
    running = {
        "_id": str(uuid.uuid4()),
        "user_id": b,
        "workout_type": "rowing",
        "status": "active",
        "active_key": f"active:{b}",
        "start_time": dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5),
        "athlete": {
            "weight_kg": 80.0,
            "age_years": None,
            "resting_heart_rate": None,
            "max_heart_rate": None,
        },
        "pending": False,
    }
    await store.workouts.insert_many([d for docs in data.values() for d in docs] + [running])
    # Running totals as the older version kept them, off by a crash or two.
    await store.totals.insert_one({"_id": a, "total_workouts": 598, "recent": ["x"], "weeks": {}})
    await store.db["weekly_totals"].insert_one({"_id": f"{a}:2024-W09", "total_workouts": 1})
    yield name, {**data, "running": [running]}
    await store.client.drop_database(name)
    await store.stop()


async def read_model(store: Store) -> dict[str, list[Doc]]:
    names = sorted(n for n in await store.db.list_collection_names() if n.startswith("weeks_"))
    found = {}
    for name in [*names, "totals", "active", "settling"]:
        found[name] = [d async for d in store.db[name].find({}).sort("_id")]
    return found


class Batches(monitoring.CommandListener):
    def __init__(self) -> None:
        self.largest = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if cursor is not None:
            self.largest = max(
                self.largest, len(cursor.get("firstBatch", cursor.get("nextBatch", [])))
            )

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_rebuild_makes_the_read_model_of_older_workouts(
    mongo: Server,
    old_database: tuple[str, dict[str, list[Doc]]],
    activity_service_env: dict[str, str],
    redis_server: Server,
    scoring_stub: scoring_pb2_grpc.ScoringServiceStub,
) -> None:
    name, data = old_database
    env = {**activity_service_env, "MONGODB_DATABASE": name}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "activity_service", "rebuild"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert b'"rebuilt"' in done.stdout + done.stderr

    # Again, in smaller batches and in-process: the same read model, read in bounded batches.
    batches = Batches()
    store = Store(mongo.url, name, [batches])
    try:
        first = await read_model(store)
        again = await rebuild.rebuild(store, batch=100)
        assert again.workouts == 1303
        assert 0 < batches.largest <= 100
        assert await read_model(store) == first
    finally:
        await store.stop()

    a, b, c = (user for user in data if user != "running")
    service = await services.start("activity_service", env)
    redis = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        async with service.channel() as channel:
            stub = activity_pb2_grpc.ActivityServiceStub(channel)
            for user in (a, b):
                listed: list[pb.Workout] = []
                token = ""
                while True:
                    page = await stub.ListWorkouts(
                        pb.ListWorkoutsRequest(user_id=user, page_size=100, page_token=token),
                        timeout=10,
                    )
                    listed += page.workouts
                    token = page.next_page_token
                    if not token:
                        break
                newest = sorted(data[user], key=lambda d: (d["start_time"], d["_id"]), reverse=True)
                expected = [d["_id"] for d in newest]
                if user == b:
                    expected.insert(0, data["running"][0]["_id"])
                    assert listed[0].status == pb.WORKOUT_STATUS_ACTIVE
                assert [w.workout_id for w in listed] == expected

                stats = (
                    await stub.GetStatistics(pb.GetStatisticsRequest(user_id=user), timeout=10)
                ).statistics
                assert stats.total_workouts == len(data[user])
                assert stats.total_duration_seconds == pytest.approx(
                    sum(d["duration_seconds"] for d in data[user])
                )
                assert stats.total_calories_burned == pytest.approx(
                    sum(d["score"]["calories_burned"] for d in data[user]), abs=0.01
                )
                assert {t.workout_type: t.total_workouts for t in stats.by_type} == {
                    spb.WorkoutType.Value(f"WORKOUT_TYPE_{k.upper()}"): len(data[user]) // 4
                    + (n < len(data[user]) % 4)
                    for n, k in enumerate(TYPES)
                }

            week_docs = [d for d in data[a] if d["start_time"].isocalendar()[:2] == (2024, 20)]
            reply = await stub.GetActivityScore(
                pb.GetActivityScoreRequest(user_id=a, week="2024-W20"), timeout=10
            )
            expected_score = await scoring_stub.ScoreWeek(
                spb.ScoreWeekRequest(
                    workouts=[
                        spb.ScoredWorkout(
                            workout_type=spb.WorkoutType.Value(
                                f"WORKOUT_TYPE_{d['workout_type'].upper()}"
                            ),
                            start_time=timestamp(d["start_time"]),
                            moderate_minutes=d["score"]["moderate_minutes"],
                            vigorous_minutes=d["score"]["vigorous_minutes"],
                        )
                        for d in week_docs
                    ]
                ),
                timeout=10,
            )
            assert (reply.workouts, reply.score) == (len(week_docs), expected_score)

            # The workout left running can be ended.
            running = data["running"][0]
            ended = await stub.EndWorkout(
                pb.EndWorkoutRequest(user_id=b, workout_id=running["_id"]), timeout=10
            )
            assert ended.workout.status == pb.WORKOUT_STATUS_COMPLETED
            assert ended.workout.athlete.weight_kg == 80.0

            # The unfinished ones are finished: scored, counted, announced.
            async def settled() -> bool:
                stats = await stub.GetStatistics(pb.GetStatisticsRequest(user_id=c), timeout=10)
                entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
                announced = {f["event_id"] for _, f in entries}
                return (
                    stats.statistics.total_workouts == 3
                    and {data[c][1]["_id"], data[c][2]["_id"]} <= announced
                )

            await wait_for(settled, timeout=30)
    finally:
        service.stop()
        await redis.aclose()
