"""`python -m scoring_service` as a real process: RPCs, errors, health, reflection,
metrics, request ids in logs, and a clean drain on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import services
from devstack.servers import TOOLS, find_binary, free_port
from fitmesh.scoring.v1 import scoring_pb2 as pb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.status import field_violations

Stub = scoring_pb2_grpc.ScoringServiceStub


def ts(iso: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(iso)
    return stamp


async def test_ten_minute_run_earns_twenty_intensity_minutes(scoring_stub: Stub) -> None:
    reply = await scoring_stub.ScoreWorkout(
        pb.ScoreWorkoutRequest(workout_type=pb.WORKOUT_TYPE_RUNNING, duration_seconds=600),
        timeout=5,
    )
    assert reply.score.intensity == pb.INTENSITY_VIGOROUS
    assert reply.score.intensity_minutes == 20
    assert reply.score.calories_burned == 114.33
    assert reply.score.weight_kg_used == 70


async def test_times_define_the_duration(scoring_stub: Stub) -> None:
    reply = await scoring_stub.ScoreWorkout(
        pb.ScoreWorkoutRequest(
            workout_type=pb.WORKOUT_TYPE_WALKING,
            start_time=ts("2026-11-20T07:00:00Z"),
            end_time=ts("2026-11-20T07:30:00Z"),
            athlete=pb.Athlete(weight_kg=80, resting_heart_rate=60, max_heart_rate=190),
            avg_heart_rate=150,
        ),
        timeout=5,
    )
    assert reply.score.intensity_source == pb.INTENSITY_SOURCE_HEART_RATE_RESERVE
    assert (reply.score.vigorous_minutes, reply.score.intensity_minutes) == (30, 60)
    assert reply.score.calories_burned == 140  # 3.5 x 80 x 0.5


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.ScoreWorkoutRequest(workout_type=pb.WORKOUT_TYPE_RUNNING), {"duration_seconds"}),
        (pb.ScoreWorkoutRequest(duration_seconds=60), {"workout_type"}),
        # An enum number this server does not know is refused, not guessed.
        (pb.ScoreWorkoutRequest(workout_type=999, duration_seconds=60), {"workout_type"}),  # type: ignore[arg-type]
        (
            pb.ScoreWorkoutRequest(workout_type=1, duration_seconds=60, avg_heart_rate=300),  # type: ignore[arg-type]
            {"avg_heart_rate"},
        ),
        (
            pb.ScoreWorkoutRequest(
                workout_type=pb.WORKOUT_TYPE_RUNNING,
                start_time=ts("2026-11-20T08:00:00Z"),
                end_time=ts("2026-11-20T07:00:00Z"),
            ),
            {"end_time", "duration_seconds"},
        ),
        (
            pb.ScoreWorkoutRequest(
                workout_type=pb.WORKOUT_TYPE_RUNNING, start_time=ts("2026-11-20T08:00:00Z")
            ),
            {"end_time", "duration_seconds"},
        ),
        (
            pb.ScoreWorkoutRequest(workout_type=pb.WORKOUT_TYPE_RUNNING, duration_seconds=90000),
            {"duration_seconds"},
        ),
    ],
)
async def test_bad_input_is_invalid_argument_with_field_violations(
    scoring_stub: Stub, request_: pb.ScoreWorkoutRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scoring_stub.ScoreWorkout(request_, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(caught.value)} == fields


async def test_score_week_over_grpc(scoring_stub: Stub) -> None:
    workouts = [
        pb.ScoredWorkout(
            workout_type=pb.WORKOUT_TYPE_STRENGTH,
            start_time=ts(f"2026-11-{16 + day}T18:00:00Z"),
            moderate_minutes=45,
        )
        for day in (0, 2)
    ] + [
        pb.ScoredWorkout(
            workout_type=pb.WORKOUT_TYPE_RUNNING,
            start_time=ts("2026-11-19T07:00:00Z"),
            vigorous_minutes=30,
        )
    ]
    reply = await scoring_stub.ScoreWeek(pb.ScoreWeekRequest(workouts=workouts), timeout=5)
    assert (reply.intensity_minutes, reply.score, reply.meets_guideline) == (150, 100, True)
    assert (reply.strength_days, reply.meets_strength_guideline) == (2, True)


async def test_evaluate_goals_over_grpc(scoring_stub: Stub) -> None:
    reply = await scoring_stub.EvaluateGoals(
        pb.EvaluateGoalsRequest(
            goals=[
                pb.Goal(
                    goal_id="a",
                    goal_type=pb.GOAL_TYPE_WORKOUTS_COUNT,
                    target_value=2,
                    current_progress=1,
                    target_date="2099-01-01",
                    status=pb.GOAL_STATUS_ACTIVE,
                ),
                pb.Goal(
                    goal_id="b",
                    goal_type=pb.GOAL_TYPE_DISTANCE_KM,
                    target_value=10,
                    target_date="2099-01-01",
                    status=pb.GOAL_STATUS_ACTIVE,
                ),
            ],
            contribution=pb.Contribution(ended_at=ts("2026-11-20T07:30:00Z"), distance_m=5000),
        ),
        timeout=5,
    )
    assert [(g.goal_id, g.status, g.newly_achieved, g.current_progress) for g in reply.goals] == [
        ("a", pb.GOAL_STATUS_ACHIEVED, True, 2),
        ("b", pb.GOAL_STATUS_ACTIVE, False, 5),
    ]


async def test_evaluate_goals_requires_the_contribution(scoring_stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scoring_stub.EvaluateGoals(
            pb.EvaluateGoalsRequest(goals=[pb.Goal(goal_id="a", target_date="someday")]), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(caught.value)} == {
        "goals[0].target_date",
        "contribution.ended_at",
    }


async def test_rank_insights_over_grpc(scoring_stub: Stub) -> None:
    reply = await scoring_stub.RankInsights(
        pb.RankInsightsRequest(
            person=pb.Person(age_years=45, sex=pb.SEX_MALE),
            figures=pb.HealthFigures(
                mean_daily_steps=4500,
                step_days=6,
                mean_sleep_minutes=400,
                sleep_nights=5,
                mean_daily_water_ml=1500,
                water_days=4,
                week_intensity_minutes=110,
                week_day=7,
            ),
            limit=3,
        ),
        timeout=5,
    )
    assert [(i.rank, i.kind, i.severity) for i in reply.insights] == [
        (1, pb.INSIGHT_KIND_LOW_STEPS, pb.SEVERITY_ALERT),
        (2, pb.INSIGHT_KIND_ACTIVITY_SHORTFALL, pb.SEVERITY_WARNING),  # 40/150 behind
        (3, pb.INSIGHT_KIND_LOW_WATER, pb.SEVERITY_WARNING),  # 500/2,000 short
    ]  # the fourth, sleep (20/420 short), is past the limit
    activity = reply.insights[1]
    assert activity.message.startswith("You are 40 intensity minutes short of 150 this week")
    assert activity.source.startswith("WHO 2020")
    target = next(e for e in activity.evidence if e.name == "weekly_target_intensity_minutes")
    assert (target.value, target.unit) == (150, "min")


async def test_rank_insights_default_limit_and_silence(scoring_stub: Stub) -> None:
    empty = await scoring_stub.RankInsights(pb.RankInsightsRequest(), timeout=5)
    assert list(empty.insights) == []
    # Two days of steps are too few to speak about; the sleep rule has enough nights.
    reply = await scoring_stub.RankInsights(
        pb.RankInsightsRequest(
            figures=pb.HealthFigures(
                mean_daily_steps=1000, step_days=2, mean_sleep_minutes=300, sleep_nights=3
            )
        ),
        timeout=5,
    )
    assert [i.kind for i in reply.insights] == [pb.INSIGHT_KIND_INSUFFICIENT_SLEEP]


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (pb.RankInsightsRequest(limit=21), {"limit"}),
        (pb.RankInsightsRequest(limit=-1), {"limit"}),
        (pb.RankInsightsRequest(person=pb.Person(age_years=131)), {"person.age_years"}),
        (pb.RankInsightsRequest(person=pb.Person(sex=7)), {"person.sex"}),  # type: ignore[arg-type]
        (
            pb.RankInsightsRequest(
                figures=pb.HealthFigures(mean_daily_steps=float("nan"), step_days=8, week_day=9)
            ),
            {"figures.mean_daily_steps", "figures.step_days", "figures.week_day"},
        ),
        (
            pb.RankInsightsRequest(
                person=pb.Person(target_weight_kg=10),
                figures=pb.HealthFigures(latest_weight_kg=500, mean_daily_water_ml=-1),
            ),
            {
                "person.target_weight_kg",
                "figures.latest_weight_kg",
                "figures.mean_daily_water_ml",
            },
        ),
    ],
)
async def test_rank_insights_refuses_bad_figures(
    scoring_stub: Stub, request_: pb.RankInsightsRequest, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await scoring_stub.RankInsights(request_, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in field_violations(caught.value)} == fields


async def test_health_is_serving(scoring_service: services.ServiceProcess) -> None:
    for name in ("", "fitmesh.scoring.v1.ScoringService"):
        status = await services.health_status(scoring_service.address, name)
        assert status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_services_for_grpcurl(scoring_service: services.ServiceProcess) -> None:
    grpcurl = find_binary("grpcurl", str(TOOLS / "grpcurl"))
    listed = subprocess.run(
        [grpcurl, "-plaintext", scoring_service.address, "list"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.split()
    assert "fitmesh.scoring.v1.ScoringService" in listed
    assert "grpc.health.v1.Health" in listed
    # Calls need a service token (reflection does not): the README's way of making one.
    token = subprocess.run(
        [sys.executable, "-m", "servicekit.servicetokens", "scoring_service"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    reply = subprocess.run(
        [
            grpcurl,
            "-plaintext",
            "-H",
            f"authorization: Bearer {token}",
            "-d",
            '{"workout_type":"WORKOUT_TYPE_HIIT","duration_seconds":600}',
            scoring_service.address,
            "fitmesh.scoring.v1.ScoringService/ScoreWorkout",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert json.loads(reply)["score"]["intensity_minutes"] == 20


async def test_request_id_reaches_logs_and_metrics_count_calls(
    scoring_service: services.ServiceProcess, scoring_stub: Stub
) -> None:
    await scoring_stub.ScoreWorkout(
        pb.ScoreWorkoutRequest(workout_type=pb.WORKOUT_TYPE_YOGA, duration_seconds=60),
        metadata=(("x-request-id", "req-trace-me-42"),),
        timeout=5,
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await scoring_stub.ScoreWorkout(pb.ScoreWorkoutRequest(), timeout=5)
    await asyncio.sleep(0.2)
    lines = [
        json.loads(line) for line in scoring_service.log().splitlines() if line.startswith("{")
    ]
    mine = [line for line in lines if line.get("request_id") == "req-trace-me-42"]
    assert mine
    assert mine[-1]["method"] == "ScoreWorkout"
    assert mine[-1]["code"] == "OK"
    assert mine[-1]["service"] == "scoring_service"

    url = f"http://127.0.0.1:{scoring_service.metrics_port}/metrics"
    body = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read().decode())
    ok = 'grpc_method="ScoreWorkout",grpc_service="fitmesh.scoring.v1.ScoringService"'
    assert f'grpc_server_handled_total{{grpc_code="OK",{ok}}}' in body
    assert 'grpc_code="INVALID_ARGUMENT",grpc_method="ScoreWorkout"' in body
    assert "grpc_server_handling_seconds_bucket" in body


async def test_sigterm_reports_not_serving_then_exits_zero() -> None:
    service = await services.start("scoring_service", {"SHUTDOWN_DRAIN_SECONDS": "1.0"})
    seen: list[int] = []
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=15)
        seen.append((await watch.read()).status)
        service.terminate()
        seen.append((await watch.read()).status)
        watch.cancel()
    code = await asyncio.to_thread(service.proc.wait, 20)
    assert seen == [
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    ]
    assert code == 0
    assert '"event": "stopped"' in service.log()


def test_container_health_probe(scoring_service: services.ServiceProcess) -> None:
    probe = [sys.executable, "-m", "servicekit.probe"]
    assert subprocess.run([*probe, scoring_service.address], check=False).returncode == 0
    dead = f"127.0.0.1:{free_port()}"
    assert subprocess.run([*probe, dead], check=False).returncode == 1
