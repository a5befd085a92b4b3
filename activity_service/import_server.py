"""gRPC glue of fitmesh.activity.v1.ImportService, served beside ActivityService: requests
checked, handed to the import jobs (imports.py), answered."""

from __future__ import annotations

from typing import Any

import grpc

from activity_service import imports
from activity_service.checks import athlete_from, check_id, workout_type
from activity_service.store import Doc
from fitmesh.activity.v1 import imports_pb2 as ipb
from fitmesh.activity.v1 import imports_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2 as spb
from servicekit.errors import Violations
from servicekit.protoenum import enum_number
from servicekit.protofields import timestamp

Context = grpc.aio.ServicerContext[Any, Any]
MAX_FILENAME = 255
MAX_CALLBACK_ID = 64


class ImportServicer(imports_pb2_grpc.ImportServiceServicer):
    def __init__(self, jobs: imports.Imports, max_bytes: int) -> None:
        self.jobs, self.max_bytes = jobs, max_bytes

    async def ImportWorkout(
        self, request: ipb.ImportWorkoutRequest, context: Context
    ) -> ipb.ImportWorkoutResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        if len(request.filename) > MAX_FILENAME or "\x00" in request.filename:
            v.add("filename", f"at most {MAX_FILENAME} characters, no NUL")
        if not 0 < len(request.content) <= self.max_bytes:
            v.add("content", f"1 to {self.max_bytes} bytes")
        kind = workout_type(v, request.workout_type, required=False)
        athlete = athlete_from(v, request.athlete)
        if len(request.callback_id) > MAX_CALLBACK_ID:
            v.add("callback_id", f"at most {MAX_CALLBACK_ID} characters")
        v.raise_if_any()
        upload = imports.Upload(
            request.user_id, request.filename, request.content, kind, athlete, request.callback_id
        )
        doc, duplicate = await self.jobs.submit(upload)
        return ipb.ImportWorkoutResponse(workout_import=import_proto(doc), duplicate=duplicate)

    async def GetImport(
        self, request: ipb.GetImportRequest, context: Context
    ) -> ipb.GetImportResponse:
        v = Violations()
        check_id(v, "user_id", request.user_id)
        check_id(v, "import_id", request.import_id)
        v.raise_if_any()
        doc = await self.jobs.get(request.user_id, request.import_id)
        return ipb.GetImportResponse(workout_import=import_proto(doc))


def import_proto(doc: Doc) -> ipb.WorkoutImport:
    message = ipb.WorkoutImport(
        import_id=doc["_id"],
        user_id=doc["user_id"],
        status=enum_number(ipb.ImportStatus, doc["status"]) or 0,  # type: ignore[arg-type]
        format=enum_number(ipb.ImportFormat, doc["format"]) or 0,  # type: ignore[arg-type]
        filename=doc["filename"],
        size_bytes=doc["size_bytes"],
        sha256=doc["sha256"],
        created_at=timestamp(doc["created_at"]),
        updated_at=timestamp(doc["updated_at"]),
        workout_id=doc.get("workout_id") or "",
        error=doc.get("error") or "",
    )
    if doc["status"] == imports.DONE and (s := doc.get("summary")):
        message.summary.CopyFrom(summary_proto(s))
    return message


def summary_proto(s: Doc) -> ipb.ImportSummary:
    message = ipb.ImportSummary(
        workout_type=enum_number(spb.WorkoutType, s["workout_type"]) or 0,  # type: ignore[arg-type]
        start_time=timestamp(s["start_time"]),
        end_time=timestamp(s["end_time"]),
        duration_seconds=s["duration_seconds"],
        heart_rate_samples=s["heart_rate_samples"],
        points=s["points"],
    )
    for name in ("distance_m", "elevation_gain_m", "avg_heart_rate", "max_heart_rate"):
        if s.get(name) is not None:
            setattr(message, name, s[name])
    return message
