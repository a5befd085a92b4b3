"""`python -m activity_service` serves workouts, statistics and the group-session archive."""

from activity_service.server import build
from activity_service.settings import ActivitySettings
from servicekit.server import run

if __name__ == "__main__":
    settings = ActivitySettings()
    run(build(settings), settings)
