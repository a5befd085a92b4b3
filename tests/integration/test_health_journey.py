"""A week of health data through the gateway, as a person would send it: metrics from a
watch and meals from a phone; ranked insights that follow new data; a daily steps goal
whose alert arrives over the WebSocket the moment the day's steps reach it."""

from __future__ import annotations

from typing import Any

import httpx

from devstack import services
from tests.clock import Clock
from tests.helpers import sign_up
from tests.wsclient import Member

SEVERITY = {"alert": 3, "warning": 2, "info": 1}


def watch_day(clock: Clock, n: int) -> list[dict[str, Any]]:
    """What a watch syncs for the day `n` days ago: few steps, short sleep, a high resting
    heart rate, little water, and a weight that creeps up."""
    return [
        {
            "metric_type": "steps",
            "value": 3000 + 100 * n,
            "recorded_at": clock.at(n, 20).isoformat(),
        },
        {
            "metric_type": "sleep_minutes",
            "value": 330,
            "start_time": clock.at(n, 0, 30).isoformat(),
            "end_time": clock.at(n, 6).isoformat(),
        },
        {
            "metric_type": "heart_rate_resting",
            "value": 86,
            "recorded_at": clock.at(n, 7).isoformat(),
        },
        {"metric_type": "water_ml", "value": 900, "recorded_at": clock.at(n, 18).isoformat()},
        {
            "metric_type": "weight_kg",
            "value": 80 + (7 - n) * 0.25,
            "recorded_at": clock.at(n, 7, 5).isoformat(),
        },
    ]


def with_ids(samples: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return [{**s, "client_id": f"watch-{n}-{s['metric_type']}"} for s in samples]


async def test_a_week_of_health_data_gives_ranked_insights_and_a_goal_alert(
    api: httpx.AsyncClient, gateway: services.HttpProcess, clock: Clock
) -> None:
    me = await sign_up(api, birth_date="1985-03-02", sex="male", weight_kg=81)
    for n in range(1, 8):
        synced = await api.post(
            "/health-metrics/", headers=me.headers, json=with_ids(watch_day(clock, n), n)
        )
        assert (synced.status_code, synced.json()["stored"]) == (201, 5), synced.text
        for hour, kcal in ((8, 500), (13, 800), (19, 900)):
            meal = {
                "eaten_at": clock.at(n, hour).isoformat(),
                "calories": kcal,
                # Mostly fat: 45 % of energy, past the 35 % the AMDR allows.
                "protein_g": kcal * 0.15 / 4,
                "carbohydrate_g": kcal * 0.40 / 4,
                "fat_g": kcal * 0.45 / 9,
                "client_id": f"phone-{n}-{hour}",
            }
            logged = await api.post("/nutrition-logs/", headers=me.headers, json=meal)
            assert logged.status_code == 201, logged.text
    # A re-sync of the whole week stores nothing new.
    again = await api.post(
        "/health-metrics/", headers=me.headers, json=with_ids(watch_day(clock, 3), 3)
    )
    assert (again.status_code, again.json()["duplicates"]) == (200, 5)

    path = f"/recommendations/{me.user_id}"
    first = await api.get(path, headers=me.headers)
    assert first.status_code == 200, first.text
    items = first.json()["items"]
    assert len(items) == 5
    assert [i["rank"] for i in items] == [1, 2, 3, 4, 5]
    severities = [SEVERITY[i["severity"]] for i in items]
    assert severities == sorted(severities, reverse=True)
    full = await api.get(f"/health-insights/user/{me.user_id}", headers=me.headers)
    kinds = {i["kind"] for i in full.json()["items"]}
    assert {
        "low_steps",
        "insufficient_sleep",
        "elevated_resting_heart_rate",
        "nutrition_balance",
        "low_water",
    } <= kinds
    figures = full.json()["figures"]
    # The last 7 days are today and the 6 before: days 1-6 of the week logged above.
    assert figures["step_days"] == 6
    assert figures["mean_daily_steps"] == 3350
    assert figures["mean_sleep_minutes"] == 330
    assert figures["mean_resting_heart_rate"] == 86
    steps_rule = next(i for i in full.json()["items"] if i["kind"] == "low_steps")
    assert any(e["value"] == 3350 for e in steps_rule["evidence"])

    # A second device's steps for the same days: the cached insights are forgotten.
    extra = [
        {
            "metric_type": "steps",
            "value": 6000,
            "recorded_at": clock.at(n, 21).isoformat(),
            "client_id": f"phone-steps-{n}",
        }
        for n in range(1, 7)
    ]
    assert (await api.post("/health-metrics/", headers=me.headers, json=extra)).status_code == 201
    after = await api.get(f"/health-insights/user/{me.user_id}", headers=me.headers)
    assert after.json()["figures"]["mean_daily_steps"] == 9350
    assert "low_steps" not in {i["kind"] for i in after.json()["items"]}
    assert "insufficient_sleep" in {i["kind"] for i in after.json()["items"]}

    # The trend: one point a day, today's empty.
    series = await api.get(
        f"/health-metrics/user/{me.user_id}/series",
        headers=me.headers,
        params={
            "metric_type": "steps",
            "period": "day",
            "since": clock.at(6, 0).isoformat(),
            "until": clock.now.isoformat(),
        },
    )
    assert [p["sum"] for p in series.json()["points"]] == [
        3000 + 100 * n + 6000 for n in range(6, 0, -1)
    ] + [0]

    # Today's steps reach the daily goal: the alert arrives on the open socket.
    tomorrow = clock.tomorrow
    goal = await api.post(
        f"/users/{me.user_id}/goals",
        headers=me.headers,
        json={"goal_type": "daily_steps", "target_value": 10000, "target_date": tomorrow},
    )
    assert goal.status_code == 201, goal.text
    socket = await Member.connect(gateway.url, me.token, me.user_id)
    try:
        now = clock.earlier_today(1).isoformat()
        today = {
            "metric_type": "steps",
            "value": 10250,
            "recorded_at": now,
            "client_id": "watch-today",
        }
        assert (
            await api.post("/health-metrics/", headers=me.headers, json=today)
        ).status_code == 201
        alert = await socket.wait(lambda f: f.get("event") == "goal_achieved", timeout=10)
    finally:
        await socket.close()
    assert alert["data"]["goal_id"] == goal.json()["goal_id"]
    assert alert["data"]["current_progress"] == 10250
