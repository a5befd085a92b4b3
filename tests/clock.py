"""One instant per test, taken when the test starts and never just before a UTC midnight.

The services read the clock when a request arrives: a test that reasons about "today" or
"this week" must take its own now at the same moment, not when its module was imported
(the suite runs for minutes), and must not straddle a midnight while it runs."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

# Longer than any test that reasons about days takes, on a slow machine.
MARGIN = dt.timedelta(minutes=2)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Clock:
    now: dt.datetime  # UTC, whole seconds

    @property
    def today(self) -> dt.date:
        return self.now.date()

    @property
    def midnight(self) -> dt.datetime:
        """The start of today (UTC)."""
        return dt.datetime.combine(self.today, dt.time(), dt.UTC)

    @property
    def tomorrow(self) -> str:
        return (self.today + DAY).isoformat()

    def earlier_today(self, minutes: float) -> dt.datetime:
        """`minutes` before now, or midnight where today has no room for it."""
        return max(self.midnight, self.now - dt.timedelta(minutes=minutes))

    def at(self, days_ago: int, hour: int = 0, minute: int = 0) -> dt.datetime:
        """`hour`:`minute` of the day `days_ago` days before today."""
        return self.midnight - days_ago * DAY + dt.timedelta(hours=hour, minutes=minute)


async def settled_clock(margin: dt.timedelta = MARGIN) -> Clock:
    """Now, after waiting out a midnight less than `margin` away."""
    now = dt.datetime.now(dt.UTC)
    left = dt.datetime.combine(now.date() + DAY, dt.time(), dt.UTC) - now
    if left < margin:
        await asyncio.sleep(left.total_seconds() + 1)
        now = dt.datetime.now(dt.UTC)
    return Clock(now.replace(microsecond=0))
