"""Finishing what a failure or a crash left undone, so an outage of scoring or Redis, or
a crash, delays a workout's score, totals or event but loses none.

Work left is found in two small collections, never by scanning workouts:
- a marker in `settling` (`_id = "<workout>#<attempt>"`), made when a log begins and when
  an end or log could not finish (scoring or Redis down). Recovery takes an attempt by
  inserting the next one (due after the grace period, in case this one crashes) and
  deleting its own: both are atomic, so one replica works on a workout at a time.
- a running slot (`active`) pointing at a stored workout: an end that crashed before
  freeing it. It is handed over as a marker once its end is older than the grace.

A marker's `applied` is True when the workout is known to be in the running sums; else
the trace in the totals or the scored entry in its week decides (history.py). A marker of a
change of a stored workout (`revision`) is finished by revisions.py."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import structlog

from activity_service import history
from activity_service.store import Doc, Store
from servicekit.background import rounds_forever

if TYPE_CHECKING:
    from activity_service.workouts import Workouts

log = structlog.get_logger("recovery")
# Running slots are checked for crashed ends every this many rounds (a read each).
SLOT_ROUNDS = 12
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def marker_id(workout_id: str, attempt: int) -> str:
    return f"{workout_id}#{attempt}"


async def mark(
    store: Store, doc: Doc, applied: bool | None, ready_at: dt.datetime, attempt: int = 0
) -> bool:
    """Leave work on `doc` for recovery from `ready_at`; False when the marker exists."""
    return await store.add_marker(
        {
            "_id": marker_id(doc["_id"], attempt),
            "workout_id": doc["_id"],
            "user_id": doc["user_id"],
            "attempt": attempt,
            "ready_at": ready_at,
            "applied": applied,
        }
    )


async def hand_over(store: Store, running: Doc, grace: dt.timedelta) -> bool:
    """Turn a slot whose workout is stored (an end crashed before freeing it) into a
    marker and free the slot; False while the workout runs or its end is under way."""
    stored = await store.workout(running["_id"])
    if stored is None or now() - stored.get("completed_at", EPOCH) < grace:
        return False
    totals = await store.totals_doc(stored["user_id"], ["last_end"])
    applied = (totals or {}).get("last_end") == stored["_id"] or None
    await mark(store, stored, applied, now())
    await store.release_active(stored["user_id"], stored["_id"])
    log.info("handed_over", workout_id=stored["_id"])
    return True


async def adopt(store: Store, doc: Doc) -> bool:
    """Move a workout left running in `workouts` by an older version to its user's slot."""
    running = {k: doc[k] for k in ("_id", "user_id", "workout_type", "start_time", "athlete")}
    if not await store.start_active({**running, "status": "active"}):
        return False
    await store.delete_workout(doc["_id"])
    return True


class Recovery:
    def __init__(self, store: Store, workouts: Workouts, grace: dt.timedelta) -> None:
        self.store, self.workouts, self.grace = store, workouts, grace
        self.rounds = 0

    async def recover(self, batch: int = 100) -> int:
        """One round; returns how many workouts were settled."""
        settled = 0
        for marker in await self.store.due_markers(now(), batch):
            settled += await self._attempt(marker)
        if self.rounds % SLOT_ROUNDS == 0:
            for running in await self.store.actives(batch * 10):
                await hand_over(self.store, running, self.grace)
        self.rounds += 1
        return settled

    async def recover_forever(self, interval: float) -> None:
        await rounds_forever(
            self.recover, interval, log, "recovered", "recovery_failed", "workouts"
        )

    async def _attempt(self, marker: Doc) -> bool:
        if "revision" in marker:
            return await self.workouts.revisions.recover(marker)
        attempt = marker["attempt"] + 1
        workout_id = marker["workout_id"]
        stored = await self.store.workout(workout_id)
        applied = marker.get("applied") or None
        lease = now() + self.grace
        if not await mark(self.store, stored or marker_doc(marker), applied, lease, attempt):
            return False  # another replica took it
        mine = marker_id(workout_id, attempt)
        if not await self.store.drop_marker(marker["_id"]):
            await self.store.drop_marker(mine)  # another replica finished it meanwhile
            return False
        if stored is None:  # a log that crashed before storing its workout
            await self.store.drop_marker(mine)
            return False
        done, applied = await self._settle(stored, applied)
        if done:
            await self.store.drop_marker(mine)
            await history.forget_applying(self.store, stored["user_id"], workout_id)
        else:
            await self.store.set_marker(mine, {"ready_at": now(), "applied": applied})
        return done

    async def _settle(self, doc: Doc, applied: bool | None) -> tuple[bool, bool | None]:
        """Score, count and announce a stored workout, as far as the backends allow:
        whether it is done, and whether the sums have it."""
        if doc["score_status"] == "pending":
            score = await self.workouts.scorer.workout(doc)
            if score is None:
                return False, applied
            doc = {**doc, "score": score, "score_status": "scored"}
            await self.store.set_workout(doc["_id"], {"score": score, "score_status": "scored"})
        if applied:
            await history.put(self.store, [doc])
        else:
            await history.count_once(self.store, doc)
        if not await self.workouts.events.publish_completed(doc):
            return False, True
        return True, True


def marker_doc(marker: Doc) -> dict[str, Any]:
    return {"_id": marker["workout_id"], "user_id": marker["user_id"]}
