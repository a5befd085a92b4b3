"""Growth: one user's statistics and first workout page as their history grows to 1,000,
10,000 and 100,000 workouts. Both are measured on the activity service directly (the
gateway's cache would hide the statistics read)."""

from __future__ import annotations

from typing import Any

from bench import seed
from bench.seed import Account
from bench.suite import Suite
from bench.tools import ghz

LEVELS = (1_000, 10_000, 100_000)
# A fixed number of list calls, enough for a steady median (a page reads O(page) documents).
LIST_CALLS = 40
GET_STATISTICS = "fitmesh.activity.v1.ActivityService.GetStatistics"
LIST_WORKOUTS = "fitmesh.activity.v1.ActivityService.ListWorkouts"


async def growth(suite: Suite, account: Account, seconds: float) -> dict[str, Any]:
    """`account` has logged one workout through the API; the rest are copies of it."""
    template = await seed.stored_workout(suite.mongo.url, account.user_id)
    replica = suite.activity[0].address
    have, levels = 1, list[dict[str, Any]]()
    for level in LEVELS:
        # The template is one of them; those grown go back from it, two hours apart.
        await seed.grow(suite.mongo.url, account.user_id, template, level - have, have - 1)
        have = level
        who = {"user_id": account.user_id}
        stats = await ghz(replica, GET_STATISTICS, who, seconds, concurrency=2)
        page = await ghz(
            replica,
            LIST_WORKOUTS,
            {"user_id": account.user_id, "page_size": 20},
            seconds,
            concurrency=1,
            count=LIST_CALLS,
        )
        levels.append({"workouts": level, "statistics": stats.as_dict(), "list": page.as_dict()})
        print(
            f"  {level:>7} workouts: statistics p50 {stats.p50_ms:.2f} ms,"
            f" list p50 {page.p50_ms:.2f} ms",
            flush=True,
        )
    first, last = levels[0], levels[-1]
    list_growth = round(last["list"]["p50_ms"] / first["list"]["p50_ms"], 2)
    return {
        "levels": levels,
        "statistics_growth": round(last["statistics"]["p50_ms"] / first["statistics"]["p50_ms"], 2),
        "list_growth": list_growth,
        # The headline: the first page at 100,000 workouts over at 1,000 (1 is flat).
        "list_ratio": list_growth,
    }
