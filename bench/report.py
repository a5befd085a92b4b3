"""The report of one run: JSON (headline figures at the top level), a Markdown table and a
PNG plot of latency against offered load."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

HEADLINES = (
    ("rest_mixed", "sustained_rps"),
    ("gateway_overhead", "p50_added_ms"),
    ("cache", "speedup"),
    ("websocket", "fanout_p99_ms"),
    ("peer", "share_of_grpc_gateway"),
)
TARGETS = {
    "rest_mixed.sustained_rps": (">=", 1000.0),
    "gateway_overhead.p50_added_ms": ("<", 1.0),
    "websocket.fanout_p99_ms": ("<", 100.0),
}


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


def headlines(results: dict[str, Any]) -> dict[str, Any]:
    return {f"{s}.{k}": results[s][k] for s, k in HEADLINES if s in results}


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """Each target: met, or missed and by how much."""
    found = {}
    for name, (op, bound) in TARGETS.items():
        section, key = name.split(".")
        if section not in results:
            continue
        value = float(results[section][key])
        met = value >= bound if op == ">=" else value < bound
        if met:
            found[name] = f"met ({op} {bound:g})"
        else:
            found[name] = f"missed by {abs(value - bound):.3g} ({value:.3g}, target {op} {bound:g})"
    return found


def _row(what: str, figure: str, baseline: str) -> str:
    return f"| {what} | {figure} | {baseline} |"


def _ladder_row(what: str, ladder: dict[str, Any]) -> str:
    """A ladder of fixed rates: the highest that held, and how the last step failed."""
    last = ladder["steps"][-1]
    return _row(
        what,
        f"**{ladder['sustained_rps']:g} req/s**",
        f"next step {last['rate']:g}/s: p99 {last['p99_ms']} ms, {last['errors']} errors",
    )


def table(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Run {results['started_at']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB),"
        f" {m['os']}, commit {m['commit']}; everything on one machine.",
        "",
        "| Measure | fitmesh | Baseline in the same run |",
        "|---|---|---|",
    ]
    ladders = (
        ("rest_mixed", "REST mixed load, highest fixed rate with p99 < 100 ms and no errors"),
        ("rest_cached_reads", "REST cached reads only (profile, statistics): the gateway tier"),
    )
    lines += [_ladder_row(what, results[key]) for key, what in ladders if key in results]
    if g := results.get("gateway_overhead"):
        lines.append(
            _row(
                "Gateway cost on an uncached read (REST vs direct gRPC)",
                f"**{g['p50_added_ms']:+.2f} ms p50**, {g['p99_added_ms']:+.2f} ms p99",
                f"throughput {g['rest_rps']:g} vs {g['grpc_rps']:g} req/s"
                f" (ratio {g['throughput_ratio']})",
            )
        )
    if c := results.get("cache"):
        lines.append(
            _row(
                "Statistics read, warm cache vs cold",
                f"**{c['speedup']} times faster** ({c['warm_p50_ms']} ms p50)",
                f"cold {c['cold_p50_ms']} ms p50",
            )
        )
    if w := results.get("websocket"):
        lines.append(
            _row(
                f"WebSocket fan-out, {w['members']} members / {w['sessions']} sessions"
                f" on {w['gateways']} gateways",
                f"**p99 {w['fanout_p99_ms']} ms**, p50 {w['fanout_p50_ms']} ms",
                f"{w['deliveries_received']} of {w['deliveries_expected']} deliveries",
            )
        )
    if p := results.get("peer"):
        lines.append(
            _row(
                "Statistics read, fitmesh gateway vs grpc-gateway (Go)",
                f"**{p['share_of_grpc_gateway']:.0%} of its throughput**"
                f" ({p['fitmesh']['rps']:.0f} req/s)",
                f"grpc-gateway {p['grpc_gateway']['rps']:.0f} req/s",
            )
        )
    if gr := results.get("growth"):
        first, last = gr["levels"][0], gr["levels"][-1]
        lines.append(
            _row(
                f"Growth {first['workouts']:,} → {last['workouts']:,} workouts (p50, gRPC)",
                f"statistics x{gr['statistics_growth']}, list x{gr['list_growth']}",
                f"{last['statistics']['p50_ms']:.2f} ms / {last['list']['p50_ms']:.2f} ms"
                f" at {last['workouts']:,}",
            )
        )
    if ce := results.get("ceilings"):
        lines.append(
            _row(
                "Servers underneath",
                f"Redis GET {ce['redis_get_rps']:,.0f}/s",
                f"pgbench -S {ce['pgbench_select_tps']:,.0f} tps",
            )
        )
    if f := results.get("failed"):
        lines += ["", "Failed: " + "; ".join(f"{k}: {text}" for k, text in f.items()) + "."]
    if v := results.get("verdicts"):
        lines += ["", "Targets: " + "; ".join(f"{k} {text}" for k, text in v.items()) + "."]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for key, name in (("rest_mixed", "mixed"), ("rest_cached_reads", "cached reads")):
        steps = results.get(key, {}).get("steps", [])
        rates = [s["rate"] for s in steps]
        ax.plot(rates, [s["p99_ms"] for s in steps], marker="o", label=f"{name} p99")
        ax.plot(rates, [s["p50_ms"] for s in steps], marker=".", linestyle=":", label=f"{name} p50")
        for s in steps:
            if s["errors"]:
                ax.annotate(f"{s['errors']} errors", (s["rate"], s["p99_ms"]), fontsize=8)
    ax.axhline(100, color="grey", linestyle="--", linewidth=1, label="p99 bound (100 ms)")
    ax.set_xlabel("offered load, requests/s (open loop)")
    ax.set_ylabel("latency, ms")
    ax.set_yscale("log")
    ax.set_title(f"fitmesh REST load — {results['machine']['cores']} cores, one machine")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / results["started_at"].replace(":", "")
    document = {**headlines(results), **results}
    json_path, md_path, png_path = (stem.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    md_path.write_text(table(results) + "\n")
    if "rest_mixed" in results:
        plot(results, png_path)
    return json_path, md_path, png_path
