"""Accounts and data for the benchmark, made in bulk with the services' own code.

Registering thousands of users through the API would spend minutes in Argon2, which is
slow on purpose; the bench writes account rows with one shared password hash through the
user service's store and issues their tokens with the suite's signing key, as the user
service's login does."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from activity_service import history as read_model
from activity_service import rules
from activity_service.store import Store as ActivityStore
from servicekit import keys
from user_service.security import Passwords, Tokens
from user_service.store import Store as UserStore

TOKEN_TTL_SECONDS = 6 * 3600


@dataclass(frozen=True)
class Account:
    user_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def accounts(database_url: str, count: int, prefix: str) -> list[Account]:
    store = UserStore(database_url, pool_size=4)
    await store.start()
    tokens = Tokens("", "fitmesh", TOKEN_TTL_SECONDS, environment=keys.DEVELOPMENT)
    password_hash = await Passwords().hash(uuid.uuid4().hex)  # nobody logs in with it
    made = []
    try:
        for n in range(count):
            name = f"{prefix}{n}{uuid.uuid4().hex[:6]}"
            row = await store.create_user(
                {
                    "user_id": uuid.uuid4(),
                    "username": name,
                    "email": f"{name}@bench.example",
                    "password_hash": password_hash,
                }
            )
            user_id = str(row["user_id"])
            # A session of its own per account, as a login would start (none is stored: the
            # gateway refuses revoked sessions and knows no others).
            made.append(Account(user_id, tokens.issue(user_id, str(uuid.uuid4()))))
    finally:
        await store.stop()
    return made


async def history(client: httpx.AsyncClient, account: Account, workouts: int, goals: int) -> None:
    """Workouts logged and goals set through the REST API, as a user would."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=workouts + 1)
    for n in range(workouts):
        began = start + dt.timedelta(days=n)
        reply = await client.post(
            "/api/v1/workouts",
            headers=account.headers,
            json={
                "workout_type": ("running", "cycling", "swimming", "walking")[n % 4],
                "start_time": began.isoformat(),
                "end_time": (began + dt.timedelta(minutes=20 + n % 40)).isoformat(),
            },
        )
        _check(reply)
    target = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    for kind in ("intensity_minutes", "workouts_count", "calories")[:goals]:
        reply = await client.post(
            f"/api/v1/users/{account.user_id}/goals",
            headers=account.headers,
            json={"goal_type": kind, "target_value": 150, "target_date": target},
        )
        _check(reply)


def _check(reply: httpx.Response) -> None:
    if reply.is_error:
        raise RuntimeError(f"{reply.request.method} {reply.request.url}: {reply.text}")


async def grow(
    mongo_url: str, user_id: str, template: dict[str, Any], count: int, grown: int = 0
) -> None:
    """Add `count` completed workouts to a user, copied from one the service stored, two
    hours apart going back, and add them to the read model with the activity service's
    own bulk load: workouts in batches, then each batch's totals and weeks.

    `grown`: how many an earlier call added; these go on back from the oldest of those,
    so every week holds 84 however often the history grows (starting again from the
    template would put another 84 in each of the newest weeks every time)."""
    store = ActivityStore(mongo_url, "fitmesh")
    base = template["start_time"] - dt.timedelta(hours=1)
    try:
        # Batches stay modest: FerretDB 1.24 stopped answering one bulk of ~1,000 upserts
        # into a collection that already held some of the keys.
        for offset in range(grown, grown + count, 500):
            batch = []
            for n in range(offset, min(grown + count, offset + 500)):
                workout_id = uuid.uuid4().hex
                began = rules.to_millis(base - dt.timedelta(hours=2 * n))
                batch.append(
                    {
                        **template,
                        "_id": workout_id,
                        "active_key": f"done:{workout_id}",
                        "start_time": began,
                        "end_time": began + dt.timedelta(seconds=template["duration_seconds"]),
                    }
                )
            await store.insert_workouts(batch)
            await read_model.record_many(store, batch)
    finally:
        await store.stop()


async def stored_workout(mongo_url: str, user_id: str) -> dict[str, Any]:
    store = ActivityStore(mongo_url, "fitmesh")
    try:
        doc = await store.workouts.find_one({"user_id": user_id, "status": "completed"})
    finally:
        await store.stop()
    if doc is None:
        raise RuntimeError(f"user {user_id} has no completed workout to copy")
    return doc


async def wait_settled(mongo_url: str, timeout: float = 60) -> None:
    """Wait until the activity service has scored, totalled and announced every workout:
    none has work left for recovery."""
    store = ActivityStore(mongo_url, "fitmesh")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while await store.settling.count_documents({}):
            if loop.time() > deadline:
                raise RuntimeError("workouts still unsettled after seeding")
            await asyncio.sleep(0.2)
    finally:
        await store.stop()
