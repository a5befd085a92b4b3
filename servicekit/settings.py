"""Settings shared by every gRPC service, read once from environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.keys import PRODUCTION


class ServiceSettings(BaseSettings):
    """Base settings; each service subclasses it to set its own port defaults."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # Only `development` may leave the keys unset (development keys are then made in
    # FITMESH_DEV_KEYS_DIR); anywhere else serving refuses to start without them.
    environment: str = PRODUCTION
    # Ed25519 public key (PEM, or a path to one) that verifies the service tokens every
    # internal call carries; and the private key that signs this service's own calls (only
    # services that call another one need it).
    service_verify_key: str = ""
    service_signing_key: str = ""
    # Server reflection (for grpcurl) is for development: off unless turned on.
    grpc_reflection: bool = False
    grpc_host: str = "0.0.0.0"
    grpc_port: int = Field(default=50050, ge=0, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 disables the endpoint")
    log_level: str = "INFO"
    # Tracing is off unless this names an OTLP/HTTP collector (http://host:4318).
    otel_exporter_otlp_endpoint: str = ""
    # How long to keep answering with NOT_SERVING before refusing new calls, so load
    # balancers see the change; then how long in-flight calls get to finish.
    shutdown_drain_seconds: float = Field(default=1.0, ge=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # Largest request a service accepts (gRPC's default is 4 MiB; archives can be larger).
    grpc_max_message_bytes: int = Field(default=16 * 1024 * 1024, ge=1024 * 1024)
    # How often dependency health (databases) is probed to update grpc.health.v1.
    health_probe_seconds: float = Field(default=2.0, gt=0)
