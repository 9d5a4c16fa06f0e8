"""Presets and profiles (public path); the implementation lives in `llm_retry.policy.presets`."""

from __future__ import annotations

from .policy.presets import (
    PROFILES,
    Preset,
    available_presets,
    clear_cache,
    current_profile,
    get_preset,
    load_preset,
    preset_source,
    use_profile,
)

__all__ = [
    "PROFILES",
    "Preset",
    "available_presets",
    "clear_cache",
    "current_profile",
    "get_preset",
    "load_preset",
    "preset_source",
    "use_profile",
]
