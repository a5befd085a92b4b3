"""The audit log's gateway side. A route that reads or writes personal data says so with one
line, `@audited("read", "profile")`; once such a request is answered, the middleware hands
its record (whose data, who asked, action, resource, status, request id, time) to this
replica's `Auditor`, which sends what gathered as one stream entry per batch
(servicekit.audit) every AUDIT_FLUSH_SECONDS. A request's own Redis round trips stay what
they were (one for admission); the log costs one more per batch, off every request's path.

Records are kept while Redis is away and sent when it is back, up to AUDIT_PENDING_RECORDS
(past that the oldest are dropped and counted: a request is never refused for its audit
record, as it is not for its cache). A replica that stops sends what it holds first."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qs

import redis.asyncio as aioredis
import structlog
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.types import Scope

from gateway.context import RequestContext
from servicekit.audit import (
    ACTIONS,
    AUDIT_STREAM,
    MAX_REQUEST_ID,
    MAX_RESOURCE,
    Row,
    batch_fields,
    is_uuid,
)
from servicekit.background import Background

log = structlog.get_logger("audit")
RECORDS = Counter(
    "gateway_audit_records_total",
    "Audit records sent to the audit stream, or dropped (Redis away past the pending bound).",
    ["outcome"],
)
F = TypeVar("F", bound=Callable[..., object])
MARK = "__audited__"
# Entries (batches) the stream keeps, roughly: hours of a busy suite for a stopped consumer.
STREAM_LENGTH = 100_000
# How long a send may take (it is no request's time), and the wait after one failed.
SEND_SECONDS = 1.0
RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Audited:
    """What a route does to personal data: an action, and the resource as a template over
    its path parameters ("workout:{session_id}"), qualified by a query parameter when one
    is named and given ("metrics" with metric_type=steps is "metrics:steps")."""

    action: str
    resource: str
    query: str | None = None

    def resource_of(self, scope: Scope) -> str:
        name = self.resource.format_map(scope.get("path_params") or {})
        if self.query and (
            given := parse_qs(scope["query_string"].decode("latin-1")).get(self.query)
        ):
            name = f"{name}:{given[0]}"
        # The client chose the ids: a NUL (%00) would make the batch unstorable (text).
        return name[:MAX_RESOURCE].replace("\x00", "\ufffd")


def audited(action: str, resource: str, query: str | None = None) -> Callable[[F], F]:
    """Mark a route handler as reading or writing personal data (put it under the route's
    decorator). Whose data: the route's `user_id` path parameter, else the caller's."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    spec = Audited(action, resource, query)

    def mark(endpoint: F) -> F:
        setattr(endpoint, MARK, spec)
        return endpoint

    return mark


def finish(scope: Scope, ctx: RequestContext, status: int) -> None:
    """The middleware's call once a request is answered: the record of an audited route,
    when a token named the caller (an anonymous request reached no one's data)."""
    spec: Audited | None = getattr(scope.get("endpoint"), MARK, None)
    if spec is None or not ctx.user_id:
        return
    if spec.action == "erase" and status < 300:
        return  # the account is gone; the erasure recorded itself (user_service.audit_store)
    subject = (scope.get("path_params") or {}).get("user_id", ctx.user_id)
    if subject != ctx.user_id and not is_uuid(subject):
        return  # refused before reaching anyone: an id no account can have
    services = getattr(scope["app"].state, "services", None)
    if services is None:
        return
    services.auditor.add(
        (
            subject,
            ctx.user_id,
            spec.action,
            spec.resource_of(scope),
            status,
            ctx.request_id[:MAX_REQUEST_ID],
            time.time_ns() // 1000,
        )
    )


class Auditor:
    """This replica's records on their way to the audit stream."""

    def __init__(
        self,
        redis: aioredis.Redis,
        flush_seconds: float,
        batch_records: int,
        pending_records: int,
        timeout: float = SEND_SECONDS,
    ) -> None:
        self.redis = redis
        self.flush_seconds, self.batch_records = flush_seconds, batch_records
        self.pending_records, self.timeout = pending_records, timeout
        # Batch ids are unique across replicas and restarts, and kept when a batch is sent
        # again: the consumer knows a record by its batch's id and its index.
        self._replica = uuid.uuid4().hex[:16]
        self._numbers = itertools.count(1)
        self._rows: list[Row] = []
        self._batches: deque[tuple[str, list[Row]]] = deque()
        self._due = asyncio.Event()
        self._loop = Background(self._run)

    def add(self, row: Row) -> None:
        self._rows.append(row)
        self._due.set()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        """Stop, sending what is held (once, within the timeout)."""
        await self._loop.stop()
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            await asyncio.sleep(self.flush_seconds)  # a batch gathers
            self._due.clear()
            if not await self.flush():
                await asyncio.sleep(RETRY_SECONDS)
                self._due.set()

    async def flush(self) -> bool:
        """Send every batch held, oldest first, one XADD each (one, unless Redis was away
        or a burst passed AUDIT_BATCH_RECORDS); False when Redis did not take them all."""
        self._cut()
        try:
            async with asyncio.timeout(self.timeout):
                while self._batches:
                    batch_id, rows = self._batches[0]
                    fields: dict[Any, Any] = batch_fields(batch_id, rows)
                    await self.redis.xadd(
                        AUDIT_STREAM, fields, maxlen=STREAM_LENGTH, approximate=True
                    )
                    self._batches.popleft()
                    RECORDS.labels("sent").inc(len(rows))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("audit_send_failed", held=self._held(), error=str(exc))
            return False
        return True

    def _cut(self) -> None:
        """Records gathered become batches; past the bound, the oldest batches go."""
        rows, self._rows = self._rows, []
        for start in range(0, len(rows), self.batch_records):
            batch_id = f"{self._replica}-{next(self._numbers)}"
            self._batches.append((batch_id, rows[start : start + self.batch_records]))
        while self._held() > self.pending_records:
            _, dropped = self._batches.popleft()
            RECORDS.labels("dropped").inc(len(dropped))
            log.error("audit_records_dropped", records=len(dropped))

    def _held(self) -> int:
        return sum(len(rows) for _, rows in self._batches)
