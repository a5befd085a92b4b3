"""Worked examples of the health-insight rules: each threshold, the figures just either
side of it, who it changes for (age, sex), when a rule has too little evidence to speak,
and how `rank` orders what the rules find."""

from __future__ import annotations

import math

import pytest

from scoring_service import insights
from scoring_service.insights import (
    HealthFigures,
    Insight,
    InsightKind,
    Person,
    Severity,
    Sex,
)
from servicekit.errors import InvalidArgument, Violations

W, A = Severity.WARNING, Severity.ALERT


def evidence(insight: Insight) -> dict[str, tuple[float, str]]:
    return {e.name: (e.value, e.unit) for e in insight.evidence}


def meals(protein_pct: int, carb_pct: int, fat_pct: int, days: int = 5) -> HealthFigures:
    """Grams whose energy shares of a 3,600 kcal day are exactly the given percentages."""
    return HealthFigures(
        mean_daily_protein_g=9 * protein_pct,  # 4 kcal/g x 9 g = 36 kcal per %
        mean_daily_carbohydrate_g=9 * carb_pct,
        mean_daily_fat_g=4 * fat_pct,  # 9 kcal/g x 4 g = 36 kcal per %
        meal_days=days,
    )


# --- Steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "steps", "severity"),
    [
        (40, 8000, None),  # at the under-60 target
        (40, 7999, W),
        (40, 5000, W),  # the sedentary line itself is not sedentary
        (40, 4999, A),
        (59, 7999, W),
        (60, 7999, None),  # 60 and over: the benefit levels off lower, at 7,000
        (60, 7000, None),
        (60, 6999, W),
        (75, 4999, A),
        (None, 7999, W),  # a missing age takes the adult target
        (None, 8000, None),
    ],
)
def test_steps_thresholds_by_age(age: int | None, steps: float, severity: Severity | None) -> None:
    found = insights.low_steps(Person(age_years=age), HealthFigures(steps, step_days=7))
    assert (found.severity if found else None) == severity


def test_steps_need_three_days() -> None:
    assert insights.low_steps(Person(), HealthFigures(3000, step_days=2)) is None
    assert insights.low_steps(Person(), HealthFigures(None, step_days=7)) is None
    found = insights.low_steps(Person(), HealthFigures(3000, step_days=3))
    assert found is not None
    assert found.severity is A


def test_steps_insight_carries_figures_threshold_and_source() -> None:
    found = insights.low_steps(Person(age_years=40), HealthFigures(6000, step_days=5))
    assert found is not None
    assert found.message.startswith("You averaged 6,000 steps a day over 5 days")
    assert "8,000" in found.message
    assert evidence(found) == {
        "mean_daily_steps": (6000, "steps"),
        "step_days": (5, "days"),
        "target_daily_steps": (8000, "steps"),
    }
    assert found.gap == 0.25  # 2,000 short of 8,000
    assert "Paluch" in found.source


def test_sedentary_steps_add_their_threshold_and_source() -> None:
    found = insights.low_steps(Person(age_years=65), HealthFigures(3500, step_days=4))
    assert found is not None
    assert evidence(found)["target_daily_steps"] == (7000, "steps")
    assert evidence(found)["sedentary_daily_steps"] == (5000, "steps")
    assert "Tudor-Locke" in found.source
    assert found.gap == 0.5  # 3,500 short of 7,000


def test_a_figure_just_under_the_target_never_reads_as_the_target() -> None:
    found = insights.low_steps(Person(), HealthFigures(7999.6, step_days=7))
    assert found is not None
    assert "You averaged 7,999 steps" in found.message


# --- Sleep ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "minutes", "severity"),
    [
        (40, 420, None),  # adults: 7 h
        (40, 419, W),
        (40, 360, W),  # 6 h exactly is not under 6 h
        (40, 359, A),
        (None, 419, W),
        (70, 420, None),  # 65 and over: 7 h too
        (70, 359, A),
        (18, 479, None),
        (17, 480, None),  # 13-17: 8 h
        (17, 479, W),
        (13, 479, W),
        (15, 300, W),  # the under-6-h alert is for adults only
        (12, 540, None),  # 6-12: 9 h
        (12, 539, W),
        (6, 539, W),
        (5, 599, W),  # 3-5: 10 h
        (3, 600, None),
        (2, 659, W),  # 1-2: 11 h
        (0, 300, None),  # no rule under one year
    ],
)
def test_sleep_thresholds_by_age(
    age: int | None, minutes: float, severity: Severity | None
) -> None:
    figures = HealthFigures(mean_sleep_minutes=minutes, sleep_nights=7)
    found = insights.insufficient_sleep(Person(age_years=age), figures)
    assert (found.severity if found else None) == severity


