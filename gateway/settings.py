"""Settings of the gateway, read once from environment variables."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit import keys


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    # Only `development` may leave JWT_PUBLIC_KEY and SERVICE_SIGNING_KEY unset (development
    # keys from FITMESH_DEV_KEYS_DIR are then used); anywhere else the gateway refuses to start.
    environment: str = keys.PRODUCTION
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    # Tracing is off unless this names an OTLP/HTTP collector (http://host:4318).
    otel_exporter_otlp_endpoint: str = ""
    user_service_addrs: str = "127.0.0.1:50051"
    activity_service_addrs: str = "127.0.0.1:50052"
    scoring_service_addrs: str = "127.0.0.1:50053"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Ed25519 public key (PEM, or a path to one) that verifies access tokens.
    jwt_public_key: str = Field(default="", validate_default=True)
    jwt_issuer: str = "fitmesh"
    # Ed25519 private key (PEM, or a path to one) that signs the gateway's service tokens,
    # which every backend call carries (servicekit.servicetokens).
    service_signing_key: str = Field(default="", validate_default=True)
    # Deadline of one backend call, and of a whole request's backend work.
    backend_deadline_seconds: float = Field(default=3.0, gt=0)
    # An export streams a user's whole history: it gets longer, as a whole.
    export_deadline_seconds: float = Field(default=300.0, gt=0)
    # Creating a webhook waits for its receiver to answer the challenge (WEBHOOK_CHALLENGE_*
    # of the user service, 5 s by default).
    webhook_deadline_seconds: float = Field(default=15.0, gt=0)
    # Circuit breakers: open after this many backend faults within the window,
    # then fail fast for the cool-down before one trial call.
    breaker_failures: int = Field(default=3, ge=1)
    breaker_window_seconds: float = Field(default=30.0, gt=0)
    breaker_cooldown_seconds: float = Field(default=10.0, gt=0)
    # Redis calls must never hold a request up for long: the cache is an optimisation.
    redis_timeout_seconds: float = Field(default=0.25, gt=0)
    cache_profile_seconds: int = 24 * 3600
    cache_statistics_seconds: int = 5 * 60
    cache_goals_seconds: int = 3600
    # Every change forgets a user's lists; the lifetime bounds a start made over gRPC alone.
    cache_workouts_seconds: int = 5 * 60
    # Written data forgets these, so a reader sees its writes; the lifetime bounds the rest.
    cache_health_seconds: int = 3600
    cache_insights_seconds: int = 3600
    # Rate limits in the `limits` notation; auth routes have their own, harder one.
    rate_limit_ip: str = "600/minute"
    rate_limit_user: str = "300/minute"
    rate_limit_auth: str = "20/minute"
    # Failed logins (only failures count), per account and per address (gateway.lockout).
    login_failures_account: str = "10/15minutes"
    login_failures_ip: str = "100/hour"
    idempotency_ttl_seconds: int = 24 * 3600
    # The largest workout file POST /workouts/imports takes (413 past it); the activity
    # service's IMPORT_MAX_BYTES should be at least as large.
    import_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Live group sessions: ended this long after their last member left; each socket has a
    # bounded queue (a slow reader past it is dropped) and a frame budget (a flood is closed).
    group_idle_seconds: float = Field(default=300.0, gt=0)
    group_recent_messages: int = Field(default=50, ge=0, le=500)
    ws_queue_size: int = Field(default=256, ge=8)
    ws_frames_per_second: float = Field(default=20.0, gt=0)
    ws_frame_burst: int = Field(default=40, ge=1)
    ws_max_frame_bytes: int = Field(default=16384, ge=1024)
    ws_auth_timeout_seconds: float = Field(default=10.0, gt=0)
    # A WebSocket ticket (POST /ws/tickets) is good for one connection within this time.
    ws_ticket_seconds: int = Field(default=30, ge=1, le=300)
    # Open sockets one user may hold on one gateway replica.
    ws_sockets_per_user: int = Field(default=10, ge=1)
    ws_ping_seconds: float = Field(default=20.0, gt=0)
    # The audit log (gateway.audit): records gather this long before they go to Redis as
    # one stream entry per batch of at most AUDIT_BATCH_RECORDS; while Redis is away at most
    # AUDIT_PENDING_RECORDS are held (then the oldest are dropped, and counted).
    audit_flush_seconds: float = Field(default=0.2, gt=0, le=5)
    audit_batch_records: int = Field(default=500, ge=1, le=5000)
    audit_pending_records: int = Field(default=100_000, ge=1)
    # Behind a proxy, trust X-Forwarded-For from these addresses (comma-separated, or
    # CIDRs). None by default: a client's address is the connection's.
    forwarded_allow_ips: str = ""

    @field_validator("jwt_public_key")
    @classmethod
    def _public_key_or_development(cls, value: str, info: ValidationInfo) -> str:
        if value:
            return value
        environment = info.data.get("environment", keys.PRODUCTION)
        return keys.verifying_key(value, environment).decode()

    @field_validator("service_signing_key")
    @classmethod
    def _signing_key_or_development(cls, value: str, info: ValidationInfo) -> str:
        if value:
            return value
        environment = info.data.get("environment", keys.PRODUCTION)
        return keys.service_signing_key(value, environment).decode()
