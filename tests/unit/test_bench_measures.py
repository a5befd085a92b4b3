"""The benchmark's measuring arithmetic: CPU per request pooled over rounds, the bare app's
rounds, py-spy's collapsed stacks summed, and instructions counted by package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import bare, cpu, opcodes, profile
from bench.tools import ratio


def test_cpu_per_request_and_its_ratio_to_the_bare_app() -> None:
    ticks = profile.TICKS
    assert cpu.ms_per_request(ticks * 3, 3000) == 1.0  # 3 s of CPU for 3,000 requests
    assert cpu.ms_per_request(ticks, 0) is None
    gateway, bare = cpu.ms_per_request(ticks * 3, 3000), cpu.ms_per_request(ticks, 2000)
    assert ratio(gateway, bare) == 2.0


def test_a_cpu_side_is_pooled_over_its_rounds_not_averaged() -> None:
    ticks = profile.TICKS
    rounds = [
        {"ticks": ticks * 1, "requests_served": 1000, "errors": 0, "ms_per_request": 1.0},
        {"ticks": ticks * 3, "requests_served": 1000, "errors": 2, "ms_per_request": 3.0},
        {"ticks": ticks * 2, "requests_served": 2000, "errors": 0, "ms_per_request": 1.0},
    ]
    side = cpu.pooled(rounds)
    assert side["ms_per_request"] == 1.5  # 6 s over 4,000 requests; the mean would say 1.67
    assert (side["requests_served"], side["errors"]) == (4000, 2)
    assert side["round_ms_per_request"] == [1.0, 3.0, 1.0]
    assert cpu.ORDER.count("gateway") == cpu.ORDER.count("bare")
    assert tuple(reversed(cpu.ORDER)) == cpu.ORDER  # in turns, so a drift weighs on both


def test_the_bare_app_is_its_median_round_and_the_higher_middle_of_an_even_count() -> None:
    def climb(rate: float) -> dict[str, Any]:
        return {"sustained_rps": rate, "p99_ms": rate / 100, "steps": [{"rate": rate}]}

    three = bare.summary([climb(2700), climb(4700), climb(3900)], processes=2)
    assert three["sustained_rps"] == 3900
    assert three["p99_ms"] == 39
    assert three["round_rates"] == [2700, 4700, 3900]
    assert three["spread"] == 1.74
    assert "2 processes" in three["app"]
    assert bare.summary([climb(2700), climb(4700)], processes=2)["sustained_rps"] == 4700
    assert bare.summary([climb(3300)], processes=2)["spread"] == 1.0


def test_later_bare_rounds_start_at_half_the_first_rate() -> None:
    assert bare.later_start([], 100) == 100
    assert bare.later_start([{"sustained_rps": 3900}], 100) == 1950
    assert bare.later_start([{"sustained_rps": 150}], 100) == 100


def test_cpu_counts_the_processes_and_their_children() -> None:
    parents = {10: 1, 11: 10, 12: 11, 20: 1, 21: 20, 30: 1}
    assert profile.descendants(parents, [10, 20]) == {10, 11, 12, 20, 21}
    before = {10: 100, 11: 50}
    after = {10: 160, 11: 70, 12: 5}  # 12 started meanwhile
    assert profile.ticks_between(before, after) == 85


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


def test_share_in_counts_working_samples_below_the_named_files(tmp_path: Path) -> None:
    collapsed = tmp_path / "stacks.txt"
    collapsed.write_text(
        "main (/app/gateway/middleware.py:1);finish (/app/gateway/audit.py:94) 3\n"
        "run (/app/gateway/audit.py:158);dumps (/usr/lib/python3.11/json/__init__.py:2) 2\n"
        "main (/app/gateway/middleware.py:1);handle (/app/gateway/routes/users.py:5) 15\n"
        "worker (/usr/lib/python3.11/threading.py:1);Condition.wait (threading.py:2) 80\n"
    )
    # 5 of the 20 working samples, the library call below the flush included.
    assert profile.share_in(collapsed, ("gateway/audit.py",)) == pytest.approx(25.0)
    assert profile.share_in(collapsed, ("gateway/routes/users.py",)) == pytest.approx(75.0)
    assert profile.share_in(collapsed, ("audit.py",)) == pytest.approx(25.0)
    assert profile.share_in(collapsed, ("gateway/hub.py",)) == 0.0


def test_cpu_split_reports_cores_per_program() -> None:
    ticks = profile.TICKS
    before = {1: ("gateway", 0), 2: ("ferretdb", 10)}
    after = {1: ("gateway", ticks * 2), 2: ("ferretdb", 10 + ticks), 3: ("oha", ticks)}
    split = profile.cpu_split(before, after, seconds=2.0)
    assert split == {"gateway": 1.0, "ferretdb": 0.5, "oha": 0.5}


def test_instructions_are_counted_by_the_package_they_run_in() -> None:
    site = "/x/.venv/lib/python3.11/site-packages/fastapi/routing.py"
    assert opcodes._package(site) == "fastapi"
    assert opcodes._package(opcodes.ROOT + "gateway/deps.py") == "gateway"
    assert opcodes._package("<string>") == "generated"  # dataclasses' __init__
    assert opcodes._package("/usr/lib/python3.11/asyncio/timeouts.py") == "stdlib"
