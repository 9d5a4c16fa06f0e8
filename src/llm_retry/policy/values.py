"""The one check of a number read anywhere in the policy layer, and how bad values are quoted.

Every number a user declares (a policy's ``max_retry_after``, a backoff's base and cap, a
circuit's ``break_duration``, a budget's ``total``, a preset's ``[timeouts]``, ...) goes through
`number_problem`, so they all refuse the same things with the same words: booleans, strings,
``nan``, ``inf`` (TOML spells it ``inf``: at run time a sync call raised ``OverflowError`` instead
of the API error and an async call slept for ever) and, for durations, anything past a year
(``time.sleep`` overflows far below ``1e308``; a year of seconds is surely a unit mistake).

`shown` quotes a value in a message: ``repr`` cut to a few dozen characters and a few levels of
nesting, so a 5,000-deep array or a megabyte string makes a one-line message, never a
``RecursionError``.
"""

from __future__ import annotations

import math
import reprlib

from llm_retry.errors import PolicyError

__all__ = ["MAX_SECONDS", "check_number", "number_problem", "shown"]

MAX_SECONDS = 366 * 24 * 3600.0
"""The longest duration a policy may declare: a year, in seconds."""

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxstring = _REPR.maxother = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4


def shown(value: object) -> str:
    """``repr(value)``, short: at most a few dozen characters and three levels deep."""
    try:
        return _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr raises is still a bad value
        return f"<{type(value).__name__}>"


def number_problem(
    value: object,
    *,
    minimum: float = 0.0,
    maximum: float = math.inf,
    positive: bool = False,
) -> str | None:
    """What is wrong with ``value`` as a finite number in range, or ``None`` if nothing.

    Args:
        value: the value read.
        minimum: the smallest value allowed (excluded when ``positive``).
        maximum: the largest value allowed; `MAX_SECONDS` for a duration.
        positive: the value must be above ``minimum``, not equal to it.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, not {shown(value)}"
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        return f"must be a finite number, not {shown(value)}"
    if value > maximum and maximum == MAX_SECONDS:
        return f"must be at most {MAX_SECONDS:.0f} seconds (a year), not {shown(value)}"
    if value < minimum or (positive and value <= minimum) or value > maximum:
        low = f"> {minimum:g}" if positive else f">= {minimum:g}"
        high = f" and <= {maximum:g}" if maximum not in (math.inf, MAX_SECONDS) else ""
        return f"must be {low}{high}, not {shown(value)}"
    return None


def check_number(
    where: str,
    value: object,
    *,
    minimum: float = 0.0,
    maximum: float = math.inf,
    positive: bool = False,
) -> float:
    """``value`` as a float, or a `PolicyError` ``"{where} must be ..."`` (see `number_problem`)."""
    problem = number_problem(value, minimum=minimum, maximum=maximum, positive=positive)
    if problem is not None:
        raise PolicyError(f"{where} {problem}")
    return float(value)  # type: ignore[arg-type]
