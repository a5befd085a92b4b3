"""Schema migrations with yoyo. Safe to run from several replicas at once: yoyo takes a
lock in the database while it applies them."""

from __future__ import annotations

from pathlib import Path

import structlog
from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).with_name("migrations")
log = structlog.get_logger("migrate")


def yoyo_url(database_url: str) -> str:
    scheme, _, rest = database_url.partition("://")
    if scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"


def migrate(database_url: str) -> int:
    """Apply every pending migration; return how many were applied."""
    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    log.info("migrated", applied=len(pending))
    return len(pending)
