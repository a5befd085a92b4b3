"""Every error as application/problem+json (RFC 9457). Domain code raises `ApiError` (or
lets the framework raise its own); one set of handlers writes every error body, with the
HTTP status from grpc-gateway's table for backend errors. No stack trace or internal
message ever reaches a client."""

from __future__ import annotations

import json
from typing import Any

import grpc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import context
from servicekit.errors import IdempotencyKeyReused, StaleVersion
from servicekit.status import field_violations, reason

log = structlog.get_logger("errors")
MEDIA_TYPE = "application/problem+json"

HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    499: "Client Closed Request",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# One answer to a reused key, whether the gateway's Redis record or the service caught it.
KEY_REUSED = "this Idempotency-Key was used with a different request"
# A workout file the activity service cannot read (neither GPX, TCX nor FIT).
UNSUPPORTED_FORMAT = "UNSUPPORTED_FORMAT"
# Backend messages of these codes may hold internals; clients get a fixed sentence.
OPAQUE = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNIMPLEMENTED,
}
# Backends name fields by their proto names; clients know the REST names.
# Parts of a validation error's location that name no field: the body itself, and the tag
# of the shape a body that takes several came in (one record or a batch of them).
NOT_FIELDS = frozenset({"body", "one", "batch"})
REST_FIELDS = {
    "duration_seconds": "duration",
    "workout_id": "session_id",
    "content": "file",  # of a workout import
}
BEARER_CHALLENGE = 'Bearer realm="fitmesh"'


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error answer."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str
    errors: list[dict[str, str]] | None = Field(
        None, description="The fields at fault: `{field, message}` each."
    )


class ApiError(Exception):
    """An answer other than success, raised wherever the request path finds it."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers


def bad_request(detail: str, field: str | None = None) -> ApiError:
    return ApiError(400, detail, [{"field": field, "message": detail}] if field else None)


def unauthorized(detail: str, token_given: bool = True) -> ApiError:
    challenge = f'{BEARER_CHALLENGE}, error="invalid_token"' if token_given else BEARER_CHALLENGE
    return ApiError(401, detail, headers={"WWW-Authenticate": challenge})


def forbidden(detail: str = "you can only reach your own data") -> ApiError:
    return ApiError(403, detail)


def not_found(detail: str) -> ApiError:
    return ApiError(404, detail)


def conflict(detail: str) -> ApiError:
    return ApiError(409, detail)


def precondition_failed(detail: str) -> ApiError:
    return ApiError(412, detail)


def precondition_required(detail: str) -> ApiError:
    return ApiError(428, detail)


def unavailable(backend: str, retry_after: int) -> ApiError:
    return ApiError(
        503, f"{backend} is unavailable; retry later", headers={"Retry-After": str(retry_after)}
    )


def from_rpc_error(exc: grpc.aio.AioRpcError) -> ApiError:
    code = exc.code()
    status = HTTP_STATUS.get(code, 500)
    if code in OPAQUE:
        log.warning("backend_error", code=code.name, details=exc.details())
        detail = "a backend service is unavailable" if status in (503, 504) else "internal error"
        return ApiError(status, detail, headers={"Retry-After": "1"} if status == 503 else None)
    if reason(exc) == IdempotencyKeyReused.reason:
        return ApiError(422, KEY_REUSED)  # no other refusal of its code is a 422
    if reason(exc) == UNSUPPORTED_FORMAT:
        detail = exc.details() or TITLES[415]
        return ApiError(415, detail, [{"field": "file", "message": detail}])
    if reason(exc) == StaleVersion.reason:
        return ApiError(412, exc.details() or TITLES[412])  # If-Match names a past version
    errors = [
        {"field": rest_field(v.field), "message": v.description} for v in field_violations(exc)
    ]
    return ApiError(status, exc.details() or TITLES.get(status, "Error"), errors or None)


def rest_field(field: str) -> str:
    head, dot, rest = field.partition(".")
    return REST_FIELDS.get(head, head) + dot + rest


def problem(
    status: int,
    detail: str,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "request_id": context.current().request_id,
    }
    if errors:
        body["errors"] = errors
    return Response(json.dumps(body).encode(), status, headers, MEDIA_TYPE)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return problem(exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RedisError)
    async def redis_away(request: Request, exc: RedisError) -> Response:
        # Reads and limits go on without Redis; live group sessions live in it.
        log.warning("redis_unavailable", error=str(exc))
        return problem(
            503, "live sessions are unavailable; retry later", headers={"Retry-After": "1"}
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p not in NOT_FIELDS),
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        return problem(400, "the request is not valid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # The framework's own refusals: unknown routes and methods, oversize bodies.
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)


ERRORS = {
    400: "The request is not valid; `errors` names the fields.",
    401: "A valid access token is required.",
    403: "The resource belongs to someone else.",
    404: "No such resource.",
    409: "Conflicts with the current state, or with a running request of the same key.",
    413: "The body is too large.",
    422: "The Idempotency-Key was used with a different request.",
    429: "Too many requests; see Retry-After.",
    500: "Internal error.",
    503: "A backend is unavailable; see Retry-After.",
    504: "A backend did not answer in time.",
}
# Every API route can answer with these; FastAPI documents them from this table. The schema
# is inline so that it is listed under problem+json alone.
_SCHEMA = Problem.model_json_schema()


def documented(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """Problem answers for FastAPI's `responses`, by status."""
    return {
        status: {"description": description, "content": {MEDIA_TYPE: {"schema": _SCHEMA}}}
        for status, description in descriptions.items()
    }


RESPONSES = documented(ERRORS)
# What a conditional change can answer besides (gateway.etags).
PRECONDITIONS = documented(
    {
        412: "If-Match names none of the resource's current version: read it again.",
        428: "If-Match is required.",
    }
)
