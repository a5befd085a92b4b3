"""Rules on what goes in and what it weighs: weight trend, nutrition balance, water."""

from __future__ import annotations

from dataclasses import dataclass

from scoring_service.insights.model import (
    MIN_DAYS,
    Evidence,
    HealthFigures,
    Insight,
    InsightKind,
    Person,
    Severity,
    Sex,
    age_of,
    band_for,
    beside,
    excess,
    shortfall,
)

# --- Weight trend ----------------------------------------------------------------------

MIN_WEIGHT_SPAN_DAYS = 7
SAFE_WEEKLY_CHANGE_KG = 1.0
# A day's food, drink and water move a scale reading by this much, so a smaller move away
# from the target is not called a trend.
WEIGHT_NOISE_KG = 0.5
WEIGHT_SOURCE = "CDC, Losing Weight (steady 0.5-1 kg a week)"
TARGET_SOURCE = "the person's own target weight"


def weight_trend(person: Person, figures: HealthFigures) -> Insight | None:
    """Weight moving away from the person's target, or changing faster than 1 kg a week.

    The CDC calls a loss of 0.5-1 kg (1-2 lb) a week gradual and steady, and the way to
    keep it off; a faster change in either direction, sustained over a week or more, is
    worth a look. Needs two weights at least MIN_WEIGHT_SPAN_DAYS apart.
    """
    first, latest = figures.first_weight_kg, figures.latest_weight_kg
    span = figures.weight_span_days
    if first is None or latest is None or span < MIN_WEIGHT_SPAN_DAYS:
        return None
    weekly = (latest - first) * 7 / span
    evidence = [
        Evidence("first_weight_kg", first, "kg"),
        Evidence("latest_weight_kg", latest, "kg"),
        Evidence("weight_span_days", span, "days"),
        Evidence("weekly_change_kg", round(weekly, 2), "kg/week"),
    ]
    findings: list[str] = []
    sources: list[str] = []
    gap = 0.0
    target = person.target_weight_kg
    if target is not None:
        away = abs(latest - target) - abs(first - target)
        if away >= WEIGHT_NOISE_KG:
            evidence.append(Evidence("target_weight_kg", target, "kg"))
            findings.append(f"{away:.1f} kg further from your {target:.1f} kg target")
            sources.append(TARGET_SOURCE)
            gap = away / target
    if abs(weekly) > SAFE_WEEKLY_CHANGE_KG:
        evidence.append(Evidence("safe_weekly_change_kg", SAFE_WEEKLY_CHANGE_KG, "kg/week"))
        direction = "loss" if weekly < 0 else "gain"
        rate = beside(abs(weekly), SAFE_WEEKLY_CHANGE_KG, 2)
        findings.append(
            f"a {direction} of {rate:.2f} kg a week, faster than the "
            f"{SAFE_WEEKLY_CHANGE_KG:g} kg a week of a steady change"
        )
        sources.append(WEIGHT_SOURCE)
        gap = max(gap, excess(abs(weekly), SAFE_WEEKLY_CHANGE_KG))
    if not findings:
        return None
    return Insight(
        InsightKind.WEIGHT_TREND,
        Severity.WARNING,
        f"Your weight went from {first:.1f} kg to {latest:.1f} kg over {span} days: "
        f"{' and '.join(findings)}.",
        tuple(evidence),
        "; ".join(sources),
        gap,
    )


# --- Nutrition balance -----------------------------------------------------------------


@dataclass(frozen=True)
class MacroRanges:
    """Acceptable shares of energy, in %, per macronutrient."""

    min_age: int
    group: str
    ranges: dict[str, tuple[float, float]]


KCAL_PER_GRAM = {"protein": 4.0, "carbohydrate": 4.0, "fat": 9.0}
AMDR = (
    # The IOM sets no ranges under one year: breast milk or formula is the diet.
    MacroRanges(
        1, "1-3 year olds", {"protein": (5, 20), "carbohydrate": (45, 65), "fat": (30, 40)}
    ),
    MacroRanges(
        4, "4-18 year olds", {"protein": (10, 30), "carbohydrate": (45, 65), "fat": (25, 35)}
    ),
    MacroRanges(19, "adults", {"protein": (10, 35), "carbohydrate": (45, 65), "fat": (20, 35)}),
)
NUTRITION_SOURCE = "Institute of Medicine 2005, AMDR"


def energy_shares(figures: HealthFigures) -> dict[str, float] | None:
    """Each macronutrient's % of the energy of the three, or None without all three."""
    grams = {
        "protein": figures.mean_daily_protein_g,
        "carbohydrate": figures.mean_daily_carbohydrate_g,
        "fat": figures.mean_daily_fat_g,
    }
    kcal = {name: g * KCAL_PER_GRAM[name] for name, g in grams.items() if g is not None}
    total = sum(kcal.values())
    if len(kcal) < len(grams) or total <= 0:
        return None
    return {name: 100 * k / total for name, k in kcal.items()}


