"""Request bodies of the health routes: metric samples and meals. Ranges and units are
the health service's to check (its contract names them); the gateway checks shape."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from pydantic.config import JsonDict

from fitmesh.health.v1 import health_pb2 as hpb
from gateway.bodies import Body, Instant
from servicekit.protoenum import enum_names

METRIC_TYPES = tuple(enum_names(hpb.MetricType))
MetricType = Literal[METRIC_TYPES]  # type: ignore[valid-type]
Period = Literal["day", "week", "month"]
# A day of watch samples (one a minute is 1,440) fits in two batches.
MAX_BATCH = 1000
ClientId = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=128,
        description="The client's id of the record. A record whose id was stored before "
        "is not stored again, so a device re-sync never doubles data. Generated when not "
        "given.",
    ),
]
METRIC_EXAMPLES: dict[str, JsonDict] = {
    "steps": {
        "metric_type": "steps",
        "value": 8412,
        "unit": "steps",
        "recorded_at": "2026-11-30T21:00:00Z",
        "client_id": "watch-7f3a-2026-11-30-steps",
    },
    "sleep": {
        "metric_type": "sleep_minutes",
        "value": 445,
        "start_time": "2026-11-29T23:05:00Z",
        "end_time": "2026-11-30T06:30:00Z",
    },
}
Grams = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False)]


class MetricIn(Body):
    """One sample. Sleep has `start_time` and `end_time` (and `recorded_at` defaults to
    the end); the other types have `recorded_at`."""

    metric_type: MetricType
    value: float = Field(allow_inf_nan=False)
    unit: str | None = Field(
        None, max_length=16, description="The type's unit; another one is refused."
    )
    start_time: Instant | None = None
    end_time: Instant | None = None
    # After end_time, so its check can see it.
    recorded_at: Instant | None = Field(None, validate_default=True)
    client_id: ClientId = None

    model_config = ConfigDict(json_schema_extra={"examples": list(METRIC_EXAMPLES.values())})

    @field_validator("recorded_at")
    @classmethod
    def _when(cls, value: dt.datetime | None, info: ValidationInfo) -> dt.datetime | None:
        if value is None and info.data.get("end_time") is None:
            raise ValueError("is required (sleep may give end_time instead)")
        return value


class MealItemIn(Body):
    name: str = Field(min_length=1, max_length=100)
    quantity_g: float | None = Field(None, ge=0, le=5000, allow_inf_nan=False)
    calories: float | None = Field(None, ge=0, le=10000, allow_inf_nan=False)


class MealIn(Body):
    eaten_at: Instant
    name: str = Field("", max_length=64, description='A label such as "breakfast".')
    calories: float = Field(ge=0, le=10000, allow_inf_nan=False)
    protein_g: Grams = 0
    carbohydrate_g: Grams = 0
    fat_g: Grams = 0
    items: list[MealItemIn] = Field(default_factory=list, max_length=50)
    client_id: ClientId = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "eaten_at": "2026-11-30T12:30:00Z",
                    "name": "lunch",
                    "calories": 640,
                    "protein_g": 38,
                    "carbohydrate_g": 70,
                    "fat_g": 21,
                    "items": [{"name": "lentil soup", "quantity_g": 350, "calories": 320}],
                }
            ]
        }
    )