def test_sleep_needs_three_nights() -> None:
    figures = HealthFigures(mean_sleep_minutes=300, sleep_nights=2)
    assert insights.insufficient_sleep(Person(), figures) is None


def test_sleep_message_evidence_and_source_follow_the_age_group() -> None:
    figures = HealthFigures(mean_sleep_minutes=400, sleep_nights=5)
    adult = insights.insufficient_sleep(Person(age_years=30), figures)
    older = insights.insufficient_sleep(Person(age_years=70), figures)
    teen = insights.insufficient_sleep(Person(age_years=15), figures)
    assert adult is not None
    assert older is not None
    assert teen is not None
    assert adult.message == (
        "You slept 6 h 40 min a night on average over 5 nights; adults need at least 7 h."
    )
    assert evidence(adult)["recommended_sleep_minutes"] == (420, "min")
    assert "Watson" in adult.source
    assert "Hirshkowitz" in older.source
    assert evidence(teen)["recommended_sleep_minutes"] == (480, "min")
    assert "13-17 year olds need at least 8 h" in teen.message
    assert "Paruthi" in teen.source
    assert teen.gap == pytest.approx(80 / 480)


def test_short_sleep_alert_names_the_six_hour_line() -> None:
    figures = HealthFigures(mean_sleep_minutes=330, sleep_nights=4)
    found = insights.insufficient_sleep(Person(), figures)
    assert found is not None
    assert found.severity is A
    assert evidence(found)["short_sleep_minutes"] == (360, "min")
    assert "5 h 30 min" in found.message


# --- Resting heart rate -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "bpm", "severity"),
    [
        (40, 80, None),
        (40, 80.5, W),
        (40, 100, W),  # the top of the normal range is still normal
        (40, 100.5, A),
        (None, 85, W),
        (18, 85, W),
        (17, 99, None),  # children are not flagged below 100 ...
        (17, 100, None),
        (17, 101, A),  # ... but above the normal range they are
        (10, 101, A),
        (8, 105, None),  # 7-9 year olds: normal up to 110
        (8, 111, A),
        (2, 125, None),  # 1-2 year olds: up to 130
        (0, 150, None),  # infants: up to 160
    ],
)
def test_resting_heart_rate_by_age(age: int | None, bpm: float, severity: Severity | None) -> None:
    figures = HealthFigures(mean_resting_heart_rate=bpm, resting_heart_rate_days=7)
    found = insights.elevated_resting_heart_rate(Person(age_years=age), figures)
    assert (found.severity if found else None) == severity


def test_resting_heart_rate_needs_three_days() -> None:
    figures = HealthFigures(mean_resting_heart_rate=110, resting_heart_rate_days=2)
    assert insights.elevated_resting_heart_rate(Person(), figures) is None


def test_adult_tachycardia_cites_both_lines() -> None:
    figures = HealthFigures(mean_resting_heart_rate=100.4, resting_heart_rate_days=5)
    found = insights.elevated_resting_heart_rate(Person(age_years=50), figures)
    assert found is not None
    assert evidence(found) == {
        "mean_resting_heart_rate": (100.4, "bpm"),
        "resting_heart_rate_days": (5, "days"),
        "elevated_threshold_bpm": (80, "bpm"),
        "normal_upper_bpm": (100, "bpm"),
    }
    # 100.4 would round to 100, which is normal; the message says 101.
    assert found.message.startswith("Your resting heart rate averaged 101 bpm over 5 days")
    assert "60-100 bpm" in found.message
    assert found.gap == pytest.approx(20.4 / 80)


def test_child_above_range_is_measured_against_the_child_range() -> None:
    figures = HealthFigures(mean_resting_heart_rate=121, resting_heart_rate_days=4)
    found = insights.elevated_resting_heart_rate(Person(age_years=8), figures)
    assert found is not None
    assert evidence(found)["normal_upper_bpm"] == (110, "bpm")
    assert "elevated_threshold_bpm" not in evidence(found)
    assert "7-9 year olds: up to 110 bpm" in found.message
    assert found.gap == pytest.approx(0.1)


