"""The benchmark's own arithmetic: percentiles, how a step's parts combine, the ladders'
rates and sustained rate, shares of the bare app, verdicts against the targets, the report's
headlines, rows and files (CPU, rounds, profiles and instructions: test_bench_measures.py)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from bench import files, ladder, report, tables, webhooks
from bench.rest import combine
from bench.tools import Load, percentile, ratio


def test_percentiles_of_a_known_list() -> None:
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 51.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([], 99) == 0.0


def _load(latencies: list[float], errors: int = 0) -> Load:
    return Load(
        requests=len(latencies) + errors,
        errors=errors,
        rps=len(latencies) / 10,
        p50_ms=percentile(latencies, 50),
        p90_ms=percentile(latencies, 90),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        latencies_ms=latencies,
    )


def test_a_step_is_judged_on_all_its_requests_together() -> None:
    # 99 fast reads and one slow write: neither part alone has the merged p99.
    fast, slow = _load([1.0] * 99), _load([500.0], errors=2)
    step = combine({"reads": fast, "writes": slow})
    assert step["requests"] == 102
    assert step["errors"] == 2
    assert step["p50_ms"] == 1.0
    assert step["p95_ms"] == 1.0
    assert step["p99_ms"] == 1.0  # the 99th of 100 is still fast
    assert "latencies_ms" not in step["parts"]["reads"]


def test_verdicts_say_met_or_by_how_much_a_target_was_missed() -> None:
    found = report.verdicts(
        {
            "rest_mixed": {"share_of_bare": 0.05},
            "cached_reads": {"share_of_bare": 0.4},
            "gateway_cpu": {"ratio_to_bare": 1.5},
            "gateway_overhead": {"p50_added_ms": 0.5},
            "websocket": {"fanout_p99_ms": 150.0},
        }
    )
    assert found["rest_mixed.share_of_bare"].startswith("missed by 0.07")
    assert found["cached_reads.share_of_bare"].startswith("met")  # >= holds at the bound
    assert found["gateway_cpu.ratio_to_bare"].startswith("met")  # <= too
    assert found["gateway_overhead.p50_added_ms"].startswith("met")
    assert found["websocket.fanout_p99_ms"].startswith("missed by 50")
    assert found["growth.list_ratio"].startswith("not measured")
    assert set(found) == set(report.TARGETS)


def test_targets_are_ratios_to_the_same_run() -> None:
    assert report.TARGETS["rest_mixed.share_of_bare"] == (">=", 0.12)
    assert report.TARGETS["cached_reads.share_of_bare"] == (">=", 0.4)
    assert report.TARGETS["gateway_cpu.ratio_to_bare"] == ("<=", 1.5)
    assert report.TARGETS["growth.list_ratio"] == ("<=", 1.5)
    assert "rest_mixed.sustained_rps" not in report.TARGETS  # a rate depends on the machine


def test_every_headline_is_a_top_level_key_even_when_not_measured() -> None:
    results = {"cache": {"speedup": 3.2}, "peer": {"same_work_share": 0.8}}
    found = report.headlines(results)
    assert list(found) == [
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
    ]
    assert found["cache.speedup"] == 3.2
    assert found["peer.same_work_share"] == 0.8
    assert found["bare.sustained_rps"] is None


def test_growth_list_ratio_falls_back_to_list_growth() -> None:
    assert report.value({"growth": {"list_growth": 2.5}}, "growth.list_ratio") == 2.5
    both = {"growth": {"list_growth": 2.5, "list_ratio": 1.1}}
    assert report.value(both, "growth.list_ratio") == 1.1


def test_shares_of_the_bare_app_come_from_the_sustained_rates() -> None:
    results: dict[str, Any] = {
        "bare": {"sustained_rps": 2700.0},
        "rest_mixed": {"sustained_rps": 330.0},
        "cached_reads": {"sustained_rps": 1200.0},
    }
    report.derive(results)
    assert results["rest_mixed"]["share_of_bare"] == 0.122
    assert results["cached_reads"]["share_of_bare"] == 0.444
    headlines = report.headlines(results)
    assert headlines["rest_mixed.share_of_bare"] == 0.122
    assert headlines["cached_reads.share_of_bare"] == 0.444


def test_no_share_without_the_bare_app_or_when_it_sustained_nothing() -> None:
    alone: dict[str, Any] = {"rest_mixed": {"sustained_rps": 330.0}}
    report.derive(alone)
    assert alone["rest_mixed"]["share_of_bare"] is None
    assert ratio(330.0, 0.0) is None
    assert ratio(None, 10.0) is None
    assert ratio(1.0, 3.0) == 0.333


def test_ladder_rates_are_e12_values_at_most_25_percent_apart() -> None:
    rates = ladder.rates(22, 10_000)
    assert rates[:6] == [22, 27, 33, 39, 47, 56]
    assert 1000 in rates
    assert rates[-1] == 10_000
    gaps = [b / a for a, b in itertools.pairwise(rates)]
    assert all(1 < gap <= ladder.MAX_STEP for gap in gaps)
    # A start between E12 values joins the series at the next value, still within a step.
    odd = ladder.rates(25, 100)
    assert odd == [25, 27, 33, 39, 47, 56, 68, 82, 100]
    with pytest.raises(ValueError, match="starts at 10"):
        ladder.rates(5, 100)


def _step(rate: float, p99: float = 10.0, errors: int = 0, achieved: float | None = None) -> Any:
    return ladder.judge(
        {
            "rate": rate,
            "achieved_rps": rate if achieved is None else achieved,
            "errors": errors,
            "p50_ms": p99 / 4,
            "p95_ms": p99 / 2,
            "p99_ms": p99,
        }
    )


def test_a_step_holds_without_errors_under_the_p99_bound_at_its_rate() -> None:
    assert _step(100)["ok"]
    assert _step(100, p99=99.99)["ok"]
    assert _step(100, achieved=90)["ok"]
    assert _step(100, p99=100.0)["missed"] == ["p99 100.0 ms >= 100 ms"]
    assert _step(100, errors=1)["missed"] == ["1 errors"]
    assert _step(100, achieved=80)["missed"] == ["served 80/s of 100/s"]


def test_the_sustained_rate_is_the_last_step_before_the_first_that_failed() -> None:
    steps = [_step(100), _step(120), _step(150, p99=180.0), _step(180)]
    assert ladder.sustained(steps) == 120
    assert ladder.sustained([_step(100, errors=2)]) == 0
    found = ladder.summary(steps[:3])
    assert found["sustained_rps"] == 120
    assert found["p95_ms"] == 5.0  # at 120/s
    assert found["ceiling_found"]
    assert not ladder.summary([_step(100), _step(120)])["ceiling_found"]


async def test_a_ladder_climbs_until_a_step_fails() -> None:
    offered: list[float] = []

    async def step(rate: float) -> dict[str, Any]:
        offered.append(rate)
        p99 = 20.0 if rate < 33 else 150.0
        figures = {"achieved_rps": rate, "errors": 0, "p50_ms": 1.0, "p95_ms": 5.0}
        return {**figures, "p99_ms": p99}

    found = await ladder.climb(step, ladder.rates(22, 100), pause=0)
    assert offered == [22, 27, 33]
    assert found["sustained_rps"] == 27
    assert [s["ok"] for s in found["steps"]] == [True, True, False]


MACHINE = {"cpu": "Test CPU", "cores": 2, "memory_gib": 24.0, "os": "Linux", "commit": "abc"}


def _ladder(rates_ok: list[float], failed: float) -> dict[str, Any]:
    steps = [_step(r) for r in rates_ok] + [_step(failed, p99=180.5, errors=3)]
    return ladder.summary(steps)


def _results() -> dict[str, Any]:
    load = {"achieved_rps": 400.0, "errors": 0, "p50_ms": 40.0, "p95_ms": 60.0, "p99_ms": 90.0}
    results: dict[str, Any] = {
        "started_at": "2026-11-22T00:00:00Z",
        "machine": MACHINE,
        "bare": _ladder([1000, 1200], 1500),
        "rest_mixed": _ladder([100], 120),
        "cached_reads": _ladder([390, 470], 560),
        "gateway_cpu": {
            "rate": 200.0,
            "seconds": 15.0,
            "ratio_to_bare": 2.5,
            "gateway_ms_per_request": 1.25,
            "bare_ms_per_request": 0.5,
            "gateway": load,
            "bare": load,
        },
        "peer": {
            "same_work_share": 0.75,
            "same_work": {"fitmesh": {**load, "achieved_rps": 300.0}, "grpc_gateway": load},
            "cached_read_share": 1.5,
            "cached_read": {"fitmesh": {**load, "achieved_rps": 600.0}, "grpc_gateway": load},
        },
    }
    report.derive(results)
    results["verdicts"] = report.verdicts(results)
    return results


def test_the_table_names_the_machine_and_what_each_row_compares() -> None:
    text = tables.table(_results())
    assert "Test CPU (2 cores, 24.0 GiB)" in text
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    cached = next(line for what, line in rows.items() if what.startswith("Cached profile"))
    assert "fitmesh's gateways vs the bare FastAPI + Redis GET app" in cached
    assert "same requests, oha processes and rate steps" in cached
    assert "**470 req/s = 39.2% of bare**" in cached
    assert "next step 560/s: 3 errors, p99 180.5 ms >= 100 ms" in cached
    assert "bare app 1200 req/s (next step 1500/s" in cached
    mixed = next(line for what, line in rows.items() if what.startswith("REST mixed"))
    assert "**100 req/s = 8.3% of bare**, p50/p95/p99 2.5/5.0/10.0 ms at that rate" in mixed
    cpu_row = next(line for what, line in rows.items() if what.startswith("CPU per cached"))
    assert "both at 200 req/s, 15 s rounds in turns" in cpu_row
    assert "**2.5 times the bare app's** (1.25 ms a request) | bare app 0.5 ms a request" in cpu_row
    same = next(line for what, line in rows.items() if what.startswith("Same uncached read"))
    assert "**75% of its throughput** (300 req/s" in same
    cached_peer = next(line for what, line in rows.items() if "not the same work" in what)
    assert "600 req/s (150% of grpc-gateway's)" in cached_peer
    assert "rest_mixed.share_of_bare missed by 0.037 (0.083, target >= 0.12)" in text
    assert "gateway_cpu.ratio_to_bare missed by 1 (2.5, target <= 1.5)" in text


def test_a_ladder_that_never_failed_says_so() -> None:
    results = {
        "started_at": "2026-11-22T00:00:00Z",
        "machine": MACHINE,
        "cached_reads": ladder.summary([_step(100), _step(120)]),
    }
    text = tables.table(results)
    assert "**>= 120 req/s**" in text
    assert "every step up to 120/s held" in text
    assert "bare app not measured" in text


def test_every_load_has_its_p50_p95_and_p99() -> None:
    results = _results()
    text = tables.loads_table(results)
    header, _, *rows = text.splitlines()
    assert "p50 ms | p95 ms | p99 ms" in header
    steps = sum(len(results[k]["steps"]) for k in ("bare", "rest_mixed", "cached_reads"))
    assert len(rows) == steps + 2 + 4  # ladder steps, CPU's two sides, peer's four loads
    assert "| cached | 470/s open loop | 470.0 | 2.50 | 5.00 | 10.00 | 0 |" in rows
    assert "| peer, same work | grpc_gateway | 400.0 | 40.00 | 60.00 | 90.00 | 0 |" in rows
    assert tables.markdown(results).count("| Measure |") == 2


def test_headlines_are_written_first_in_the_json(tmp_path: Path) -> None:
    results = _results()
    json_path, md_path, png_path = files.write(results, tmp_path)
    document = json.loads(json_path.read_text())
    assert list(document)[: len(report.HEADLINES)] == list(report.HEADLINES)
    assert document["cached_reads.share_of_bare"] == 0.392
    assert document["rest_mixed.p95_ms"] == 5.0
    assert "### Every load" in md_path.read_text()
    assert png_path.exists()


HEALTH = {
    "history_samples": 10080,
    "summary_samples": 10080,
    "summary_uncached_reads": 180,
    "summary_uncached_errors": 2,
    "summary_cached_reads": 300,
    "summary_cached_errors": 0,
    "summary_uncached_p50_ms": 41.5,
    "summary_uncached_p95_ms": 52.25,
    "summary_uncached_p99_ms": 60.0,
    "summary_cached_p50_ms": 1.2,
    "summary_cached_p95_ms": 1.6,
    "summary_cached_p99_ms": 2.0,
    "write_rate": 5.0,
    "write_batch": 100,
    "write_seconds": 30.0,
    "write_accounts": 8,
    "write_requests": 150,
    "write_errors": 1,
    "write_rps": 5.0,
    "samples_per_second": 496.7,
    "samples_stored": 14900,
    "samples_duplicate": 0,
    "write_p50_ms": 30.0,
    "write_p95_ms": 45.5,
    "write_p99_ms": 70.0,
    "write_statuses": {"201": 149, "503": 1},
}


def test_the_health_section_has_its_own_table_and_flat_headlines(tmp_path: Path) -> None:
    results = {**_results(), "health": HEALTH}
    text = tables.markdown(results)
    assert "### Health metrics" in text
    section = text.split("### Health metrics", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert "Samples/s | p50 ms | p95 ms | p99 ms | Errors" in rows[0]
    writes, uncached, cached = rows[1:]
    assert "5/s open loop for 30 s" in writes
    assert "| 150 | 5 | 496.7 | 30.00 | 45.50 | 70.00 | 1 |" in writes
    assert "**uncached**" in uncached
    assert "10,080 heart-rate samples" in uncached
    assert "| one at a time, 180 reads | 180 |  |  | 41.50 | 52.25 | 60.00 | 2 |" in uncached
    assert "**cached**" in cached
    assert "| 300 |  |  | 1.20 | 1.60 | 2.00 | 0 |" in cached
    # Two labelled figures, never a ratio of one to the other.
    assert not any(name.startswith("health.") for name in report.TARGETS)
    assert "faster" not in section
    json_path, _, _ = files.write(results, tmp_path)
    document = json.loads(json_path.read_text())
    assert document["health.summary_uncached_p95_ms"] == 52.25
    assert document["health.summary_cached_p95_ms"] == 1.6
    assert document["health.write_p95_ms"] == 45.5


def test_no_health_section_when_it_was_not_measured() -> None:
    assert "### Health metrics" not in tables.markdown(_results())


def test_webhook_figures_pool_every_round_of_a_side() -> None:
    first = webhooks.Run(2, 0, [10.0, 11.0, 12.0, 13.0], [[10.0, 11.0], [12.0, 13.0]], 2.0)
    second = webhooks.Run(2, 1, [50.0, 20.0], [[50.0], [20.0]], 2.0)
    figures = webhooks._figures([first, second])
    assert figures["workouts"] == 4
    assert figures["workout_errors"] == 1
    assert figures["deliveries_expected"] == 2 * 2 + 1 * 2
    assert figures["deliveries_received"] == 6
    assert figures["max_ms"] == 50.0
    assert figures["p99_ms"] == 50.0  # the second round's worst is the side's
    assert figures["per_round_p99_ms"] == [13.0, 50.0]
    assert figures["per_receiver_p99_ms"] == [50.0, 20.0]  # each receiver over both rounds
    assert figures["deliveries_per_second"] == 1.5


def test_the_table_gives_the_instructions_of_each_cached_read() -> None:
    def side(n: int) -> dict[str, Any]:
        return {"per_request": n, "by_package": {}, "statuses": {"200": 200}}

    found = {
        "profile": {"gateway": side(10605), "bare": side(5813), "ratio_to_bare": 1.824},
        "statistics": {"gateway": side(11472), "bare": side(5813), "ratio_to_bare": 2.021},
    }
    results = {
        "started_at": "2026-12-01T00:00:00Z",
        "machine": _results()["machine"],
        "opcodes": found,
    }
    text = tables.table(results)
    assert "**profile 10,605, 1.824 times the bare app's**; statistics 11,472" in text
    assert "bare app 5,813 a request" in text
