"""Page tokens: a token is the client's to alter, so decoding refuses anything a store
could not hold, as INVALID_ARGUMENT naming page_token."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from servicekit import pagination
from servicekit.errors import InvalidArgument


def token(instant: str, key: object = "k") -> str:
    raw = json.dumps({"t": instant, "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_token_round_trips_in_utc() -> None:
    at = dt.datetime(2026, 11, 30, 21, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert pagination.decode(pagination.encode(at, "w1")) == (at.astimezone(dt.UTC), "w1")


@pytest.mark.parametrize(
    "bad",
    [
        token("0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
        token("9999-12-31T23:59:59-23:59"),  # past year 9999 in UTC
        token("1969-12-31T23:59:59+00:00"),
        token("2026-11-30T10:00:00"),  # no offset
        token("2026-11-30T10:00:00+00:00", key=7),
        token("2026-11-30T10:00:00+00:00", key="w\x001"),  # no id holds a NUL
        "not base64 at all!",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
    ],
)
def test_a_token_no_store_could_hold_is_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        pagination.decode(bad)
    assert [v.field for v in refused.value.violations] == ["page_token"]
