"""Opaque page tokens over a (timestamp, id) sort key: stable under concurrent inserts."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, TypeVar

from servicekit.errors import FieldViolation, InvalidArgument

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def page_size(
    requested: int, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    """The page size asked for, or `default` for 0."""
    if requested < 0 or requested > maximum:
        raise InvalidArgument([FieldViolation("page_size", f"must be 0-{maximum}")])
    return requested or default


def split(docs: list[T], limit: int, at: str, key: str = "_id") -> tuple[list[T], str]:
    """A page read with one item more than `limit`: the page, and the token of the next one
    (empty on the last), from the last item's `at` and `key`."""
    if len(docs) <= limit:
        return docs, ""
    docs = docs[:limit]
    last: Any = docs[-1]
    return docs, encode(last[at], str(last[key]))


def encode(at: dt.datetime, key: str) -> str:
    raw = json.dumps({"t": at.astimezone(dt.UTC).isoformat(), "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> tuple[dt.datetime, str] | None:
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        at = dt.datetime.fromisoformat(data["t"])
        key = data["k"]
        # No id holds a NUL, and a store may not compare one (PostgreSQL's JSONB under
        # FerretDB refuses it): a token naming one is forged.
        if not isinstance(key, str) or "\x00" in key or at.tzinfo is None:
            raise ValueError("bad token")
        # Only instants every store can hold: a token is the client's to alter.
        at = at.astimezone(dt.UTC)
        if not EARLIEST <= at < LATEST:
            raise ValueError("bad token")
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise InvalidArgument([FieldViolation("page_token", "is not a valid page token")]) from exc
    return at, key