def nutrition_balance(person: Person, figures: HealthFigures) -> Insight | None:
    """Energy from protein, carbohydrate or fat outside the acceptable ranges.

    Energy at 4 kcal/g for protein and carbohydrate and 9 kcal/g for fat; ranges are the
    Acceptable Macronutrient Distribution Ranges of the Institute of Medicine (Dietary
    Reference Intakes, 2005): adults protein 10-35 %, carbohydrate 45-65 %, fat 20-35 %;
    4-18 years protein 10-30 %, fat 25-35 %; 1-3 years protein 5-20 %, fat 30-40 %.
    """
    shares = energy_shares(figures)
    band = band_for(AMDR, age_of(person))
    if shares is None or figures.meal_days < MIN_DAYS or band is None:
        return None
    evidence = [Evidence(f"{name}_energy_share", round(s, 1), "%") for name, s in shares.items()]
    parts: list[str] = []
    gap = 0.0
    for name, share in shares.items():
        low, high = band.ranges[name]
        if low <= share <= high:
            continue
        shown = beside(share, low if share < low else high, 1)
        parts.append(f"{name} {shown:.1f} % (recommended {low:g}-{high:g} %)")
        evidence += [
            Evidence(f"{name}_energy_share_min", low, "%"),
            Evidence(f"{name}_energy_share_max", high, "%"),
        ]
        gap = max(gap, shortfall(share, low) if share < low else excess(share, high))
    if not parts:
        return None
    evidence.append(Evidence("meal_days", figures.meal_days, "days"))
    return Insight(
        InsightKind.NUTRITION_BALANCE,
        Severity.WARNING,
        f"Over {figures.meal_days} days of meals, your energy came outside the ranges "
        f"for {band.group}: {', '.join(parts)}.",
        tuple(evidence),
        NUTRITION_SOURCE,
        gap,
    )


# --- Water -----------------------------------------------------------------------------


@dataclass(frozen=True)
class WaterBand:
    """Adequate total water intake in ml a day (EFSA 2010), and whom it is for."""

    min_age: int
    female_ml: int
    male_ml: int
    group: str
    female_group: str
    male_group: str


WATER_BANDS = (
    # Under one year water comes from milk: no rule.
    WaterBand(1, 1100, 1100, "1 year olds", "1 year olds", "1 year olds"),
    WaterBand(2, 1300, 1300, "2-3 year olds", "2-3 year olds", "2-3 year olds"),
    WaterBand(4, 1600, 1600, "4-8 year olds", "4-8 year olds", "4-8 year olds"),
    WaterBand(9, 1900, 2100, "9-13 year olds", "9-13 year old girls", "9-13 year old boys"),
    WaterBand(14, 2000, 2500, "adults", "women", "men"),  # EFSA: adult values from 14
)
DRINKS_PERCENT = 80  # EFSA: about 80 % of total water comes from drinks, 20 % from food
WATER_SOURCE = "EFSA 2010, adequate intake of water"


def drinks_target(band: WaterBand, sex: Sex | None) -> tuple[float, str]:
    """Millilitres of drinks a day and whom they are for; an unspecified sex takes the
    lower figure, so the rule never asks more than the guidance does."""
    match sex:
        case Sex.FEMALE:
            total, group = band.female_ml, band.female_group
        case Sex.MALE:
            total, group = band.male_ml, band.male_group
        case None:
            total, group = min(band.female_ml, band.male_ml), band.group
    return total * DRINKS_PERCENT / 100, group


def low_water(person: Person, figures: HealthFigures) -> Insight | None:
    """Mean daily water from drinks below the adequate intake for the person's sex and age.

    EFSA (2010, EFSA Journal 8(3):1459) sets adequate total water intakes of 2.0 L a day
    for women and 2.5 L for men (from 14 years), 1.9/2.1 L for girls/boys of 9-13, 1.6 L
    at 4-8, 1.3 L at 2-3 and 1.1 L at 1; about 80 % comes from drinks, so 1,600 ml and
    2,000 ml of drinks for adults.
    """
    mean, days = figures.mean_daily_water_ml, figures.water_days
    band = band_for(WATER_BANDS, age_of(person))
    if mean is None or days < MIN_DAYS or band is None:
        return None
    target, group = drinks_target(band, person.sex)
    if mean >= target:
        return None
    return Insight(
        InsightKind.LOW_WATER,
        Severity.WARNING,
        f"You drank {beside(mean, target):,.0f} ml a day on average over {days} days, below the "
        f"{target:,.0f} ml of drinks a day that is adequate for {group}.",
        (
            Evidence("mean_daily_water_ml", round(mean, 2), "ml"),
            Evidence("water_days", days, "days"),
            Evidence("adequate_daily_drinks_ml", target, "ml"),
        ),
        WATER_SOURCE,
        shortfall(mean, target),
    )
