"""What one request carries through every layer: its id (logs, gRPC metadata, problems),
the trace parent, and the response headers a dependency decided (rate limits). The
middleware makes it; everything below reads or fills in the same object."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(slots=True)
class RequestContext:
    request_id: str = ""
    traceparent: str = ""
    # The caller, once a token named one: the actor of the request's audit record.
    user_id: str = ""
    # Added to the response, whatever answers it: a route, an error handler.
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


_EMPTY = RequestContext()
_current: ContextVar[RequestContext] = ContextVar("request_context", default=_EMPTY)


def current() -> RequestContext:
    return _current.get()


def begin(request_id: str, traceparent: str = "") -> RequestContext:
    ctx = RequestContext(request_id, traceparent)
    _current.set(ctx)
    return ctx
