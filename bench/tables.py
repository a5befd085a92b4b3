"""The Markdown of one run: the summary table (which also goes to the README), saying what
each row compares, and p50/p95/p99 of every load."""

from __future__ import annotations

from typing import Any

from bench import webhooks
from bench.report import value


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


def _rounds(bare: dict[str, Any]) -> str:
    """The bare app's rounds, when it was climbed more than once: the median stands for it."""
    rates = bare.get("round_rates") or []
    if len(rates) < 2:
        return ""
    each = ", ".join(f"{rate:g}" for rate in rates)
    return f", median of {len(rates)} rounds ({each} req/s; spread x{bare['spread']})"


def _cpu_rounds(side: dict[str, Any]) -> str:
    rounds = side.get("round_ms_per_request")
    return f" (rounds: {', '.join(f'{ms}' for ms in rounds)})" if rounds else ""


def _opcodes_row(o: dict[str, Any]) -> str:
    profile, statistics = o["profile"], o["statistics"]
    return _row(
        "Python bytecode instructions per cached read (opcode tracing, the same on any"
        " machine): the gateway app vs the bare app, each in a process of its own",
        f"**profile {profile['gateway']['per_request']:,}, {profile['ratio_to_bare']} times the"
        f" bare app's**; statistics {statistics['gateway']['per_request']:,}"
        f" ({statistics['ratio_to_bare']} times)",
        f"bare app {profile['bare']['per_request']:,} a request",
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
    against = (
        f"bare app {_held(bare)}{_rounds(bare)} ({_ended(bare)})"
        if bare
        else "bare app not measured"
    )
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
                f" at {c['rate']:g} req/s, {c['seconds']:g} s rounds in turns (utime + stime"
                " from /proc)",
                f"**{c['ratio_to_bare']} times the bare app's**"
                f" ({c['gateway_ms_per_request']} ms a request{_audit_part(c)})"
                f"{_cpu_rounds(c['gateway'])}",
                f"bare app {c['bare_ms_per_request']} ms a request{_cpu_rounds(c['bare'])}",
            )
        )
    if o := results.get("opcodes"):
        lines.append(_opcodes_row(o))
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
    bare = results.get("bare", {})
    for n, climb in enumerate(bare.get("rounds", [bare] if "steps" in bare else []), start=1):
        for step in climb["steps"]:
            found.append((f"bare app, round {n}", f"{step['rate']:g}/s open loop", step))
    for key, name in (("rest_mixed", "mixed"), ("cached_reads", "cached")):
        for step in results.get(key, {}).get("steps", []):
            found.append((name, f"{step['rate']:g}/s open loop", step))
    if c := results.get("gateway_cpu"):
        for side in ("gateway", "bare"):
            for n, run in enumerate(c[side].get("rounds", [c[side]]), start=1):
                found.append((f"CPU, {side}, round {n}", f"{c['rate']:g}/s open loop", run))
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
