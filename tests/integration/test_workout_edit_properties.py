"""A model test of edits and deletions through the real gateway and services: any sequence
of logs, edits (some with a stale If-Match) and deletions leaves statistics, each week's
score and every workout goal (progress, status and alerts) exactly where a model of the
live workouts puts them. The workouts' figures are the scoring service's (from the
answers); the model adds them up, and keeps a goal's progress as the user service
promises: what each workout adds, in the order the workouts were logged, counted until
the target is reached."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activity_service import weeks
from devstack import services
from tests.helpers import PASSWORD, unique

TYPES = ("running", "cycling", "walking", "yoga")
# Goal type → target and what a workout adds to it (a workout's answer, as REST gives it).
GOALS: dict[str, tuple[float, Callable[[dict[str, Any]], float]]] = {
    "workouts_count": (3, lambda w: 1.0),
    "distance_km": (12, lambda w: (w["distance_m"] or 0.0) / 1000),
    "intensity_minutes": (90, lambda w: w["intensity_minutes"]),
    "active_minutes": (100, lambda w: w["duration"] / 60),
}
EXAMPLES = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

WHEN = st.fixed_dictionaries({"hours_ago": st.integers(2, 24 * 12), "minutes": st.integers(10, 90)})
MEASURES = {
    "workout_type": st.sampled_from(TYPES),
    "distance_m": st.one_of(st.none(), st.integers(0, 15_000).map(float)),
    "avg_heart_rate": st.one_of(st.none(), st.integers(90, 185)),
}
LOG = st.fixed_dictionaries({"op": st.just("log"), "when": WHEN, **MEASURES})
EDIT = st.fixed_dictionaries(
    {"op": st.just("edit"), "pick": st.integers(0, 9), "stale": st.sampled_from([0, 0, 0, 1])},
    optional={"when": WHEN, **MEASURES},
).filter(lambda e: len(e) > 3)  # names something to change
DELETE = st.fixed_dictionaries({"op": st.just("delete"), "pick": st.integers(0, 9)})
# A few workouts first, then changes among more of them.
SEQUENCES = st.tuples(
    st.lists(LOG, min_size=2, max_size=3),
    st.lists(st.one_of(LOG, EDIT, EDIT, DELETE), min_size=1, max_size=4),
).map(lambda parts: parts[0] + parts[1])


@dataclass
class Model:
    """The live workouts, as the last answer about each gave them, in the order logged."""

    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    weeks: set[str] = field(default_factory=set)
    achieved: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(GOALS, False))
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def put(self, workout: dict[str, Any]) -> None:
        self.live[workout["session_id"]] = workout  # a dict keeps its first place
        self.weeks.add(week_of(workout))
        self._alerts()

    def drop(self, workout_id: str) -> None:
        del self.live[workout_id]
        self._alerts()

    def goal(self, goal_type: str) -> tuple[float, bool]:
        target, adds = GOALS[goal_type]
        progress = 0.0
        for workout in self.live.values():
            if progress >= target:
                break
            progress = round(progress + round(adds(workout), 4), 4)
        return progress, progress >= target

    def _alerts(self) -> None:
        for goal_type, was in self.achieved.items():
            now = self.goal(goal_type)[1]
            if now != was:
                self.alerts[goal_type, "goal_achieved" if now else "goal_unachieved"] += 1
            self.achieved[goal_type] = now


def week_of(workout: dict[str, Any]) -> str:
    return weeks.name(dt.datetime.fromisoformat(workout["start_time"]))


def times(when: dict[str, int], now: dt.datetime) -> dict[str, str]:
    start = now - dt.timedelta(hours=when["hours_ago"])
    end = start + dt.timedelta(minutes=when["minutes"])
    return {"start_time": start.isoformat(), "end_time": end.isoformat()}


@pytest.fixture
def client(gateway: services.HttpProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{gateway.url}/api/v1", timeout=15) as session:
        yield session


def person(client: httpx.Client) -> tuple[str, dict[str, str]]:
    """A new user with a profile (heart rates make intensity personal) and one goal of each
    workout type; their id and headers."""
    name = unique()
    email = f"{name}@example.com"
    profile = {"weight_kg": 64, "resting_heart_rate": 55, "max_heart_rate": 190}
    body = {"username": name, "email": email, "password": PASSWORD, "profile": profile}
    assert client.post("/users/register", json=body).status_code == 201
    login = client.post("/users/login", json={"email": email, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    target_date = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).date().isoformat()
    for goal_type, (target, _) in GOALS.items():
        goal = {"goal_type": goal_type, "target_value": target, "target_date": target_date}
        assert client.post(
            f"/users/{login['user_id']}/goals", headers=headers, json=goal
        ).is_success
    return login["user_id"], headers


def apply(client: httpx.Client, headers: dict[str, str], model: Model, op: dict[str, Any]) -> None:
    """One step through the gateway, and the model's step beside it."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    fields = {k: v for k, v in op.items() if k in MEASURES}
    if "when" in op:
        fields |= times(op["when"], now)
    if op["op"] == "log":
        fields = {k: v for k, v in fields.items() if v is not None}
        logged = client.post("/workouts", headers=headers, json=fields)
        assert logged.status_code == 201, logged.text
        model.put(logged.json())
        return
    if not model.live:
        return
    workout = list(model.live.values())[op["pick"] % len(model.live)]
    path, version = f"/workouts/{workout['session_id']}", workout["version"]
    if_match = {**headers, "If-Match": f'"{version + 1 if op.get("stale") else version}"'}
    if op["op"] == "delete":
        answer = client.delete(path, headers=if_match)
        assert answer.status_code == 204, answer.text
        model.drop(workout["session_id"])
        return
    answer = client.patch(path, headers=if_match, json=fields)
    if op["stale"]:
        assert answer.status_code == 412, answer.text  # and nothing changed
        return
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == f'"{answer.json()["version"]}"'
    model.put(answer.json())


