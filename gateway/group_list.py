"""The group sessions a user took part in (owned or joined), newest start first: the live
ones, from Redis, and the ended ones, from the archive (ActivityService.ListGroupSessions),
as one list. Both are ordered by (started_at, session_id), so one keyset cursor, the
archive's own page token, pages through both: a session that ends between two pages moves
from one source to the other but keeps its place."""

from __future__ import annotations

import datetime as dt

import structlog
from redis.exceptions import RedisError

from gateway.clients import Activity
from gateway.errors import bad_request
from gateway.live import Live
from gateway.responses import GroupSession, GroupSessionPage
from servicekit import pagination
from servicekit.errors import InvalidArgument

log = structlog.get_logger("group_list")


def order(session: GroupSession) -> tuple[dt.datetime, str]:
    return session.started_at, session.session_id


def merge(
    live: list[GroupSession], archived: list[GroupSession], limit: int, archive_more: bool
) -> GroupSessionPage:
    """One page of both sources: `live` holds every live session after the cursor, and
    `archived` the archive's page after it (`archive_more` when the archive has more). A
    session in both (it ended between the two reads) is shown as its archive."""
    by_id = {s.session_id: s for s in live} | {s.session_id: s for s in archived}
    ordered = sorted(by_id.values(), key=order, reverse=True)
    page = ordered[:limit]
    more = len(ordered) > limit or archive_more
    cursor = pagination.encode(*order(page[-1])) if more and page else None
    return GroupSessionPage(items=page, next_cursor=cursor)


def _cursor(cursor: str | None) -> tuple[dt.datetime, str] | None:
    try:
        after = pagination.decode(cursor or "")
    except InvalidArgument as exc:
        raise bad_request("is not a valid page token", "cursor") from exc
    return after


def _as_archived(session: GroupSession) -> GroupSession:
    # The archive keeps times to the millisecond: a live session is placed as it will be
    # once it ends, so it cannot come round again on the next page.
    at = session.started_at
    return session.model_copy(
        update={"started_at": at.replace(microsecond=at.microsecond // 1000 * 1000)}
    )


async def _live(live: Live, user_id: str) -> list[GroupSession]:
    try:
        return [_as_archived(await live.live_state(m)) for m in await live.groups.live_of(user_id)]
    except RedisError as exc:  # live sessions are away with Redis; the archive is not
        log.warning("live_sessions_unlisted", error=str(exc))
        return []


async def sessions_of(
    live: Live, activity: Activity, user_id: str, limit: int, cursor: str | None
) -> GroupSessionPage:
    after = _cursor(cursor)
    archived = await activity.group_sessions(user_id, limit, cursor)
    current = [s for s in await _live(live, user_id) if after is None or order(s) < after]
    return merge(current, archived.items, limit, archived.next_cursor is not None)
