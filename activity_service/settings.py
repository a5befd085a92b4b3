"""Settings of the activity service."""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class ActivitySettings(ServiceSettings):
    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "fitmesh"
    redis_url: str = "redis://127.0.0.1:6379/0"
    scoring_service_addrs: str = "127.0.0.1:50053"
    scoring_deadline_seconds: float = Field(default=2.0, gt=0)
    # How often unfinished work (pending scores, totals, events) is looked for and finished.
    recovery_interval_seconds: float = Field(default=5.0, gt=0)
    # Longer than any end or log takes: recovery leaves a workout alone this long after
    # its end began, and retries an attempt that crashed after it.
    settle_grace_seconds: float = Field(default=30.0, gt=0)
    # Approximate cap on the event stream's length (XADD MAXLEN ~).
    stream_max_length: int = Field(default=1_000_000, ge=1000)
