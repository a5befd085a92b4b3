"""The gateway's gRPC clients, one typed client per backend. Each wraps its stub with a
circuit breaker, a deadline on every call and the mapping of gRPC errors to API errors;
routes call its methods and never a stub.

One channel per backend is made at start-up: round_robin over its replicas, gRPC's own
retries for idempotent methods (servicekit.channels). A breaker counts only backend
faults, after those retries; a fault a backend reports of its own dependency counts
against that dependency's breaker instead (scoring down does not close workout lists)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import grpc
import pybreaker

from gateway import context
from gateway.breakers import make_breaker, retry_after
from gateway.errors import ApiError, from_rpc_error, unavailable
from gateway.settings import GatewaySettings
from servicekit import channels, servicetokens
from servicekit.status import unavailable_dependency

T = TypeVar("T")
BACKEND_FAULTS = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
    }
)


class BackendFault(Exception):
    """A failed call that is a service's fault: `owner` is the one whose breaker counts it."""

    def __init__(self, owner: str, error: ApiError) -> None:
        super().__init__(error.detail)
        self.owner, self.error = owner, error


def _classify(exc: grpc.aio.AioRpcError, called: str) -> ApiError | BackendFault:
    """A fault of the called backend, or of a dependency it named, or a client error (no
    backend's fault, so no breaker counts it)."""
    if exc.code() not in BACKEND_FAULTS:
        return from_rpc_error(exc)
    if dependency := unavailable_dependency(exc):
        return BackendFault(dependency, unavailable(dependency, 1))
    return BackendFault(called, from_rpc_error(exc))


class Backend:
    """One backend service: its channel, breaker and deadline."""

    def __init__(
        self,
        name: str,
        addresses: str,
        idempotent: channels.Idempotent,
        settings: GatewaySettings,
    ) -> None:
        """`idempotent` names the services the backend serves (the first is the one its
        readiness asks after) and the methods of each that gRPC may retry."""
        self.name = name
        self.service = next(iter(idempotent))
        # Every call carries the gateway's service token for this backend.
        caller = servicetokens.Minter.from_setting(
            servicetokens.GATEWAY, settings.service_signing_key, settings.environment
        )
        self.channel = channels.connect(addresses, idempotent, caller=caller, audience=name)
        self.deadline = settings.backend_deadline_seconds
        self._trial_in_flight = False
        self.breaker = make_breaker(
            name,
            settings.breaker_failures,
            settings.breaker_window_seconds,
            settings.breaker_cooldown_seconds,
            lambda exc: isinstance(exc, BackendFault) and exc.owner == name,
        )

    def check(self) -> None:
        """Fail fast before doing work whose result this backend would have to complete."""
        if self.breaker.current_state == pybreaker.STATE_OPEN and not self._cooled_down():
            raise unavailable(self.name, retry_after(self.breaker))

    def _cooled_down(self) -> bool:
        opened = self.breaker._state_storage.opened_at
        if opened is None:
            return True
        elapsed = (datetime.now(opened.tzinfo) - opened).total_seconds()
        return elapsed >= self.breaker.reset_timeout

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Count what fails inside against this backend's breaker; fail fast while it is
        open. After the cool-down exactly one trial call decides; the others keep failing
        fast."""
        trial = self.breaker.current_state != pybreaker.STATE_CLOSED
        if trial and self._trial_in_flight:
            raise unavailable(self.name, retry_after(self.breaker))
        self._trial_in_flight = trial
        try:
            with self.breaker.calling():
                yield
        except pybreaker.CircuitBreakerError as exc:
            raise unavailable(self.name, retry_after(self.breaker)) from exc
        finally:
            if trial:
                self._trial_in_flight = False

    async def call(
        self,
        method: Callable[..., Awaitable[T]],
        request: Any,
        through: Backend | None = None,
        timeout: float | None = None,
    ) -> T:
        """One call with the request's id and trace; `through` is a backend this call
        reaches by way of this one, whose breaker guards it too. `timeout` replaces the
        backend's deadline for a call known to take longer."""
        ctx = context.current()
        metadata = [("x-request-id", ctx.request_id)]
        if ctx.traceparent:
            metadata.append(("traceparent", ctx.traceparent))
        try:
            with self.guard(), through.guard() if through else contextlib.nullcontext():
                try:
                    deadline = timeout or self.deadline
                    return await method(request, timeout=deadline, metadata=metadata)
                except grpc.aio.AioRpcError as exc:
                    raise _classify(exc, self.name) from exc
        except BackendFault as fault:
            raise fault.error from fault.__cause__

    async def stream(
        self,
        method: Callable[..., AsyncIterable[T]],
        request: Any,
        timeout: float,
    ) -> AsyncIterator[T]:
        """A server stream, under the breaker like a call; `timeout` bounds all of it."""
        ctx = context.current()
        metadata = [("x-request-id", ctx.request_id)]
        try:
            with self.guard():
                try:
                    async for item in method(request, timeout=timeout, metadata=metadata):
                        yield item
                except grpc.aio.AioRpcError as exc:
                    raise _classify(exc, self.name) from exc
        except BackendFault as fault:
            raise fault.error from fault.__cause__

    async def close(self) -> None:
        await self.channel.close()
