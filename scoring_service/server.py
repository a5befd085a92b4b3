"""gRPC glue for the scoring rules: proto in, rules, proto out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc

from fitmesh.scoring.v1 import scoring_pb2 as pb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from scoring_service import insights, rules
from servicekit.errors import Violations
from servicekit.protoenum import enum_name, enum_number
from servicekit.protofields import optional, to_datetime
from servicekit.server import Service

Context = grpc.aio.ServicerContext[Any, Any]


def athlete_from(message: pb.Athlete) -> rules.Athlete:
    return rules.Athlete(
        weight_kg=optional(message, "weight_kg"),
        age_years=optional(message, "age_years"),
        resting_heart_rate=optional(message, "resting_heart_rate"),
        max_heart_rate=optional(message, "max_heart_rate"),
    )


def workout_from(request: pb.ScoreWorkoutRequest) -> rules.Workout:
    v = Violations()
    duration = request.duration_seconds
    has_start, has_end = request.HasField("start_time"), request.HasField("end_time")
    if has_start != has_end:
        v.add("end_time" if has_start else "start_time", "start_time and end_time go together")
    elif has_start:
        between = rules.duration_between(
            v, to_datetime(request.start_time), to_datetime(request.end_time)
        )
        if duration and abs(duration - between) > 1:
            v.add("duration_seconds", "disagrees with end_time - start_time")
        duration = between
    workout = rules.Workout(
        workout_type=enum_name(pb.WorkoutType, request.workout_type) or "",
        duration_seconds=duration,
        avg_heart_rate=optional(request, "avg_heart_rate"),
        distance_m=optional(request, "distance_m"),
        athlete=athlete_from(request.athlete),
    )
    rules.validate_workout(v, workout)
    v.raise_if_any()
    return workout


def score_to_proto(score: rules.WorkoutScore) -> pb.WorkoutScore:
    return pb.WorkoutScore(
        met=score.met,
        intensity=enum_number(pb.Intensity, score.intensity) or 0,  # type: ignore[arg-type]
        intensity_source=enum_number(pb.IntensitySource, score.intensity_source) or 0,  # type: ignore[arg-type]
        calories_burned=score.calories_burned,
        moderate_minutes=score.moderate_minutes,
        vigorous_minutes=score.vigorous_minutes,
        intensity_minutes=score.intensity_minutes,
        points=score.points,
        weight_kg_used=score.weight_kg_used,
    )


def _week_workouts(request: pb.ScoreWeekRequest) -> list[rules.WeekWorkout]:
    v = Violations()
    for i, w in enumerate(request.workouts):
        if not w.HasField("start_time"):
            v.add(f"workouts[{i}].start_time", "is required")
    v.raise_if_any()
    return [
        rules.WeekWorkout(
            workout_type=enum_name(pb.WorkoutType, w.workout_type) or "",
            start_time=to_datetime(w.start_time),
            moderate_minutes=w.moderate_minutes,
            vigorous_minutes=w.vigorous_minutes,
        )
        for w in request.workouts
    ]


def _goals(request: pb.EvaluateGoalsRequest) -> tuple[list[rules.Goal], rules.Contribution]:
    v = Violations()
    goals: list[rules.Goal] = []
    for i, g in enumerate(request.goals):
        goal_type = enum_name(pb.GoalType, g.goal_type)
        status = enum_name(pb.GoalStatus, g.status)
        try:
            target_date = dt.date.fromisoformat(g.target_date)
        except ValueError:
            v.add(f"goals[{i}].target_date", "must be a date as YYYY-MM-DD")
            continue
        if goal_type is None:
            v.add(f"goals[{i}].goal_type", "is required")
        if status is None:
            v.add(f"goals[{i}].status", "is required")
        if goal_type is None or status is None:
            continue
        goals.append(
            rules.Goal(
                goal_id=g.goal_id,
                goal_type=rules.GoalType(goal_type),
                target_value=g.target_value,
                current_progress=g.current_progress,
                target_date=target_date,
                status=rules.GoalStatus(status),
            )
        )
    c = request.contribution
    if not request.HasField("contribution") or not c.HasField("ended_at"):
        v.add("contribution.ended_at", "is required")
    v.raise_if_any()
    contribution = rules.Contribution(
        ended_at=to_datetime(c.ended_at),
        duration_seconds=c.duration_seconds,
        calories_burned=c.calories_burned,
        intensity_minutes=c.intensity_minutes,
        distance_m=c.distance_m,
    )
    return goals, contribution


def _person(v: Violations, message: pb.Person) -> insights.Person:
    sex = enum_name(pb.Sex, message.sex)
    if sex is None and message.sex != pb.SEX_UNSPECIFIED:
        v.add("person.sex", f"unknown sex {message.sex}")
    return insights.Person(
        age_years=optional(message, "age_years"),
        sex=insights.Sex(sex) if sex else None,
        weight_kg=optional(message, "weight_kg"),
        target_weight_kg=optional(message, "target_weight_kg"),
    )


def _figures(message: pb.HealthFigures) -> insights.HealthFigures:
    return insights.HealthFigures(
        mean_daily_steps=optional(message, "mean_daily_steps"),
        step_days=message.step_days,
        mean_sleep_minutes=optional(message, "mean_sleep_minutes"),
        sleep_nights=message.sleep_nights,
        mean_resting_heart_rate=optional(message, "mean_resting_heart_rate"),
        resting_heart_rate_days=message.resting_heart_rate_days,
        first_weight_kg=optional(message, "first_weight_kg"),
        latest_weight_kg=optional(message, "latest_weight_kg"),
        weight_span_days=message.weight_span_days,
        mean_daily_water_ml=optional(message, "mean_daily_water_ml"),
        water_days=message.water_days,
        mean_daily_protein_g=optional(message, "mean_daily_protein_g"),
        mean_daily_carbohydrate_g=optional(message, "mean_daily_carbohydrate_g"),
        mean_daily_fat_g=optional(message, "mean_daily_fat_g"),
        meal_days=message.meal_days,
        week_intensity_minutes=message.week_intensity_minutes,
        week_day=message.week_day,
    )


def _insight_request(
    request: pb.RankInsightsRequest,
) -> tuple[insights.Person, insights.HealthFigures, int]:
    v = Violations()
    person, figures = _person(v, request.person), _figures(request.figures)
    insights.validate(v, person, figures)
    v.check_range("limit", request.limit, 0, insights.MAX_LIMIT)
    v.raise_if_any()
    return person, figures, request.limit or insights.DEFAULT_LIMIT


def insight_to_proto(insight: insights.Insight) -> pb.Insight:
    return pb.Insight(
        kind=enum_number(pb.InsightKind, insight.kind) or 0,  # type: ignore[arg-type]
        severity=enum_number(pb.Severity, insight.severity) or 0,  # type: ignore[arg-type]
        message=insight.message,
        evidence=[pb.Evidence(name=e.name, value=e.value, unit=e.unit) for e in insight.evidence],
        rank=insight.rank,
        source=insight.source,
    )


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    async def ScoreWorkout(
        self, request: pb.ScoreWorkoutRequest, context: Context
    ) -> pb.ScoreWorkoutResponse:
        score = rules.score_workout(workout_from(request))
        return pb.ScoreWorkoutResponse(score=score_to_proto(score))

    async def ScoreWeek(
        self, request: pb.ScoreWeekRequest, context: Context
    ) -> pb.ScoreWeekResponse:
        week = rules.score_week(_week_workouts(request))
        return pb.ScoreWeekResponse(
            score=week.score,
            moderate_minutes=week.moderate_minutes,
            vigorous_minutes=week.vigorous_minutes,
            intensity_minutes=week.intensity_minutes,
            meets_guideline=week.meets_guideline,
            upper_target_percent=week.upper_target_percent,
            strength_days=week.strength_days,
            meets_strength_guideline=week.meets_strength_guideline,
        )

    async def EvaluateGoals(
        self, request: pb.EvaluateGoalsRequest, context: Context
    ) -> pb.EvaluateGoalsResponse:
        goals, contribution = _goals(request)
        progress = rules.evaluate_goals(goals, contribution)
        return pb.EvaluateGoalsResponse(
            goals=[
                pb.GoalProgress(
                    goal_id=p.goal_id,
                    current_progress=p.current_progress,
                    progress_percent=p.progress_percent,
                    status=enum_number(pb.GoalStatus, p.status) or 0,  # type: ignore[arg-type]
                    newly_achieved=p.newly_achieved,
                )
                for p in progress
            ]
        )

    async def RankInsights(
        self, request: pb.RankInsightsRequest, context: Context
    ) -> pb.RankInsightsResponse:
        person, figures, limit = _insight_request(request)
        ranked = insights.rank(person, figures, limit)
        return pb.RankInsightsResponse(insights=[insight_to_proto(i) for i in ranked])


def build() -> Service:
    return Service(
        name="scoring_service",
        full_names=[pb.DESCRIPTOR.services_by_name["ScoringService"].full_name],
        register=lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
            ScoringServicer(), server
        ),
    )
