"""The settings sections, defined once: a preset's ``[circuit]`` and ``[budget]`` tables and the
keyword arguments of ``@circuit`` and ``@budget``.

Each section is a frozen dataclass whose fields say what they hold (a `Kind`). The decorators
build it from their keywords, the presets from their tables, and the TOML schema
(`llm_retry.policy.schema`) checks a file's table against the same kinds, so a key the
decorator takes is a key the file may carry, with the same bounds and the same words when a
value is wrong.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from llm_retry.errors import PolicyError

from .values import MAX_SECONDS, number_problem, shown

__all__ = [
    "FLAG",
    "WHOLE",
    "BudgetSettings",
    "CircuitSettings",
    "Kind",
    "Section",
    "number",
    "seconds",
    "setting",
]


@dataclass(frozen=True, slots=True)
class Kind:
    """What a setting holds: a whole number >= 1, a finite number in range, or a flag."""

    what: Literal["whole", "number", "flag"]
    minimum: float = 0.0
    maximum: float = math.inf
    positive: bool = False

    def problem(self, value: object) -> str | None:
        """What is wrong with ``value`` for this kind, or ``None``."""
        if self.what == "flag":
            return None if isinstance(value, bool) else f"must be true or false, not {shown(value)}"
        if self.what == "whole":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                return f"must be a whole number >= 1, not {shown(value)}"
            return None
        return number_problem(
            value, minimum=self.minimum, maximum=self.maximum, positive=self.positive
        )


WHOLE = Kind("whole")
FLAG = Kind("flag")


def number(minimum: float = 0.0, maximum: float = math.inf, *, positive: bool = False) -> Kind:
    """A finite number in ``[minimum, maximum]`` (above ``minimum`` when ``positive``)."""
    return Kind("number", minimum, maximum, positive)


def seconds(*, positive: bool = False) -> Kind:
    """A duration in seconds: at least 0 (above, when ``positive``), at most a year."""
    return Kind("number", 0.0, MAX_SECONDS, positive)


def setting(default: Any, kind: Kind) -> Any:
    """A section's field: its default (``None`` for "not set") and its kind."""
    return field(default=default, metadata={"kind": kind})


class Section:
    """The behaviour every settings section shares: checks, construction from a mapping."""

    __slots__ = ()
    section: ClassVar[str]

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, item.name)
            if value is None and item.default is None:
                continue  # an optional setting left unset
            problem = item.metadata["kind"].problem(value)
            if problem is not None:
                raise PolicyError(f"{self.section} {item.name} {problem}")

    @classmethod
    def kinds(cls) -> dict[str, Kind]:
        """Each setting's kind, by name: what the TOML schema checks a table against."""
        return {f.name: f.metadata["kind"] for f in dataclasses.fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Any:
        """Settings from a preset's table or keyword arguments; unknown keys name the known."""
        known = cls.kinds()
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise PolicyError(
                f"unknown {cls.section} setting {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**values)


@dataclass(frozen=True, slots=True)
class CircuitSettings(Section):
    """When a circuit opens and for how long.

    Args:
        failures: consecutive failures that open it.
        break_duration: seconds it stays open before probes are let through.
        max_break_duration: if above ``break_duration``, each re-opening without a close in
            between doubles the break, up to this.
        half_open_probes: calls let through while half-open; all must succeed to close.
        failure_rate: also open when the failure rate over the window reaches this (0-1];
            ``None`` turns rate tracking off.
        window: the rate window's size in calls (count-based) ...
        window_seconds: ... or in seconds (time-based) when set.
        min_calls: calls the window must hold before the rate is judged.
        trip_on_account_errors: an account-wide failure (a rule marked ``circuit = "trip"``:
            401, 402, ``insufficient_quota``) opens the circuit at once.
    """

    section: ClassVar[str] = "circuit"

    failures: int = setting(5, WHOLE)
    break_duration: float = setting(60.0, seconds())
    max_break_duration: float | None = setting(None, seconds())
    half_open_probes: int = setting(1, WHOLE)
    failure_rate: float | None = setting(None, number(0.0, 1.0, positive=True))
    window: int = setting(100, WHOLE)
    window_seconds: float | None = setting(None, seconds(positive=True))
    min_calls: int = setting(20, WHOLE)
    trip_on_account_errors: bool = setting(True, FLAG)

    def break_for(self, reopens: int) -> float:
        """The break after ``reopens`` consecutive re-openings (0 for the first opening)."""
        if self.max_break_duration is None or self.max_break_duration <= self.break_duration:
            return self.break_duration
        return min(self.max_break_duration, self.break_duration * 2.0 ** min(reopens, 64))


@dataclass(frozen=True, slots=True)
class BudgetSettings(Section):
    """A budget's numbers (the ``[budget]`` section of a preset, or the decorator's arguments).

    Args:
        total: seconds for the whole call (attempts and waits), or ``None``.
        attempt_timeout: seconds for one attempt, or ``None``.
        retry_ratio: retries allowed per call over the window.
        min_retries_per_sec: retries allowed per second of window whatever the traffic.
        window: the retry budget's sliding window, in seconds.
    """

    section: ClassVar[str] = "budget"

    total: float | None = setting(None, seconds(positive=True))
    attempt_timeout: float | None = setting(None, seconds(positive=True))
    retry_ratio: float = setting(0.2, number())
    min_retries_per_sec: float = setting(1.0, number())
    window: float = setting(10.0, seconds(positive=True))
