"""A task that runs for the life of a process part and stops with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any


class Background:
    def __init__(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._run = run
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def rounds_forever(
    work: Callable[[], Awaitable[int]], interval: float, log: Any, done: str, failed: str, unit: str
) -> None:
    """Run a round of owed work every `interval` seconds for ever; a round that did some is
    logged as `done` (with how much, as `unit`), and a failed one as `failed`, to be retried
    at the next."""
    while True:
        try:
            if (count := await work()) > 0:
                log.info(done, **{unit: count})
        except Exception:  # a failed round is retried at the next one
            log.exception(failed)
        await asyncio.sleep(interval)
