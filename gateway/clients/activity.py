"""The activity service, as the routes see it: workouts, statistics, the weekly score and
the group-session archive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from google.protobuf.field_mask_pb2 import FieldMask

from fitmesh.activity.v1 import activity_pb2 as apb
from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway import bodies, responses
from gateway.clients import health, personal
from gateway.clients.backend import Backend
from gateway.idempotency import Attempt
from gateway.settings import GatewaySettings
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp, to_datetime

IDEMPOTENT = (
    "GetWorkout",
    "GetWorkoutSamples",
    "ListWorkouts",
    "GetStatistics",
    "GetActivityScore",
    "GetGroupSession",
    "ListGroupMessages",
    "ListGroupSessions",
    "EndWorkout",
    "SaveGroupSession",
    # Starts and logs carry a request_id, which makes a repeat harmless.
    "StartWorkout",
    "LogWorkout",
    "ActivitySeries",
)

IMPORT_SERVICE = "fitmesh.activity.v1.ImportService"
# An import's id follows from its user and file, which makes a repeat harmless.
IMPORT_IDEMPOTENT = ("ImportWorkout", "GetImport")


def kind(name: str) -> spb.WorkoutType.ValueType:
    return enum_number(spb.WorkoutType, name) or 0  # type: ignore[return-value]


def _measurements(
    request: apb.EndWorkoutRequest | apb.LogWorkoutRequest | apb.UpdateWorkoutRequest,
    body: bodies.WorkoutEnd | bodies.WorkoutLog | bodies.WorkoutEdit,
) -> None:
    """The optional measurements a client gave, onto the request (unset fields stay unset)."""
    if body.avg_heart_rate is not None:
        request.avg_heart_rate = body.avg_heart_rate
    if body.distance_m is not None:
        request.distance_m = body.distance_m


class Activity:
    def __init__(self, settings: GatewaySettings, scoring: Backend) -> None:
        self.backend = Backend(
            "activity_service",
            settings.activity_service_addrs,
            {
                "fitmesh.activity.v1.ActivityService": IDEMPOTENT,
                health.SERVICE: health.IDEMPOTENT,
                personal.DATA_SERVICE: personal.DATA_IDEMPOTENT,
                IMPORT_SERVICE: IMPORT_IDEMPOTENT,
            },
            settings,
        )
        self.stub = activity_pb2_grpc.ActivityServiceStub(self.backend.channel)
        # Scoring is reached through the activity service; its breaker guards those calls.
        self.scoring = scoring

    async def start(
        self, user_id: str, workout_type: str, athlete: spb.Athlete, attempt: Attempt
    ) -> responses.WorkoutStarted:
        reply = await self.backend.call(
            self.stub.StartWorkout,
            apb.StartWorkoutRequest(
                user_id=user_id,
                workout_type=kind(workout_type),
                athlete=athlete,
                request_id=attempt.request_id,
                request_fingerprint=attempt.fingerprint,
            ),
        )
        w = reply.workout
        return responses.WorkoutStarted(
            session_id=w.workout_id, start_time=w.start_time.ToDatetime(tzinfo=dt.UTC)
        )

    async def end(
        self, user_id: str, workout_id: str, body: bodies.WorkoutEnd
    ) -> responses.WorkoutResponse:
        request = apb.EndWorkoutRequest(user_id=user_id, workout_id=workout_id)
        if body.end_time is not None:
            request.end_time.CopyFrom(timestamp(body.end_time))
        _measurements(request, body)
        reply = await self.backend.call(self.stub.EndWorkout, request)
        return responses.WorkoutResponse.from_proto(reply.workout)

    async def log(
        self, user_id: str, body: bodies.WorkoutLog, athlete: spb.Athlete, attempt: Attempt
    ) -> responses.WorkoutResponse:
        request = apb.LogWorkoutRequest(
            user_id=user_id,
            workout_type=kind(body.workout_type),
            start_time=timestamp(body.start_time),
            end_time=timestamp(body.end_time),
            athlete=athlete,
            request_id=attempt.request_id,
            request_fingerprint=attempt.fingerprint,
        )
        _measurements(request, body)
        reply = await self.backend.call(self.stub.LogWorkout, request)
        return responses.WorkoutResponse.from_proto(reply.workout)

    async def workout(self, user_id: str, workout_id: str) -> responses.WorkoutResponse:
        reply = await self.backend.call(
            self.stub.GetWorkout, apb.GetWorkoutRequest(user_id=user_id, workout_id=workout_id)
        )
        return responses.WorkoutResponse.from_proto(reply.workout)

    async def samples(self, user_id: str, workout_id: str) -> responses.WorkoutSamples:
        reply = await self.backend.call(
            self.stub.GetWorkoutSamples,
            apb.GetWorkoutSamplesRequest(user_id=user_id, workout_id=workout_id),
        )
        return responses.WorkoutSamples.from_proto(workout_id, reply)

    async def update(
        self, user_id: str, workout_id: str, body: bodies.WorkoutEdit, versions: Sequence[int]
    ) -> responses.WorkoutResponse:
        """The fields the body names, changed (a measurement named as null is cleared)."""
        request = apb.UpdateWorkoutRequest(
            user_id=user_id,
            workout_id=workout_id,
            update_mask=FieldMask(paths=sorted(body.model_fields_set)),
            expected_versions=versions,
        )
        if body.workout_type is not None:
            request.workout_type = kind(body.workout_type)
        for name in ("start_time", "end_time"):
            if (at := getattr(body, name)) is not None:
                getattr(request, name).CopyFrom(timestamp(at))
        _measurements(request, body)
        # Scored again on the way: the scoring breaker guards it too.
        reply = await self.backend.call(self.stub.UpdateWorkout, request, through=self.scoring)
        return responses.WorkoutResponse.from_proto(reply.workout)

    async def delete(self, user_id: str, workout_id: str, versions: Sequence[int]) -> None:
        request = apb.DeleteWorkoutRequest(
            user_id=user_id, workout_id=workout_id, expected_versions=versions
        )
        await self.backend.call(self.stub.DeleteWorkout, request)

    async def workouts(
        self,
        user_id: str,
        limit: int,
        cursor: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        workout_type: str | None,
    ) -> responses.WorkoutPage:
        request = apb.ListWorkoutsRequest(user_id=user_id, page_size=limit, page_token=cursor or "")
        if since is not None:
            request.from_time.CopyFrom(timestamp(since))
        if until is not None:
            request.to_time.CopyFrom(timestamp(until))
        if workout_type is not None:
            request.workout_type = kind(workout_type)
        reply = await self.backend.call(self.stub.ListWorkouts, request)
        return responses.WorkoutPage(
            items=[responses.WorkoutResponse.from_proto(w) for w in reply.workouts],
            next_cursor=reply.next_page_token or None,
        )

    async def statistics(self, user_id: str) -> responses.Statistics:
        reply = await self.backend.call(
            self.stub.GetStatistics, apb.GetStatisticsRequest(user_id=user_id)
        )
        return responses.Statistics.from_proto(reply.statistics)

    async def activity_score(self, user_id: str, week: str | None) -> responses.ActivityScore:
        reply = await self.backend.call(
            self.stub.GetActivityScore,
            apb.GetActivityScoreRequest(user_id=user_id, week=week or ""),
            through=self.scoring,
        )
        return responses.ActivityScore.from_proto(reply)

    async def save_group_session(self, session: apb.GroupSession) -> None:
        await self.backend.call(
            self.stub.SaveGroupSession, apb.SaveGroupSessionRequest(session=session)
        )

    async def group_session(self, session_id: str, member_id: str) -> responses.GroupSession:
        """An ended session's summary, for someone who took part (404 for anyone else)."""
        reply = await self.backend.call(
            self.stub.GetGroupSession,
            apb.GetGroupSessionRequest(session_id=session_id, member_id=member_id, summary=True),
        )
        return responses.GroupSession.from_proto(reply.session)

    async def group_messages(
        self, session_id: str, member_id: str, limit: int, cursor: str | None
    ) -> responses.GroupMessagePage:
        reply = await self.backend.call(
            self.stub.ListGroupMessages,
            apb.ListGroupMessagesRequest(
                session_id=session_id, member_id=member_id, page_size=limit, page_token=cursor or ""
            ),
        )
        return responses.GroupMessagePage(
            items=[
                responses.GroupMessage(
                    user_id=m.user_id, message=m.text, sent_at=to_datetime(m.sent_at)
                )
                for m in reply.messages
            ],
            next_cursor=reply.next_page_token or None,
        )

    async def group_sessions(
        self, user_id: str, limit: int, cursor: str | None
    ) -> responses.GroupSessionPage:
        """A page of the ended sessions the user owned or joined, newest start first."""
        reply = await self.backend.call(
            self.stub.ListGroupSessions,
            apb.ListGroupSessionsRequest(user_id=user_id, page_size=limit, page_token=cursor or ""),
        )
        return responses.GroupSessionPage(
            items=[responses.GroupSession.from_proto(s) for s in reply.sessions],
            next_cursor=reply.next_page_token or None,
        )
