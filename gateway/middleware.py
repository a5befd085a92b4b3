"""One pure ASGI middleware for every HTTP request: the request id (in, out, in logs and
in gRPC metadata), a cap on body size, access logs, Prometheus metrics, and the rate-limit
headers a dependency decided."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import context

log = structlog.get_logger("http")
REQUESTS = Counter("gateway_http_requests_total", "HTTP requests.", ["method", "route", "status"])
LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP request latency.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_BODY = 64 * 1024


class TooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        context.request_id.set(request_id)
        context.traceparent.set(headers.get(b"traceparent", b"").decode("latin-1")[:128])
        started = time.perf_counter()
        status = 500
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise TooLarge
            return message

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-request-id", request_id.encode())]
                state: Any = scope.get("state", {})
                verdict = state.get("ratelimit") if isinstance(state, dict) else None
                if verdict is not None:
                    extra += [
                        (k.lower().encode(), v.encode())
                        for k, v in verdict.headers().items()
                        if k != "Retry-After"
                    ]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                if _declared_length(headers) > MAX_BODY:
                    raise TooLarge
                await self.app(scope, limited_receive, send_with_headers)
            except TooLarge:
                await _too_large(send_with_headers, request_id)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                elapsed = time.perf_counter() - started
                REQUESTS.labels(scope["method"], route, str(status)).inc()
                LATENCY.labels(scope["method"], route).observe(elapsed)
                log.info(
                    "request",
                    method=scope["method"],
                    route=route,
                    status=status,
                    ms=round(elapsed * 1000, 2),
                )


def _declared_length(headers: dict[bytes, bytes]) -> int:
    try:
        return int(headers.get(b"content-length", b"0"))
    except ValueError:  # the HTTP parser has its own word on malformed lengths
        return 0


async def _too_large(send: Send, request_id: str) -> None:
    body = json.dumps(
        {
            "type": "about:blank",
            "title": "Content Too Large",
            "status": 413,
            "detail": f"request bodies are limited to {MAX_BODY} bytes",
            "request_id": request_id,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
