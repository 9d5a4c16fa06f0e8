"""Presets: policies kept as TOML files, one per provider, with ``dev``/``test``/``prod`` profiles.

Shipped presets live in ``policies/`` (installed as ``llm_retry.policies``, read through
``importlib.resources`` so they work from a wheel); folders named in ``LLM_RETRY_POLICIES``
(``os.pathsep``-separated) are searched first, so a user's ``openai.toml`` replaces ours.

The active profile is resolved when a call needs its policy, never at decoration time:
`use_profile`, else ``LLM_RETRY_PROFILE``, else ``prod``. Each (preset, profile) policy is built
once and cached, so a resolution costs a dictionary lookup.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from llm_retry.errors import PolicyError

from . import schema as _schema
from .rules import Policy

__all__ = [
    "PROFILES",
    "Preset",
    "available_presets",
    "current_profile",
    "load_preset",
    "preset_source",
    "use_profile",
]

PROFILES = ("dev", "test", "prod")
"""The profile names a preset file may define, and `use_profile` accepts."""
PROFILE_ENV = "LLM_RETRY_PROFILE"
POLICIES_ENV = "LLM_RETRY_POLICIES"
DEFAULT_PROFILE = "prod"

_profile_override: str | None = None
_lock = threading.Lock()
_presets: dict[str, Preset] = {}
_policies: dict[tuple[str, str], Policy] = {}


def current_profile() -> str:
    """The active profile: `use_profile`'s, else ``$LLM_RETRY_PROFILE``, else ``prod``."""
    name = _profile_override or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILES:
        raise PolicyError(
            f"unknown profile {name!r} (from {PROFILE_ENV}); known: {', '.join(PROFILES)}"
        )
    return name


@contextmanager
def _restoring(previous: str | None) -> Iterator[None]:
    try:
        yield
    finally:
        _set_profile(previous)


def _set_profile(name: str | None) -> None:
    global _profile_override  # noqa: PLW0603 - one process-wide switch, like stamina's
    _profile_override = name


def use_profile(name: str | None) -> AbstractContextManager[None]:
    """Make ``name`` the active profile for every later call (``None``: back to the environment).

    Returns a context manager that restores the previous choice, so both forms work::

        use_profile("dev")
        with use_profile("test"):
            ...
    """
    if name is not None and name not in PROFILES:
        raise PolicyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    previous = _profile_override
    _set_profile(name)
    return _restoring(previous)


@dataclass(frozen=True)
class Preset:
    """One preset file, validated: its policy per profile and its other sections."""

    name: str
    source: str
    description: str
    data: Mapping[str, Any]

    def settings(self, profile: str) -> dict[str, Any]:
        """The file's values with ``profile``'s overlay merged over them."""
        if profile not in PROFILES:
            raise PolicyError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
        overlay = self.data.get("profiles", {}).get(profile, {})
        return _schema.merge(self.data, overlay)

    def policy(self, profile: str) -> Policy:
        """The policy for ``profile``."""
        return _schema.build_policy(self.name, self.settings(profile), self.source, profile)

    def section(self, name: str, profile: str) -> dict[str, Any]:
        """A non-policy section (``circuit``, ``budget``, ``timeouts``) for ``profile``."""
        return dict(self.settings(profile).get(name, {}))


def _user_dirs() -> list[Path]:
    raw = os.environ.get(POLICIES_ENV, "")
    return [Path(part) for part in raw.split(os.pathsep) if part]


def _files() -> dict[str, tuple[str, Callable[[], str]]]:
    """Preset name -> (source description, reader), user folders first."""
    found: dict[str, tuple[str, Callable[[], str]]] = {}
    for folder in _user_dirs():
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, (str(path), path.read_text))
    shipped = resources.files("llm_retry.policies")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name.removesuffix(".toml")
            found.setdefault(name, (f"llm_retry/policies/{entry.name}", entry.read_text))
    return found


def available_presets() -> dict[str, str]:
    """Every preset name with the file it comes from."""
    return {name: source for name, (source, _) in sorted(_files().items())}


def _load(name: str) -> Preset:
    files = _files()
    if name not in files:
        raise PolicyError(f"unknown preset {name!r}; presets: {', '.join(sorted(files))}")
    source, read = files[name]
    data = _schema.parse(read(), source)
    return Preset(name, source, str(data.get("description", "")), data)


def get_preset(name: str) -> Preset:
    """The validated preset ``name`` (cached)."""
    preset = _presets.get(name)
    if preset is None:
        with _lock:
            preset = _presets.get(name) or _load(name)
            for profile in PROFILES:  # a file is valid only if every profile builds
                preset.policy(profile)
            _presets[name] = preset
    return preset


def load_preset(name: str, profile: str | None = None) -> Policy:
    """The policy of preset ``name`` under ``profile`` (default: the active profile).

    Raises:
        PolicyError: for an unknown preset or profile, or a malformed file (naming the file, the
            key and the problem).
    """
    key = (name, profile or current_profile())
    policy = _policies.get(key)
    if policy is None:
        policy = _policies[key] = get_preset(name).policy(key[1])
    return policy


def clear_cache() -> None:
    """Forget loaded presets (after editing a file or changing ``LLM_RETRY_POLICIES``)."""
    with _lock:
        _presets.clear()
        _policies.clear()


def preset_source(name: str, overrides: Mapping[str, Any]) -> Callable[[], Policy]:
    """A function returning the preset's policy for the profile active when it is called.

    The preset and the overrides are checked now, under every profile, so a typo fails at
    decoration time rather than on the first error in production.
    """
    for profile in PROFILES:
        load_preset(name, profile).evolve(**overrides)
    if not overrides:
        return lambda: load_preset(name)
    built: dict[str, tuple[Policy, Policy]] = {}

    def source() -> Policy:
        profile = current_profile()
        base = load_preset(name, profile)
        cached = built.get(profile)
        if cached is None or cached[0] is not base:
            cached = built[profile] = (base, base.evolve(**overrides))
        return cached[1]

    return source
