"""gRPC glue of the activity service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import grpc
import redis.asyncio as aioredis

from activity_service import history, rules, series, transcripts, weeks, workout_samples
from activity_service.checks import (
    MAX_ID,
    athlete_from,
    check_id,
    check_token,
    check_versions,
    edit_changes,
    workout_type,
)
from activity_service.events import EventPublisher
from activity_service.health_server import HealthServicer
from activity_service.import_server import ImportServicer
from activity_service.imports import Imports, ParsePool
from activity_service.personal_data import PersonalData
from activity_service.personal_data_server import PersonalDataServicer
from activity_service.recovery import Recovery
from activity_service.scoring import Scorer
from activity_service.settings import ActivitySettings
from activity_service.store import Store
from activity_service.views import (
    group_message_proto,
    group_session_proto,
    samples_proto,
    series_proto,
    statistics_proto,
    workout_proto,
)
from activity_service.workouts import Workouts, now
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc, imports_pb2_grpc, personal_data_pb2_grpc
from fitmesh.activity.v1 import imports_pb2 as ipb
from fitmesh.activity.v1 import personal_data_pb2 as dpb
from fitmesh.health.v1 import health_pb2 as hpb
from fitmesh.health.v1 import health_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.scoring.v1 import scoring_pb2_grpc
from servicekit import channels, pagination, servicetokens
from servicekit.background import Background
from servicekit.errors import NotFound, Violations
from servicekit.protoenum import enum_name
from servicekit.protofields import optional, to_datetime
from servicekit.server import Service

Context = grpc.aio.ServicerContext[Any, Any]


class ActivityServicer(activity_pb2_grpc.ActivityServiceServicer):
    def __init__(self, store: Store, workouts: Workouts) -> None:
        self.store, self.workouts, self.scoring = store, workouts, workouts.scorer
        self.transcripts = transcripts.Transcripts(store)

    async def StartWorkout(
        self, request: pb.StartWorkoutRequest, context: Context
    ) -> pb.StartWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        kind = workout_type(v, request.workout_type)
        athlete = athlete_from(v, request.athlete)
        check_token(v, request.request_id, request.request_fingerprint)
        v.raise_if_any()
        doc = await self.workouts.start(
            request.user_id, kind, athlete, request.request_id, request.request_fingerprint
        )
        return pb.StartWorkoutResponse(workout=workout_proto(doc))

    async def EndWorkout(
        self, request: pb.EndWorkoutRequest, context: Context
    ) -> pb.EndWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        check_id(v, "workout_id", request.workout_id)
        v.raise_if_any()
        doc = await self.workouts.end(
            request.user_id,
            request.workout_id,
            to_datetime(request.end_time) if request.HasField("end_time") else None,
            optional(request, "avg_heart_rate"),
            optional(request, "distance_m"),
        )
        return pb.EndWorkoutResponse(workout=workout_proto(doc))

    async def LogWorkout(
        self, request: pb.LogWorkoutRequest, context: Context
    ) -> pb.LogWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        kind = workout_type(v, request.workout_type)
        athlete = athlete_from(v, request.athlete)
        hr, distance = optional(request, "avg_heart_rate"), optional(request, "distance_m")
        rules.check_measurements(v, hr, distance)
        check_token(v, request.request_id, request.request_fingerprint)
        for name in ("start_time", "end_time"):
            if not request.HasField(name):
                v.add(name, "is required")
        v.raise_if_any()
        start, end = to_datetime(request.start_time), to_datetime(request.end_time)
        rules.check_period(v, start, end, now())
        v.raise_if_any()
        doc = await self.workouts.log(
            request.user_id,
            kind,
            start,
            end,
            hr,
            distance,
            athlete,
            request.request_id,
            request.request_fingerprint,
        )
        return pb.LogWorkoutResponse(workout=workout_proto(doc))

    async def GetWorkout(
        self, request: pb.GetWorkoutRequest, context: Context
    ) -> pb.GetWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        check_id(v, "workout_id", request.workout_id)
        v.raise_if_any()
        doc = await self.workouts.owned(request.user_id, request.workout_id)
        return pb.GetWorkoutResponse(workout=workout_proto(doc))

    async def GetWorkoutSamples(
        self, request: pb.GetWorkoutSamplesRequest, context: Context
    ) -> pb.GetWorkoutSamplesResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        check_id(v, "workout_id", request.workout_id)
        v.raise_if_any()
        await self.workouts.owned(request.user_id, request.workout_id)  # not found: not yours
        found = await workout_samples.of(self.store, request.workout_id)
        if found is None:
            raise NotFound("the workout has no samples")
        return samples_proto(*found)

    async def UpdateWorkout(
        self, request: pb.UpdateWorkoutRequest, context: Context
    ) -> pb.UpdateWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        check_id(v, "workout_id", request.workout_id)
        check_versions(v, request.expected_versions)
        changes = edit_changes(v, request)
        v.raise_if_any()
        doc = await self.workouts.revisions.edit(
            request.user_id, request.workout_id, changes, request.expected_versions
        )
        return pb.UpdateWorkoutResponse(workout=workout_proto(doc))

    async def DeleteWorkout(
        self, request: pb.DeleteWorkoutRequest, context: Context
    ) -> pb.DeleteWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        check_id(v, "workout_id", request.workout_id)
        check_versions(v, request.expected_versions)
        v.raise_if_any()
        await self.workouts.revisions.delete(
            request.user_id, request.workout_id, request.expected_versions
        )
        return pb.DeleteWorkoutResponse()

    async def ListWorkouts(
        self, request: pb.ListWorkoutsRequest, context: Context
    ) -> pb.ListWorkoutsResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        kind = workout_type(v, request.workout_type, required=False)
        v.raise_if_any()
        limit = pagination.page_size(request.page_size)
        query = history.Query(
            user_id=request.user_id,
            limit=limit + 1,
            after=pagination.decode(request.page_token),
            since=to_datetime(request.from_time) if request.HasField("from_time") else None,
            until=to_datetime(request.to_time) if request.HasField("to_time") else None,
            kind=kind,
        )
        docs, token = pagination.split(await history.page(self.store, query), limit, "start_time")
        return pb.ListWorkoutsResponse(
            workouts=[workout_proto(d) for d in docs], next_page_token=token
        )

    async def GetStatistics(
        self, request: pb.GetStatisticsRequest, context: Context
    ) -> pb.GetStatisticsResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        v.raise_if_any()
        week = weeks.name(dt.datetime.now(dt.UTC))
        totals, weekly = await history.totals_of(self.store, request.user_id, week)
        stats = statistics_proto(request.user_id, totals, weekly, week)
        return pb.GetStatisticsResponse(statistics=stats)

    async def GetActivityScore(
        self, request: pb.GetActivityScoreRequest, context: Context
    ) -> pb.GetActivityScoreResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        week = request.week or weeks.name(dt.datetime.now(dt.UTC))
        weeks.check(v, "week", week)
        v.raise_if_any()
        scored = await history.week_workouts(self.store, request.user_id, week)
        score = await self.scoring.week(scored)
        return pb.GetActivityScoreResponse(week=week, score=score, workouts=len(scored))

    async def ActivitySeries(
        self, request: pb.ActivitySeriesRequest, context: Context
    ) -> pb.ActivitySeriesResponse:
        """Documents touched: the totals (1) and the buckets of the non-empty ISO weeks the
        periods overlap, at most 1 + series.MAX_WEEKS (63) for any range and history."""
        v = Violations()
        check_id(v, "user_id", request.user_id)
        period = series.period_named(enum_name(hpb.Period, request.period))
        if period is None:
            v.add("period", "unknown or missing period")
        since, until = to_datetime(request.since), to_datetime(request.until)
        series.check_range(
            v,
            since if request.HasField("since") else None,
            until if request.HasField("until") else None,
        )
        v.raise_if_any()
        assert period is not None, "checked above"
        points = await series.read(self.store, request.user_id, period, since, until)
        return series_proto(points)

    async def SaveGroupSession(
        self, request: pb.SaveGroupSessionRequest, context: Context
    ) -> pb.SaveGroupSessionResponse:
        doc = group_session_doc(request.session)
        await self.transcripts.save(doc)
        return pb.SaveGroupSessionResponse(session=group_session_proto(doc))

    async def GetGroupSession(
        self, request: pb.GetGroupSessionRequest, context: Context
    ) -> pb.GetGroupSessionResponse:
        v = Violations()
        check_id(v, "session_id", request.session_id)
        if len(request.member_id) > MAX_ID:
            v.add("member_id", f"at most {MAX_ID} characters")
        v.raise_if_any()
        doc = await self.transcripts.archive(request.session_id, request.member_id, request.summary)
        return pb.GetGroupSessionResponse(session=group_session_proto(doc))

    async def ListGroupMessages(
        self, request: pb.ListGroupMessagesRequest, context: Context
    ) -> pb.ListGroupMessagesResponse:
        v = Violations()
        check_id(v, "session_id", request.session_id)
        check_id(v, "member_id", request.member_id)
        v.raise_if_any()
        size = pagination.page_size(request.page_size, default=transcripts.PAGE)
        docs, token = await self.transcripts.page(
            request.session_id, request.member_id, size, request.page_token
        )
        return pb.ListGroupMessagesResponse(
            messages=[group_message_proto(d) for d in docs], next_page_token=token
        )

    async def ListGroupSessions(
        self, request: pb.ListGroupSessionsRequest, context: Context
    ) -> pb.ListGroupSessionsResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        v.raise_if_any()
        size = pagination.page_size(request.page_size, default=transcripts.SESSIONS_PAGE)
        docs, token = await self.transcripts.sessions_of(request.user_id, size, request.page_token)
        return pb.ListGroupSessionsResponse(
            sessions=[group_session_proto(d) for d in docs], next_page_token=token
        )


def group_session_doc(s: pb.GroupSession) -> dict[str, Any]:
    v = Violations()
    check_id(v, "session.session_id", s.session_id)
    check_id(v, "session.owner_id", s.owner_id)
    if len(s.name) > 200:
        v.add("session.name", "at most 200 characters")
    if len(s.member_ids) > rules.MAX_MEMBERS:
        v.add("session.member_ids", f"at most {rules.MAX_MEMBERS} members")
    if len(s.messages) + len(s.exercise_updates) > rules.MAX_ARCHIVED_ITEMS:
        v.add("session.messages", f"at most {rules.MAX_ARCHIVED_ITEMS} messages and updates")
    for i, m in enumerate(s.messages):
        if len(m.text) > rules.MAX_MESSAGE:
            v.add(f"session.messages[{i}].text", f"at most {rules.MAX_MESSAGE} characters")
    for i, u in enumerate(s.exercise_updates):
        rules.check_exercise_update(v, f"session.exercise_updates[{i}].data_json", u.data_json)
    for name in ("started_at", "ended_at"):
        if not s.HasField(name):
            v.add(f"session.{name}", "is required")
    if (
        s.HasField("started_at")
        and s.HasField("ended_at")
        and s.ended_at.ToDatetime() < s.started_at.ToDatetime()
    ):
        v.add("session.ended_at", "must not be before started_at")
    v.raise_if_any()
    return {
        "_id": s.session_id,
        "name": s.name,
        "owner_id": s.owner_id,
        "workout_type": enum_name(spb.WorkoutType, s.workout_type) or "",
        "member_ids": list(s.member_ids),
        "messages": [
            {"user_id": m.user_id, "text": m.text, "sent_at": to_datetime(m.sent_at)}
            for m in s.messages
        ],
        "exercise_updates": [
            {"user_id": u.user_id, "data_json": u.data_json, "sent_at": to_datetime(u.sent_at)}
            for u in s.exercise_updates
        ],
        "started_at": to_datetime(s.started_at),
        "ended_at": to_datetime(s.ended_at),
        "dropped_items": max(0, s.dropped_items),
    }


class Resources:
    """Opened on the serving loop: gRPC channels and tasks belong to the loop they start on."""

    def __init__(self, settings: ActivitySettings) -> None:
        self.settings = settings
        self.store = Store(settings.mongodb_url, settings.mongodb_database)
        self.redis = aioredis.from_url(settings.redis_url, decode_responses=True)
        # Made with the service, so a missing SERVICE_SIGNING_KEY stops it before it serves.
        self.caller = servicetokens.Minter.from_setting(
            servicetokens.ACTIVITY_SERVICE, settings.service_signing_key, settings.environment
        )
        self._channel: grpc.aio.Channel | None = None
        self._recovery: Background | None = None
        self._import_recovery: Background | None = None
        self.workouts: Workouts | None = None
        self.imports: Imports | None = None
        self.events = EventPublisher(self.redis, settings.stream_max_length)

    async def start(self) -> None:
        await self.store.start()
        await workout_samples.prepare(self.store)
        self._channel = channels.scoring_channel(self.settings.scoring_service_addrs, self.caller)
        scorer = Scorer(
            scoring_pb2_grpc.ScoringServiceStub(self._channel),
            self.settings.scoring_deadline_seconds,
        )
        grace = dt.timedelta(seconds=self.settings.settle_grace_seconds)
        self.workouts = Workouts(self.store, scorer, self.events, grace)
        recovery = Recovery(self.store, self.workouts, grace)
        interval = self.settings.recovery_interval_seconds
        self._recovery = Background(lambda: recovery.recover_forever(interval))
        self._recovery.start()
        imports = Imports(
            self.store,
            self.workouts,
            self.events,
            ParsePool(self.settings.import_workers, self.settings.import_max_samples),
            dt.timedelta(seconds=self.settings.import_lease_seconds),
            self.settings.import_max_attempts,
        )
        self.imports = imports
        self._import_recovery = Background(lambda: imports.recover_forever(interval))
        self._import_recovery.start()

    async def stop(self) -> None:
        if self._recovery:
            await self._recovery.stop()
        if self._import_recovery:
            await self._import_recovery.stop()
        if self.imports:
            await self.imports.stop()
        if self._channel:
            await self._channel.close()
        await self.redis.aclose()
        await self.store.stop()


def build(settings: ActivitySettings) -> Service:
    resources = Resources(settings)

    def register(server: grpc.aio.Server) -> None:
        assert resources.workouts is not None, "resources start before registration"
        servicer = ActivityServicer(resources.store, resources.workouts)
        activity_pb2_grpc.add_ActivityServiceServicer_to_server(servicer, server)
        health = HealthServicer(resources.store, resources.workouts.scorer, resources.events)
        health_pb2_grpc.add_HealthServiceServicer_to_server(health, server)
        data = PersonalDataServicer(PersonalData(resources.store))
        personal_data_pb2_grpc.add_PersonalDataServiceServicer_to_server(data, server)
        assert resources.imports is not None, "resources start before registration"
        jobs = ImportServicer(resources.imports, settings.import_max_bytes)
        imports_pb2_grpc.add_ImportServiceServicer_to_server(jobs, server)

    return Service(
        name="activity_service",
        full_names=[
            pb.DESCRIPTOR.services_by_name["ActivityService"].full_name,
            hpb.DESCRIPTOR.services_by_name["HealthService"].full_name,
            dpb.DESCRIPTOR.services_by_name["PersonalDataService"].full_name,
            ipb.DESCRIPTOR.services_by_name["ImportService"].full_name,
        ],
        register=register,
        probes=[resources.store.ping],
        lifecycles=[resources],
    )
