"""Gateway CPU per cached read against the bare app's CPU per request: the cached profile
read at one fixed rate through both gateways, and the same requests at the same rate on
the bare app's processes; the CPU time each side's processes used (utime + stime from
/proc) divided by the requests they answered. The sides take turns (gateways, bare, bare,
gateways), so a machine that drifts during the measure weighs on both alike; each side's
figure is over all its rounds. Then the gateways' load once more with py-spy
on one gateway: the share of its working samples in the audit log's code is what auditing
costs a read (issue #16: auditing reads must not cost the hot path)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import profile
from bench.rest import combine, connections, read_path
from bench.seed import Account
from bench.suite import Suite
from bench.tools import oha, ratio

RATE = 200.0  # well below what either side sustains on two cores
SECONDS = 10.0  # a round; each side has two
ORDER = ("gateway", "bare", "bare", "gateway")
WARM_UP_SECONDS = 2.0
AUDIT_CODE = ("gateway/audit.py", "servicekit/audit.py")


def ms_per_request(ticks: int, served: int) -> float | None:
    """Milliseconds of CPU per request answered."""
    if not served:
        return None
    return round(ticks / profile.TICKS * 1000 / served, 4)


async def _load(urls: list[str], account: Account, rate: float, seconds: float) -> dict[str, Any]:
    part = rate / len(urls)
    runs = {
        f"{n}": oha(u, seconds, rate=part, connections=connections(part), headers=account.headers)
        for n, u in enumerate(urls, start=1)
    }
    found = await asyncio.gather(*runs.values())
    return combine(dict(zip(runs, found, strict=True)))


async def _side(
    pids: list[int], urls: list[str], account: Account, rate: float, seconds: float
) -> dict[str, Any]:
    async def load(duration: float) -> dict[str, Any]:
        return await _load(urls, account, rate, duration)

    await load(WARM_UP_SECONDS)  # connections and pools open here, not in the measure
    before, clock = profile.tree_ticks(pids), time.monotonic()
    step = await load(seconds)
    ticks = profile.ticks_between(before, profile.tree_ticks(pids))
    elapsed = time.monotonic() - clock
    served = step["requests"] - step["errors"]
    return {
        "processes": len(pids),
        "ticks": ticks,
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
    urls = [g.url + path for g in suite.gateways]
    sides = {
        "gateway": ([g.proc.pid for g in suite.gateways], urls),
        "bare": ([b.proc.pid for b in suite.bare], [b.url + path for b in suite.bare]),
    }
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for name in ORDER:
        rounds[name].append(await _side(*sides[name], account, rate, seconds))
    gateway, bare = pooled(rounds["gateway"]), pooled(rounds["bare"])
    audit = await _audit_percent(suite, urls, account, rate, seconds)
    return {
        "read": "cached profile (GET /users/{id}) on both gateways; the same requests on the"
        " bare app; the sides in turns (gateways, bare, bare, gateways)",
        "rate": rate,
        "seconds": seconds,
        "ratio_to_bare": ratio(gateway["ms_per_request"], bare["ms_per_request"]),
        "gateway_ms_per_request": gateway["ms_per_request"],
        "bare_ms_per_request": bare["ms_per_request"],
        "audit_percent": audit,
        "audit_ms_per_request": _part(gateway["ms_per_request"], audit),
        "gateway": gateway,
        "bare": bare,
    }


def pooled(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """A side's figure over its rounds: all the CPU it used over all the requests it
    answered, with each round's own figure beside it."""
    ticks = sum(r["ticks"] for r in rounds)
    served = sum(r["requests_served"] for r in rounds)
    return {
        "ms_per_request": ms_per_request(ticks, served),
        "cpu_seconds": round(ticks / profile.TICKS, 2),
        "requests_served": served,
        "errors": sum(r["errors"] for r in rounds),
        "round_ms_per_request": [r["ms_per_request"] for r in rounds],
        "rounds": rounds,
    }


async def _audit_percent(
    suite: Suite, urls: list[str], account: Account, rate: float, seconds: float
) -> float:
    """The share of a gateway's working CPU samples in the audit log's code, under the same
    load as the measure (a run of its own, so the sampler's reads cost the measure nothing)."""
    with tempfile.TemporaryDirectory() as directory:
        stacks = Path(directory) / "gateway.txt"
        pid = suite.gateways[0].proc.pid
        await asyncio.gather(
            profile.record(pid, int(seconds), stacks), _load(urls, account, rate, seconds)
        )
        return profile.share_in(stacks, AUDIT_CODE)


def _part(ms: float | None, percent: float) -> float | None:
    return None if ms is None else round(ms * percent / 100, 4)
