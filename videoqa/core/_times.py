"""How the parsers read one time: the regex atoms and the token -> seconds conversion.

One place for every number the span parsers read (:mod:`videoqa.core.parsing` and
:mod:`videoqa.core._instants`): an exponent belongs to its number, and a number that overflows
(``1e309``, or ``1e308`` minutes once scaled) is no number.
"""

from __future__ import annotations

import math

CLOCK = r"\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?"
NUMBER = r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
"""A number; an exponent belongs to it, so "1e309" reads as one (overflowing) number, never as 1."""
TIME = rf"(?:{CLOCK}|{NUMBER})"
UNIT = r"(?:\s*(?P<{name}>s|secs?|seconds?|mins?|minutes?)\b\.?)?"
"""An optional unit after a time, as a named group (``UNIT.format(name=...)``)."""


def time_token(token: str) -> float | None:
    """Seconds of a matched ``TIME`` token (a number or a clock time); None if it is no finite time."""
    try:
        if ":" not in token:
            seconds = float(token)
            return seconds if math.isfinite(seconds) else None
        parts = token.split(":")
        seconds = float(parts[-1])
        minutes = int(parts[-2])
        hours = int(parts[-3]) if len(parts) == 3 else 0
    except ValueError:
        return None
    if seconds >= 60 or (len(parts) == 3 and minutes >= 60):
        return None
    return hours * 3600.0 + minutes * 60.0 + seconds


def unit_scale(unit: str | None) -> float | None:
    """Seconds per unit written after a number (``min``: 60); None when no unit is written."""
    if unit is None:
        return None
    return 60.0 if unit.lower().startswith("min") else 1.0


def scaled(token: str, scale: float) -> float | None:
    """Seconds of ``token`` with a unit's scale applied to a plain number; None when not finite."""
    seconds = time_token(token)
    if seconds is None:
        return None
    if ":" not in token:
        seconds *= scale
    return seconds if math.isfinite(seconds) else None
