"""Names of the live group sessions' Redis keys: the gateways keep the sessions
(gateway/groups.py), and the user service takes an erased account out of them."""

from __future__ import annotations

# A session's meta hash is `<SESSION_PREFIX><id>`; its other keys add a `:<part>` to that.
SESSION_PREFIX = "fitmesh:group:"


def taking_part(user_id: str) -> str:
    """The set of the live sessions a user owns or joined."""
    return f"fitmesh:groups:of:{user_id}"
