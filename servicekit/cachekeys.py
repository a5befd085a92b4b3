"""Keys of the gateway's shared Redis cache. Services that change a user's data outside a
gateway request (goal progress from events) delete the key, so no reader sees it stale."""

from __future__ import annotations


def profile_key(user_id: str) -> str:
    return f"fitmesh:cache:profile:{user_id}"


def statistics_key(user_id: str) -> str:
    return f"fitmesh:cache:statistics:{user_id}"


def goals_key(user_id: str) -> str:
    """A hash: one field per cached goals answer (a page, or one goal)."""
    return f"fitmesh:cache:goals:{user_id}"


def health_key(user_id: str) -> str:
    """A hash: one field per cached metric summary (a window and type)."""
    return f"fitmesh:cache:health:{user_id}"


def insights_key(user_id: str) -> str:
    """A hash: one field per cached insights answer. Metrics, meals, workouts and the
    profile feed the rules, so a write of any of them forgets it."""
    return f"fitmesh:cache:insights:{user_id}"
