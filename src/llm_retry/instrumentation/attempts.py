"""One record per attempt of a call that needed the retry loop, for hooks that trace attempts.

The engine calls `report_attempt` as each attempt of a retried call ends (the first one
included, once it has failed). A hook with an ``attempt`` method (`OpenTelemetryHook` when
``spans=True``) gets an `Attempt`: a span per attempt, with the exception, is drawn from it.
Nothing is built unless such a hook is installed, and a first attempt that succeeds never gets
here: the happy path stays free (the HTTP client's own instrumentation still traces it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from llm_retry.run import clock as _clock

__all__ = ["Attempt", "attempt_hooks", "report_attempt"]

if TYPE_CHECKING:  # a Protocol class costs more to build at import than the rest of the module

    class _Run(Protocol):
        """What `report_attempt` reads from the engine's run (`llm_retry.run.engine.RetryRun`)."""

        name: str
        attempts: int
        attempt_start: float

        @property
        def policy(self) -> Any: ...

        @property
        def decision(self) -> Any: ...


class Attempt:
    """One attempt of a call, as it ended.

    Attributes:
        callable: the decorated function's qualified name.
        policy: the policy's name.
        number: 1 for the first attempt.
        start: when it began, in seconds since the epoch (virtual under ``no_wait``).
        end: when it ended, likewise.
        error: the exception it raised, or ``None`` when it succeeded.
        status: the HTTP status of the failure, if any.
        error_type: the exception's qualified type name, as events name it.
        classification: ``"retry"`` or ``"fail"`` for a failure, ``None`` for a success.
        reason: why it was classified so.
    """

    # A plain class, not a dataclass: this module is imported with the package, and
    # dataclasses (with inspect) would cost more at import than the whole package's own code.
    __slots__ = (
        "callable",
        "classification",
        "end",
        "error",
        "error_type",
        "number",
        "policy",
        "reason",
        "start",
        "status",
    )

    def __init__(
        self, name: str, policy: str, number: int, span: tuple[float, float], **details: Any
    ) -> None:
        self.callable, self.policy, self.number = name, policy, number
        self.start, self.end = span
        self.error: BaseException | None = details.get("error")
        self.status: int | None = details.get("status")
        self.error_type: str | None = details.get("error_type")
        self.classification: str | None = details.get("classification")
        self.reason: str | None = details.get("reason")

    def __repr__(self) -> str:
        return f"Attempt({self.callable!r}, {self.number}, error={self.error!r})"


def attempt_hooks() -> list[Callable[[Attempt], None]]:
    """The ``attempt`` methods of the hooks in use."""
    from llm_retry.instrumentation import get_hooks  # noqa: PLC0415 - the package imports us

    found = (getattr(hook, "attempt", None) for hook in get_hooks())
    return [method for method in found if callable(method)]


def _type_name(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__module__}.{type(error).__qualname__}"


def report_attempt(run: _Run, error: BaseException | None) -> None:
    """Hand the attempt that just ended to every hook that traces attempts."""
    hooks = attempt_hooks()
    if not hooks:
        return
    now, wall = _clock.now(), _clock.wall()
    decision = run.decision if error is not None else None
    attempt = Attempt(
        run.name,
        run.policy.name,
        run.attempts,
        (wall - (now - run.attempt_start), wall),
        error=error,
        status=getattr(decision, "status", None),
        error_type=getattr(decision, "error", None) or _type_name(error),
        classification=getattr(decision, "action", None),
        reason=getattr(decision, "reason", None),
    )
    from llm_retry.instrumentation import report_failure  # noqa: PLC0415

    for hook in hooks:
        try:
            hook(attempt)
        except Exception:  # noqa: BLE001 - tracing must never break a call
            report_failure(hook)