# --- Weight trend -----------------------------------------------------------------------


def weights(first: float, latest: float, span: int) -> HealthFigures:
    return HealthFigures(first_weight_kg=first, latest_weight_kg=latest, weight_span_days=span)


@pytest.mark.parametrize(
    ("figures", "severity"),
    [
        (weights(80, 79, 7), None),  # exactly 1 kg a week is still steady
        (weights(80, 78.9, 7), W),  # 1.1 kg a week
        (weights(70, 72, 14), None),  # gaining 1 kg a week
        (weights(70, 72.2, 14), W),  # gaining 1.1 kg a week
        (weights(80, 76, 6), None),  # under a week apart: not a trend yet
        (weights(80, 76, 7), W),
    ],
)
def test_weight_changing_faster_than_a_kilo_a_week(
    figures: HealthFigures, severity: Severity | None
) -> None:
    found = insights.weight_trend(Person(), figures)
    assert (found.severity if found else None) == severity


def test_rapid_loss_message_and_evidence() -> None:
    found = insights.weight_trend(Person(), weights(90, 87, 14))
    assert found is not None
    assert found.message == (
        "Your weight went from 90.0 kg to 87.0 kg over 14 days: a loss of 1.50 kg a week, "
        "faster than the 1 kg a week of a steady change."
    )
    assert evidence(found)["weekly_change_kg"] == (-1.5, "kg/week")
    assert evidence(found)["safe_weekly_change_kg"] == (1.0, "kg/week")
    assert found.gap == 0.5
    assert "CDC" in found.source


def test_weight_needs_two_weights() -> None:
    figures = HealthFigures(latest_weight_kg=80, weight_span_days=14)
    assert insights.weight_trend(Person(target_weight_kg=70), figures) is None


@pytest.mark.parametrize(
    ("target", "figures", "speaks"),
    [
        (70, weights(75, 75.5, 14), True),  # 0.5 kg further from the target
        (70, weights(75, 75.4, 14), False),  # within a day's scale noise
        (70, weights(75, 74, 14), False),  # toward the target, steadily
        (80, weights(75, 74.5, 14), True),  # away from a higher target too
        (70, weights(71, 68.5, 28), True),  # overshot: 1.5 kg below, was 1 kg above
    ],
)
def test_weight_moving_away_from_target(
    target: float, figures: HealthFigures, speaks: bool
) -> None:
    found = insights.weight_trend(Person(target_weight_kg=target), figures)
    assert (found is not None) == speaks
    if found:
        assert evidence(found)["target_weight_kg"] == (target, "kg")
        assert "safe_weekly_change_kg" not in evidence(found)


def test_weight_away_from_target_and_fast_says_both() -> None:
    found = insights.weight_trend(Person(target_weight_kg=70), weights(80, 82.5, 14))
    assert found is not None
    assert "2.5 kg further from your 70.0 kg target" in found.message
    assert "a gain of 1.25 kg a week" in found.message
    assert {"target_weight_kg", "safe_weekly_change_kg"} <= set(evidence(found))
    assert found.gap == pytest.approx(0.25)  # the larger of 2.5/70 and 0.25/1
    assert "target" in found.source
    assert "CDC" in found.source


# --- Nutrition balance ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "outside"),
    [
        ((20, 45, 35), set()),  # carbohydrate and fat at their bounds
        ((20, 44, 36), {"carbohydrate", "fat"}),
        ((10, 55, 35), set()),
        ((9, 56, 35), {"protein"}),
        ((35, 45, 20), set()),
        ((36, 45, 19), {"protein", "fat"}),
        ((10, 65, 25), set()),
        ((10, 66, 24), {"carbohydrate"}),
    ],
)
def test_adult_energy_shares_against_the_amdr(
    shares: tuple[int, int, int], outside: set[str]
) -> None:
    found = insights.nutrition_balance(Person(age_years=40), meals(*shares))
    named = {name for name in ("protein", "carbohydrate", "fat") if found and name in found.message}
    assert named == outside
    if found:
        assert {f"{n}_energy_share_max" for n in outside} <= set(evidence(found))


@pytest.mark.parametrize(
    ("age", "speaks"),
    [
        (None, False),  # adults: protein 31 % and fat 24 % are within 10-35 and 20-35
        (19, False),
        (18, True),  # 4-18 years: protein at most 30 %, fat at least 25 %
        (10, True),
        (4, True),
        (0, False),  # no ranges under one year
    ],
)
def test_energy_share_ranges_follow_age(age: int | None, speaks: bool) -> None:
    found = insights.nutrition_balance(Person(age_years=age), meals(31, 45, 24))
    assert (found is not None) == speaks


