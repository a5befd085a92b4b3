"""Small conversions every service needs between protos and Python values."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp


def optional(message: Any, name: str) -> Any:
    """The value of a proto3 `optional` field, or None when it is not set."""
    return getattr(message, name) if message.HasField(name) else None


def to_datetime(ts: Timestamp) -> dt.datetime:
    return ts.ToDatetime(tzinfo=dt.UTC)


def timestamp(at: dt.datetime) -> Timestamp:
    """A Timestamp for `at`; a naive datetime is taken as UTC."""
    stamp = Timestamp()
    stamp.FromDatetime(at.astimezone(dt.UTC) if at.tzinfo else at.replace(tzinfo=dt.UTC))
    return stamp
