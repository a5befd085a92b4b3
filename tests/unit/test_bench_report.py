"""The benchmark's own arithmetic: percentiles, how a step's parts combine, verdicts
against the targets, and how py-spy's collapsed stacks are summed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import profile, report
from bench.rest import combine
from bench.tools import Load, percentile


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
    assert step["p99_ms"] == 1.0  # the 99th of 100 is still fast
    assert "latencies_ms" not in step["parts"]["reads"]


def test_verdicts_say_by_how_much_a_target_was_missed() -> None:
    found = report.verdicts(
        {
            "rest_mixed": {"sustained_rps": 400.0},
            "gateway_overhead": {"p50_added_ms": 0.5},
            "websocket": {"fanout_p99_ms": 150.0},
        }
    )
    assert found["rest_mixed.sustained_rps"].startswith("missed by 600")
    assert found["gateway_overhead.p50_added_ms"].startswith("met")
    assert found["websocket.fanout_p99_ms"].startswith("missed by 50")


def test_headlines_are_top_level_dotted_keys() -> None:
    results = {"cache": {"speedup": 3.2}, "peer": {"share_of_grpc_gateway": 0.8}}
    assert report.headlines(results) == {"cache.speedup": 3.2, "peer.share_of_grpc_gateway": 0.8}


def test_profile_summary_counts_own_and_inclusive_time_and_skips_waiting(tmp_path: Path) -> None:
    collapsed = tmp_path / "stacks.txt"
    collapsed.write_text(
        "main (app.py:1);handle (app.py:5);verify (/x/site-packages/jwt/api.py:9) 30\n"
        "main (app.py:1);handle (app.py:5) 10\n"
        "main (app.py:1);log (/usr/lib/python3.11/logging/__init__.py:3) 10\n"
        "worker (/usr/lib/python3.11/threading.py:1);Condition.wait (threading.py:2) 50\n"
    )
    summary = profile.summary(collapsed)
    assert summary["samples"] == 50  # the waiting thread is not work
    own = dict(summary["own_time_percent"])
    assert own["verify (jwt/api.py)"] == pytest.approx(60.0)
    inclusive = dict(summary["inclusive_percent"])
    assert inclusive["handle (app.py)"] == pytest.approx(80.0)
    assert inclusive["main (app.py)"] == pytest.approx(100.0)
    packages = dict(summary["by_package_percent"])
    assert packages["jwt"] == pytest.approx(60.0)
    assert packages["stdlib"] == pytest.approx(20.0)


def test_cpu_split_reports_cores_per_program() -> None:
    ticks = profile.TICKS
    before = {1: ("gateway", 0), 2: ("ferretdb", 10)}
    after = {1: ("gateway", ticks * 2), 2: ("ferretdb", 10 + ticks), 3: ("oha", ticks)}
    split = profile.cpu_split(before, after, seconds=2.0)
    assert split == {"gateway": 1.0, "ferretdb": 0.5, "oha": 0.5}


def test_the_table_names_the_machine_and_how_the_ladder_ended() -> None:
    machine = {"cpu": "Test CPU", "cores": 2, "memory_gib": 24.0, "os": "Linux", "commit": "abc"}
    steps = [
        {"rate": 100, "p99_ms": 40.0, "errors": 0},
        {"rate": 200, "p99_ms": 180.5, "errors": 3},
    ]
    results = {
        "started_at": "2026-11-22T00:00:00Z",
        "machine": machine,
        "rest_mixed": {"sustained_rps": 100, "steps": steps},
        "verdicts": {"rest_mixed.sustained_rps": "missed by 900"},
    }
    text = report.table(results)
    assert "Test CPU (2 cores, 24.0 GiB)" in text
    assert "| **100 req/s** | next step 200/s: p99 180.5 ms, 3 errors |" in text
    assert "rest_mixed.sustained_rps missed by 900" in text
