"""Presets: policies kept as TOML files, one per provider, with profiles.

Shipped presets live in ``policies/`` (installed as ``llm_retry.policies``, read through
``importlib.resources`` so they work from a wheel); folders named in ``LLM_RETRY_POLICIES``
(``os.pathsep``-separated) are searched first, so a user's ``openai.toml`` replaces ours.

The active profile is resolved when a call needs its policy, never at decoration time:
`use_profile`, else ``LLM_RETRY_PROFILE``, else ``prod``. Each (preset, profile) policy is built
once and cached, so a resolution costs a dictionary lookup.

Profiles: ``dev``, ``test`` and ``prod`` ship with every preset, and a preset file may define
any other (``[profiles.staging]``), as resilience4j's named configurations. A preset without an
overlay for the active profile uses its base settings. An unknown name is never silent:
`use_profile` and an explicit ``profile=`` raise `PolicyError` with "did you mean"; a mistyped
``LLM_RETRY_PROFILE`` (read at call time) gives one ``llm_retry.profile_unknown`` warning per
name, and calls go on under the presets' base settings (see docs/presets.md for why).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

from llm_retry.errors import PolicyError
from llm_retry.events import emit

from . import schema as _schema
from .files import decode, reader
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
"""The profiles every preset has; a preset file may define more (`Preset.profiles`)."""
PROFILE_ENV = "LLM_RETRY_PROFILE"
POLICIES_ENV = "LLM_RETRY_POLICIES"
DEFAULT_PROFILE = "prod"

_profile_override: str | None = None
_lock = threading.Lock()
_presets: dict[str, Preset] = {}
_policies: dict[tuple[str, str], Policy] = {}
_known: list[tuple[str, ...]] = []  # every profile name any preset file defines, once computed
_checked: set[str] = set()  # LLM_RETRY_PROFILE names already checked (and reported if unknown)


def known_profiles() -> tuple[str, ...]:
    """``dev``, ``test``, ``prod`` and every other profile a readable preset file defines."""
    if not _known:
        names = dict.fromkeys(PROFILES)
        for preset in available_presets():
            try:
                names.update(dict.fromkeys(get_preset(preset).profiles))
            except PolicyError:  # a broken file is reported when it is used
                continue
        _known[:] = [tuple(names)]
    return _known[0]


def _unknown(name: object, origin: str = "") -> str | None:
    """Why ``name`` is not a profile (with "did you mean"), or ``None`` if it is one."""
    if name in PROFILES:
        return None
    known = known_profiles()
    if name in known:
        return None
    text = str(name)
    close = [k for k in known if k.lower() == text.lower()]
    if not close:
        import difflib  # noqa: PLC0415 - only for a name that is already wrong

        close = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown profile {text!r}{origin}{hint}; known: {', '.join(known)}"


def check_profile(name: str) -> str:
    """``name`` if it is a profile, else a `PolicyError` saying which ones are known."""
    problem = _unknown(name)
    if problem is not None:
        raise PolicyError(problem)
    return name


def _warn_unknown(name: str) -> None:
    """Report a mistyped ``LLM_RETRY_PROFILE`` once per name: calls use the base settings."""
    problem = _unknown(name, f" (from {PROFILE_ENV})")
    with _lock:
        if name in _checked:
            return
        _checked.add(name)
    if problem is None:
        return
    emit(
        "llm_retry.profile_unknown",
        "warning",
        profile=name,
        problem=problem,
        using="the presets' base settings (no profile overlay)",
    )


def current_profile() -> str:
    """The active profile: `use_profile`'s, else ``$LLM_RETRY_PROFILE``, else ``prod``.

    An ``LLM_RETRY_PROFILE`` that names no profile is returned as it is (presets then use their
    base settings), after one ``llm_retry.profile_unknown`` warning for that name.
    """
    if _profile_override is not None:
        return _profile_override
    name = os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    if name not in PROFILES and name not in _checked:
        _warn_unknown(name)
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
    if name is not None:
        check_profile(name)
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

    @property
    def profiles(self) -> tuple[str, ...]:
        """``dev``, ``test``, ``prod`` and the other profiles this file defines."""
        return tuple(dict.fromkeys((*PROFILES, *self.data.get("profiles", {}))))

    def settings(self, profile: str) -> dict[str, Any]:
        """The file's values with ``profile``'s overlay merged over them (none: the base)."""
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
            found.setdefault(path.stem, (str(path), reader(path)))
    shipped = resources.files("llm_retry.policies")
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name.removesuffix(".toml")
            source = f"llm_retry/policies/{entry.name}"
            found.setdefault(name, (source, partial(_shipped, entry, source)))
    return found


def _shipped(entry: Any, source: str) -> str:  # an importlib.resources Traversable
    return decode(entry.read_bytes(), source)


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
            for profile in preset.profiles:  # a file is valid only if every profile builds
                preset.policy(profile)
            _presets[name] = preset
    return preset


def load_preset(name: str, profile: str | None = None) -> Policy:
    """The policy of preset ``name`` under ``profile`` (default: the active profile).

    Raises:
        PolicyError: for an unknown preset or profile, or a malformed file (naming the file, the
            key and the problem).
    """
    key = (name, current_profile() if profile is None else check_profile(profile))
    policy = _policies.get(key)
    if policy is None:
        policy = _policies[key] = get_preset(name).policy(key[1])
    return policy


def clear_cache() -> None:
    """Forget loaded presets (after editing a file or changing ``LLM_RETRY_POLICIES``)."""
    with _lock:
        _presets.clear()
        _policies.clear()
        _known.clear()
        _checked.clear()


def preset_source(name: str, overrides: Mapping[str, Any]) -> Callable[[], Policy]:
    """A function returning the preset's policy for the profile active when it is called.

    The preset and the overrides are checked now, under every profile, so a typo fails at
    decoration time rather than on the first error in production.
    """
    for profile in get_preset(name).profiles:
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
