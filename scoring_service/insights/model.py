"""What the insight rules take and give, and the arithmetic they share."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

MIN_DAYS = 3
DEFAULT_LIMIT = 5
MAX_LIMIT = 20
ADULT_AGE = 18
# The age a missing age is read as: one every adult threshold below applies to.
UNKNOWN_AGE = 30


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"


class InsightKind(enum.StrEnum):
    """Declared in the proto's order, which is also the last tie-break of `rank`."""

    LOW_STEPS = "low_steps"
    INSUFFICIENT_SLEEP = "insufficient_sleep"
    ELEVATED_RESTING_HEART_RATE = "elevated_resting_heart_rate"
    WEIGHT_TREND = "weight_trend"
    NUTRITION_BALANCE = "nutrition_balance"
    LOW_WATER = "low_water"
    ACTIVITY_SHORTFALL = "activity_shortfall"


class Severity(enum.StrEnum):
    """Least to most severe."""

    INFO = "info"
    WARNING = "warning"
    ALERT = "alert"


@dataclass(frozen=True)
class Person:
    age_years: int | None = None
    sex: Sex | None = None
    # No rule reads it yet: the weight trend needs two dated weights, which the figures hold.
    weight_kg: float | None = None
    target_weight_kg: float | None = None


@dataclass(frozen=True)
class HealthFigures:
    """A person's recent figures; the proto's HealthFigures says what each one means."""

    mean_daily_steps: float | None = None
    step_days: int = 0
    mean_sleep_minutes: float | None = None
    sleep_nights: int = 0
    mean_resting_heart_rate: float | None = None
    resting_heart_rate_days: int = 0
    first_weight_kg: float | None = None
    latest_weight_kg: float | None = None
    weight_span_days: int = 0
    mean_daily_water_ml: float | None = None
    water_days: int = 0
    mean_daily_protein_g: float | None = None
    mean_daily_carbohydrate_g: float | None = None
    mean_daily_fat_g: float | None = None
    meal_days: int = 0
    week_intensity_minutes: float = 0.0
    week_day: int = 0  # 0: unknown, so the activity rule has no pace to compare with


@dataclass(frozen=True)
class Evidence:
    name: str
    value: float
    unit: str


@dataclass(frozen=True)
class Insight:
    kind: InsightKind
    severity: Severity
    message: str
    evidence: tuple[Evidence, ...]
    source: str
    # How far the figure is past the rule's threshold, as a share of that threshold
    # (6,000 steps against 8,000 is 0.25); orders insights of equal severity.
    gap: float
    rank: int = 0


Rule = Callable[[Person, HealthFigures], Insight | None]


class AgeBand(Protocol):
    @property
    def min_age(self) -> int: ...


Band = TypeVar("Band", bound=AgeBand)


def age_of(person: Person) -> int:
    return UNKNOWN_AGE if person.age_years is None else person.age_years


def band_for(bands: Sequence[Band], age: int) -> Band | None:
    """The oldest band `age` reaches (bands are in ascending min_age); None below all."""
    found = None
    for band in bands:
        if age >= band.min_age:
            found = band
    return found


def beside(value: float, threshold: float, digits: int = 0) -> float:
    """`value` rounded for a message, but never onto or across `threshold`: 7,999.6 steps
    against 8,000 reads 7,999, not 8,000."""
    shown = round(value, digits)
    scale = 10.0**digits
    if value < threshold <= shown:
        return math.floor(round(value * scale, 6)) / scale
    if shown <= threshold < value:
        return math.ceil(round(value * scale, 6)) / scale
    return shown


def shortfall(value: float, threshold: float) -> float:
    return (threshold - value) / threshold


def excess(value: float, threshold: float) -> float:
    return (value - threshold) / threshold
