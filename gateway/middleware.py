"""The one middleware, pure ASGI, around every HTTP request: its request id (taken from
`X-Request-ID` or made, returned, put in every log line and in gRPC metadata), the headers
the request path decided (rate limits), one access log line, the Prometheus metrics, and
the audit record of a route that reads or writes personal data (gateway.audit)."""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Mapping
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import audit, context
from gateway.errors import problem

log = structlog.get_logger("http")
REQUESTS = Counter("gateway_http_requests_total", "HTTP requests.", ["method", "route", "status"])
LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})  # probes and scrapes: debug level


def new_request_id() -> str:
    """32 hex digits. An id names a request in logs, it guards nothing: the process's
    random generator makes it without a system call, which uuid4 pays on every request."""
    return f"{random.getrandbits(128):032x}"


@functools.cache
def _metrics(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The request's counter and histogram, looked up once per method, route template and
    status (a handful of each), not on every request."""
    return REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)


class RequestMiddleware:
    def __init__(
        self, app: ASGIApp, max_body: int, larger: Mapping[str, int] | None = None
    ) -> None:
        """`larger`: path prefixes whose routes take bodies past `max_body`, and their limit."""
        self.app = app
        self.max_body = max_body
        self.larger = dict(larger or {})

    def limit(self, path: str) -> int:
        for prefix, limit in self.larger.items():
            if path.startswith(prefix):
                return limit
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = traceparent = length = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value
            elif name == b"traceparent":
                traceparent = value
            elif name == b"content-length":
                length = value
        text = given.decode("latin-1")
        request_id = text if REQUEST_ID.match(text) else new_request_id()
        ctx = context.begin(request_id, traceparent.decode("latin-1")[:128])
        ctx.headers.append((b"x-request-id", request_id.encode()))
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *ctx.headers]
            await send(message)

        # Bound for every line logged while the request is served, and reset after (the
        # tokens: cheaper than bound_contextvars, which reads the whole context first).
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if length.isdigit() and int(length) > (limit := self.limit(scope["path"])):
                # FastAPI's limit (max_body_size) refuses a streamed body past it; a
                # declared length past it would get its plain-text 413 before any handler
                # ran, so it is refused here, as a problem.
                raise HTTPException(413, f"request bodies are limited to {limit} bytes")
            await self.app(scope, receive, send_with_headers)
        except HTTPException as exc:
            # The framework's own refusals raised outside the routes' handlers (a body
            # over the size limit): a problem like every other error.
            if status:
                raise
            await problem(exc.status_code, str(exc.detail))(scope, receive, send_with_headers)
        except Exception:
            # The last resort, here so that its log line and answer carry the request id.
            log.exception("unhandled_error")
            if status:
                raise
            await problem(500, "internal error")(scope, receive, send_with_headers)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            requests, latency = _metrics(scope["method"], route, status)
            requests.inc()
            latency.observe(elapsed)
            audit.finish(scope, ctx, status)
            (log.debug if route in QUIET else log.info)(
                "request",
                method=scope["method"],
                route=route,
                status=status,
                ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**bound)
