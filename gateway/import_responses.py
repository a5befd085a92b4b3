"""Response bodies of workout imports (gateway/routes/imports.py)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from fitmesh.activity.v1 import imports_pb2 as ipb
from fitmesh.scoring.v1 import scoring_pb2 as spb
from gateway.bodies import WorkoutType
from gateway.webhook_models import WebhookCreated
from servicekit.protoenum import enum_name
from servicekit.protofields import optional, to_datetime

ImportStatus = Literal["queued", "parsing", "done", "failed"]
ImportFormat = Literal["gpx", "tcx", "fit"]


class ImportSummary(BaseModel):
    """What the file said, as the workout was made from it."""

    workout_type: WorkoutType
    start_time: dt.datetime
    end_time: dt.datetime
    duration: float = Field(description="Seconds.")
    distance_m: float | None
    elevation_gain_m: float | None = Field(description="Metres climbed.")
    avg_heart_rate: int | None = Field(description="Mean of the samples; the workout's.")
    max_heart_rate: int | None
    heart_rate_samples: int
    points: int = Field(description="Points with a time read from the file.")

    @classmethod
    def from_proto(cls, s: ipb.ImportSummary) -> ImportSummary:
        return cls(
            workout_type=enum_name(spb.WorkoutType, s.workout_type),
            start_time=to_datetime(s.start_time),
            end_time=to_datetime(s.end_time),
            duration=s.duration_seconds,
            distance_m=optional(s, "distance_m"),
            elevation_gain_m=optional(s, "elevation_gain_m"),
            avg_heart_rate=optional(s, "avg_heart_rate"),
            max_heart_rate=optional(s, "max_heart_rate"),
            heart_rate_samples=s.heart_rate_samples,
            points=s.points,
        )


class ImportResponse(BaseModel):
    import_id: str = Field(description="The same for the same user and file.")
    status: ImportStatus
    format: ImportFormat
    filename: str
    size_bytes: int
    sha256: str
    created_at: dt.datetime
    updated_at: dt.datetime
    session_id: str | None = Field(description="The workout made, once done.")
    error: str | None = Field(description="Why it failed, naming the format and the fault.")
    summary: ImportSummary | None
    duplicate: bool = Field(
        False, description="On upload: this file was imported before; this is that import."
    )
    callback: WebhookCreated | None = Field(
        None,
        description="On an upload with callback_url that began work (202): the one-off webhook "
        "the result goes to, with its signing secret, shown here only. Its deliveries are at "
        "/webhooks/{id}/deliveries.",
    )

    @classmethod
    def from_proto(cls, i: ipb.WorkoutImport, duplicate: bool = False) -> ImportResponse:
        return cls(
            import_id=i.import_id,
            status=enum_name(ipb.ImportStatus, i.status),
            format=enum_name(ipb.ImportFormat, i.format),
            filename=i.filename,
            size_bytes=i.size_bytes,
            sha256=i.sha256,
            created_at=to_datetime(i.created_at),
            updated_at=to_datetime(i.updated_at),
            session_id=i.workout_id or None,
            error=i.error or None,
            summary=ImportSummary.from_proto(i.summary) if i.HasField("summary") else None,
            duplicate=duplicate,
        )
