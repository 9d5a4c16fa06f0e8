"""The preset file format: parse, validate with precise messages, merge profiles, build policies.

Every problem is reported as ``FILE: KEY.PATH: PROBLEM``, for example
``my.toml: profiles.dev.statuses.429.atempts: unknown key; known: action, attempts, ...``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from llm_retry.errors import PolicyError

from .rules import (
    CIRCUIT_EFFECTS,
    JITTERS,
    TRANSPORT_KINDS,
    Backoff,
    Fail,
    Policy,
    Retry,
    Rule,
    result_key,
    status_key,
)
from .values import MAX_SECONDS, number_problem, shown

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["build_policy", "merge", "parse"]

Check = Callable[[str, object], None]
RULE_TABLES = ("statuses", "codes", "transport", "results")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class _Problem(Exception):
    """A validation problem at a key path, before the file name is known."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)


def _join(path: str, key: object) -> str:
    name = str(key)
    name = name if len(name) <= 60 else f"{name[:57]}..."
    return f"{path}.{name}" if path else name


# -- value checks -------------------------------------------------------------------------
def _number(minimum: float = 0.0, maximum: float = math.inf, *, positive: bool = False) -> Check:
    def check(path: str, value: object) -> None:
        problem = number_problem(value, minimum=minimum, maximum=maximum, positive=positive)
        if problem is not None:
            raise _Problem(path, problem)

    return check


def _seconds(*, positive: bool = False) -> Check:
    return _number(maximum=MAX_SECONDS, positive=positive)


