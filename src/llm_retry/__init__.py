"""llm-retry: make calls to LLM APIs survive rate limits, overloads and outages.

Decorate the functions that already call an SDK::

    from llm_retry import llm_retry

    @llm_retry(preset="deepseek")
    def ask(prompt: str) -> str: ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .block import retrying
from .budget import attempt_timeout, budget, remaining
from .circuit import Circuit, CircuitSnapshot, circuit
from .errors import (
    BudgetExhaustedError,
    CircuitOpenError,
    InvalidResultError,
    LLMRetryError,
    PolicyError,
)
from .fallback import fallback
from .policy import Backoff, Fail, Policy, Retry
from .policy.presets import current_profile, load_preset, use_profile
from .policy.timeouts import Timeouts, timeouts
from .retry import llm_retry

__all__ = [
    "Backoff",
    "BudgetExhaustedError",
    "Circuit",
    "CircuitOpenError",
    "CircuitSnapshot",
    "Fail",
    "InvalidResultError",
    "LLMRetryError",
    "Policy",
    "PolicyError",
    "Retry",
    "Timeouts",
    "attempt_timeout",
    "budget",
    "circuit",
    "current_profile",
    "fallback",
    "llm_retry",
    "load_preset",
    "remaining",
    "retrying",
    "timeouts",
    "use_profile",
]


if TYPE_CHECKING:  # type checkers see one more attribute, and a misspelt name stays an error
    __version__: str
else:

    def __getattr__(name: str) -> str:
        """``__version__``, read from the installed metadata only when asked for."""
        if name == "__version__":
            from importlib.metadata import version  # noqa: PLC0415 - only when asked

            return version("llm-retry")
        raise AttributeError(f"module 'llm_retry' has no attribute {name!r}")
