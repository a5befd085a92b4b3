"""gRPC clients of the gateway: one channel per backend made at start-up, round_robin over
its replicas, a deadline on every call, gRPC's own retries for idempotent methods, and a
circuit breaker that counts only backend faults, after those retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import grpc
import pybreaker

from fitmesh.activity.v1 import activity_pb2_grpc
from fitmesh.scoring.v1 import scoring_pb2_grpc
from fitmesh.user.v1 import user_pb2_grpc
from gateway import context
from gateway.breakers import make_breaker, retry_after
from gateway.settings import GatewaySettings
from servicekit import channels

T = TypeVar("T")
BACKEND_FAULTS = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


def is_fault(exc: BaseException) -> bool:
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() in BACKEND_FAULTS


class BackendUnavailable(Exception):
    """The breaker is open: fail fast, and say when to come back."""

    def __init__(self, backend: str, retry_after: int) -> None:
        super().__init__(f"{backend} is unavailable")
        self.backend = backend
        self.retry_after = retry_after


class Backend:
    def __init__(
        self,
        name: str,
        addresses: str,
        service: str,
        idempotent: Sequence[str],
        settings: GatewaySettings,
    ) -> None:
        self.name = name
        self.service = service
        self.channel = channels.connect(addresses, service, idempotent)
        self.deadline = settings.backend_deadline_seconds
        self._trial_in_flight = False
        self.breaker = make_breaker(
            name,
            settings.breaker_failures,
            settings.breaker_window_seconds,
            settings.breaker_cooldown_seconds,
            is_fault,
        )

    def check(self) -> None:
        """Fail fast before doing work whose result this backend would have to complete."""
        if self.breaker.current_state == pybreaker.STATE_OPEN and retry_after(self.breaker) > 0:
            opened = self.breaker._state_storage.opened_at
            if opened is not None and not self._cooled_down():
                raise BackendUnavailable(self.name, retry_after(self.breaker))

    def _cooled_down(self) -> bool:
        opened = self.breaker._state_storage.opened_at
        if opened is None:
            return True
        elapsed = (datetime.now(opened.tzinfo) - opened).total_seconds()
        return elapsed >= self.breaker.reset_timeout

    async def call(
        self, method: Callable[..., Awaitable[T]], request: Any, timeout: float | None = None
    ) -> T:
        metadata = [("x-request-id", context.request_id.get())]
        if parent := context.traceparent.get():
            metadata.append(("traceparent", parent))
        # After the cool-down exactly one trial call decides; the others keep failing fast.
        trial = self.breaker.current_state != pybreaker.STATE_CLOSED
        if trial and self._trial_in_flight:
            raise BackendUnavailable(self.name, retry_after(self.breaker))
        self._trial_in_flight = trial
        try:
            with self.breaker.calling():
                return await method(request, timeout=timeout or self.deadline, metadata=metadata)
        except pybreaker.CircuitBreakerError as exc:
            raise BackendUnavailable(self.name, retry_after(self.breaker)) from exc
        finally:
            if trial:
                self._trial_in_flight = False


class Backends:
    def __init__(self, settings: GatewaySettings) -> None:
        self.users = Backend(
            "user_service",
            settings.user_service_addrs,
            "fitmesh.user.v1.UserService",
            ["GetUser", "ListGoals", "GetGoal", "ListNotifications", "Authenticate"],
            settings,
        )
        self.activity = Backend(
            "activity_service",
            settings.activity_service_addrs,
            "fitmesh.activity.v1.ActivityService",
            [
                "GetWorkout",
                "ListWorkouts",
                "GetStatistics",
                "GetGroupSession",
                "EndWorkout",
                "SaveGroupSession",
                # Starts and logs carry a request_id, which makes a repeat harmless.
                "StartWorkout",
                "LogWorkout",
            ],
            settings,
        )
        self.scoring = Backend(
            "scoring_service",
            settings.scoring_service_addrs,
            channels.SCORING_SERVICE,
            channels.SCORING_METHODS,
            settings,
        )
        self.user_stub = user_pb2_grpc.UserServiceStub(self.users.channel)
        self.activity_stub = activity_pb2_grpc.ActivityServiceStub(self.activity.channel)
        self.scoring_stub = scoring_pb2_grpc.ScoringServiceStub(self.scoring.channel)

    def all(self) -> list[Backend]:
        return [self.users, self.activity, self.scoring]

    async def close(self) -> None:
        for backend in self.all():
            await backend.channel.close()
