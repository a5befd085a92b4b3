"""`python -m activity_service rebuild`: rebuild the read model (week buckets, week sets,
running totals) from the `workouts` collection. It is the migration to this read model
and the repair of it; running it twice gives the same result.

Run it while the activity service is stopped: it reads every workout once, in batches,
writes each batch's workouts to their weeks (one update a bucket), then sets each user's
totals to what it added up. Workouts left running by an older version move to their
user's slot, and workouts whose event may not have gone out get a recovery marker
(consumers drop an event they have seen)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

import structlog

from activity_service import history, recovery
from activity_service.settings import ActivitySettings
from activity_service.store import Doc, Store

log = structlog.get_logger("rebuild")
BATCH = 500


@dataclass
class Rebuilt:
    workouts: int = 0
    users: int = 0
    adopted: int = 0
    marked: int = 0


async def rebuild(store: Store, batch: int = BATCH) -> Rebuilt:
    done = Rebuilt()
    totals: defaultdict[str, history.Contribution] = defaultdict(history.Contribution)
    running: list[Doc] = []
    unsettled: list[Doc] = []
    pending: list[Doc] = []
    async for doc in store.scan_workouts(batch):
        if doc["status"] == "deleted":
            continue  # a tombstone (revisions.py)
        if doc["status"] != "completed":
            running.append(doc)
            continue
        totals[doc["user_id"]].add(doc)
        pending.append(doc)
        if doc.get("pending") or doc.get("score_status") != "scored":
            unsettled.append(doc)
        if len(pending) >= batch:
            await history.put(store, pending)
            done.workouts += len(pending)
            pending = []
    await history.put(store, pending)
    done.workouts += len(pending)
    for user_id, contribution in totals.items():
        await store.update_totals(user_id, contribution.replacement())
    done.users = len(totals)
    # After the scan: these change the collection it read.
    for doc in running:
        done.adopted += await recovery.adopt(store, doc)
    for doc in unsettled:
        # The sums have it exactly when its week's entry is scored, which recovery checks.
        done.marked += await recovery.mark(store, doc, None, recovery.now())
    for slot in await store.actives(limit=0):
        await recovery.hand_over(store, slot, grace=dt.timedelta(0))
    return done


async def main(settings: ActivitySettings) -> None:
    store = Store(settings.mongodb_url, settings.mongodb_database)
    try:
        done = await rebuild(store)
    finally:
        await store.stop()
    log.info("rebuilt", **vars(done))
