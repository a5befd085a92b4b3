"""Domain errors a service raises; the server interceptor turns them into gRPC statuses
with google.rpc details. Kept free of gRPC so pure rules can raise them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class ServiceError(Exception):
    """Base of the errors a client is meant to see; the message is safe to show. `reason`,
    when set, travels as a google.rpc.ErrorInfo, so a caller can tell this error from
    others of its status code."""

    reason = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    def __init__(self, violations: Iterable[FieldViolation], message: str = "") -> None:
        self.violations = tuple(violations)
        fields = ", ".join(v.field for v in self.violations)
        super().__init__(message or f"invalid request: {fields}")


class NotFound(ServiceError):
    pass


class AlreadyExists(ServiceError):
    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class FailedPrecondition(ServiceError):
    pass


class IdempotencyKeyReused(FailedPrecondition):
    """A repeat of an idempotency token that carries another request than the first did."""

    reason = "IDEMPOTENCY_KEY_REUSED"

    def __init__(self) -> None:
        super().__init__("this idempotency key was used with a different request")

    @staticmethod
    def check(stored: str | None, given: str) -> None:
        """Refuse a repeat whose fingerprint differs from the one stored with the first. A
        side without one (a record from before fingerprints, an older caller) is taken as
        the same request, as it was before."""
        if stored and given and stored != given:
            raise IdempotencyKeyReused()


class Aborted(ServiceError):
    """A write that lost to a concurrent one, or met work still under way: the caller may
    read again and retry."""


class StaleVersion(Aborted):
    """A change based on a version of a resource that is no longer its current one."""

    reason = "STALE_VERSION"

    def __init__(self, message: str = "it has changed since that version; read it again") -> None:
        super().__init__(message)


class Unauthenticated(ServiceError):
    pass


class PermissionDenied(ServiceError):
    pass


class Unavailable(ServiceError):
    """The service cannot answer now. `dependency` names the service it waits for, when
    the fault is that one's: a caller can then tell this service's outage from its
    dependency's (the gateway opens the breaker of the one at fault)."""

    def __init__(self, message: str, dependency: str = "") -> None:
        super().__init__(message)
        self.dependency = dependency


class Violations:
    """Collects every problem of a request, so the client learns all of them at once, up
    to MAX_REPORTED: a status's details travel in trailers, which a client refuses past
    16 KiB (a batch of 1,000 bad samples would otherwise fail as RESOURCE_EXHAUSTED)."""

    MAX_REPORTED = 50

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def check_range(self, field: str, value: float | None, low: float, high: float) -> None:
        if value is not None and not low <= value <= high:
            self.add(field, f"must be between {low:g} and {high:g}")

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(self._items[: self.MAX_REPORTED])
