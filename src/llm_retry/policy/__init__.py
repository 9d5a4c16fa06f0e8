"""What users declare: rules and policies, the TOML schema, preset files and profiles.

The rule objects are re-exported here, so ``from llm_retry.policy import Policy`` keeps working.
"""

from __future__ import annotations

from . import rules
from .rules import *  # noqa: F403 - the rules' public names, listed once in rules.__all__

__all__ = rules.__all__
