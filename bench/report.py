"""The report of one run: JSON (headline figures at the top level), Markdown (a summary
table, which also goes to the README, and p50/p95/p99 of every load) and a PNG plot of
latency against offered load."""

from __future__ import annotations

import json
import operator
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import matplotlib

from bench import webhooks
from bench.tools import ratio

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import LogLocator, NullFormatter, StrMethodFormatter

# The headline figures, flat at the top of the JSON: section.key.
HEADLINES = (
    "bare.sustained_rps",
    "rest_mixed.sustained_rps",
    "rest_mixed.share_of_bare",
    "rest_mixed.p95_ms",
    "cached_reads.sustained_rps",
    "cached_reads.share_of_bare",
    "gateway_cpu.ratio_to_bare",
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


def _row(what: str, figure: str, baseline: str) -> str:
    return f"| {what} | {figure} | {baseline} |"


def _percentiles(load: dict[str, Any]) -> str:
    return f"p50/p95/p99 {load['p50_ms']}/{load['p95_ms']}/{load['p99_ms']} ms"


def _ended(ladder: dict[str, Any]) -> str:
    """How a ladder ended: the step that did not hold, or that none failed."""
    last = ladder["steps"][-1]
    if last["ok"]:
        return f"every step up to {last['rate']:g}/s held"
    missed = last.get("missed") or [f"p99 {last['p99_ms']} ms", f"{last['errors']} errors"]
    return f"next step {last['rate']:g}/s: " + ", ".join(missed)


def _held(ladder: dict[str, Any]) -> str:
    rate = f"{ladder['sustained_rps']:g} req/s"
    return rate if ladder.get("ceiling_found", True) else f">= {rate}"


def _share(ladder: dict[str, Any]) -> str:
    found = ladder.get("share_of_bare")
    return "" if found is None else f" = {found:.1%} of bare"


MIXED = (
    "REST mixed load on both gateways (reads: 30 % profile, 30 % statistics, 20 % workout"
    " lists, 10 % goals; 10 % workout start+end) vs the bare FastAPI + Redis GET app's"
    " highest rate: oha open loop, E12 rate steps, highest with p99 < 100 ms and no errors"
)
CACHED = (
    "Cached profile + statistics reads: fitmesh's gateways vs the bare FastAPI + Redis GET"
    " app (as many processes), the same requests, oha processes and rate steps"
)


def _audit_part(cpu: dict[str, Any]) -> str:
    """What of a cached read's CPU the audit log's code took (runs before it was measured
    have no figure)."""
    if cpu.get("audit_percent") is None:
        return ""
    return f", of which the audit log {cpu['audit_percent']} %, {cpu['audit_ms_per_request']} ms"


def _ladder_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    bare = results.get("bare")
    against = f"bare app {_held(bare)} ({_ended(bare)})" if bare else "bare app not measured"
    for key, what in (("rest_mixed", MIXED), ("cached_reads", CACHED)):
        if ladder := results.get(key):
            figure = f"**{_held(ladder)}{_share(ladder)}**"
            if ladder.get("p95_ms") is not None:
                figure += f", {_percentiles(ladder)} at that rate"
            rows.append(_row(what, f"{figure}; {_ended(ladder)}", against))
    if bare and not any(key in results for key in ("rest_mixed", "cached_reads")):
        rows.append(_row("Bare FastAPI + Redis GET app alone, oha ladder", _held(bare), against))
    return rows


def table(results: dict[str, Any]) -> str:
    """The summary: one row per measure, saying what it compares."""
    m = results["machine"]
    lines = [
        f"Run {results['started_at']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB),"
        f" {m['os']}, commit {m['commit']}; everything on one machine.",
        "",
        "| Measure | fitmesh | Baseline in the same run |",
        "|---|---|---|",
        *_ladder_rows(results),
    ]
    if c := results.get("gateway_cpu"):
        lines.append(
            _row(
                f"CPU per cached profile read: the gateways' processes vs the bare app's, both"
                f" at {c['rate']:g} req/s for {c['seconds']:g} s (utime + stime from /proc)",
                f"**{c['ratio_to_bare']} times the bare app's**"
                f" ({c['gateway_ms_per_request']} ms a request{_audit_part(c)})",
                f"bare app {c['bare_ms_per_request']} ms a request",
            )
        )
    if p := results.get("peer"):
        same, cached = p["same_work"], p["cached_read"]
        lines.append(
            _row(
                "Same uncached read (first page of notifications), 32 concurrent requests:"
                " fitmesh's gateways vs grpc-gateway (Go), over the same user_service replicas",
                f"**{p['same_work_share']:.0%} of its throughput**"
                f" ({same['fitmesh']['achieved_rps']:g} req/s, p95 {same['fitmesh']['p95_ms']} ms)",
                f"grpc-gateway {same['grpc_gateway']['achieved_rps']:g} req/s"
                f" (p95 {same['grpc_gateway']['p95_ms']} ms)",
            )
        )
        lines.append(
            _row(
                "Statistics read, not the same work: fitmesh answers from its Redis cache,"
                " grpc-gateway asks an activity_service replica every time",
                f"{cached['fitmesh']['achieved_rps']:g} req/s"
                f" ({p['cached_read_share']:.0%} of grpc-gateway's)",
                f"grpc-gateway {cached['grpc_gateway']['achieved_rps']:g} req/s",
            )
        )
    if g := results.get("gateway_overhead"):
        lines.append(
            _row(
                "Uncached read (first page of notifications) through a gateway vs a direct gRPC"
                " call to a user_service replica: latency added at 50 req/s; throughput with"
                " 16 concurrent calls per gateway or replica",
                f"**{g['p50_added_ms']:+.2f} ms p50**, {g.get('p95_added_ms', 0):+.2f} ms p95,"
                f" {g['p99_added_ms']:+.2f} ms p99",
                f"throughput {g['rest_rps']:g} vs {g['grpc_rps']:g} req/s"
                f" (ratio {g['throughput_ratio']})",
            )
        )
    if c := results.get("cache"):
        lines.append(
            _row(
                "Statistics read through a gateway, one at a time: cached copy in Redis vs"
                " the copy deleted before each read",
                f"**{c['speedup']} times faster** ({c['warm_p50_ms']} ms p50)",
                f"cold {c['cold_p50_ms']} ms p50",
            )
        )
    if w := results.get("websocket"):
        lines.append(
            _row(
                f"WebSocket fan-out, {w['members']} members / {w['sessions']} sessions"
                f" on {w['gateways']} gateways, {w['messages_per_second']:g} chat messages/s:"
                " send to every receipt",
                f"**p99 {w['fanout_p99_ms']} ms**, p50 {w['fanout_p50_ms']} ms",
                f"{w['deliveries_received']} of {w['deliveries_expected']} deliveries",
            )
        )
    if gr := results.get("growth"):
        first, last = gr["levels"][0], gr["levels"][-1]
        lines.append(
            _row(
                f"First workout page (20) and statistics, gRPC to an activity_service replica:"
                f" p50 at {last['workouts']:,} vs at {first['workouts']:,} workouts of one user",
                f"**list x{value(results, 'growth.list_ratio')}**,"
                f" statistics x{gr.get('statistics_growth')}",
                f"at {first['workouts']:,}: list {first['list']['p50_ms']:.2f} ms,"
                f" statistics {first['statistics']['p50_ms']:.2f} ms",
            )
        )
    if wh := results.get("webhooks"):
        lines.append(_row(*webhooks.row(wh)))
    if ce := results.get("ceilings"):
        lines.append(
            _row(
                "Servers underneath: `redis-benchmark -t get` (50 clients) and `pgbench -S`",
                f"Redis GET {ce['redis_get_rps']:,.0f}/s",
                f"pgbench -S {ce['pgbench_select_tps']:,.0f} tps",
            )
        )
    if f := results.get("failed"):
        lines += ["", "Failed: " + "; ".join(f"{k}: {text}" for k, text in f.items()) + "."]
    if v := results.get("verdicts"):
        lines += ["", "Targets: " + "; ".join(f"{k} {text}" for k, text in v.items()) + "."]
    return "\n".join(lines)


def _load_row(measure: str, load: str, figures: dict[str, Any]) -> str:
    achieved = figures.get("achieved_rps", figures.get("rps"))
    cells = [
        measure,
        load,
        "" if achieved is None else f"{achieved:.1f}",
        *(f"{figures.get(f'p{p}_ms', 0):.2f}" for p in (50, 95, 99)),
        str(figures.get("errors", 0)),
    ]
    return "| " + " | ".join(cells) + " |"


def _every_load(results: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(measure, load, figures) for every load the run put on the suite."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for key, name in (("bare", "bare app"), ("rest_mixed", "mixed"), ("cached_reads", "cached")):
        for step in results.get(key, {}).get("steps", []):
            found.append((name, f"{step['rate']:g}/s open loop", step))
    if c := results.get("gateway_cpu"):
        for side in ("gateway", "bare"):
            found.append((f"CPU, {side}", f"{c['rate']:g}/s open loop", c[side]))
    if p := results.get("peer"):
        for read in ("same_work", "cached_read"):
            for side in ("fitmesh", "grpc_gateway"):
                found.append((f"peer, {read.replace('_', ' ')}", side, p[read][side]))
    if g := results.get("gateway_overhead"):
        for how, loads in g.items():
            if not isinstance(loads, dict) or how == "saturated":
                continue
            for side, figures in loads.items():
                found.append(("gateway cost", f"{side}, {how.replace('_', ' ')}", figures))
        for side, runs in g.get("saturated", {}).items():
            for n, figures in enumerate(runs, start=1):
                found.append(("gateway cost", f"{side} {n}, 16 concurrent", figures))
    if c := results.get("cache"):
        for state in ("warm", "cold"):
            figures = {f"p{p}_ms": c.get(f"{state}_p{p}_ms", 0) for p in (50, 95, 99)}
            found.append(("cache", f"{state}, one at a time", figures))
    if w := results.get("websocket"):
        figures = {f"p{p}_ms": w.get(f"fanout_p{p}_ms", 0) for p in (50, 95, 99)}
        found.append(("WebSocket fan-out", f"{w['messages_per_second']:g} messages/s", figures))
    for level in results.get("growth", {}).get("levels", []):
        for read in ("statistics", "list"):
            found.append(("growth", f"{read} at {level['workouts']:,}", level[read]))
    if wh := results.get("webhooks"):
        found += webhooks.loads(wh)
    return found


def loads_table(results: dict[str, Any]) -> str:
    """p50, p95 and p99 of every load, in milliseconds."""
    lines = [
        "| Measure | Load | Achieved req/s | p50 ms | p95 ms | p99 ms | Errors |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_load_row(*row) for row in _every_load(results)]
    return "\n".join(lines)


def _cells(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _ms(figures: dict[str, Any], prefix: str) -> list[str]:
    return [f"{figures[f'{prefix}_p{p}_ms']:.2f}" for p in (50, 95, 99)]


def health_table(results: dict[str, Any]) -> str:
    """Metric batch writes at a fixed rate, and the summary read uncached and cached: two
    separate figures, not a ratio."""
    h = results["health"]
    write = (
        f"Metric batch writes: {h['write_batch']} heart-rate samples each (unique client ids,"
        f" spread over the last day), {h['write_accounts']} accounts, both gateways"
    )
    load = (
        f"{h['write_rate']:g}/s open loop for {h['write_seconds']:g} s, latency from each due time"
    )
    held = f"{h['summary_samples']:,} heart-rate samples in the window"
    what = {
        "uncached": "**uncached**: the user's health cache deleted before each read",
        "cached": "**cached**: the same read repeated",
    }
    rows = [
        _cells(
            f"Summary read (7 days), {label}; {held}",
            f"one at a time, {h[f'summary_{state}_reads']} reads",
            str(h[f"summary_{state}_reads"]),
            "",
            "",
            *_ms(h, f"summary_{state}"),
            str(h[f"summary_{state}_errors"]),
        )
        for state, label in what.items()
    ]
    return "\n".join(
        [
            "| Measure | Load | Requests | Achieved req/s | Samples/s"
            " | p50 ms | p95 ms | p99 ms | Errors |",
            "|---|---|---|---|---|---|---|---|---|",
            _cells(
                write,
                load,
                str(h["write_requests"]),
                f"{h['write_rps']:g}",
                f"{h['samples_per_second']:g}",
                *_ms(h, "write"),
                str(h["write_errors"]),
            ),
            *rows,
        ]
    )


def markdown(results: dict[str, Any]) -> str:
    text = f"{table(results)}\n\n### Every load\n\n{loads_table(results)}\n"
    if "health" in results:
        text += f"\n### Health metrics\n\n{health_table(results)}\n"
    return text


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
    document = {**headlines(results), **results}
    json_path, md_path, png_path = (stem.with_suffix(s) for s in (".json", ".md", ".png"))
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    md_path.write_text(markdown(results))
    if any(key in results for key, _ in LADDERS):
        plot(results, png_path)
    return json_path, md_path, png_path
