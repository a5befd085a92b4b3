"""MET values from the 2011 Compendium of Physical Activities (Ainsworth et al.).

A pace table lists (minimum speed in km/h, MET) steps: a workout with a known distance
takes the MET of the fastest step its average speed reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

MPH = 1.609344  # km/h per mile per hour; the Compendium states speeds in mph


@dataclass(frozen=True)
class Activity:
    met: float
    compendium_code: str
    muscle_strengthening: bool = False
    pace: tuple[tuple[float, float], ...] = ()


WALKING_PACE = (
    (0.0, 2.0),  # 17151 walking, less than 2.0 mph, level ground, strolling
    (2.0 * MPH, 2.8),  # 17152 2.0 mph
    (2.5 * MPH, 3.0),  # 17170 2.5 mph
    (2.8 * MPH, 3.5),  # 17190 2.8-3.2 mph, moderate pace
    (3.5 * MPH, 4.3),  # 17200 3.5 mph, brisk pace
    (4.0 * MPH, 5.0),  # 17220 4.0 mph, very brisk pace
    (4.5 * MPH, 7.0),  # 17230 4.5 mph
    (5.0 * MPH, 8.3),  # 17231 5.0 mph
)

RUNNING_PACE = (
    (0.0, 6.0),  # 12029 running, 4 mph (15 min/mile) and slower
    (5.0 * MPH, 8.3),  # 12030
    (5.2 * MPH, 9.0),  # 12040
    (6.0 * MPH, 9.8),  # 12050
    (6.7 * MPH, 10.5),  # 12060
    (7.0 * MPH, 11.0),  # 12070
    (7.5 * MPH, 11.5),  # 12080
    (8.0 * MPH, 11.8),  # 12090
    (8.6 * MPH, 12.3),  # 12100
    (9.0 * MPH, 12.8),  # 12110
    (10.0 * MPH, 14.5),  # 12120
    (11.0 * MPH, 16.0),  # 12130
    (12.0 * MPH, 19.0),  # 12132
    (13.0 * MPH, 19.8),  # 12134
    (14.0 * MPH, 23.0),  # 12135
)

CYCLING_PACE = (
    (0.0, 4.0),  # 01010 bicycling, < 10 mph, leisure
    (10.0 * MPH, 6.8),  # 01020 10-11.9 mph, light effort
    (12.0 * MPH, 8.0),  # 01030 12-13.9 mph, moderate effort
    (14.0 * MPH, 10.0),  # 01040 14-15.9 mph, vigorous effort
    (16.0 * MPH, 12.0),  # 01050 16-19 mph, racing
    (20.0 * MPH, 15.8),  # 01060 > 20 mph, racing
)

ACTIVITIES: dict[str, Activity] = {
    "walking": Activity(3.5, "17190", pace=WALKING_PACE),
    "brisk_walking": Activity(4.3, "17200", pace=WALKING_PACE),
    "running": Activity(9.8, "12050", pace=RUNNING_PACE),
    "cycling": Activity(8.0, "01030", pace=CYCLING_PACE),
    "swimming": Activity(5.8, "18310"),
    "strength": Activity(3.5, "02054", muscle_strengthening=True),
    "hiit": Activity(8.0, "02040"),
    "circuit": Activity(8.0, "02040", muscle_strengthening=True),
    "yoga": Activity(2.5, "02150"),
    "rowing": Activity(7.0, "02071"),
    "elliptical": Activity(5.0, "02048"),
    "hiking": Activity(6.0, "17080"),
    "pilates": Activity(3.0, "02105", muscle_strengthening=True),
    "dancing": Activity(7.3, "03015"),
    "jump_rope": Activity(11.8, "15552"),
    "stair_climbing": Activity(9.0, "02065"),
    "tennis": Activity(7.3, "15675"),
    "basketball": Activity(6.5, "15055"),
    "soccer": Activity(7.0, "15610"),
    "stretching": Activity(2.3, "02101"),
    "cross_country_skiing": Activity(9.0, "19090"),
}


def met_for(workout_type: str, speed_kmh: float | None) -> float:
    activity = ACTIVITIES[workout_type]
    if speed_kmh is None or not activity.pace:
        return activity.met
    met = activity.pace[0][1]
    for min_speed, step_met in activity.pace:
        if speed_kmh >= min_speed:
            met = step_met
    return met
