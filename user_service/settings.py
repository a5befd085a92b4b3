"""Settings of the user service."""

from __future__ import annotations

from limits import parse
from pydantic import Field, model_validator

from servicekit.settings import ServiceSettings
from user_service import webhook_rules


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

    # Webhooks (user_service/webhook_*.py; README "Webhooks").
    # Receivers must be https and on the public internet; http, and the networks named
    # here (comma-separated CIDRs, e.g. 127.0.0.0/8,::1/128 on a laptop), are allowed only
    # when configured.
    webhook_allow_http: bool = False
    webhook_allowed_networks: str = ""
    webhook_max_per_user: int = Field(default=20, ge=1, le=1000)
    # The subscription challenge must be answered within this time.
    webhook_challenge_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    # One attempt: connecting, and the whole POST with its answer.
    webhook_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Retries: full jitter under base * 2^(n-1), capped; a Retry-After is honoured up to its
    # cap. A delivery is dead after max_attempts, or when its next attempt would fall past
    # the horizon (counted from the event, or from a replay).
    webhook_retry_base_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_cap_seconds: float = Field(default=7200.0, gt=0)
    webhook_retry_after_cap_seconds: float = Field(default=3600.0, gt=0)
    webhook_max_attempts: int = Field(default=30, ge=1)
    webhook_horizon_seconds: float = Field(default=86400.0, gt=0)
    # Per destination (host:port), shared by every replica through Redis: a rate limit (the
    # `limits` notation), and a breaker that opens after this many failures in a row and
    # lets a trial through after the reset time.
    webhook_rate_limit: str = "20/second"
    webhook_breaker_failures: int = Field(default=5, ge=1)
    webhook_breaker_reset_seconds: float = Field(default=60.0, ge=1)
    # Attempts in flight in one replica, in all and to one destination, so a slow receiver
    # holds only its own share.
    webhook_concurrency: int = Field(default=64, ge=1)
    webhook_per_destination: int = Field(default=8, ge=1)
    # A replica takes due deliveries for this long; one that dies leaves them to the others
    # when it runs out. Longer than an attempt can last.
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    # How often an idle sender looks for due deliveries, and how often pending deliveries
    # missing from the schedule (Redis lost it) are put back.
    webhook_poll_seconds: float = Field(default=0.2, gt=0)
    webhook_reconcile_seconds: float = Field(default=300.0, gt=0)
    # The dispatcher's consumer group on the event streams (its own: it sees every event).
    webhook_consumer_group: str = "webhooks"

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> UserSettings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("WEBHOOK_LEASE_SECONDS must exceed WEBHOOK_TIMEOUT_SECONDS")
        webhook_rules.networks(self.webhook_allowed_networks)  # a bad CIDR stops the start
        parse(self.webhook_rate_limit)
        return self
