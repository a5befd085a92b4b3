"""Health insights: one rule per kind of figure, each citing the guidance behind its
threshold, and `rank` to put the most important first. Pure: no gRPC, no I/O.

A rule stays silent without enough evidence (MIN_DAYS days or nights of data, or two
weights a week apart): a figure resting on a day or two says more about logging habits
than about the person. When it speaks, its evidence holds the figures it used and the
threshold it compared them with. A missing age takes adult thresholds.

- `model.py`: what the rules take and give;
- `vitals.py`: steps, sleep, resting heart rate, the week's activity;
- `intake.py`: weight trend, nutrition balance, water;
- `ranking.py`: the order of importance, and the checks on a request's figures.
"""

from scoring_service.insights.intake import (
    energy_shares,
    low_water,
    nutrition_balance,
    weight_trend,
)
from scoring_service.insights.model import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Evidence,
    HealthFigures,
    Insight,
    InsightKind,
    Person,
    Severity,
    Sex,
)
from scoring_service.insights.ranking import rank, validate
from scoring_service.insights.vitals import (
    activity_shortfall,
    elevated_resting_heart_rate,
    insufficient_sleep,
    low_steps,
    weekly_activity_target,
)

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Evidence",
    "HealthFigures",
    "Insight",
    "InsightKind",
    "Person",
    "Severity",
    "Sex",
    "activity_shortfall",
    "elevated_resting_heart_rate",
    "energy_shares",
    "insufficient_sleep",
    "low_steps",
    "low_water",
    "nutrition_balance",
    "rank",
    "validate",
    "weekly_activity_target",
    "weight_trend",
]