def test_toddler_ranges_allow_more_fat_and_less_protein() -> None:
    # 1-3 years: protein 5-20 %, fat 30-40 %.
    toddler = insights.nutrition_balance(Person(age_years=2), meals(25, 45, 30))
    adult = insights.nutrition_balance(Person(age_years=30), meals(25, 45, 30))
    assert toddler is not None
    assert adult is None
    assert "protein 25.0 % (recommended 5-20 %)" in toddler.message


def test_nutrition_message_evidence_and_gap() -> None:
    found = insights.nutrition_balance(Person(), meals(20, 40, 40))
    assert found is not None
    assert found.message == (
        "Over 5 days of meals, your energy came outside the ranges for adults: "
        "carbohydrate 40.0 % (recommended 45-65 %), fat 40.0 % (recommended 20-35 %)."
    )
    assert evidence(found)["fat_energy_share"] == (40.0, "%")
    assert evidence(found)["carbohydrate_energy_share_min"] == (45, "%")
    assert evidence(found)["meal_days"] == (5, "days")
    assert found.gap == pytest.approx(5 / 35)  # fat is further out than carbohydrate's 5/45
    assert found.source == "Institute of Medicine 2005, AMDR"


def test_energy_is_four_four_nine_kcal_per_gram() -> None:
    shares = insights.energy_shares(
        HealthFigures(mean_daily_protein_g=100, mean_daily_carbohydrate_g=200, mean_daily_fat_g=80)
    )
    # 400 + 800 + 720 = 1,920 kcal
    assert shares == pytest.approx({"protein": 20.833, "carbohydrate": 41.667, "fat": 37.5}, 1e-3)


def test_nutrition_needs_three_days_and_all_three_figures() -> None:
    assert insights.nutrition_balance(Person(), meals(20, 40, 40, days=2)) is None
    partial = HealthFigures(mean_daily_protein_g=200, mean_daily_fat_g=10, meal_days=7)
    assert insights.nutrition_balance(Person(), partial) is None
    nothing = HealthFigures(
        mean_daily_protein_g=0, mean_daily_carbohydrate_g=0, mean_daily_fat_g=0, meal_days=7
    )
    assert insights.nutrition_balance(Person(), nothing) is None


# --- Water ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("person", "ml", "speaks"),
    [
        (Person(sex=Sex.FEMALE), 1600, False),  # 80 % of 2.0 L
        (Person(sex=Sex.FEMALE), 1599, True),
        (Person(sex=Sex.MALE), 2000, False),  # 80 % of 2.5 L
        (Person(sex=Sex.MALE), 1999, True),
        (Person(), 1600, False),  # unspecified sex: the lower figure
        (Person(), 1599, True),
        (Person(age_years=14, sex=Sex.MALE), 1999, True),  # adult values from 14
        (Person(age_years=10, sex=Sex.MALE), 1680, False),  # 80 % of 2.1 L
        (Person(age_years=10, sex=Sex.MALE), 1679, True),
        (Person(age_years=10, sex=Sex.FEMALE), 1520, False),  # 80 % of 1.9 L
        (Person(age_years=10), 1520, False),
        (Person(age_years=6), 1280, False),  # 80 % of 1.6 L
        (Person(age_years=6), 1279, True),
        (Person(age_years=0), 100, False),  # no rule under one year
    ],
)
def test_water_by_sex_and_age(person: Person, ml: float, speaks: bool) -> None:
    figures = HealthFigures(mean_daily_water_ml=ml, water_days=7)
    assert (insights.low_water(person, figures) is not None) == speaks


def test_water_message_names_whom_the_figure_is_for() -> None:
    figures = HealthFigures(mean_daily_water_ml=1200, water_days=4)
    women = insights.low_water(Person(sex=Sex.FEMALE), figures)
    men = insights.low_water(Person(sex=Sex.MALE), figures)
    girls = insights.low_water(Person(age_years=11, sex=Sex.FEMALE), figures)
    assert women is not None
    assert men is not None
    assert girls is not None
    assert women.message == (
        "You drank 1,200 ml a day on average over 4 days, below the 1,600 ml of drinks a day "
        "that is adequate for women."
    )
    assert men.message.endswith("below the 2,000 ml of drinks a day that is adequate for men.")
    assert "1,520 ml" in girls.message
    assert "9-13 year old girls" in girls.message
    assert evidence(men)["adequate_daily_drinks_ml"] == (2000, "ml")
    assert (women.gap, men.gap) == (0.25, 0.4)
    assert women.severity is W
    assert "EFSA" in women.source