def _whole(path: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Problem(path, f"must be a whole number >= 1, not {shown(value)}")


def _text(path: str, value: object) -> None:
    if not isinstance(value, str):
        raise _Problem(path, f"must be a string, not {shown(value)}")


def _flag(path: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _Problem(path, f"must be true or false, not {shown(value)}")


def _effect(path: str, value: object) -> None:
    if value not in CIRCUIT_EFFECTS:
        raise _Problem(path, f"must be one of {', '.join(CIRCUIT_EFFECTS)}, not {shown(value)}")


def _jitter(path: str, value: object) -> None:
    if value not in JITTERS:
        raise _Problem(path, f"must be one of {', '.join(JITTERS)}, not {shown(value)}")


def _table(fields: Mapping[str, Check]) -> Check:
    def check(path: str, value: object) -> None:
        if not isinstance(value, Mapping):
            raise _Problem(path, f"must be a table, not {shown(value)}")
        for key, item in value.items():
            if key not in fields:
                raise _Problem(_join(path, key), f"unknown key; known: {', '.join(sorted(fields))}")
            fields[key](_join(path, key), item)

    return check


_BACKOFF = _table(
    {"base": _seconds(), "cap": _seconds(), "multiplier": _number(1.0), "jitter": _jitter}
)
_RULE_FIELDS: dict[str, Check] = {
    "action": _text,
    "reason": _text,
    "fix": _text,
    "attempts": _whole,
    "backoff": _BACKOFF,
    "retry_after": _flag,
    "circuit": _effect,
}
_ONLY_FOR = {"fix": "fail", "attempts": "retry", "backoff": "retry", "retry_after": "retry"}


def _rule(partial: bool) -> Check:
    """A rule check; ``partial`` rules (in profiles) may omit the action and merge into the base."""

    def check(path: str, value: object) -> None:
        if isinstance(value, str):
            value = {"action": value}
        _table(_RULE_FIELDS)(path, value)
        assert isinstance(value, Mapping)  # noqa: S101 - checked by _table
        action = value.get("action")
        if action is None and partial:
            return
        if action not in ("retry", "fail"):
            raise _Problem(_join(path, "action"), f"must be 'retry' or 'fail', not {shown(action)}")
        for key, only in _ONLY_FOR.items():
            if key in value and action != only:
                raise _Problem(_join(path, key), f"only applies to action = '{only}'")

    return check


def _rules(key_check: Callable[[object], object], rule: Check) -> Check:
    def check(path: str, value: object) -> None:
        if not isinstance(value, Mapping):
            raise _Problem(path, f"must be a table, not {shown(value)}")
        for key, item in value.items():
            try:
                key_check(key)
            except PolicyError as exc:
                raise _Problem(_join(path, key), str(exc)) from None
            rule(_join(path, key), item)

    return check


def _profiles(overlay: Check) -> Check:
    """The ``profiles`` table: any profile name (``dev``, ``staging``, ...), each an overlay."""

    def check(path: str, value: object) -> None:
        if not isinstance(value, Mapping):
            raise _Problem(path, f"must be a table, not {shown(value)}")
        for name, item in value.items():
            if not _PROFILE_NAME.fullmatch(name):
                raise _Problem(
                    _join(path, name),
                    "a profile name is letters, digits, '_', '-' or '.' (at most 64, ASCII)",
                )
            overlay(_join(path, name), item)

    return check


def _transport_key(key: object) -> object:
    if key not in TRANSPORT_KINDS:
        raise PolicyError(f"unknown transport failure; known: {', '.join(TRANSPORT_KINDS)}")
    return key


def _settings(partial: bool) -> dict[str, Check]:
    rule = _rule(partial)
    return {
        "attempts": _whole,
        "max_retry_after": _seconds(),
        "retry_after": _flag,
        "retry_nested": _flag,
        "backoff": _BACKOFF,
        "statuses": _rules(status_key, rule),
        "codes": _rules(lambda key: key, rule),
        "transport": _rules(_transport_key, rule),
        "results": _rules(result_key, rule),
        "otherwise": rule,
        "circuit": _CIRCUIT,
        "budget": _BUDGET,
        "timeouts": _TIMEOUTS,
    }


_CIRCUIT = _table(
    {
        "failures": _whole,
        "break_duration": _seconds(),
        "max_break_duration": _seconds(),
        "half_open_probes": _whole,
        "failure_rate": _number(0.0, 1.0, positive=True),
        "window": _whole,
        "window_seconds": _seconds(positive=True),
        "min_calls": _whole,
        "trip_on_account_errors": _flag,
    }
)
_BUDGET = _table(
    {
        "total": _seconds(positive=True),
        "attempt_timeout": _seconds(positive=True),
        "retry_ratio": _number(0.0, 1.0),
        "min_retries_per_sec": _number(),
    }
)
_TIMEOUTS = _table(
    {
        "request": _seconds(positive=True),
        "thinking": _seconds(positive=True),
        "connect": _seconds(positive=True),
    }
)
_MERGED = _table({"description": _text, **_settings(partial=False)})
_FILE = _table(
    {
        "description": _text,
        **_settings(partial=False),
        "profiles": _profiles(_table(_settings(partial=True))),
    }
)


# -- parse, merge, build --------------------------------------------------------------------
def parse(text: str, source: str) -> dict[str, Any]:
    """Parse and validate a preset file's text; ``source`` names it in every error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source}: not valid TOML: arrays or tables nested too deeply") from None
    except ValueError as exc:  # an integer too long to convert
        raise PolicyError(f"{source}: not valid TOML: {shown(str(exc))}") from None
    try:
        _FILE("", data)
    except _Problem as exc:
        raise PolicyError(f"{source}: {exc}") from None
    return dict(data)


def _replaces(path: tuple[str, ...], overlay: object) -> bool:
    """A profile's rule that names an action replaces the base rule instead of merging into it."""
    in_rules = len(path) == 2 and path[0] in RULE_TABLES
    return (in_rules or path == ("otherwise",)) and (
        isinstance(overlay, str) or (isinstance(overlay, Mapping) and "action" in overlay)
    )


def merge(
    base: Mapping[str, Any], overlay: Mapping[str, Any], path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``base`` with ``overlay`` merged over it, table by table."""
    merged = {key: value for key, value in base.items() if key != "profiles"}
    for key, value in overlay.items():
        here = (*path, str(key))
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping) and not _replaces(here, value):
            merged[key] = merge(old, value, here)
        else:
            merged[key] = value
    return merged


def _build_rule(value: Any) -> Rule:
    spec: dict[str, Any] = {"action": value} if isinstance(value, str) else dict(value)
    action = spec.pop("action")
    if action == "fail":
        return Fail(**spec)
    if "backoff" in spec:
        spec["backoff"] = Backoff(**spec["backoff"])
    return Retry(**spec)


def build_policy(name: str, settings: Mapping[str, Any], source: str, profile: str) -> Policy:
    """Build the `Policy` described by ``settings`` merged for ``profile`` from file ``source``."""
    try:
        _MERGED("", settings)
    except _Problem as exc:
        raise PolicyError(f"{source}: profile {profile} (after merging): {exc}") from None
    kwargs: dict[str, Any] = {
        key: settings[key]
        for key in ("attempts", "max_retry_after", "retry_after", "retry_nested")
        if key in settings
    }
    if "backoff" in settings:
        kwargs["backoff"] = Backoff(**settings["backoff"])
    for table in RULE_TABLES:
        kwargs[table] = {key: _build_rule(rule) for key, rule in settings.get(table, {}).items()}
    if "otherwise" in settings:
        kwargs["otherwise"] = _build_rule(settings["otherwise"])
    try:
        return Policy(name=name, **kwargs)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None
