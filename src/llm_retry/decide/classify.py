"""Classification without I/O: ``(outcome, policy) -> Decision``.

A `Decision` is everything the drivers, the events and the notes need to know about one
attempt's outcome: whether to retry, which rule said so and why, and what the server asked for.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from llm_retry.errors import CircuitOpenError, InvalidResultError
from llm_retry.policy import Fail, Policy, Retry, Rule

from .adapters import ErrorInfo, error_info
from .headers import NO_HINT, ServerHint, server_hint

__all__ = ["NEVER_RETRIED", "Decision", "classify"]

NEVER_RETRIED = Fail("cancellation and interpreter exits are never retried")
STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""The status a provider error type stands for. An error without an HTTP status (one raised
mid-stream: openai's status-less ``APIError``, anthropic's ``APIStatusError`` carrying the stream's
200) is matched by the status rules as that status when no code rule matches it."""
CIRCUIT_OPEN = Retry("circuit open: wait for its probe", circuit="ignore")
_SUCCESS = Retry("success")


@dataclass(frozen=True, slots=True)
class Decision:
    """The classification of one attempt's outcome.

    Attributes:
        action: ``"retry"``, ``"fail"`` or ``"success"``.
        rule: the policy rule that decided.
        matched: which rule key matched (``"code insufficient_quota"``, ``"status 429"``,
            ``"status class 5xx"``, ``"transport timeout"``, ``"exception ValueError"``,
            ``"otherwise"``).
        error: the exception's type, qualified by its top-level module (``openai.RateLimitError``).
        status: the HTTP status, if any.
        code: the provider error code that matched, else the most specific one found.
        hint: the server's wait hint and any headers that were ignored.
        request_id: the provider's request id, if any.
        transport: ``"timeout"`` or ``"connection"`` for a transport failure.
    """

    action: Literal["retry", "fail", "success"]
    rule: Rule
    matched: str
    error: str = ""
    status: int | None = None
    code: str | None = None
    hint: ServerHint = NO_HINT
    request_id: str | None = None
    transport: str | None = None

    @property
    def reason(self) -> str:
        """The rule's reason, or the key that matched when the rule gives none."""
        return self.rule.reason or self.matched

    def describe(self) -> str:
        """One line for notes and the CLI: ``status 429: rate limited (retry, rule ...)``."""
        parts = [
            f"{name} {value}"
            for name, value in (("status", self.status), ("code", self.code))
            if value is not None
        ]
        subject = ", ".join(parts) or self.error
        text = f"{subject}: {self.reason} ({self.action}, rule {self.matched})"
        if isinstance(self.rule, Fail) and self.rule.fix:
            text += f"; fix: {self.rule.fix}"
        return text


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    top = str(getattr(cls, "__module__", None) or "?").partition(".")[0]
    return cls.__name__ if top == "builtins" else f"{top}.{cls.__name__}"


def _error_status(info: ErrorInfo) -> int | None:
    """The failure's HTTP status, or ``None`` for a 2xx (an error event inside a 200 stream)."""
    return None if info.status is None or 200 <= info.status < 300 else info.status


def _status_rule(info: ErrorInfo, policy: Policy) -> tuple[str, Rule] | None:
    """The status rule for a failure, by its status or, without one, by its error type."""
    status, source = _error_status(info), ""
    if status is None:
        code = next((c for c in info.codes if c in STATUS_OF_TYPE), None)
        if code is None:
            return None
        status, source = STATUS_OF_TYPE[code], f" (from type {code})"
    by_status = policy.rule_for_status(status)
    if by_status is None:
        return None
    key = by_status[0]
    label = f"status {key}" if isinstance(key, int) else f"status class {key}"
    return label + source, by_status[1]


def _match(info: ErrorInfo, exc: BaseException, policy: Policy) -> tuple[str, Rule, str | None]:
    """The rule for a failure, in precedence order, with the key that matched and the code."""
    by_code = policy.rule_for_codes(info.codes)
    if by_code is not None:
        return f"code {by_code[0]}", by_code[1], by_code[0]
    by_status = _status_rule(info, policy)
    if by_status is not None:
        return by_status[0], by_status[1], info.code
    if info.transport is not None:
        rule = policy.transport.get(info.transport)
        if rule is not None:
            return f"transport {info.transport}", rule, info.code
    by_type = policy.rule_for_exception(exc)
    if by_type is not None:
        return f"exception {by_type[0]}", by_type[1], info.code
    return "otherwise", policy.otherwise, info.code


