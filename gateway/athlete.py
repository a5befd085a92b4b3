"""The athlete snapshot a workout carries: the caller's own numbers from their profile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fitmesh.scoring.v1 import scoring_pb2 as spb
from fitmesh.user.v1 import user_pb2 as upb
from gateway.state import Gateway
from gateway.views import user_view
from servicekit.cachekeys import profile_key


async def profile(gw: Gateway, user_id: str) -> dict[str, Any]:
    async def load() -> dict[str, Any]:
        reply = await gw.backends.users.call(
            gw.backends.user_stub.GetUser, upb.GetUserRequest(user_id=user_id)
        )
        return user_view(reply.user)

    result: dict[str, Any] = await gw.cache.through(
        "profile", profile_key(user_id), gw.settings.cache_profile_seconds, load
    )
    return result


def age(birth: str | None, today: dt.date) -> int | None:
    if not birth:
        return None
    born = dt.date.fromisoformat(birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def snapshot(gw: Gateway, user_id: str) -> spb.Athlete:
    p = await profile(gw, user_id)
    athlete = spb.Athlete()
    if p.get("weight_kg") is not None:
        athlete.weight_kg = p["weight_kg"]
    if (years := age(p.get("birth_date"), dt.datetime.now(dt.UTC).date())) is not None:
        athlete.age_years = max(5, min(120, years))
    if p.get("resting_heart_rate") is not None:
        athlete.resting_heart_rate = p["resting_heart_rate"]
    if p.get("max_heart_rate") is not None:
        athlete.max_heart_rate = p["max_heart_rate"]
    return athlete
