"""Translate between proto enums (WORKOUT_TYPE_RUNNING) and the short lower-case names
used by rules and REST ("running")."""

from __future__ import annotations

import re
from typing import Any

# Generated enums are classes whose metaclass is protobuf's EnumTypeWrapper; typing them
# precisely gains nothing here, so they are passed as Any.
EnumWrapper = Any


def _prefix(wrapper: EnumWrapper) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", wrapper.DESCRIPTOR.name).upper() + "_"


def enum_name(wrapper: EnumWrapper, number: int) -> str | None:
    """'running' for WORKOUT_TYPE_RUNNING; None for UNSPECIFIED or an unknown number."""
    try:
        full = wrapper.Name(number)
    except ValueError:
        return None
    short = full.removeprefix(_prefix(wrapper)).lower()
    return None if short == "unspecified" else short


def enum_number(wrapper: EnumWrapper, name: str) -> int | None:
    """The number for 'running' in WorkoutType; None when there is no such value."""
    if not name or name.lower() == "unspecified":
        return None
    try:
        number: int = wrapper.Value(_prefix(wrapper) + name.upper())
    except ValueError:
        return None
    return number


def enum_names(wrapper: EnumWrapper) -> list[str]:
    """Every short name except UNSPECIFIED, in declaration order."""
    names = (enum_name(wrapper, v.number) for v in wrapper.DESCRIPTOR.values)
    return [n for n in names if n]
