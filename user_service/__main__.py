"""`python -m user_service` serves; `python -m user_service migrate` only migrates."""

from __future__ import annotations

import sys
import time

import psycopg
import structlog

from servicekit import keys
from servicekit.keys import MissingKeyError
from servicekit.logs import configure_logging
from servicekit.server import exit_missing_key, run
from user_service.migrate import migrate
from user_service.server import build
from user_service.settings import UserSettings


def migrate_when_reachable(settings: UserSettings, wait_seconds: float = 30) -> None:
    """Apply migrations, waiting a little for a database that is still starting."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            migrate(settings.database_url)
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            structlog.get_logger("migrate").warning("database_unreachable_retrying")
            time.sleep(1)


def main(argv: list[str]) -> None:
    settings = UserSettings()
    configure_logging("user_service", settings.log_level)
    if argv[1:] == ["migrate"]:
        migrate_when_reachable(settings)
        return
    if argv[1:]:
        raise SystemExit("usage: python -m user_service [migrate]")
    try:
        service = build(settings)  # before waiting for the database: a missing key is final
        keys.service_verifying_key(settings.service_verify_key, settings.environment)
    except MissingKeyError as exc:
        raise exit_missing_key("user_service", exc) from None
    migrate_when_reachable(settings)
    run(service, settings)


if __name__ == "__main__":
    main(sys.argv)