def expect_statistics(client: httpx.Client, me: str, headers: dict[str, str], m: Model) -> None:
    stats = client.get(f"/users/{me}/statistics", headers=headers).json()
    live = list(m.live.values())
    assert stats["total_workouts"] == len(live)
    assert stats["total_duration"] == sum(w["duration"] for w in live)
    assert stats["total_calories_burned"] == pytest.approx(
        sum(w["calories_burned"] for w in live), abs=0.011
    )
    by_type = {
        kind: (len(ws), sum(w["duration"] for w in ws))
        for kind in TYPES
        if (ws := [w for w in live if w["workout_type"] == kind])
    }
    got = {k: (t["total_workouts"], t["total_duration"]) for k, t in stats["by_type"].items()}
    assert got == by_type
    this_week = [w for w in live if week_of(w) == stats["current_week"]["week"]]
    assert stats["current_week"]["total_workouts"] == len(this_week)
    assert stats["current_week"]["intensity_minutes"] == pytest.approx(
        sum(w["intensity_minutes"] for w in this_week), abs=0.011
    )
    for week in m.weeks:
        score = client.get(f"/users/{me}/activity-score", headers=headers, params={"week": week})
        held = [w for w in live if week_of(w) == week]
        assert score.json()["workouts"] == len(held), week
        minutes = sum(w["intensity_minutes"] for w in held)
        assert score.json()["intensity_minutes"] == pytest.approx(minutes, abs=0.011)


def goals(client: httpx.Client, me: str, headers: dict[str, str], m: Model) -> tuple[Any, Any]:
    """Every goal's progress, achievement and alerts: as the API has them, and as modelled."""
    items = client.get(f"/users/{me}/goals", headers=headers).json()["items"]
    got = {
        g["goal_type"]: (round(g["current_progress"], 3), g["status"] == "achieved") for g in items
    }
    modelled = {kind: (round(p, 3), done) for kind in GOALS for p, done in [m.goal(kind)]}
    alerts = client.get(f"/users/{me}/notifications", headers=headers, params={"limit": 100})
    kinds = Counter((n["goal"]["goal_type"], n["kind"]) for n in alerts.json()["items"])
    return (got, kinds), (modelled, m.alerts)


@EXAMPLES
@given(ops=SEQUENCES)
def test_edits_and_deletions_move_everything_back_exactly(
    client: httpx.Client, ops: list[dict[str, Any]]
) -> None:
    me, headers = person(client)
    model = Model()
    for op in ops:
        apply(client, headers, model, op)
    expect_statistics(client, me, headers, model)
    # Goals follow the events, a moment later.
    deadline = time.monotonic() + 15
    while (found := goals(client, me, headers, model))[0] != found[1]:
        if time.monotonic() > deadline:
            assert found[0] == found[1], ops
        time.sleep(0.1)
