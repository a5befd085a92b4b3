"""The one place that dials a backend: round_robin over every replica, retries for
UNAVAILABLE on idempotent methods (gRPC service config, not hand-written loops), keepalive."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import grpc

from servicekit.errors import Unavailable

# Calls are retried by gRPC itself only when they cannot have had an effect twice.
# Four attempts: under load other calls move round_robin on between attempts, so a second
# attempt can still meet a replica that just died before the channel has noticed.
RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.5s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


def target(addresses: str) -> str:
    """gRPC target for `host:port,host:port` (every replica) or a `dns:///name:port` URI.

    A list of literal addresses uses the ipv4:/ipv6: schemes, which hold several addresses;
    `localhost` is read as 127.0.0.1 so local lists work."""
    addresses = addresses.strip()
    if not addresses:
        raise ValueError("no backend address configured")
    if "://" in addresses or addresses.startswith(("dns:", "ipv4:", "ipv6:", "unix:")):
        return addresses
    parts = [a.strip().replace("localhost:", "127.0.0.1:") for a in addresses.split(",")]
    if len(parts) == 1 and not parts[0][0].isdigit() and not parts[0].startswith("["):
        return f"dns:///{parts[0]}"
    scheme = "ipv6" if parts[0].startswith("[") else "ipv4"
    return f"{scheme}:{','.join(parts)}"


# The methods gRPC may retry, per service a channel reaches (one process can serve several).
Idempotent = Mapping[str, Sequence[str]]


def service_config(idempotent: Idempotent) -> str:
    config: dict[str, object] = {"loadBalancingConfig": [{"round_robin": {}}]}
    names = [{"service": s, "method": m} for s, methods in idempotent.items() for m in methods]
    if names:
        config["methodConfig"] = [{"name": names, "retryPolicy": RETRY_POLICY}]
    return json.dumps(config)


def connect(addresses: str, idempotent: Idempotent) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        target(addresses),
        options=[
            ("grpc.service_config", service_config(idempotent)),
            ("grpc.enable_retries", 1),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            # Fail fast while no replica is reachable instead of queueing calls.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2_000),
        ],
    )


def unavailable_from(error: grpc.aio.AioRpcError, what: str) -> Unavailable:
    """This service cannot answer because `what`, a service it calls, did not."""
    return Unavailable(f"{what} is unavailable ({error.code().name})", dependency=what)


SCORING_SERVICE = "fitmesh.scoring.v1.ScoringService"
# Every scoring call is a pure function of its request: all of them may be retried.
SCORING_METHODS = ("ScoreWorkout", "ScoreWeek", "EvaluateGoals", "RankInsights")


def scoring_channel(addresses: str) -> grpc.aio.Channel:
    return connect(addresses, {SCORING_SERVICE: SCORING_METHODS})
