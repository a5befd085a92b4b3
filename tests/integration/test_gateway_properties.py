"""Property tests over every date, week and cursor parameter of the REST API, against the
real gateway and services: whatever the value, the answer is a success or a 4xx problem,
never a 5xx. Dates range over the whole of what ISO 8601 can write (years 1-9999, offsets
to ±23:59), cursors over well-formed tokens with any instant and over any text."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack import services
from tests.helpers import Account, sign_up

OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: dt.timezone(dt.timedelta(minutes=m))
)
INSTANTS = st.datetimes(
    min_value=dt.datetime(1, 1, 1),
    max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
    timezones=OFFSETS,
).map(lambda d: d.isoformat())
# The instants at the ends of what ISO 8601 writes, whose UTC falls outside years 1-9999.
EDGES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:00:00-01:00",
        "9999-12-31T23:59:59.999999-23:59",
        "9999-12-31T23:59:59+00:00",
        "1970-01-01T00:00:00+00:00",
        "1969-12-31T23:59:59+00:00",
    ]
)
INSTANTS = st.one_of(EDGES, INSTANTS)
TEXT = st.text(max_size=40)
DATES = st.one_of(INSTANTS, TEXT)
WEEKS = st.one_of(
    st.builds(lambda y, w: f"{y:04d}-W{w:02d}", st.integers(0, 9999), st.integers(0, 99)), TEXT
)


def token(instant: str, key: str) -> str:
    raw = json.dumps({"t": instant, "k": key}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CURSORS = st.one_of(
    st.builds(token, INSTANTS, TEXT),
    st.builds(lambda data: base64.urlsafe_b64encode(data).decode(), st.binary(max_size=60)),
    TEXT,
)
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest_asyncio.fixture(scope="module")
async def person(api: httpx.AsyncClient) -> AsyncIterator[Account]:
    yield await sign_up(api)


@pytest.fixture
def client(gateway: services.HttpProcess, person: Account) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"{gateway.url}/api/v1", headers=person.headers, timeout=15
    ) as session:
        yield session


def no_server_error(reply: httpx.Response) -> None:
    assert reply.status_code < 500, (reply.request.url, reply.text)
    if reply.status_code >= 400:
        assert reply.headers["content-type"] == "application/problem+json", reply.text


@EXAMPLES
@given(since=DATES, until=DATES, cursor=CURSORS)
def test_list_ranges_and_cursors(
    client: httpx.Client, person: Account, since: str, until: str, cursor: str
) -> None:
    me = person.user_id
    for path, names in (
        (f"/users/{me}/workouts", ("from", "to")),
        (f"/health-metrics/user/{me}", ("since", "until")),
        (f"/nutrition-logs/user/{me}", ("since", "until")),
    ):
        params = {names[0]: since, names[1]: until, "cursor": cursor}
        no_server_error(client.get(path, params=params))


@EXAMPLES
@given(cursor=CURSORS)
def test_goal_and_notification_cursors(client: httpx.Client, person: Account, cursor: str) -> None:
    for path in ("goals", "notifications"):
        no_server_error(client.get(f"/users/{person.user_id}/{path}", params={"cursor": cursor}))


@EXAMPLES
@given(since=DATES, until=DATES, week=WEEKS)
def test_series_ranges_and_weeks(
    client: httpx.Client, person: Account, since: str, until: str, week: str
) -> None:
    me = person.user_id
    range_ = {"since": since, "until": until}
    no_server_error(client.get(f"/users/{me}/activity-series", params=range_))
    no_server_error(
        client.get(f"/health-metrics/user/{me}/series", params={**range_, "metric_type": "steps"})
    )
    no_server_error(client.get(f"/users/{me}/activity-score", params={"week": week}))


@EXAMPLES
@given(start=DATES, end=DATES, recorded=DATES)
def test_written_instants(client: httpx.Client, start: str, end: str, recorded: str) -> None:
    workout = {"workout_type": "running", "start_time": start, "end_time": end}
    no_server_error(client.post("/workouts", json=workout))
    sample = {"metric_type": "steps", "value": 10, "recorded_at": recorded}
    no_server_error(client.post("/health-metrics/", json=sample))
    sleep = {"metric_type": "sleep_minutes", "value": 10, "start_time": start, "end_time": end}
    no_server_error(client.post("/health-metrics/", json=sleep))
    meal = {"eaten_at": recorded, "calories": 100}
    no_server_error(client.post("/nutrition-logs/", json=meal))
