"""The health routes end to end: a real gateway over the real activity (health), scoring
and user services and databases."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx

from tests.clock import Clock
from tests.helpers import sign_up
from tests.integration.test_gateway import is_problem


def at(clock: Clock, days_ago: float, hour: int = 12) -> str:
    day = (clock.now - dt.timedelta(days=days_ago)).replace(hour=hour, minute=0, second=0)
    return min(day, clock.now).isoformat()


def steps(
    clock: Clock, value: float, days_ago: float, client_id: str | None = None
) -> dict[str, Any]:
    sample: dict[str, Any] = {
        "metric_type": "steps",
        "value": value,
        "recorded_at": at(clock, days_ago),
    }
    if client_id:
        sample["client_id"] = client_id
    return sample


async def test_a_sample_is_stored_read_back_and_private(
    api: httpx.AsyncClient, clock: Clock
) -> None:
    me, other = await sign_up(api), await sign_up(api)
    made = await api.post(
        "/health-metrics/",
        headers=me.headers,
        json={"metric_type": "weight_kg", "value": 71.4, "unit": "kg", "recorded_at": at(clock, 0)},
    )
    assert made.status_code == 201, made.text
    metric = made.json()
    assert (metric["metric_type"], metric["value"], metric["unit"]) == ("weight_kg", 71.4, "kg")
    assert metric["duplicate"] is False
    assert metric["client_id"]
    got = await api.get(f"/health-metrics/{metric['metric_id']}", headers=me.headers)
    assert got.status_code == 200
    assert got.json()["value"] == 71.4
    # Another user can neither read it by id nor list the owner's samples.
    is_problem(await api.get(f"/health-metrics/{metric['metric_id']}", headers=other.headers), 404)
    is_problem(await api.get(f"/health-metrics/user/{me.user_id}", headers=other.headers), 403)
    is_problem(await api.get(f"/health-metrics/user/{me.user_id}"), 401)
    # The path without the trailing slash is the same route.
    plain = await api.post("/health-metrics", headers=me.headers, json=steps(clock, 1200, 0))
    assert plain.status_code == 201, plain.text


async def test_a_repeated_batch_stores_nothing_twice(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api)
    batch = [
        steps(clock, 1000 + i, i % 5, client_id=f"watch-{uuid.uuid4().hex}") for i in range(30)
    ]
    first = await api.post("/health-metrics/", headers=me.headers, json=batch)
    assert first.status_code == 201, first.text
    assert (first.json()["stored"], first.json()["duplicates"]) == (30, 0)
    again = await api.post("/health-metrics/", headers=me.headers, json=batch)
    assert again.status_code == 200, again.text
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 30)
    assert [m["metric_id"] for m in again.json()["items"]] == [
        m["metric_id"] for m in first.json()["items"]
    ]
    # A re-sync with one new sample stores just that one.
    mixed = await api.post(
        "/health-metrics/", headers=me.headers, json=[*batch[:3], steps(clock, 999, 0, "new-one")]
    )
    assert (mixed.status_code, mixed.json()["stored"], mixed.json()["duplicates"]) == (201, 1, 3)
    listed = await api.get(
        f"/health-metrics/user/{me.user_id}",
        headers=me.headers,
        params={"metric_type": "steps", "limit": 500},
    )
    assert listed.status_code == 200
    assert len(listed.json()["items"]) == 31


async def test_bad_samples_name_the_field(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api)

    async def post(body: object) -> httpx.Response:
        return await api.post("/health-metrics/", headers=me.headers, json=body)

    unknown = is_problem(
        await post({"metric_type": "mood", "value": 3, "recorded_at": at(clock, 0)}), 400
    )
    assert [e["field"] for e in unknown["errors"]] == ["metric_type"]
    too_many = is_problem(
        await post({"metric_type": "steps", "value": 100_001, "recorded_at": at(clock, 0)}), 400
    )
    assert [e["field"] for e in too_many["errors"]] == ["value"]
    wrong_unit = is_problem(
        await post(
            {"metric_type": "weight_kg", "value": 150, "unit": "lb", "recorded_at": at(clock, 0)}
        ),
        400,
    )
    assert wrong_unit["errors"][0]["field"] == "unit"
    assert "kg" in wrong_unit["errors"][0]["message"]
    backwards = is_problem(
        await post(
            {
                "metric_type": "sleep_minutes",
                "value": 60,
                "start_time": at(clock, 0, hour=8),
                "end_time": at(clock, 0, hour=7),
            }
        ),
        400,
    )
    assert {e["field"] for e in backwards["errors"]} & {"end_time", "start_time"}
    in_batch = is_problem(
        await post([steps(clock, 10, 0), steps(clock, 10, 0), steps(clock, -5, 0)]), 400
    )
    assert [e["field"] for e in in_batch["errors"]] == ["2.value"]
    over = is_problem(await post([steps(clock, 1, 0)] * 1001), 400)
    assert "at most 1000" in over["errors"][0]["message"]
    missing = is_problem(await post({"metric_type": "steps", "value": 10}), 400)
    assert [e["field"] for e in missing["errors"]] == ["recorded_at"]
    # Nothing of a refused batch was stored.
    listed = await api.get(f"/health-metrics/user/{me.user_id}", headers=me.headers)
    assert listed.json()["items"] == []


async def test_a_summary_reads_its_writes(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api)
    path = f"/health-metrics/user/{me.user_id}/summary"
    await api.post(
        "/health-metrics/", headers=me.headers, json=[steps(clock, 4000, 1), steps(clock, 6000, 2)]
    )
    first = await api.get(path, headers=me.headers, params={"days": 7})
    assert first.status_code == 200, first.text
    (summary,) = first.json()["summaries"]
    assert (summary["metric_type"], summary["count"], summary["min"], summary["max"]) == (
        "steps",
        2,
        4000,
        6000,
    )
    assert summary["mean"] == 5000
    # Answered from the cache until a write, then recomputed: the reader sees the write.
    assert (await api.get(path, headers=me.headers, params={"days": 7})).json() == first.json()
    await api.post("/health-metrics/", headers=me.headers, json=steps(clock, 11000, 0))
    after = (await api.get(path, headers=me.headers, params={"days": 7})).json()
    (summary,) = after["summaries"]
    assert (summary["count"], summary["max"], summary["latest"]["value"]) == (3, 11000, 11000)
    is_problem(await api.get(path, headers=me.headers, params={"days": 0}), 400)
    other = await sign_up(api)
    is_problem(await api.get(path, headers=other.headers), 403)


async def test_meals_are_idempotent_with_daily_totals(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api)
    meal = {
        "eaten_at": at(clock, 1, hour=8),
        "name": "breakfast",
        "calories": 420,
        "protein_g": 20,
        "carbohydrate_g": 55,
        "fat_g": 12,
        "items": [{"name": "oats", "quantity_g": 80}],
        "client_id": "phone-meal-1",
    }
    made = await api.post("/nutrition-logs/", headers=me.headers, json=meal)
    assert made.status_code == 201, made.text
    again = await api.post("/nutrition-logs/", headers=me.headers, json=meal)
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert again.json()["meal_id"] == made.json()["meal_id"]
    lunch = {
        **meal,
        "eaten_at": at(clock, 1, hour=13),
        "calories": 600,
        "client_id": "phone-meal-2",
    }
    assert (await api.post("/nutrition-logs/", headers=me.headers, json=lunch)).status_code == 201
    page = await api.get(f"/nutrition-logs/user/{me.user_id}", headers=me.headers)
    assert page.status_code == 200
    body = page.json()
    assert [m["calories"] for m in body["items"]] == [600, 420]
    assert [(d["meals"], d["calories"], d["protein_g"]) for d in body["days"]] == [(2, 1020, 40)]
    bad = is_problem(
        await api.post("/nutrition-logs/", headers=me.headers, json={**meal, "calories": -1}), 400
    )
    assert [e["field"] for e in bad["errors"]] == ["calories"]
    is_problem(
        await api.get(f"/nutrition-logs/user/{me.user_id}", headers=(await sign_up(api)).headers),
        403,
    )


async def test_series_fill_empty_days(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api)
    await api.post(
        "/health-metrics/",
        headers=me.headers,
        json=[steps(clock, 3000, 1), steps(clock, 500, 1), steps(clock, 7000, 3)],
    )
    since = (clock.now - dt.timedelta(days=4)).replace(hour=0, minute=0, second=0)
    reply = await api.get(
        f"/health-metrics/user/{me.user_id}/series",
        headers=me.headers,
        params={
            "metric_type": "steps",
            "period": "day",
            "since": since.isoformat(),
            "until": clock.now.isoformat(),
        },
    )
    assert reply.status_code == 200, reply.text
    points = reply.json()["points"]
    assert [p["sum"] for p in points] == [0, 7000, 0, 3500, 0]
    assert [p["count"] for p in points] == [0, 1, 0, 2, 0]
    backwards = is_problem(
        await api.get(
            f"/users/{me.user_id}/activity-series",
            headers=me.headers,
            params={"since": clock.now.isoformat(), "until": since.isoformat()},
        ),
        400,
    )
    assert backwards["errors"][0]["field"] == "since"


async def test_insights_rank_and_follow_new_data(api: httpx.AsyncClient, clock: Clock) -> None:
    me = await sign_up(api, birth_date="1990-05-01", sex="female", weight_kg=64)
    short_sleep = [
        {
            "metric_type": "sleep_minutes",
            "value": 300,
            "start_time": at(clock, d, hour=1),
            "end_time": at(clock, d, hour=6),
            "client_id": f"sleep-{d}",
        }
        for d in (1, 2, 3)
    ]
    few_steps = [steps(clock, 2500, d, f"steps-{d}") for d in (1, 2, 3)]
    stored = await api.post("/health-metrics/", headers=me.headers, json=short_sleep + few_steps)
    assert stored.status_code == 201, stored.text
    path = f"/recommendations/{me.user_id}"
    first = await api.get(path, headers=me.headers)
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert 1 <= len(items) <= 5
    assert [i["rank"] for i in items] == list(range(1, len(items) + 1))
    kinds = {i["kind"]: i for i in items}
    assert {"low_steps", "insufficient_sleep"} <= set(kinds)
    assert any(e["value"] == 2500 for e in kinds["low_steps"]["evidence"])
    assert all(i["source"] and i["message"] for i in items)
    # A new metric that feeds the steps rule forgets the cached answer.
    more = [steps(clock, 9000, d, f"more-steps-{d}") for d in (1, 2, 3)]
    assert (await api.post("/health-metrics/", headers=me.headers, json=more)).status_code == 201
    after = (await api.get(path, headers=me.headers)).json()["items"]
    assert "low_steps" not in {i["kind"] for i in after}
    assert "insufficient_sleep" in {i["kind"] for i in after}
    full = await api.get(f"/health-insights/user/{me.user_id}", headers=me.headers)
    assert full.status_code == 200
    assert full.json()["figures"]["step_days"] == 3
    assert full.json()["figures"]["mean_daily_steps"] == 11500
    is_problem(await api.get(path, headers=(await sign_up(api)).headers), 403)
