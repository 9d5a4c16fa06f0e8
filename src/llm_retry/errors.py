"""The library's own errors.

Errors that come from the API are never replaced: the original exception is re-raised with a
note. These are for what only llm-retry knows::

    LLMRetryError
    ├── PolicyError            a policy, preset or override is invalid (also a ValueError)
    ├── CircuitOpenError       the call was not made: its circuit is open
    ├── BudgetExhaustedError   the call was not made: its deadline or retry budget is spent
    ├── InvalidResultError     the call succeeded, but a ``validate=`` check rejected the result
    └── StreamEventError       a stream handed over an error event instead of raising it
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "BudgetExhaustedError",
    "CircuitOpenError",
    "InvalidResultError",
    "LLMRetryError",
    "PolicyError",
    "StreamEventError",
]


class LLMRetryError(Exception):
    """Base class of every error raised by llm-retry itself."""


class PolicyError(LLMRetryError, ValueError):
    """A policy, preset file or override is invalid; the message says where and why."""


class CircuitOpenError(LLMRetryError):
    """The circuit is open (or probing), so the call was not made.

    Attributes:
        name: the circuit's name.
        key: the per-key circuit's key, or ``None``.
        state: ``"open"`` or ``"half_open"`` (a probe is in flight).
        retry_in: seconds until a probe is allowed, or ``None`` while a probe is in flight.
        reason: why the circuit opened.

    ``__cause__`` is the failure that opened it, when this process saw it.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "",
        key: object = None,
        state: str = "open",
        retry_in: float | None = None,
        reason: str = "",
    ) -> None:
        super().__init__(message)
        self.name = name
        self.key = key
        self.state = state
        self.retry_in = retry_in
        self.reason = reason


class BudgetExhaustedError(LLMRetryError):
    """The deadline or retry budget ran out before the call could be made."""


class InvalidResultError(LLMRetryError):
    """A ``validate=`` check rejected what the call returned (a "bad 200": it was billed).

    Raised inside the retry loop, where the policy's ``results`` rules classify it, and to the
    caller when no attempt is left, with a note saying why.

    Attributes:
        result: the rejected result (the last one, when raised to the caller).
        reason: what the check said, ``"KIND: detail"`` (``"empty: ..."``, ``"truncated: ..."``).
        kind: the kind the policy's ``results`` rules are looked up by (``"invalid"`` when the
            reason names none).
    """

    def __init__(self, reason: str, result: object) -> None:
        super().__init__(f"the result was rejected: {reason}")
        self.reason = reason
        self.result = result
        kind = reason.partition(":")[0].strip()
        self.kind = kind if kind.isidentifier() and kind.islower() else "invalid"


_MAX_SUGGESTED = 64  # longer words are no typo of a name


def did_you_mean(word: object, choices: Iterable[object]) -> str:
    """``" (did you mean 'attempts'?)"`` when ``word`` is close to one of ``choices``, else ``""``.

    Put it right after the unknown name in a message about a key, a value, a preset, a
    profile or a command. A name differing only in case is the closest; otherwise difflib's.
    """
    if not isinstance(word, str) or len(word) > _MAX_SUGGESTED:  # a hostile value: no search
        return ""
    names = [str(choice) for choice in choices]
    close = [name for name in names if name.lower() == word.lower()]
    if not close:
        import difflib  # noqa: PLC0415 - only when a message needs it

        close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class StreamEventError(LLMRetryError):
    """An error event a stream yielded instead of raising it (the SDK's stream went on).

    The OpenAI Responses API's ``response.failed`` and ``error`` events arrive as ordinary
    items of a stream that began with a 200. llm-retry raises them, so they are classified like
    the HTTP error of the same type (``server_error`` as a 500, ``rate_limit_exceeded`` as a
    429), retried before the stream's first output and raised with a note after it.

    Attributes:
        body: ``{"error": {...}}``, the event's error object (``code``, ``type``, ``message``).
        event: the event itself.
    """

    def __init__(self, message: str, body: Mapping[str, object], event: object) -> None:
        super().__init__(message)
        self.body = body
        self.event = event
