"""What users declare: rules and policies, the TOML schema, preset files and profiles.

The rule objects are re-exported here, so ``from llm_retry.policy import Policy`` keeps working.
"""

from __future__ import annotations

from .rules import CIRCUIT_EFFECTS, JITTERS, TRANSPORT_KINDS, Backoff, Fail, Policy, Retry, Rule

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
