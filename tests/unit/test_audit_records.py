"""The audit stream's entries (servicekit.audit) and the gateway's route markers
(gateway.audit), as pure logic."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.routing import APIRoute

from gateway.audit import MARK, Audited, audited
from gateway.routes import account, audit, groups, health, imports, sessions, users, workouts
from servicekit.audit import AuditRecord, Row, batch_fields, records_of
from servicekit.events import MalformedEvent

USER, OTHER = str(uuid.uuid4()), str(uuid.uuid4())
AT = 1_767_225_600_123_456
ROUTERS = (
    users.reads,
    users.router,
    sessions.router,
    groups.router,
    workouts.reads,
    workouts.router,
    health.reads,
    health.router,
    imports.router,
    account.router,
    audit.router,
)


def row(**changes: Any) -> Row:
    values = [USER, OTHER, "read", "profile", 403, "req-1", AT]
    names = ["user_id", "actor_id", "action", "resource", "result", "request_id", "at_us"]
    for name, value in changes.items():
        values[names.index(name)] = value
    return tuple(values)  # type: ignore[return-value]


def test_a_batch_entry_gives_back_its_records_with_ids_of_batch_and_index() -> None:
    fields = batch_fields("replica-7", [row(), row(action="update", result=200)])
    assert records_of(fields) == [
        AuditRecord("replica-7.0", USER, OTHER, "read", "profile", 403, "req-1", AT),
        AuditRecord("replica-7.1", USER, OTHER, "update", "profile", 200, "req-1", AT),
    ]
    # The same entry read again names the same records: a redelivery is recognised.
    assert records_of(fields) == records_of(dict(fields))


@pytest.mark.parametrize(
    "fields",
    [
        {"records": "[]"},
        {"batch": "b", "records": "not json"},
        {"batch": "b", "records": '{"a": 1}'},
        {"batch": "b", "records": json.dumps([[USER, OTHER, "read"]])},
        {"batch": "b", "records": json.dumps([list(row(user_id="nobody"))])},
        {"batch": "b", "records": json.dumps([list(row(action="peek"))])},
        {"batch": "b", "records": json.dumps([list(row(resource=""))])},
        {"batch": "b", "records": json.dumps([list(row(resource="x" * 201))])},
        {"batch": "b", "records": json.dumps([list(row(resource="workout:\x00"))])},
        {"batch": "b", "records": json.dumps([list(row(request_id="\udc80"))])},
        {"batch": "b", "records": json.dumps([list(row(result="200"))])},
        {"batch": "b", "records": json.dumps([list(row(result=True))])},
        {"batch": "b", "records": json.dumps([list(row(at_us=1.5))])},
        {"batch": "b", "records": json.dumps([list(row(at_us=0))])},
    ],
)
def test_a_malformed_entry_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(MalformedEvent):
        records_of(fields)


def scope(path_params: dict[str, str], query: bytes = b"") -> Any:
    return {"path_params": path_params, "query_string": query}


def test_a_resource_names_its_path_parameters_and_the_query_parameter_given() -> None:
    assert Audited("read", "workout:{session_id}").resource_of(scope({"session_id": "w1"})) == (
        "workout:w1"
    )
    series = Audited("read", "metrics", query="metric_type")
    assert series.resource_of(scope({}, b"period=day&metric_type=heart_rate")) == (
        "metrics:heart_rate"
    )
    assert series.resource_of(scope({}, b"period=day")) == "metrics"
    # A client's long id is cut, and a NUL in it replaced, not refused.
    long = Audited("read", "goal:{goal_id}").resource_of(scope({"goal_id": "g" * 500}))
    assert len(long) == 200
    nul = Audited("read", "goal:{goal_id}").resource_of(scope({"goal_id": "a\x00b"}))
    assert nul == "goal:a\ufffdb"
    assert records_of(batch_fields("b", [row(resource=nul)]))[0].resource == nul


def test_a_marker_names_a_known_action() -> None:
    with pytest.raises(ValueError, match="action"):
        audited("peek", "profile")


def test_every_audited_route_names_only_its_own_path_parameters() -> None:
    routes = [r for api in ROUTERS for r in api.routes if isinstance(r, APIRoute)]
    marked = {
        (method, r.path): getattr(r.endpoint, MARK)
        for r in routes
        if hasattr(r.endpoint, MARK)
        for method in r.methods or ()
    }
    for r in routes:
        if hasattr(r.endpoint, MARK):  # no KeyError at the end of a request
            getattr(r.endpoint, MARK).resource_of(scope(dict.fromkeys(r.param_convertors, "x")))
    # The personal data the issue names: profile, workouts, metrics (and their derivatives).
    assert marked[("GET", "/users/{user_id}")] == Audited("read", "profile")
    assert marked[("PATCH", "/users/{user_id}")] == Audited("update", "profile")
    assert marked[("POST", "/workouts")].action == "create"
    assert marked[("GET", "/workouts/{session_id}")].resource == "workout:{session_id}"
    assert marked[("GET", "/health-metrics/user/{user_id}")].query == "metric_type"
    assert marked[("GET", "/users/{user_id}/export")] == Audited("export", "account")
    assert marked[("DELETE", "/users/{user_id}")] == Audited("erase", "account")
    assert marked[("PUT", "/users/{user_id}/password")] == Audited("update", "password")
    assert marked[("DELETE", "/users/{user_id}/sessions/{session_id}")].action == "delete"
    assert marked[("GET", "/group-sessions/{session_id}/messages")].action == "read"
    # Reading the log itself is not: it would grow with every page read.
    assert ("GET", "/users/{user_id}/audit") not in marked
