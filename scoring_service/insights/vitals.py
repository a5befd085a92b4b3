"""Rules on how a person moves, sleeps and beats: steps, sleep, resting heart rate and
the week's activity."""

from __future__ import annotations

from dataclasses import dataclass

from scoring_service.insights.model import (
    ADULT_AGE,
    MIN_DAYS,
    Evidence,
    HealthFigures,
    Insight,
    InsightKind,
    Person,
    Severity,
    age_of,
    band_for,
    beside,
    excess,
    shortfall,
)
from scoring_service.rules import WHO_WEEKLY_MINUTES

# --- Steps -----------------------------------------------------------------------------

STEPS_TARGET_UNDER_60 = 8000.0
STEPS_TARGET_60_AND_OVER = 7000.0
SEDENTARY_STEPS = 5000.0
STEPS_SOURCE = "Paluch et al. 2022, Lancet Public Health"
SEDENTARY_SOURCE = "Tudor-Locke et al. 2013 (sedentary index)"


def low_steps(person: Person, figures: HealthFigures) -> Insight | None:
    """Mean daily steps below the target for the person's age.

    Paluch et al. 2022 (Lancet Public Health, 15 cohorts): the fall in mortality levels
    off at 6,000-8,000 steps a day from 60 years and at 8,000-10,000 below 60, so the
    targets are 7,000 and 8,000. Fewer than 5,000 a day is the sedentary lifestyle index
    of Tudor-Locke et al. 2013 (Appl Physiol Nutr Metab): an alert.
    """
    mean, days = figures.mean_daily_steps, figures.step_days
    if mean is None or days < MIN_DAYS:
        return None
    over_60 = age_of(person) >= 60
    target = STEPS_TARGET_60_AND_OVER if over_60 else STEPS_TARGET_UNDER_60
    if mean >= target:
        return None
    evidence = [
        Evidence("mean_daily_steps", round(mean, 2), "steps"),
        Evidence("step_days", days, "days"),
        Evidence("target_daily_steps", target, "steps"),
    ]
    message = (
        f"You averaged {beside(mean, target):,.0f} steps a day over {days} days, below the "
        f"{target:,.0f} a day at which the health benefit of walking levels off "
        f"{'from 60' if over_60 else 'under 60'}."
    )
    severity, source = Severity.WARNING, STEPS_SOURCE
    if mean < SEDENTARY_STEPS:
        severity, source = Severity.ALERT, f"{STEPS_SOURCE}; {SEDENTARY_SOURCE}"
        evidence.append(Evidence("sedentary_daily_steps", SEDENTARY_STEPS, "steps"))
        message += f" Under {SEDENTARY_STEPS:,.0f} a day counts as a sedentary lifestyle."
    return Insight(
        InsightKind.LOW_STEPS,
        severity,
        message,
        tuple(evidence),
        source,
        shortfall(mean, target),
    )


# --- Sleep -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SleepBand:
    min_age: int
    hours: float
    group: str
    source: str


PARUTHI = "Paruthi et al. 2016 (AASM)"
SLEEP_BANDS = (
    # Under one year the recommendation counts naps and starts at 4 months: no rule.
    SleepBand(1, 11, "1-2 year olds", PARUTHI),
    SleepBand(3, 10, "3-5 year olds", PARUTHI),
    SleepBand(6, 9, "6-12 year olds", PARUTHI),
    SleepBand(13, 8, "13-17 year olds", PARUTHI),
    SleepBand(ADULT_AGE, 7, "adults", "Watson et al. 2015 (AASM/SRS)"),
    SleepBand(65, 7, "adults 65 and over", "Hirshkowitz et al. 2015 (NSF)"),
)
SHORT_SLEEP_HOURS = 6  # adults only: the consensus names no such line for children


