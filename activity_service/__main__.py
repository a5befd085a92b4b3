"""`python -m activity_service` serves workouts, statistics and the group-session archive;
`python -m activity_service rebuild` only rebuilds the read model (rebuild.py)."""

from __future__ import annotations

import asyncio
import sys

from activity_service import rebuild
from activity_service.server import build
from activity_service.settings import ActivitySettings
from servicekit.keys import MissingKeyError
from servicekit.logs import configure_logging
from servicekit.server import exit_missing_key, run


def main(argv: list[str]) -> None:
    settings = ActivitySettings()
    if argv[1:] == ["rebuild"]:
        configure_logging("activity_service", settings.log_level)
        asyncio.run(rebuild.main(settings))
        return
    if argv[1:]:
        raise SystemExit("usage: python -m activity_service [rebuild]")
    configure_logging("activity_service", settings.log_level)
    try:
        service = build(settings)
    except MissingKeyError as exc:
        raise exit_missing_key("activity_service", exc) from None
    run(service, settings)


if __name__ == "__main__":
    main(sys.argv)
