"""Ladders of fixed rates: which rates, how a step is judged, and the rate a ladder sustained.

Rates come from the E12 series of preferred numbers (10, 12, 15, 18, 22, 27, 33, 39, 47, 56,
68, 82 in each decade), so each step is 18-25 % above the one before: fine enough that a
sustained rate, and a ratio of two of them, is known to within a step."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

E12 = (10, 12, 15, 18, 22, 27, 33, 39, 47, 56, 68, 82)
MAX_STEP = 1.25  # no step is more than 25 % above the one before
P99_LIMIT_MS = 100.0
# Open loop: a step whose tool could not send (or the server take) 90 % of its rate did
# not hold it, whatever the latency of the requests that were sent.
ACHIEVED_SHARE = 0.9

Step = dict[str, Any]


def rates(start: float, top: float) -> list[float]:
    """`start` (10 or more), then every E12 value above it up to `top`."""
    if start < E12[0]:
        raise ValueError(f"a ladder starts at {E12[0]}/s or more, not {start:g}/s")
    found = [float(start)]
    decade = 10 ** (math.floor(math.log10(start)) - 1)
    while E12[0] * decade <= top:
        found += [float(v * decade) for v in E12 if found[-1] < v * decade <= top]
        decade *= 10
    return found


def judge(step: Step) -> Step:
    """A step holds when it had no error, a p99 under the limit, and its rate was served."""
    missed = []
    if step["errors"]:
        missed.append(f"{step['errors']} errors")
    if step["p99_ms"] >= P99_LIMIT_MS:
        missed.append(f"p99 {step['p99_ms']} ms >= {P99_LIMIT_MS:g} ms")
    if step["achieved_rps"] < ACHIEVED_SHARE * step["rate"]:
        missed.append(f"served {step['achieved_rps']}/s of {step['rate']:g}/s")
    return {**step, "ok": not missed, "missed": missed}


def sustained(steps: list[Step]) -> float:
    """The last rate that held before the first that did not (0 when the first did not)."""
    held = 0.0
    for step in steps:
        if not step["ok"]:
            break
        held = float(step["rate"])
    return held


def summary(steps: list[Step]) -> dict[str, Any]:
    """The sustained rate, its step's percentiles, and every step."""
    rate = sustained(steps)
    at = next((s for s in steps if s["ok"] and s["rate"] == rate), None)
    return {
        "sustained_rps": rate,
        "p50_ms": at["p50_ms"] if at else None,
        "p95_ms": at["p95_ms"] if at else None,
        "p99_ms": at["p99_ms"] if at else None,
        # False when every step held: the ladder ended below the ceiling.
        "ceiling_found": any(not s["ok"] for s in steps),
        "p99_limit_ms": P99_LIMIT_MS,
        "steps": steps,
    }


async def climb(
    step: Callable[[float], Awaitable[Step]], ladder: list[float], pause: float
) -> dict[str, Any]:
    """The rates in increasing order until one does not hold; `pause` seconds between
    steps let follow-up work drain."""
    steps = []
    for rate in ladder:
        found = judge({**await step(rate), "rate": rate})
        print(
            f"  {rate:>6.0f}/s: achieved {found['achieved_rps']:>7.1f}/s,"
            f" p50 {found['p50_ms']} ms, p95 {found['p95_ms']} ms, p99 {found['p99_ms']} ms,"
            f" errors {found['errors']}",
            flush=True,
        )
        steps.append(found)
        if not found["ok"]:
            break
        await asyncio.sleep(pause)
    return summary(steps)
