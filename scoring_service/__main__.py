"""`python -m scoring_service` serves the scoring rules."""

from scoring_service.server import build
from scoring_service.settings import ScoringSettings
from servicekit.server import run

if __name__ == "__main__":
    run(build(), ScoringSettings())