def hours_and_minutes(minutes: float) -> str:
    hours, rest = divmod(int(minutes), 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def insufficient_sleep(person: Person, figures: HealthFigures) -> Insight | None:
    """Mean nightly sleep below the recommendation for the person's age.

    Adults 18-64 need 7 h or more (AASM/SRS consensus, Watson et al. 2015, Sleep); 65 and
    over 7-8 h (NSF, Hirshkowitz et al. 2015, Sleep Health), so 7 h; children the minimum
    of the AASM ranges (Paruthi et al. 2016, J Clin Sleep Med): 13-17 years 8 h, 6-12
    years 9 h, 3-5 years 10 h, 1-2 years 11 h. An adult under 6 h is an alert.
    """
    mean, nights = figures.mean_sleep_minutes, figures.sleep_nights
    band = band_for(SLEEP_BANDS, age_of(person))
    if mean is None or nights < MIN_DAYS or band is None or mean >= band.hours * 60:
        return None
    evidence = [
        Evidence("mean_sleep_minutes", round(mean, 2), "min"),
        Evidence("sleep_nights", nights, "nights"),
        Evidence("recommended_sleep_minutes", band.hours * 60, "min"),
    ]
    slept = hours_and_minutes(beside(mean, band.hours * 60))
    message = (
        f"You slept {slept} a night on average over {nights} nights; "
        f"{band.group} need at least {band.hours:g} h."
    )
    severity, source = Severity.WARNING, band.source
    if band.min_age >= ADULT_AGE and mean < SHORT_SLEEP_HOURS * 60:
        severity = Severity.ALERT
        evidence.append(Evidence("short_sleep_minutes", SHORT_SLEEP_HOURS * 60, "min"))
        message += f" Under {SHORT_SLEEP_HOURS} h a night is worth acting on."
    return Insight(
        InsightKind.INSUFFICIENT_SLEEP,
        severity,
        message,
        tuple(evidence),
        source,
        shortfall(mean, band.hours * 60),
    )


# --- Resting heart rate ----------------------------------------------------------------


@dataclass(frozen=True)
class HeartBand:
    min_age: int
    upper_bpm: float
    group: str


# Upper end of the normal resting range by age (MedlinePlus, "Pulse"): children's run
# higher, so no one under 18 is flagged below 100 bpm, and young children not below theirs.
HEART_BANDS = (
    HeartBand(0, 160, "infants"),
    HeartBand(1, 130, "1-2 year olds"),
    HeartBand(3, 120, "3-4 year olds"),
    HeartBand(5, 115, "5-6 year olds"),
    HeartBand(7, 110, "7-9 year olds"),
    HeartBand(10, 100, "people 10 and over"),
)
ELEVATED_BPM = 80.0
HEART_SOURCE = "AHA (normal 60-100 bpm); Zhang et al. 2016, CMAJ"
CHILD_HEART_SOURCE = "MedlinePlus (NIH), normal pulse by age"


def elevated_resting_heart_rate(person: Person, figures: HealthFigures) -> Insight | None:
    """Mean resting heart rate above the normal range, or for adults above 80 bpm.

    The American Heart Association gives 60-100 bpm as the normal adult range; above
    100 is tachycardia: an alert. Within it, risk climbs with the rate: above 80 bpm
    all-cause and cardiovascular mortality are clearly higher (Jensen et al. 2013, Heart;
    meta-analysis of Zhang et al. 2016, CMAJ): a warning, for adults only. Children's
    normal ranges are higher (MedlinePlus): above their upper end is the alert.
    """
    mean, days = figures.mean_resting_heart_rate, figures.resting_heart_rate_days
    age = age_of(person)
    band = band_for(HEART_BANDS, age)
    if mean is None or days < MIN_DAYS or band is None:
        return None
    adult = age >= ADULT_AGE
    threshold = ELEVATED_BPM if adult else band.upper_bpm
    if mean <= threshold:
        return None
    evidence = [
        Evidence("mean_resting_heart_rate", round(mean, 2), "bpm"),
        Evidence("resting_heart_rate_days", days, "days"),
    ]
    if adult:
        evidence.append(Evidence("elevated_threshold_bpm", ELEVATED_BPM, "bpm"))
    alert = mean > band.upper_bpm
    if alert:
        evidence.append(Evidence("normal_upper_bpm", band.upper_bpm, "bpm"))
    shown = beside(mean, band.upper_bpm if alert else threshold)
    opening = f"Your resting heart rate averaged {shown:.0f} bpm over {days} days"
    if not alert:
        message = (
            f"{opening}, above {ELEVATED_BPM:.0f} bpm, where heart risk is measurably "
            f"higher; the normal adult range is 60-{band.upper_bpm:.0f} bpm."
        )
    else:
        group = "adult range of 60-" if adult else f"range for {band.group}: up to "
        message = (
            f"{opening}, above the normal {group}{band.upper_bpm:.0f} bpm; "
            "worth checking with a clinician."
        )
    return Insight(
        InsightKind.ELEVATED_RESTING_HEART_RATE,
        Severity.ALERT if alert else Severity.WARNING,
        message,
        tuple(evidence),
        HEART_SOURCE if adult else CHILD_HEART_SOURCE,
        excess(mean, threshold),
    )


# --- Activity --------------------------------------------------------------------------

YOUTH_DAILY_MINUTES = 60.0
ACTIVITY_SOURCE = "WHO 2020 guidelines on physical activity"


def weekly_activity_target(age: int) -> float | None:
    """WHO 2020: 150 a week from 18, an average of 60 a day at 5-17; under 5 the WHO counts
    all activity, not intensity minutes, so there is no target here."""
    if age < 5:
        return None
    return WHO_WEEKLY_MINUTES if age >= ADULT_AGE else 7 * YOUTH_DAILY_MINUTES


def activity_shortfall(person: Person, figures: HealthFigures) -> Insight | None:
    """Intensity minutes this week behind an even pace toward the WHO weekly target.

    WHO 2020 (Bull et al., Br J Sports Med): adults 150-300 minutes of moderate activity
    a week (vigorous counts double); 5-17 year olds an average of 60 minutes a day. The
    expected amount so far is the target x week_day / 7, so it does not nag early in a
    week that is on pace.
    """
    target = weekly_activity_target(age_of(person))
    day, done = figures.week_day, figures.week_intensity_minutes
    if target is None or not 1 <= day <= 7:
        return None
    expected = target * day / 7
    if done >= expected:
        return None
    short = beside(target - done, 0)
    return Insight(
        InsightKind.ACTIVITY_SHORTFALL,
        Severity.WARNING,
        f"You are {short:.0f} intensity minute{'' if short == 1 else 's'} short of "
        f"{target:.0f} this week; "
        f"an even pace would have {expected:.0f} by the end of today, day {day} of 7.",
        (
            Evidence("week_intensity_minutes", round(done, 2), "min"),
            Evidence("week_day", day, "day"),
            Evidence("expected_intensity_minutes", round(expected, 2), "min"),
            Evidence("weekly_target_intensity_minutes", target, "min"),
        ),
        ACTIVITY_SOURCE,
        shortfall(done, expected),
    )
