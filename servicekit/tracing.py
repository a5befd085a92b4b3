"""OpenTelemetry tracing, off unless an OTLP endpoint is configured (the standard
OTEL_EXPORTER_OTLP_ENDPOINT variable). When on, gRPC (both ends), PostgreSQL, MongoDB and
Redis calls are traced, the trace context rides along in gRPC metadata, and every log
line carries the trace id."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

_provider: TracerProvider | None = None
_instrumented: list[Any] = []


def configure(service: str, endpoint: str, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process; False (and nothing done) without an endpoint."""
    global _provider
    if not endpoint and exporter is None:
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))
        )
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _instrument_libraries()
    _provider = provider
    return True


def enabled() -> bool:
    return _provider is not None


def _instrument_libraries() -> None:
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    grpc_client: Any = GrpcAioInstrumentorClient()  # type: ignore[no-untyped-call]
    for instrumentor in (
        grpc_client,
        PsycopgInstrumentor(),
        PymongoInstrumentor(),
        RedisInstrumentor(),
    ):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument()
            _instrumented.append(instrumentor)


def server_interceptors() -> list[Any]:
    """The gRPC server interceptor that continues the caller's trace, when tracing is on."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor()]  # type: ignore[no-untyped-call]


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span ids on every log line (nothing to
    look up while tracing is off)."""
    if _provider is None:
        return event
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


def shutdown() -> None:
    """Flush what is left and undo the instrumentation."""
    global _provider
    while _instrumented:
        _instrumented.pop().uninstrument()
    if _provider is not None:
        _provider.shutdown()
        _provider = None
