"""Goal progress from the workout stream: `workout.completed`, `workout.updated` and
`workout.deleted`, each a version of one workout, applied with exactly-once effect whatever
order they arrive in.

Each event is applied in one transaction that holds the user's account (events of users
with no account here change nothing) and records the version as the workout's newest
(contributions.claim_workout_version): an older or repeated one changes nothing. The
first version seen of a workout counts toward the user's workout goals that take new
workouts, active or achieved (an achieved goal keeps what it adds, in case a change takes
the goal below its target again); a later version changes what it added to the goals it
counted toward, and a deletion takes that back. What a workout adds to a goal is the
scoring service's rule (EvaluateGoals of the goal at zero progress), kept per goal and
workout; the goal's progress and status follow from all of them, in the order they came
(rules.replay). An achieved goal a change takes below its target is no longer achieved and
says so with a `goal_unachieved` alert; achieved again, it gets a new `goal_achieved` one."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit.events import WORKOUT_COMPLETED, WorkoutCompleted, WorkoutDeleted, WorkoutEvent
from servicekit.protoenum import enum_number
from user_service import contributions, rules
from user_service import store as db
from user_service.views import goal_json

log = structlog.get_logger("events")
Row = dict[str, Any]


class WorkoutGoals:
    def __init__(
        self, store: db.Store, scoring: scoring_pb2_grpc.ScoringServiceStub, deadline: float
    ) -> None:
        self.store, self.scoring, self.deadline = store, scoring, deadline

    async def apply(self, event: WorkoutEvent, user_id: uuid.UUID) -> bool:
        """Apply one event in one transaction; False when it was applied before (or an
        older version of its workout was)."""
        deleted = isinstance(event, WorkoutDeleted)
        async with self.store.transaction() as conn:
            if not await contributions.hold_user(conn, user_id):
                return True  # no account here (another database's, or erased): no goals
            completed = event.TYPE == WORKOUT_COMPLETED
            if completed and not await db.record_event(conn, event.event_id):
                return False  # a repeat, or counted before contributions were kept
            seen = await contributions.claim_workout_version(
                conn, event.workout_id, user_id, event.version, deleted
            )
            if seen is None:
                return False
            if seen == 0 and (deleted or not completed):
                if await contributions.event_recorded(conn, event.workout_id):
                    # Counted before contributions were kept: its goals' untracked progress
                    # holds it, and what it added to each is not known.
                    log.info("workout_change_not_traced", workout_id=event.workout_id)
                    return True
                if deleted:
                    return True  # deleted before it was seen: it never counts
            if seen == 0:
                goals = await contributions.goals_counting_workouts(
                    conn, user_id, rules.WORKOUT_GOAL_TYPES
                )
            else:
                goals = await contributions.goals_of_workout(conn, event.workout_id)
            if goals:
                await self._count(conn, user_id, goals, event)
        return True

    async def _count(
        self, conn: db.Conn, user_id: uuid.UUID, goals: list[Row], event: WorkoutEvent
    ) -> None:
        """The workout's new contribution to each goal (none when deleted), and the goal's
        progress and status from all of its contributions."""
        added: dict[str, tuple[float, bool]] = {}
        at = dt.datetime.now(dt.UTC)
        if isinstance(event, WorkoutCompleted):
            at = event.ended_at
            reply = await self.scoring.EvaluateGoals(_alone(goals, event), timeout=self.deadline)
            added = {
                p.goal_id: (p.current_progress, p.status == spb.GOAL_STATUS_EXPIRED)
                for p in reply.goals
            }
        for goal in goals:
            goal_id = goal["goal_id"]
            amount, late = added.get(str(goal_id), (0.0, False))
            if isinstance(event, WorkoutCompleted):
                await contributions.put_contribution(conn, goal_id, event.workout_id, amount)
            else:
                await contributions.drop_contribution(conn, goal_id, event.workout_id)
            amounts = await contributions.contributions(conn, goal_id)
            progress, reached = rules.replay(
                goal["target_value"], goal["untracked_progress"], amounts
            )
            status = rules.workout_goal_status(goal["status"], reached, late)
            await _settle(conn, user_id, goal, progress, status, at)


async def _settle(
    conn: db.Conn, user_id: uuid.UUID, goal: Row, progress: float, status: str, at: dt.datetime
) -> None:
    """Store a goal's new standing; alert when it turned achieved or stopped being so."""
    if (progress, status) == (goal["current_progress"], goal["status"]):
        return
    achieved, was = status == "achieved", goal["status"] == "achieved"
    round_ = goal["round"] + (1 if was and not achieved else 0)
    achieved_at = goal["achieved_at"] if achieved == was else (at if achieved else None)
    row = await contributions.set_standing(
        conn, goal["goal_id"], progress, status, achieved_at, round_
    )
    if achieved != was:
        kind = "goal_achieved" if achieved else "goal_unachieved"
        await db.add_notification(conn, user_id, goal["goal_id"], goal_json(row), kind, round_)


def _alone(goals: list[Row], event: WorkoutCompleted) -> spb.EvaluateGoalsRequest:
    """Each goal as if this workout were its first: the progress it comes back with is what
    the workout adds to it (EXPIRED: nothing, it ended after the goal's target date)."""
    ended = spb.Contribution(
        duration_seconds=event.duration,
        calories_burned=event.calories_burned,
        intensity_minutes=event.intensity_minutes,
        distance_m=event.distance_m,
    )
    ended.ended_at.FromDatetime(event.ended_at.astimezone(dt.UTC))
    return spb.EvaluateGoalsRequest(
        goals=[
            spb.Goal(
                goal_id=str(g["goal_id"]),
                goal_type=enum_number(spb.GoalType, g["goal_type"]) or 0,  # type: ignore[arg-type]
                target_value=g["target_value"],
                current_progress=0.0,
                target_date=g["target_date"].isoformat(),
                status=spb.GOAL_STATUS_ACTIVE,
            )
            for g in goals
        ],
        contribution=ended,
    )
