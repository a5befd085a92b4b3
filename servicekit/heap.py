"""The garbage collector once a process has started. A service makes most of its objects
once (modules, pools, stubs, descriptors: some 100,000 in the user service) and keeps them
for its life. Left among the collected, each full collection walks them all again, with the
event loop stopped: 65-70 ms in the user service, which every call and delivery in flight
waits out. Frozen once start-up is done, they are left out of every collection, and a full
one walks only what was made since."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Collect what start-up left as garbage, then keep every object alive now out of all
    later collections (they are still freed, by reference counting, when released)."""
    gc.collect()
    gc.freeze()
