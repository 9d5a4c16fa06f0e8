"""The library's own errors.

Errors that come from the API are never replaced: the original exception is re-raised with a
note. These are for what only llm-retry knows::

    LLMRetryError
    ├── PolicyError            a policy, preset or override is invalid (also a ValueError)
    ├── CircuitOpenError       the call was not made: its circuit is open
    └── BudgetExhaustedError   the call was not made: its deadline or retry budget is spent
"""

from __future__ import annotations

__all__ = ["BudgetExhaustedError", "CircuitOpenError", "LLMRetryError", "PolicyError"]


class LLMRetryError(Exception):
    """Base class of every error raised by llm-retry itself."""


class PolicyError(LLMRetryError, ValueError):
    """A policy, preset file or override is invalid; the message says where and why."""


class CircuitOpenError(LLMRetryError):
    """The circuit is open, so the call was not made."""


class BudgetExhaustedError(LLMRetryError):
    """The deadline or retry budget ran out before the call could be made."""
