"""The one place that dials a backend: round_robin over every replica, retries for
UNAVAILABLE on idempotent methods (gRPC service config, not hand-written loops), keepalive,
and the caller's service token on every call."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import grpc

from servicekit import servicetokens
from servicekit.errors import Unavailable
from servicekit.servicetokens import Minter

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


# A replica that takes calls but answers none (a wedged process whose connections still
# answer pings) is taken out of round_robin by gRPC's outlier detection (gRFC A50): each
# second, a replica that finished at least 5 calls and failed more than 85% of them
# (deadline exceeded included) is ejected for 30 s, then tried again. Never more than half
# of the replicas, and never the only one. Every status but OK counts as a failure, client
# errors too, hence the high threshold. The success-rate algorithm is not used: between two
# replicas it ejects on any difference or never, depending on stdevFactor.
OUTLIER_DETECTION = {
    "interval": "1s",
    "baseEjectionTime": "30s",
    "maxEjectionPercent": 50,
    "failurePercentageEjection": {
        "threshold": 85,
        "enforcementPercentage": 100,
        "minimumHosts": 2,
        "requestVolume": 5,
    },
    "childPolicy": [{"round_robin": {}}],
}


def service_config(idempotent: Idempotent) -> str:
    config: dict[str, object] = {
        "loadBalancingConfig": [{"outlier_detection_experimental": OUTLIER_DETECTION}]
    }
    names = [{"service": s, "method": m} for s, methods in idempotent.items() for m in methods]
    if names:
        config["methodConfig"] = [{"name": names, "retryPolicy": RETRY_POLICY}]
    return json.dumps(config)


def connect(
    addresses: str, idempotent: Idempotent, *, caller: Minter, audience: str
) -> grpc.aio.Channel:
    """Every call on the channel carries `caller`'s service token for `audience`, the
    service it reaches (servicekit.servicetokens)."""
    return grpc.aio.insecure_channel(
        target(addresses),
        interceptors=caller.interceptors(audience),
        options=[
            ("grpc.service_config", service_config(idempotent)),
            ("grpc.enable_retries", 1),
            # A replica that stops (SIGSTOP, a frozen VM, a dropped link) keeps its TCP
            # connection open. A ping it leaves unanswered for 1 s closes the connection:
            # the calls on it fail UNAVAILABLE, which idempotent ones retry on another
            # replica within their deadline, and round_robin skips the replica until a new
            # connection's handshake completes. Pings go out while calls flow (flow-control
            # pings) and after 1 s without a byte from the replica during a call
            # (keepalive); none on an idle connection, and at most two without data, which
            # servers' default ping policy accepts. In grpcio 1.85 every ping's ack is
            # timed by chttp2's grpc.http2.ping_timeout_ms (60 s by default):
            # keepalive_timeout_ms alone left a stopped replica's connection open.
            ("grpc.keepalive_time_ms", 1_000),
            ("grpc.keepalive_timeout_ms", 1_000),
            ("grpc.http2.ping_timeout_ms", 1_000),
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


def scoring_channel(addresses: str, caller: Minter) -> grpc.aio.Channel:
    return connect(
        addresses,
        {SCORING_SERVICE: SCORING_METHODS},
        caller=caller,
        audience=servicetokens.SCORING_SERVICE,
    )