def test_water_needs_three_days() -> None:
    figures = HealthFigures(mean_daily_water_ml=500, water_days=2)
    assert insights.low_water(Person(), figures) is None


# --- Activity ---------------------------------------------------------------------------


def week(minutes: float, day: int) -> HealthFigures:
    return HealthFigures(week_intensity_minutes=minutes, week_day=day)


def test_activity_message_states_the_shortfall_against_150() -> None:
    found = insights.activity_shortfall(Person(), week(110, 7))
    assert found is not None
    assert found.message.startswith("You are 40 intensity minutes short of 150 this week")
    assert evidence(found) == {
        "week_intensity_minutes": (110, "min"),
        "week_day": (7, "day"),
        "expected_intensity_minutes": (150, "min"),
        "weekly_target_intensity_minutes": (150, "min"),
    }
    assert found.gap == pytest.approx(40 / 150)
    assert "WHO 2020" in found.source


@pytest.mark.parametrize(
    ("minutes", "day", "speaks"),
    [
        (0, 1, True),  # Monday's share is 150/7 = 21.4
        (22, 1, False),
        (64, 3, True),  # 150 x 3/7 = 64.3 expected by Wednesday
        (65, 3, False),
        (150, 7, False),
        (149.5, 7, True),
        (400, 2, False),
        (0, 0, False),  # week_day 0: unknown, no pace to compare with
    ],
)
def test_activity_is_judged_against_the_pace_so_far(minutes: float, day: int, speaks: bool) -> None:
    assert (insights.activity_shortfall(Person(), week(minutes, day)) is not None) == speaks


def test_a_half_minute_short_is_not_called_zero_short() -> None:
    found = insights.activity_shortfall(Person(), week(149.5, 7))
    assert found is not None
    assert found.message.startswith("You are 1 intensity minute short of 150 this week")


@pytest.mark.parametrize(
    ("age", "target"),
    [(None, 150), (18, 150), (70, 150), (17, 420), (5, 420), (4, None)],
)
def test_activity_target_by_age(age: int | None, target: float | None) -> None:
    found = insights.activity_shortfall(Person(age_years=age), week(300, 7))
    if target is None or target <= 300:
        assert found is None
    else:
        assert found is not None
        assert evidence(found)["weekly_target_intensity_minutes"] == (target, "min")
        assert "You are 120 intensity minutes short of 420" in found.message
    assert insights.weekly_activity_target(age if age is not None else 30) == target


# --- Ranking ----------------------------------------------------------------------------

EVERYTHING = HealthFigures(
    mean_daily_steps=4000,  # alert, 0.5 short of 8,000
    step_days=7,
    mean_sleep_minutes=330,  # alert, 90/420 = 0.214 short
    sleep_nights=7,
    mean_resting_heart_rate=104,  # alert, 24/80 = 0.3 over
    resting_heart_rate_days=7,
    first_weight_kg=80,
    latest_weight_kg=77.9,  # warning, 1.05 kg a week: 0.05 over
    weight_span_days=14,
    mean_daily_water_ml=1200,  # warning, 0.25 short of 1,600
    water_days=7,
    mean_daily_protein_g=9 * 20,
    mean_daily_carbohydrate_g=9 * 40,
    mean_daily_fat_g=4 * 40,  # warning, fat 5/35 = 0.143 over
    meal_days=7,
    week_intensity_minutes=75,  # warning, 75/150 = 0.5 behind on day 7
    week_day=7,
)


def test_rank_orders_by_severity_then_gap() -> None:
    ranked = insights.rank(Person(), EVERYTHING, limit=20)
    assert [(i.rank, i.kind, i.severity) for i in ranked] == [
        (1, InsightKind.LOW_STEPS, A),
        (2, InsightKind.ELEVATED_RESTING_HEART_RATE, A),
        (3, InsightKind.INSUFFICIENT_SLEEP, A),
        (4, InsightKind.ACTIVITY_SHORTFALL, W),
        (5, InsightKind.LOW_WATER, W),
        (6, InsightKind.NUTRITION_BALANCE, W),
        (7, InsightKind.WEIGHT_TREND, W),
    ]


