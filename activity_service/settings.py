"""Settings of the activity service."""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from activity_service import samples
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
    # Workout imports (imports.py): the largest file taken (within grpc_max_message_bytes),
    # the processes that parse files (CPU work kept off the event loop; each replica has its
    # own, so with several replicas on one machine give each a share of the cores), how long
    # an import's worker holds it before another replica may take it over (after a crash),
    # and how many tries a file gets before it is failed.
    import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    import_workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 2) // 2), ge=1)
    import_lease_seconds: float = Field(default=120.0, gt=0)
    import_max_attempts: int = Field(default=3, ge=1)
    # Heart-rate and elevation points kept with an imported workout, thinned evenly to this
    # many (workout_samples.py); the bound keeps one workout's far below 16 MiB.
    import_max_samples: int = Field(default=samples.MAX_POINTS, ge=2, le=50_000)

    @model_validator(mode="after")
    def _imports_fit_in_a_message(self) -> ActivitySettings:
        # The file travels in one gRPC request, with a little room for the other fields.
        if self.import_max_bytes > self.grpc_max_message_bytes - 64 * 1024:
            raise ValueError("IMPORT_MAX_BYTES must be 64 KiB below GRPC_MAX_MESSAGE_BYTES")
        return self
