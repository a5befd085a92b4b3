"""JSON logs on stdout. Values bound with structlog.contextvars (such as the request id)
appear on every line logged while they are bound, including stdlib loggers' lines.

Our own lines go through structlog alone: a call below the level costs a method lookup,
and a line written costs its processors and one write, with no stdlib record, handler or
formatter on the way. Libraries' stdlib lines are rendered by the same processors."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from servicekit.tracing import add_trace_ids

_SHARED: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    add_trace_ids,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    number = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(number)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
