"""Checks of the values a script passes to the API, with the one message each kind of mistake gets.

A script's mistakes are found at load, where the line that made them is known; so the filters,
balancers and tasks check their arguments when they are made, with these functions, and a value
of the wrong kind gets a ValueError that names the argument and what it should be.
"""

from __future__ import annotations

import math

__all__ = ["seconds", "whole"]


def seconds(value: object, what: str, *, zero: bool = True) -> float:
    """``value`` as a number of seconds: finite and >= 0 (> 0 with ``zero=False``). ValueError
    ``"<what> must be a number of seconds >= 0, not <value>"`` otherwise (``what`` names the
    argument: ``"connect(): connect_timeout"``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not (value >= 0 if zero else value > 0)
    ):
        raise ValueError(f"{what} must be a number of seconds {'>=' if zero else '>'} 0, not {value!r}")
    return float(value)


def whole(value: object, what: str, least: int = 0) -> int:
    """``value`` as a whole number >= ``least``. ValueError ``"<what> must be a whole number >=
    <least>, not <value>"`` otherwise (``what`` names the argument: ``"Retry(): attempts"``)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{what} must be a whole number >= {least}, not {value!r}")
    return value
