"""Gateway CPU per cached read against the bare app's CPU per request: the cached profile
read at one fixed rate through both gateways, then the same requests at the same rate on
the bare app's processes; the CPU time each side's processes used (utime + stime from
/proc) divided by the requests they answered."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import profile
from bench.rest import combine, connections, read_path
from bench.seed import Account
from bench.suite import Suite
from bench.tools import oha, ratio

RATE = 200.0  # well below what either side sustains on two cores
SECONDS = 15.0
WARM_UP_SECONDS = 2.0


def ms_per_request(ticks: int, served: int) -> float | None:
    """Milliseconds of CPU per request answered."""
    if not served:
        return None
    return round(ticks / profile.TICKS * 1000 / served, 4)


async def _side(
    pids: list[int], urls: list[str], account: Account, rate: float, seconds: float
) -> dict[str, Any]:
    part = rate / len(urls)

    async def load(duration: float) -> dict[str, Any]:
        runs = {
            f"{n}": oha(
                u, duration, rate=part, connections=connections(part), headers=account.headers
            )
            for n, u in enumerate(urls, start=1)
        }
        found = await asyncio.gather(*runs.values())
        return combine(dict(zip(runs, found, strict=True)))

    await load(WARM_UP_SECONDS)  # connections and pools open here, not in the measure
    before, clock = profile.tree_ticks(pids), time.monotonic()
    step = await load(seconds)
    ticks = profile.ticks_between(before, profile.tree_ticks(pids))
    elapsed = time.monotonic() - clock
    served = step["requests"] - step["errors"]
    return {
        "processes": len(pids),
        "cpu_seconds": round(ticks / profile.TICKS, 2),
        "cores": round(ticks / profile.TICKS / elapsed, 3),
        "requests_served": served,
        "ms_per_request": ms_per_request(ticks, served),
        **step,
    }


async def gateway_cpu(
    suite: Suite, account: Account, rate: float = RATE, seconds: float = SECONDS
) -> dict[str, Any]:
    path = read_path("profile", account.user_id)
    gateway = await _side(
        [g.proc.pid for g in suite.gateways],
        [g.url + path for g in suite.gateways],
        account,
        rate,
        seconds,
    )
    bare = await _side(
        [b.proc.pid for b in suite.bare], [b.url + path for b in suite.bare], account, rate, seconds
    )
    return {
        "read": "cached profile (GET /users/{id}) on both gateways; the same requests on the"
        " bare app",
        "rate": rate,
        "seconds": seconds,
        "ratio_to_bare": ratio(gateway["ms_per_request"], bare["ms_per_request"]),
        "gateway_ms_per_request": gateway["ms_per_request"],
        "bare_ms_per_request": bare["ms_per_request"],
        "gateway": gateway,
        "bare": bare,
    }
