"""How the live sessions and the archive's page make one page of a user's group sessions."""

from __future__ import annotations

import datetime as dt

from gateway.group_list import merge
from gateway.responses import GroupSession
from servicekit import pagination

START = dt.datetime(2026, 4, 1, 8, tzinfo=dt.UTC)


def _session(n: int, status: str = "ended") -> GroupSession:
    return GroupSession(
        session_id=f"s{n}",
        name=f"session {n}",
        owner_id="ada",
        workout_type="running",
        status=status,
        started_at=START + dt.timedelta(minutes=n),
        ended_at=None if status == "active" else START + dt.timedelta(hours=1),
        members=[],
        participants=["ada"],
    )


def test_live_and_archived_interleave_newest_first_and_the_cursor_is_the_last_shown() -> None:
    page = merge(
        [_session(4, "active"), _session(1, "active")], [_session(3), _session(2)], 3, True
    )
    assert [s.session_id for s in page.items] == ["s4", "s3", "s2"]
    assert page.next_cursor is not None
    assert pagination.decode(page.next_cursor) == (START + dt.timedelta(minutes=2), "s2")


def test_a_session_in_both_is_its_archive_and_shown_once() -> None:
    page = merge([_session(2, "active")], [_session(2)], 5, False)
    assert [(s.session_id, s.status) for s in page.items] == [("s2", "ended")]
    assert page.next_cursor is None


def test_more_in_the_archive_alone_still_gives_a_cursor() -> None:
    page = merge([], [_session(2), _session(1)], 2, True)
    assert [s.session_id for s in page.items] == ["s2", "s1"]
    assert page.next_cursor == pagination.encode(START + dt.timedelta(minutes=1), "s1")
    assert merge([], [], 2, False).next_cursor is None
