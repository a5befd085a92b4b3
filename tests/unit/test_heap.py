"""Start-up objects leave the collected heap, so a full collection walks only newer ones."""

from __future__ import annotations

import gc

from servicekit.heap import freeze_startup_objects


def test_objects_alive_after_start_up_are_out_of_every_collection() -> None:
    kept = [{"n": n} for n in range(1000)]
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() >= len(kept)
        collected = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
        assert not collected & {id(o) for o in kept}  # in no generation a collection walks
    finally:
        gc.unfreeze()
