"""The audit stream between its producer (the gateway) and its consumer (user_service): the
one definition of an entry.

An entry of the Redis Stream `fitmesh.audit` is one gateway replica's batch of records:
`{"batch": <id>, "records": <JSON array>}`, each record an array
`[user_id, actor_id, action, resource, result, request_id, at_us]`. A batch, not a record,
per entry: a replica sends one XADD per batch, so auditing costs a round trip per batch
rather than per request. A record's id is its batch's id and its index, so a batch sent
again (its XADD timed out after it landed) or an entry delivered again repeats the ids, and
the consumer stores each once."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from servicekit.events import MalformedEvent

AUDIT_STREAM = "fitmesh.audit"
ACTIONS = ("read", "create", "update", "delete", "export", "erase")
# Bounds of what a record may hold; the gateway cuts a resource to MAX_RESOURCE.
MAX_RESOURCE = 200
MAX_REQUEST_ID = 128
# Instants a record may carry: 2000-01-01 to 2200-01-01, in microseconds since the epoch.
EARLIEST_US = 946_684_800_000_000
LATEST_US = 7_258_118_400_000_000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One request that read or wrote someone's personal data, as the gateway saw it."""

    record_id: str
    user_id: str  # whose data: the chain the record joins
    actor_id: str  # whose token made the request
    action: str
    resource: str
    result: int  # HTTP status
    request_id: str
    at_us: int  # microseconds since the epoch, UTC


Row = tuple[str, str, str, str, int, str, int]


def batch_fields(batch_id: str, rows: list[Row]) -> dict[str, str]:
    """The stream entry of a batch of records
    (user_id, actor_id, action, resource, result, request_id, at_us)."""
    return {"batch": batch_id, "records": json.dumps(rows, separators=(",", ":"))}


def records_of(fields: dict[str, str]) -> list[AuditRecord]:
    """The records of a stream entry; MalformedEvent when anything in it is not as written."""
    batch = fields.get("batch", "")
    if not batch or len(batch) > 64:
        raise MalformedEvent("batch must be an id of 1-64 characters")
    try:
        rows = json.loads(fields.get("records", ""))
    except ValueError as exc:
        raise MalformedEvent("records is not JSON") from exc
    if not isinstance(rows, list):
        raise MalformedEvent("records is not a list")
    return [_record(f"{batch}.{index}", row) for index, row in enumerate(rows)]


def _record(record_id: str, row: Any) -> AuditRecord:
    if not isinstance(row, list) or len(row) != 7:
        raise MalformedEvent(f"record {record_id} is not a list of 7 values")
    user_id, actor_id, action, resource, result, request_id, at_us = row
    texts = (user_id, actor_id, action, resource, request_id)
    if not all(isinstance(t, str) for t in texts):
        raise MalformedEvent(f"record {record_id}: ids, action and resource are strings")
    if not _storable("".join(texts)):
        raise MalformedEvent(f"record {record_id}: text with NUL or not UTF-8")
    if not is_uuid(user_id) or not is_uuid(actor_id):
        raise MalformedEvent(f"record {record_id}: user_id and actor_id are UUIDs")
    if action not in ACTIONS:
        raise MalformedEvent(f"record {record_id}: action must be one of {', '.join(ACTIONS)}")
    if not resource or len(resource) > MAX_RESOURCE or len(request_id) > MAX_REQUEST_ID:
        raise MalformedEvent(f"record {record_id}: resource or request_id of a wrong length")
    if type(result) is not int or not 0 <= result <= 999:
        raise MalformedEvent(f"record {record_id}: result is an HTTP status")
    if type(at_us) is not int or not EARLIEST_US <= at_us < LATEST_US:
        raise MalformedEvent(f"record {record_id}: at_us is out of range")
    return AuditRecord(record_id, user_id, actor_id, action, resource, result, request_id, at_us)


def _storable(text: str) -> bool:
    """PostgreSQL text holds no NUL, and only what encodes to UTF-8."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
