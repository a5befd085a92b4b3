"""Every rule's finding in order of importance, and the checks on what they are given."""

from __future__ import annotations

import math
from dataclasses import replace

from scoring_service.insights.intake import low_water, nutrition_balance, weight_trend
from scoring_service.insights.model import (
    DEFAULT_LIMIT,
    HealthFigures,
    Insight,
    InsightKind,
    Person,
    Rule,
    Severity,
)
from scoring_service.insights.vitals import (
    activity_shortfall,
    elevated_resting_heart_rate,
    insufficient_sleep,
    low_steps,
)
from servicekit.errors import Violations

# --- Ranking ---------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    low_steps,
    insufficient_sleep,
    elevated_resting_heart_rate,
    weight_trend,
    nutrition_balance,
    low_water,
    activity_shortfall,
)
_KIND_ORDER = tuple(InsightKind)
_SEVERITY_ORDER = tuple(Severity)


def importance(insight: Insight) -> tuple[int, float, int]:
    """Sort key: most severe first, then furthest past its threshold, then kind order."""
    return (
        -_SEVERITY_ORDER.index(insight.severity),
        -insight.gap,
        _KIND_ORDER.index(insight.kind),
    )


def rank(person: Person, figures: HealthFigures, limit: int = DEFAULT_LIMIT) -> list[Insight]:
    """Every rule's finding, most important first, numbered from 1; at most `limit`."""
    found = [i for rule in RULES if (i := rule(person, figures)) is not None]
    found.sort(key=importance)
    return [replace(insight, rank=n) for n, insight in enumerate(found[:limit], start=1)]


# --- Validation ------------------------------------------------------------------------

DAY_COUNTS = ("step_days", "sleep_nights", "resting_heart_rate_days", "water_days", "meal_days")
AMOUNTS = (
    "mean_daily_steps",
    "mean_resting_heart_rate",
    "mean_daily_water_ml",
    "mean_daily_protein_g",
    "mean_daily_carbohydrate_g",
    "mean_daily_fat_g",
)
MINUTES_IN_DAY = 1440


def check_amount(v: Violations, field: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        v.add(field, "must be a finite number, 0 or more")


def validate(v: Violations, person: Person, figures: HealthFigures) -> None:
    """Records every out-of-range field, named as in the proto request."""
    v.check_range("person.age_years", person.age_years, 0, 130)
    v.check_range("person.weight_kg", person.weight_kg, 20, 400)
    v.check_range("person.target_weight_kg", person.target_weight_kg, 20, 400)
    for name in AMOUNTS:
        check_amount(v, f"figures.{name}", getattr(figures, name))
    for name in DAY_COUNTS:
        v.check_range(f"figures.{name}", getattr(figures, name), 0, 7)
    v.check_range("figures.mean_sleep_minutes", figures.mean_sleep_minutes, 0, MINUTES_IN_DAY)
    v.check_range("figures.first_weight_kg", figures.first_weight_kg, 20, 400)
    v.check_range("figures.latest_weight_kg", figures.latest_weight_kg, 20, 400)
    v.check_range("figures.weight_span_days", figures.weight_span_days, 0, 30)
    # A week holds at most 7 days of vigorous minutes, which count double.
    most = 7 * MINUTES_IN_DAY * 2
    v.check_range("figures.week_intensity_minutes", figures.week_intensity_minutes, 0, most)
    v.check_range("figures.week_day", figures.week_day, 0, 7)
