"""Declarative retry policies: ``Policy``, ``Retry``, ``Fail`` and ``Backoff``.

A policy says, for every way a call can fail, whether to retry it and how long to wait. It is
data: immutable, validated when built, and pure to query. Rules are looked up by provider error
code first (OpenAI's 429 ``insufficient_quota`` is a billing failure, whatever its status says),
then exact HTTP status, then status class (``"5xx"``), then transport failure (``"timeout"``,
``"connection"``), then exception type, and finally ``otherwise``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from llm_retry.errors import PolicyError

from .values import MAX_SECONDS, check_number, shown

__all__ = [
    "CIRCUIT_EFFECTS",
    "JITTERS",
    "TRANSPORT_KINDS",
    "Backoff",
    "Fail",
    "Policy",
    "Retry",
    "Rule",
]

JITTERS = ("full", "equal", "none")
"""Jitter modes: ``full`` draws the wait from ``[0, ceiling]`` (AWS's "full jitter"), ``equal``
from ``[ceiling/2, ceiling]``, ``none`` waits exactly the ceiling."""

TRANSPORT_KINDS = ("timeout", "connection")
CIRCUIT_EFFECTS = ("failure", "ignore", "trip")
"""How a failure counts for a circuit breaker: as a ``failure``, not at all (``ignore``: the
provider answered, the request was at fault), or as an account-wide failure that opens the
circuit at once (``trip``: every call would fail the same way)."""
CircuitEffect = Literal["failure", "ignore", "trip"]
_STATUS_CLASS = re.compile(r"^[1-5]xx$")
_RESULT_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


def _seconds(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float of seconds, or raise ``PolicyError`` naming ``owner.name``."""
    return check_number(f"{owner}.{name}", value, maximum=MAX_SECONDS)


def _check_effect(owner: str, value: object) -> None:
    if value not in CIRCUIT_EFFECTS:
        raise PolicyError(
            f"{owner}.circuit must be one of {', '.join(CIRCUIT_EFFECTS)}, not {value!r}"
        )


def _check_attempts(owner: str, value: object) -> int:
    """Return ``value`` if it is a whole number of attempts >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PolicyError(f"{owner}.attempts must be a whole number >= 1, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: retry ``n`` (0-based) waits up to ``min(cap, base * multiplier**n)``.

    Args:
        base: seconds for the first retry's ceiling.
        cap: the largest ceiling, in seconds.
        multiplier: growth factor per retry (>= 1).
        jitter: ``"full"`` (default), ``"equal"`` or ``"none"``; see `JITTERS`.
    """

    base: float = 1.0
    cap: float = 30.0
    multiplier: float = 2.0
    jitter: str = "full"

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", _seconds("Backoff", "base", self.base))
        object.__setattr__(self, "cap", _seconds("Backoff", "cap", self.cap))
        object.__setattr__(
            self, "multiplier", check_number("Backoff.multiplier", self.multiplier, minimum=1)
        )
        if self.jitter not in JITTERS:
            raise PolicyError(
                f"Backoff.jitter must be one of {', '.join(JITTERS)}, not {self.jitter!r}"
            )

    def ceiling(self, retries: int) -> float:
        """The un-jittered wait before retry number ``retries`` (0 for the first retry)."""
        try:
            grown = self.base * self.multiplier**retries
        except OverflowError:
            grown = math.inf
        return min(self.cap, grown)

    def compute(self, retries: int, rand: float) -> float:
        """The wait before retry ``retries``, given a uniform draw ``rand`` in ``[0, 1)``."""
        ceiling = self.ceiling(retries)
        if self.jitter == "full":
            return ceiling * rand
        if self.jitter == "equal":
            return ceiling / 2 + ceiling / 2 * rand
        return ceiling


@dataclass(frozen=True, slots=True)
class Retry:
    """Retry this kind of failure.

    Args:
        reason: what the failure means, for events and notes ("server overloaded").
        attempts: total attempts allowed when the latest failure is of this kind; defaults to
            the policy's. DeepSeek's 500 is retried "a limited number of times": ``attempts=3``.
        backoff: a backoff for this kind of failure instead of the policy's.
        retry_after: honour the server's wait hint (``retry-after-ms``, ``Retry-After``) as a
            floor under the backoff.
        circuit: how the failure counts for ``@circuit`` (see `CIRCUIT_EFFECTS`); a retryable
            failure is an outage signal by default, but a rate limit (429) usually is not.
    """

    reason: str = ""
    attempts: int | None = None
    backoff: Backoff | None = None
    retry_after: bool = True
    circuit: CircuitEffect = "failure"
    action: Literal["retry"] = field(default="retry", init=False, repr=False)

    def __post_init__(self) -> None:
        _check_effect("Retry", self.circuit)
        if self.attempts is not None:
            _check_attempts("Retry", self.attempts)
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise PolicyError(f"Retry.backoff must be a Backoff, not {self.backoff!r}")


@dataclass(frozen=True, slots=True)
class Fail:
    """Do not retry this kind of failure: raise it at once.

    Args:
        reason: what the failure means ("insufficient balance").
        fix: what a person must do about it ("top up the account balance").
        circuit: how the failure counts for ``@circuit``: ``ignore`` by default (the request
            was at fault, the provider is up); ``trip`` for account-wide failures (401, 402,
            ``insufficient_quota``) that every call would hit.
    """

    reason: str = ""
    fix: str = ""
    circuit: CircuitEffect = "ignore"
    action: Literal["fail"] = field(default="fail", init=False, repr=False)

    def __post_init__(self) -> None:
        _check_effect("Fail", self.circuit)


Rule = Retry | Fail
"""What a policy says about one kind of failure."""

INVALID_RESULT = Retry("the response failed validation", attempts=3, circuit="ignore")
"""The rule for a rejected result when the policy has none: a bad 200 was billed, so it gets
fewer attempts than an outage; the provider answered, so it is no outage signal for a circuit."""


def _frozen_rules(owner: str, rules: Mapping[Any, object], key: Any) -> Mapping[Any, Rule]:
    """Validate a rule table and return it as a read-only mapping with normalised keys."""
    if not isinstance(rules, Mapping):
        raise PolicyError(f"Policy.{owner} must be a mapping, not {rules!r}")
    table: dict[Any, Rule] = {}
    for raw, rule in rules.items():
        name = key(raw)
        if not isinstance(rule, (Retry, Fail)):
            raise PolicyError(
                f"Policy.{owner}[{raw!r}] must be Retry(...) or Fail(...), not {rule!r}"
            )
        table[name] = rule
    return MappingProxyType(table)


def status_key(raw: object) -> int | str:
    """Normalise a status rule key: ``429``, ``"429"`` or a class like ``"5xx"``."""
    if isinstance(raw, str) and _STATUS_CLASS.match(raw.lower()):
        return raw.lower()
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():  # not "٤٢٩" or "²"
        raw = int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool) and 100 <= raw <= 599:
        return raw
    raise PolicyError(
        f"status {shown(raw)} is not an HTTP status (100-599) or a status class like '5xx'"
    )