def test_equal_gaps_fall_back_to_kind_order() -> None:
    # 6,000 of 8,000 steps and 1,200 of 1,600 ml are both 0.25 short.
    figures = HealthFigures(
        mean_daily_steps=6000, step_days=5, mean_daily_water_ml=1200, water_days=5
    )
    ranked = insights.rank(Person(), figures)
    assert [i.kind for i in ranked] == [InsightKind.LOW_STEPS, InsightKind.LOW_WATER]
    assert ranked[0].gap == ranked[1].gap


def test_a_small_alert_outranks_a_large_warning() -> None:
    figures = HealthFigures(
        mean_sleep_minutes=359,  # alert, only 0.145 short
        sleep_nights=3,
        mean_daily_water_ml=100,  # warning, 0.94 short
        water_days=3,
    )
    kinds = [i.kind for i in insights.rank(Person(), figures)]
    assert kinds == [InsightKind.INSUFFICIENT_SLEEP, InsightKind.LOW_WATER]


@pytest.mark.parametrize(("limit", "count"), [(1, 1), (3, 3), (5, 5), (7, 7), (20, 7)])
def test_limit_keeps_the_most_important(limit: int, count: int) -> None:
    everything = insights.rank(Person(), EVERYTHING, limit=20)
    ranked = insights.rank(Person(), EVERYTHING, limit=limit)
    assert [i.rank for i in ranked] == list(range(1, count + 1))
    assert ranked == everything[:count]


def test_default_limit_is_five() -> None:
    assert len(insights.rank(Person(), EVERYTHING)) == 5


def test_nothing_to_say_when_all_is_well_or_unlogged() -> None:
    assert insights.rank(Person(), HealthFigures()) == []
    healthy = HealthFigures(
        mean_daily_steps=9000,
        step_days=7,
        mean_sleep_minutes=450,
        sleep_nights=7,
        mean_resting_heart_rate=62,
        resting_heart_rate_days=7,
        first_weight_kg=70,
        latest_weight_kg=70.2,
        weight_span_days=21,
        mean_daily_water_ml=1800,
        water_days=7,
        mean_daily_protein_g=9 * 20,
        mean_daily_carbohydrate_g=9 * 55,
        mean_daily_fat_g=4 * 25,
        meal_days=7,
        week_intensity_minutes=160,
        week_day=6,
    )
    assert insights.rank(Person(sex=Sex.FEMALE, target_weight_kg=70), healthy) == []


# --- Validation -------------------------------------------------------------------------


def violations(person: Person, figures: HealthFigures) -> set[str]:
    v = Violations()
    insights.validate(v, person, figures)
    with pytest.raises(InvalidArgument) as caught:
        v.raise_if_any()
    return {f.field for f in caught.value.violations}


def test_validation_names_every_bad_field() -> None:
    person = Person(age_years=131, weight_kg=19, target_weight_kg=401)
    figures = HealthFigures(
        mean_daily_steps=-1,
        step_days=8,
        mean_sleep_minutes=1441,
        sleep_nights=-1,
        mean_resting_heart_rate=math.nan,
        mean_daily_water_ml=math.inf,
        first_weight_kg=math.nan,
        weight_span_days=31,
        week_intensity_minutes=-5,
        week_day=8,
    )
    assert violations(person, figures) == {
        "person.age_years",
        "person.weight_kg",
        "person.target_weight_kg",
        "figures.mean_daily_steps",
        "figures.step_days",
        "figures.mean_sleep_minutes",
        "figures.sleep_nights",
        "figures.mean_resting_heart_rate",
        "figures.mean_daily_water_ml",
        "figures.first_weight_kg",
        "figures.weight_span_days",
        "figures.week_intensity_minutes",
        "figures.week_day",
    }


def test_validation_accepts_the_edges() -> None:
    v = Violations()
    person = Person(age_years=0, weight_kg=20, target_weight_kg=400)
    figures = HealthFigures(
        mean_daily_steps=0,
        step_days=7,
        mean_sleep_minutes=1440,
        sleep_nights=0,
        first_weight_kg=20,
        latest_weight_kg=400,
        weight_span_days=30,
        mean_daily_fat_g=0,
        week_intensity_minutes=7 * 1440 * 2,
        week_day=0,
    )
    insights.validate(v, person, figures)
    v.raise_if_any()  # nothing to raise
