"""The files of one run: bench/results/<time>.json (the headline figures at the top level),
.md (bench.tables) and .png (latency against offered load, every ladder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

from bench import report, tables

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

LADDERS = (("rest_mixed", "mixed"), ("cached_reads", "cached reads"), ("bare", "bare app"))


def plot(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for key, name in LADDERS:
        steps = results.get(key, {}).get("steps", [])
        if not steps:
            continue
        rates = [s["rate"] for s in steps]
        (line,) = ax.plot(rates, [s["p99_ms"] for s in steps], marker="o", label=f"{name} p99")
        ax.plot(
            rates,
            [s["p50_ms"] for s in steps],
            marker=".",
            linestyle=":",
            color=line.get_color(),
            label=f"{name} p50",
        )
        for s in steps:
            if s["errors"]:
                ax.annotate(f"{s['errors']} errors", (s["rate"], s["p99_ms"]), fontsize=8)
    ax.axhline(100, color="grey", linestyle="--", linewidth=1, label="p99 bound (100 ms)")
    ax.set_xlabel("offered load, requests/s (open loop)")
    ax.set_ylabel("latency, ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):  # 20, 50, 100, not 10^2
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(StrMethodFormatter("{x:g}"))
        axis.set_minor_formatter(NullFormatter())
    ax.set_title(f"fitmesh REST load — {results['machine']['cores']} cores, one machine")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / results["started_at"].replace(":", "")
    document = {**report.headlines(results), **results}
    json_path, md_path, png_path = (stem.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    md_path.write_text(tables.markdown(results))
    if any(key in results for key, _ in LADDERS):
        plot(results, png_path)
    return json_path, md_path, png_path