def _transport_key(raw: object) -> str:
    if raw not in TRANSPORT_KINDS:
        raise PolicyError(f"transport {raw!r} is not one of {', '.join(TRANSPORT_KINDS)}")
    return str(raw)


def _code_key(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise PolicyError(f"error code {raw!r} must be a non-empty string")
    return raw


def result_key(raw: object) -> str:
    """Normalise a result rule key: a kind of invalid result, like ``"empty"``."""
    if not isinstance(raw, str) or not _RESULT_KIND.match(raw):
        raise PolicyError(
            f"result kind {raw!r} must be a lower-case word like 'empty' or 'truncated'"
        )
    return raw


def _exception_key(raw: object) -> type[BaseException]:
    if not (isinstance(raw, type) and issubclass(raw, BaseException)):
        raise PolicyError(f"exception rule key {raw!r} must be an exception class")
    return raw


_TABLES = {
    "statuses": status_key,
    "codes": _code_key,
    "transport": _transport_key,
    "exceptions": _exception_key,
    "results": result_key,
}


@dataclass(frozen=True)
class Policy:
    """How to classify failures and how long to wait between attempts.

    Args:
        name: shown in events and notes.
        statuses: rules by exact status (``429``) or status class (``"5xx"``).
        codes: rules by provider error code or type found in the error body
            (``"insufficient_quota"``, ``"overloaded_error"``); these beat status rules.
        transport: rules for ``"timeout"`` and ``"connection"`` failures.
        exceptions: rules by exception class (checked with ``isinstance``, in order).
        results: rules for results a ``validate=`` check rejected ("bad 200s"), by the kind the
            check names (``"empty"``, ``"truncated"``, ``"unparseable"``); ``"invalid"`` is the
            rule for any other kind, else `INVALID_RESULT`.
        otherwise: the rule for anything no other rule matches.
        attempts: total attempts, the first included.
        backoff: the default backoff.
        max_retry_after: the longest server wait hint to honour, in seconds. A longer hint means
            give up now (as the OpenAI SDK does past 120 s), never a long sleep. A longer hint
            from a rate-limit reset header (a softer hint) is dropped instead.
        retry_after: honour server wait hints at all (the ``test`` profiles turn this off so
            that nothing waits).
        retry_nested: also retry an error that an inner ``@llm_retry`` (in a function this one
            calls) already gave up on. Off by default: retrying at every layer multiplies the
            requests (3 attempts at each of 4 layers make 81).
    """

    name: str = "custom"
    statuses: Mapping[int | str, Rule] = field(default_factory=dict)
    codes: Mapping[str, Rule] = field(default_factory=dict)
    transport: Mapping[str, Rule] = field(default_factory=dict)
    exceptions: Mapping[type[BaseException], Rule] = field(default_factory=dict)
    results: Mapping[str, Rule] = field(default_factory=dict)
    otherwise: Rule = Fail("no rule in the policy matches this error")
    attempts: int = 5
    backoff: Backoff = Backoff()
    max_retry_after: float = 120.0
    retry_after: bool = True
    retry_nested: bool = False

    def __post_init__(self) -> None:
        for table, key in _TABLES.items():
            object.__setattr__(self, table, _frozen_rules(table, getattr(self, table), key))
        if not isinstance(self.otherwise, (Retry, Fail)):
            raise PolicyError(
                f"Policy.otherwise must be Retry(...) or Fail(...), not {self.otherwise!r}"
            )
        _check_attempts("Policy", self.attempts)
        if not isinstance(self.backoff, Backoff):
            raise PolicyError(f"Policy.backoff must be a Backoff, not {self.backoff!r}")
        object.__setattr__(
            self,
            "max_retry_after",
            _seconds("Policy", "max_retry_after", self.max_retry_after),
        )
        if not isinstance(self.retry_after, bool):
            raise PolicyError(f"Policy.retry_after must be true or false, not {self.retry_after!r}")
        if not isinstance(self.retry_nested, bool):
            raise PolicyError(
                f"Policy.retry_nested must be true or false, not {self.retry_nested!r}"
            )

    def __hash__(self) -> int:
        tables = tuple(tuple(getattr(self, t).items()) for t in _TABLES)
        return hash((self.name, tables, self.otherwise, self.attempts, self.backoff))

    def evolve(self, **changes: Any) -> Policy:
        """A new policy with ``changes``: rule tables are merged key by key, the rest replaced.

        Raises:
            PolicyError: for an unknown field or an invalid value.
        """
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise PolicyError(
                f"unknown policy setting {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        for table in _TABLES:
            if table in changes:
                changes[table] = {**getattr(self, table), **changes[table]}
        return dataclasses.replace(self, **changes)

    def rule_for_codes(self, codes: tuple[str, ...]) -> tuple[str, Rule] | None:
        """The first of ``codes`` that has a rule, with that rule."""
        for code in codes:
            rule = self.codes.get(code)
            if rule is not None:
                return code, rule
        return None

    def rule_for_status(self, status: int) -> tuple[int | str, Rule] | None:
        """The exact status rule, else the status class rule, with the key that matched."""
        for key in (status, f"{status // 100}xx"):
            rule = self.statuses.get(key)
            if rule is not None:
                return key, rule
        return None

    def rule_for_exception(self, exc: BaseException) -> tuple[str, Rule] | None:
        """The first exception-class rule that ``exc`` is an instance of."""
        for cls, rule in self.exceptions.items():
            if isinstance(exc, cls):
                return cls.__name__, rule
        return None

    def rule_for_result(self, kind: str) -> tuple[str, Rule]:
        """The rule for a rejected result of ``kind``: its own, else ``invalid``'s, else default."""
        for key in (kind, "invalid"):
            rule = self.results.get(key)
            if rule is not None:
                return key, rule
        return "invalid", INVALID_RESULT
