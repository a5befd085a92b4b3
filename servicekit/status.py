"""Map domain errors to gRPC statuses with google.rpc error details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from servicekit import errors

DOMAIN = "fitmesh"
DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"

_CODES: dict[type[errors.ServiceError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def code_of(error: errors.ServiceError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.UNKNOWN


def to_status(error: errors.ServiceError) -> grpc.Status:
    code = code_of(error)
    details: list[any_pb2.Any] = []
    violations: tuple[errors.FieldViolation, ...] = ()
    if isinstance(error, errors.InvalidArgument):
        violations = error.violations
    elif isinstance(error, errors.AlreadyExists) and error.field:
        violations = (errors.FieldViolation(error.field, error.message),)
    info: error_details_pb2.ErrorInfo | None = None
    if isinstance(error, errors.Unavailable) and error.dependency:
        info = error_details_pb2.ErrorInfo(
            reason=DEPENDENCY_UNAVAILABLE, domain=DOMAIN, metadata={"service": error.dependency}
        )
    elif error.reason:
        info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
    if info is not None:
        packed = any_pb2.Any()
        packed.Pack(info)
        details.append(packed)
    if violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[{"field": v.field, "description": v.description} for v in violations]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        details.append(detail)
    message = status_pb2.Status(
        code=getattr(code_pb2, code.name), message=error.message, details=details
    )
    status: grpc.Status = rpc_status.to_status(message)
    return status


def _details(error: grpc.aio.AioRpcError) -> list[any_pb2.Any]:
    found: list[any_pb2.Any] = []
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            found += status_pb2.Status.FromString(value).details
    return found


def _error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    for detail in _details(error):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == DOMAIN:
            return info
    return None


def unavailable_dependency(error: grpc.aio.AioRpcError) -> str:
    """The service a failed call's server said it was waiting for; '' when none."""
    info = _error_info(error)
    if info is None or info.reason != DEPENDENCY_UNAVAILABLE:
        return ""
    return str(info.metadata.get("service", ""))


def reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason a failed call's server gave (errors.ServiceError.reason); ''
    when none."""
    info = _error_info(error)
    return info.reason if info is not None else ""


def field_violations(error: grpc.aio.AioRpcError) -> list[errors.FieldViolation]:
    """Read BadRequest field violations back from a failed call (for clients and tests)."""
    found: list[errors.FieldViolation] = []
    for detail in _details(error):
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.extend(
                errors.FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return found
