"""Workouts, statistics and the group-session archive, on MongoDB."""