def _circuit_open(error: CircuitOpenError, policy: Policy) -> Decision:
    """An open circuit below the retry layer: wait for its probe time (or as a rule says).

    The wait is a floor like a server's Retry-After, so retries are not spent against a
    circuit that will reject them; a probe time past ``max_retry_after`` means give up now.
    """
    by_type = policy.rule_for_exception(error)
    rule = by_type[1] if by_type else CIRCUIT_OPEN
    hint = NO_HINT if error.retry_in is None else ServerHint(error.retry_in, "circuit")
    return Decision(
        action=rule.action,
        rule=rule,
        matched=f"circuit {error.name} {error.state.replace('_', '-')}",
        error=_type_name(error),
        hint=hint if isinstance(rule, Retry) else NO_HINT,
    )


def _invalid_result(error: InvalidResultError, policy: Policy) -> Decision:
    """A result a ``validate=`` check rejected, by the policy's ``results`` rule for its kind."""
    key, rule = policy.rule_for_result(error.kind)
    return Decision(action=rule.action, rule=rule, matched=f"result {key}", error="invalid result")


def _soft_capped(hint: ServerHint, policy: Policy) -> ServerHint:
    """A rate-limit reset hint past ``max_retry_after`` is dropped (with why): backoff decides.

    Unlike ``Retry-After``, a reset header does not ask the client to stay away, so a long one
    is no reason to give up (Envoy drops its reset headers past ``max_interval`` the same way).
    """
    if not hint.soft or hint.seconds is None or hint.seconds <= policy.max_retry_after:
        return hint
    why = (
        f"{hint.source} ignored: {hint.seconds:.4g} s is past max_retry_after "
        f"{policy.max_retry_after:g} s, so the backoff decides"
    )
    return ServerHint(ignored=(*hint.ignored, why))


def _hint(headers: Mapping[str, str] | None, now: float) -> ServerHint:
    """The server's wait hint, or none (with why) when reading the headers raises."""
    try:
        return server_hint(headers, now=now)
    except Exception as exc:  # noqa: BLE001 - a user's headers mapping may raise anything
        return ServerHint(ignored=(f"headers unreadable: {type(exc).__name__}",))


_recent = threading.local()  # the last failure classified in this thread, and its decision


def classify(outcome: object, policy: Policy, *, now: float) -> Decision:
    """Classify an attempt's outcome under ``policy``.

    A failure is classified once: a ``@circuit`` below ``@llm_retry`` and the retry loop see the
    same exception one after the other, and the second asks get the first's `Decision`.

    Args:
        outcome: the exception the attempt raised, or the value it returned.
        policy: the rules.
        now: wall-clock time (``time.time()``), to read HTTP-date ``Retry-After`` headers.
    """
    if not isinstance(outcome, BaseException):
        return Decision("success", _SUCCESS, "success")
    seen = getattr(_recent, "seen", None)
    if seen is not None and seen[0]() is outcome and seen[1] is policy:
        decision: Decision = seen[2]
        return decision
    decision = _classify(outcome, policy, now)
    try:
        _recent.seen = (weakref.ref(outcome), policy, decision)
    except TypeError:  # built-in exception types take no weak reference: not remembered
        _recent.seen = None
    return decision


def _classify(outcome: BaseException, policy: Policy, now: float) -> Decision:
    if not isinstance(outcome, Exception):
        return Decision("fail", NEVER_RETRIED, "never retried", _type_name(outcome))
    if isinstance(outcome, CircuitOpenError):
        return _circuit_open(outcome, policy)
    if isinstance(outcome, InvalidResultError):
        return _invalid_result(outcome, policy)
    info = error_info(outcome)
    matched, rule, code = _match(info, outcome, policy)
    hint = _soft_capped(_hint(info.headers, now), policy) if isinstance(rule, Retry) else NO_HINT
    return Decision(
        action=rule.action,
        rule=rule,
        matched=matched,
        error=_type_name(outcome),
        status=info.status,
        code=code,
        hint=hint,
        request_id=info.request_id,
        transport=info.transport,
    )
