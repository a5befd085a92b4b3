"""Changes of a stored workout by its owner: an edit or a deletion, each a new version.

A change from version n to n+1 is claimed by inserting its marker `<workout>@<n+1>#0`
into `settling`: of concurrent changes of one version exactly one insert succeeds, on
MongoDB and FerretDB alike (an update could not decide it: FerretDB's updates read and
write back), so two racing edits cannot both win; the loser's version is stale. The
claimant then checks that nothing else is under way on the workout (no other marker: its
end, log or recovery, or another change; its user's running slot not on it) and that the
stored version is still n, and confirms the marker. The marker holds the workout before
and after, so whoever finishes the change — the request, or recovery after a crash
(`recover`, from recovery.py) — knows exactly what to take back and what to add:

1. the running totals move by the difference (after - before), with the trace
   `revising.<workout>@<n+1>` in the same update: until step 3 the trace, and from then on
   the stored version, prove the difference is in, so it goes in once;
2. the week buckets: the new version joins its week, and leaves the old one (idempotent);
3. the workout is replaced by version n+1, or by a tombstone that keeps none of its figures
   (a repeat of the request that made it must not make it again), whose samples go with it
   (an edit keeps them: they are offsets from the start, right whatever the new times);
4. `workout.updated` or `workout.deleted` goes out, event id `<workout>@<n+1>`; while
   Redis cannot take it the marker waits for recovery, and the workout takes no other
   change until it has gone out;
5. the trace and the marker go.

A marker never confirmed was a change its request refused or stopped before making, and
recovery only drops it. As elsewhere, recovery leaves a marker alone for the grace period,
longer than any request takes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import structlog

from activity_service import history, rules, workout_samples
from activity_service.events import EventPublisher
from activity_service.scoring import SCORING, Scorer
from activity_service.store import Doc, Store
from servicekit.errors import (
    Aborted,
    FailedPrecondition,
    NotFound,
    ServiceError,
    StaleVersion,
    Unavailable,
    Violations,
)
from servicekit.events import revision_event_id

log = structlog.get_logger("revisions")
BUSY = "the workout's last change, score or announcement is still being settled; retry shortly"


def now() -> dt.datetime:
    return rules.to_millis(dt.datetime.now(dt.UTC))


def marker_id(workout_id: str, version: int, attempt: int) -> str:
    return f"{revision_event_id(workout_id, version)}#{attempt}"


def trace(workout_id: str, version: int) -> str:
    return f"revising.{revision_event_id(workout_id, version)}"


def new_marker(before: Doc, after: Doc | None, ready_at: dt.datetime) -> Doc:
    """The claim of a change of `before` into `after` (None: its deletion), unconfirmed."""
    version = rules.version_of(before) + 1
    return {
        "_id": marker_id(before["_id"], version, 0),
        "workout_id": before["_id"],
        "user_id": before["user_id"],
        "attempt": 0,
        "ready_at": ready_at,
        "applied": None,
        "revision": {
            "version": version,
            "before": before,
            "after": after,
            "at": now(),
            "confirmed": False,
        },
    }


# What a deletion keeps of a workout: whose it was, and what refuses a repeat of the request
# that made it (older databases keep a unique index on `active_key`); none of its figures.
TOMBSTONE_KEEPS = ("_id", "user_id", "active_key", "request_fingerprint")


def tombstone(before: Mapping[str, Any], version: int, at: dt.datetime) -> Doc:
    """What a deletion leaves of a workout, at its new version."""
    kept = {name: before[name] for name in TOMBSTONE_KEEPS if name in before}
    return {**kept, "status": "deleted", "version": version, "deleted_at": at}


class Revisions:
    def __init__(
        self, store: Store, scorer: Scorer, events: EventPublisher, grace: dt.timedelta
    ) -> None:
        self.store, self.scorer, self.events, self.grace = store, scorer, events, grace

    async def edit(
        self,
        user_id: str,
        workout_id: str,
        changes: Mapping[str, Any],
        expected: Collection[int] = (),
    ) -> Doc:
        """The workout with `changes`, scored again, as its new version (or as it is, when
        they change nothing)."""
        before = await self._current(user_id, workout_id, expected)
        v = Violations()
        after = rules.edited(v, before, changes, now())
        v.raise_if_any()
        if rules.unchanged(before, after):
            return before
        week = history.week_of(after)
        if week != history.week_of(before):
            await history.check_room(self.store, user_id, week, "start_time")
        score = await self.scorer.workout(after)
        if score is None:
            raise Unavailable("scoring is unavailable; nothing was changed, retry", SCORING)
        version = rules.version_of(before) + 1
        after |= {"score": score, "score_status": "scored", "version": version, "edited_at": now()}
        await self._commit(before, after)
        return after

    async def delete(self, user_id: str, workout_id: str, expected: Collection[int] = ()) -> None:
        await self._commit(await self._current(user_id, workout_id, expected), None)

    async def recover(self, marker: Doc) -> bool:
        """Finish a change a request left (recovery.py found its marker due); True when it
        is done. Taken as recovery takes any marker: insert the next attempt, drop this one."""
        revision = marker["revision"]
        if not revision["confirmed"]:
            await self.store.drop_marker(marker["_id"])  # a change that never began
            return False
        attempt = marker["attempt"] + 1
        mine = {
            **marker,
            "_id": marker_id(marker["workout_id"], revision["version"], attempt),
            "attempt": attempt,
            "ready_at": now() + self.grace,
        }
        if not await self.store.add_marker(mine):
            return False  # another replica took it
        if not await self.store.drop_marker(marker["_id"]):
            await self.store.drop_marker(mine["_id"])  # another replica finished it meanwhile
            return False
        return await self._finish(mine)

    async def _current(self, user_id: str, workout_id: str, expected: Collection[int]) -> Doc:
        """The caller's completed workout, at one of the expected versions."""
        doc = await self.store.workout(workout_id)
        if doc is None or doc["user_id"] != user_id or doc["status"] == "deleted":
            running = await self.store.active_of(user_id)
            if running is not None and running["_id"] == workout_id:
                raise FailedPrecondition("the workout is running: end it first")
            raise NotFound("no such workout")
        if doc["status"] != "completed":  # left running here by an older version
            raise FailedPrecondition("the workout is running: end it first")
        version = rules.version_of(doc)
        if expected and version not in expected:
            raise StaleVersion(f"the workout is at version {version}; read it again")
        return doc

    async def _commit(self, before: Doc, after: Doc | None) -> None:
        """Claim the change, check nothing else is under way, and make it."""
        marker = new_marker(before, after, now() + self.grace)
        if not await self.store.add_marker(marker):
            raise StaleVersion("a concurrent change of this version came first; read it again")
        try:
            await self._check_alone(before, marker["_id"])
        except ServiceError:
            await self.store.drop_marker(marker["_id"])
            raise
        await self.store.set_marker(marker["_id"], {"revision.confirmed": True})
        await self._finish(marker)

    async def _check_alone(self, before: Doc, mine: str) -> None:
        """Refuse a change while other work on the workout is under way, or when the
        workout moved past the version it was read at."""
        workout_id = before["_id"]
        others = [m for m in await self.store.markers_of(workout_id) if m["_id"] != mine]
        running = await self.store.active_of(before["user_id"])
        if others or (running is not None and running["_id"] == workout_id):
            raise Aborted(BUSY)
        stored = await self.store.workout(workout_id)
        if stored is None or rules.version_of(stored) != rules.version_of(before):
            raise StaleVersion("the workout changed meanwhile; read it again")

    async def _finish(self, marker: Doc) -> bool:
        """Steps 1-5 of the module's docstring, from wherever the last attempt stopped;
        True when the change is done, False when its event waits for Redis."""
        revision = marker["revision"]
        version, before = revision["version"], revision["before"]
        after = revision["after"] or tombstone(before, version, revision["at"])
        stored = await self.store.workout(before["_id"])
        if stored is None or rules.version_of(stored) < version:
            await self._apply(before, revision["after"], after)
        if revision["after"] is None:
            # Whether or not this attempt made the tombstone: a crash may have come between
            # it and this, and recovery's attempt then finds the workout deleted already.
            await workout_samples.drop(self.store, before["_id"])
        if not await self.events.publish_revision(after):
            await self.store.set_marker(marker["_id"], {"ready_at": now()})
            return False
        await self.store.update_totals(
            before["user_id"], {"$unset": {trace(before["_id"], version): ""}}
        )
        await self.store.drop_marker(marker["_id"])
        log.info("workout_changed", workout_id=before["_id"], version=version)
        return True

    async def _apply(self, before: Doc, after: Doc | None, stored: Doc) -> None:
        """Totals (once, by the trace), weeks, then the workout itself (`stored`: the new
        version or the tombstone)."""
        user_id, version = before["user_id"], stored["version"]
        path = trace(before["_id"], version)
        totals = await self.store.totals_doc(user_id, [path])
        traced = (totals or {}).get("revising", {}).get(path.removeprefix("revising."))
        if not traced:
            update = history.difference(before, after).increment({path: True})
            await self.store.update_totals(user_id, update)
        await history.move(self.store, before, after)
        await self.store.replace_workout(stored)
