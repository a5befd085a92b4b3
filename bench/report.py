"""The figures of one run: the headlines (flat at the top of its JSON), the targets and
their verdicts, and the figures made of two measures. Written out by bench.files."""

from __future__ import annotations

import operator
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.tools import ratio

# The headline figures, flat at the top of the JSON: section.key.
HEADLINES = (
    "bare.sustained_rps",
    "rest_mixed.sustained_rps",
    "rest_mixed.share_of_bare",
    "rest_mixed.p95_ms",
    "cached_reads.sustained_rps",
    "cached_reads.share_of_bare",
    "gateway_cpu.ratio_to_bare",
    "opcodes.profile_ratio_to_bare",
    "growth.list_ratio",
    "peer.same_work_share",
    "gateway_overhead.p50_added_ms",
    "cache.speedup",
    "websocket.fanout_p99_ms",
    "health.write_p95_ms",
    "health.summary_uncached_p95_ms",
    "health.summary_cached_p95_ms",
    "webhooks.fast_p99_ms",
    "webhooks.fast_p99_ratio",
    "webhooks.deliveries_per_second",
)
# Where a headline is found when its own key is not there.
FALLBACKS = {"growth.list_ratio": "growth.list_growth"}
# Ratios measured in one run, so they hold on any machine; and two latency bounds.
TARGETS = {
    "rest_mixed.share_of_bare": (">=", 0.12),
    "cached_reads.share_of_bare": (">=", 0.4),
    "gateway_cpu.ratio_to_bare": ("<=", 1.5),
    "growth.list_ratio": ("<=", 1.5),
    "gateway_overhead.p50_added_ms": ("<", 1.0),
    "websocket.fanout_p99_ms": ("<", 100.0),
    "webhooks.fast_p99_ratio": ("<=", 1.2),
}
COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    git = shutil.which("git")
    commit = ""
    if git:
        commit = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "commit": commit,
    }


def value(results: dict[str, Any], name: str) -> Any:
    """A headline's figure (`section.key`), or None when it was not measured."""
    for candidate in (name, FALLBACKS.get(name)):
        if candidate is None:
            continue
        section, key = candidate.split(".")
        found = results.get(section, {}).get(key)
        if found is not None:
            return found
    return None


def derive(results: dict[str, Any]) -> None:
    """Figures made of two measures: each REST ladder's share of the bare app's rate."""
    bare = value(results, "bare.sustained_rps")
    for section in ("rest_mixed", "cached_reads"):
        if section in results:
            results[section]["share_of_bare"] = ratio(results[section]["sustained_rps"], bare)


def headlines(results: dict[str, Any]) -> dict[str, Any]:
    """Every headline, None when it was not measured."""
    return {name: value(results, name) for name in HEADLINES}


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """Each target: met, missed and by how much, or not measured."""
    found = {}
    for name, (op, bound) in TARGETS.items():
        figure = value(results, name)
        if figure is None:
            found[name] = f"not measured (target {op} {bound:g})"
            continue
        figure = float(figure)
        if COMPARE[op](figure, bound):
            found[name] = f"met ({figure:.3g}, target {op} {bound:g})"
        else:
            by = abs(figure - bound)
            found[name] = f"missed by {by:.3g} ({figure:.3g}, target {op} {bound:g})"
    return found
