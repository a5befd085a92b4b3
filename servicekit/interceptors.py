"""Server interceptor: request id, one log line per call, Prometheus metrics, error mapping."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import structlog
from prometheus_client import Counter, Histogram

from servicekit import errors
from servicekit.status import code_of, to_status

REQUEST_ID_KEY = "x-request-id"
HEALTH_SERVICE = "grpc.health.v1.Health"

HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC, by method.",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

log = structlog.get_logger("grpc")

Handler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


def request_id_from(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every unary-unary handler; streaming handlers (health Watch, reflection)
    pass through untouched."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        service, _, method = handler_call_details.method.strip("/").rpartition("/")
        wrapped = _observe(handler.unary_unary, service, method)
        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _observe(inner: Handler, service: str, method: str) -> Handler:
    async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        request_id = request_id_from(context.invocation_metadata())  # type: ignore[arg-type]
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                return await inner(request, context)
            except errors.ServiceError as exc:
                code = code_of(exc)
                await context.abort_with_status(to_status(exc))
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("rpc_failed", method=method)
                # Never echo internal messages to a caller.
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                elapsed = time.perf_counter() - started
                HANDLED.labels(service, method, code.name).inc()
                LATENCY.labels(service, method).observe(elapsed)
                # Health checks come every few seconds from every prober: debug, not info.
                emit = log.debug if service == HEALTH_SERVICE else log.info
                emit("rpc", method=method, code=code.name, ms=round(elapsed * 1000, 2))

    return handle
