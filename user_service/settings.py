"""Settings of the user service."""

from __future__ import annotations

from pydantic import Field

from servicekit.settings import ServiceSettings


class UserSettings(ServiceSettings):
    # ENVIRONMENT (servicekit.settings) decides whether JWT_PRIVATE_KEY and ENCRYPTION_KEYS
    # may be left unset, as it does for the service keys.
    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    database_url: str = "postgresql://postgres@127.0.0.1:5432/fitmesh"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    redis_url: str = "redis://127.0.0.1:6379/0"
    scoring_service_addrs: str = "127.0.0.1:50053"
    scoring_deadline_seconds: float = Field(default=2.0, gt=0)
    # Ed25519 private key (PEM, or a path to one) that signs access tokens.
    jwt_private_key: str = ""
    jwt_issuer: str = "fitmesh"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    # A session ends when its refresh token goes this long unused.
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    # Fernet keys (comma-separated, newest first) that encrypt sensitive profile fields.
    encryption_keys: str = ""
    # The consumer of `workout.completed` and `metric.day_total` (events.py): its group
    # (one for both streams), its name, and when a pending entry of a crashed consumer is
    # taken over.
    consumer_group: str = "user_service"
    consumer_name: str = ""
    consumer_claim_idle_ms: int = Field(default=30_000, ge=100)
    consumer_block_ms: int = Field(default=1_000, ge=10)
