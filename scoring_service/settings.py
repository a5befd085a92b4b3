"""Settings of the scoring service."""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=0, le=65535)
