"""What the activity service's reads and writes cost, counted in MongoDB commands and
documents (a stopwatch would measure the machine): an end is one read and four writes,
a page of workouts costs the same at 20,000 workouts as at 1,000, and statistics are one
document."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from pymongo import monitoring

from activity_service import history, rules, weeks
from activity_service.events import EventPublisher
from activity_service.scoring import Scorer
from activity_service.store import Doc, Store
from activity_service.workouts import Workouts
from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit import pagination
from servicekit.protofields import timestamp

BIG, SMALL = 20_000, 1_000
STEP = dt.timedelta(hours=2)  # 84 workouts a week
TYPES = ("running", "cycling", "walking", "yoga")
BASE = rules.to_millis(dt.datetime.now(dt.UTC) - dt.timedelta(days=1))


@dataclass
class Seen:
    commands: Counter[str] = field(default_factory=Counter)
    documents: int = 0  # returned by the server
    entries: int = 0  # workouts inside the week buckets returned
    # Values in the documents returned, nested ones each counted: FerretDB 1.x makes an
    # object of every one it reads, which is most of a read's time (history.py).
    values: int = 0


class Commands(monitoring.CommandListener):
    """Counts the commands a client sends and the documents the server returns."""

    def __init__(self) -> None:
        self.seen: Seen | None = None

    @contextlib.contextmanager
    def counting(self) -> Iterator[Seen]:
        self.seen = Seen()
        try:
            yield self.seen
        finally:
            self.seen = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.seen is not None:
            self.seen.commands[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if self.seen is not None and cursor is not None:
            batch = cursor.get("firstBatch", cursor.get("nextBatch", []))
            self.seen.documents += len(batch)
            self.seen.entries += sum(len(d.get("w", {})) for d in batch)
            self.seen.values += sum(values_in(d) for d in batch)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def values_in(value: object) -> int:
    if isinstance(value, dict):
        return sum(values_in(v) for v in value.values())
    if isinstance(value, list):
        return sum(values_in(v) for v in value)
    return 1


def turns(commands: dict[str, int], leases: int) -> Counter[str]:
    """The commands, with the leases a store not started (so taking turns, as on FerretDB)
    inserts and deletes around its updates of the read model (store.py)."""
    return Counter(commands) + Counter(insert=leases, delete=leases)


async def test_an_end_is_one_read_and_four_writes(
    mongo: Server, redis: aioredis.Redis, scoring_service: services.ServiceProcess
) -> None:
    listener = Commands()
    store = Store(mongo.url, f"costs_{uuid.uuid4().hex[:8]}", [listener])
    athlete = rules.Athlete(weight_kg=70)
    try:
        async with scoring_service.channel() as channel:
            scorer = Scorer(scoring_pb2_grpc.ScoringServiceStub(channel), 5.0)
            events = EventPublisher(redis, 10_000)
            workouts = Workouts(store, scorer, events, dt.timedelta(seconds=30))
            user = uuid.uuid4().hex
            for n in range(70):  # a history first: the steady state is what counts
                began, ended = BASE - n * STEP, BASE - n * STEP + STEP / 4
                with listener.counting() as log:
                    await workouts.log(user, "running", began, ended, None, None, athlete)
            for _ in range(3):
                with listener.counting() as start:
                    running = await workouts.start(user, "rowing", athlete)
                await asyncio.sleep(0.01)
                with listener.counting() as end:
                    done = await workouts.end(user, running["_id"], None, 140, None)
                assert done["score_status"] == "scored"
                # Its totals and week under one lease.
                assert end.commands == turns({"find": 1, "insert": 1, "update": 2, "delete": 1}, 1)
                assert start.commands == {"find": 1, "insert": 1}
            # And the trace dropped from its totals under another.
            assert log.commands == turns({"find": 1, "insert": 2, "update": 3, "delete": 1}, 2)
    finally:
        await store.client.drop_database(store.workouts.database.name)
        await store.stop()


async def seed(store: Store, user: str, template: Doc, count: int) -> list[Doc]:
    """`count` copies of a stored workout, every two hours back from BASE, written as a
    bulk load writes them: workouts in batches, then the read model once a batch."""
    docs = []
    for n in range(count):
        workout_id = str(uuid.uuid4())
        start = BASE - n * STEP
        docs.append(
            {
                **template,
                "_id": workout_id,
                "user_id": user,
                "active_key": f"done:{workout_id}",
                "workout_type": TYPES[n % len(TYPES)],
                "start_time": start,
                "end_time": start + dt.timedelta(seconds=template["duration_seconds"]),
            }
        )
    for at in range(0, count, 500):
        await store.insert_workouts(docs[at : at + 500])
        await history.record_many(store, docs[at : at + 500])
    return docs


def key(doc: Doc) -> tuple[dt.datetime, str]:
    return doc["start_time"], doc["_id"]


def queries(user: str, docs: list[Doc]) -> dict[str, tuple[history.Query, list[str]]]:
    """Pages at the top, deep in the history, of one type and within dates, each with the
    ids it must list."""
    deep = int(len(docs) * 0.75)
    newest = sorted(docs, key=key, reverse=True)
    cycling = [d for d in newest[deep + 1 :] if d["workout_type"] == "cycling"]
    since, until = newest[deep + 40]["start_time"], newest[deep]["start_time"]
    window = [d for d in newest if since <= d["start_time"] < until]
    return {
        "first page": (history.Query(user, 21), [d["_id"] for d in newest[:21]]),
        "deep page": (
            history.Query(user, 21, after=key(newest[deep])),
            [d["_id"] for d in newest[deep + 1 : deep + 22]],
        ),
        "deep page of one type": (
            history.Query(user, 21, after=key(newest[deep]), kind="cycling"),
            [d["_id"] for d in cycling[:21]],
        ),
        "dates": (
            history.Query(user, 21, since=since, until=until),
            [d["_id"] for d in window[:21]],
        ),
    }


async def test_a_page_costs_the_same_at_20000_workouts_as_at_1000(
    mongo: Server,
    activity_service_env: dict[str, str],
    activity_stub: activity_pb2_grpc.ActivityServiceStub,
) -> None:
    listener = Commands()
    store = Store(mongo.url, activity_service_env["MONGODB_DATABASE"], [listener])
    try:
        first = await activity_stub.LogWorkout(
            pb.LogWorkoutRequest(
                user_id=uuid.uuid4().hex,
                workout_type=spb.WORKOUT_TYPE_RUNNING,
                start_time=timestamp(BASE - dt.timedelta(days=3)),
                end_time=timestamp(BASE - dt.timedelta(days=3) + STEP / 4),
            ),
            timeout=10,
        )
        template = await store.workout(first.workout.workout_id)
        assert template is not None
        big, small = uuid.uuid4().hex, uuid.uuid4().hex
        began = time.perf_counter()
        big_docs = await seed(store, big, template, BIG)
        small_docs = await seed(store, small, template, SMALL)
        print(f"seeded in {time.perf_counter() - began:.1f} s")

        costs: dict[str, list[tuple[Counter[str], int, int, int]]] = {}
        for user, docs in ((small, small_docs), (big, big_docs)):
            for name, (query, expected) in queries(user, docs).items():
                with listener.counting() as seen:
                    found = await history.page(store, query)
                assert [d["_id"] for d in found] == expected, name
                costs.setdefault(name, []).append(
                    (seen.commands, seen.documents, seen.entries, seen.values)
                )
        for name, sizes in costs.items():
            for commands, documents, entries, values in sizes:
                # The totals, the running workout and the weeks of 21 workouts, at most
                # three at 84 or 21 (one type) a week: as many at 1,000 as at 20,000.
                assert set(commands) == {"find"}, name
                assert commands["find"] <= 5, name
                assert documents <= 4, name
                assert entries <= 3 * 84, name
                # One value a workout (entries are packed), and a few in the totals' week
                # set: a page of workouts as documents would be ~20 values each.
                assert values <= entries + 20, name
        print("commands, documents, entries, values (1,000; 20,000):", costs)
        for user, count in ((small, SMALL), (big, BIG)):
            with listener.counting() as seen:
                totals, _ = await history.totals_of(store, user, weeks.name(BASE))
            assert totals is not None
            assert totals["total_workouts"] == count
            assert (seen.commands, seen.documents, seen.entries) == ({"find": 1}, 1, 0)
        print("first page, median ms:", await page_ms(store, {SMALL: small, BIG: big}))

        # The same pages through the API: the top one and one deep in the history.
        newest = sorted(big_docs, key=key, reverse=True)
        reply = await activity_stub.ListWorkouts(
            pb.ListWorkoutsRequest(user_id=big, page_size=20), timeout=10
        )
        assert [w.workout_id for w in reply.workouts] == [d["_id"] for d in newest[:20]]
        deep = newest[15_000]
        reply = await activity_stub.ListWorkouts(
            pb.ListWorkoutsRequest(
                user_id=big,
                page_size=20,
                page_token=pagination.encode(deep["start_time"], deep["_id"]),
            ),
            timeout=10,
        )
        assert [w.workout_id for w in reply.workouts] == [d["_id"] for d in newest[15_001:15_021]]
        assert reply.next_page_token == pagination.encode(
            newest[15_020]["start_time"], newest[15_020]["_id"]
        )
    finally:
        await store.stop()


async def page_ms(store: Store, users: dict[int, str]) -> dict[int, float]:
    """Median time of the first page for each user, measured in turns (for the record;
    the bound is asserted by counting)."""
    times: dict[int, list[float]] = {n: [] for n in users}
    for _ in range(9):
        for n, user in users.items():
            began = time.perf_counter()
            await history.page(store, history.Query(user, 21))
            times[n].append((time.perf_counter() - began) * 1000)
    return {n: round(statistics.median(t), 2) for n, t in times.items()}
