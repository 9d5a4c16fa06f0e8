"""Client timeouts from a preset's ``[timeouts]`` section, for the SDK's ``timeout=``.

A slow answer is not always a failure: DeepSeek queues requests under load instead of answering
429, and thinking-mode requests "can legitimately take 30-120 seconds". The deepseek preset
bounds a request at 180 s, a thinking one at 300 s. A timeout is then a transport failure that
the presets retry with backoff, and its ``attempt_failed`` event says the request may still
complete on the server and bill.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .presets import check_profile, current_profile, get_preset

__all__ = ["DEFAULT_CONNECT", "DEFAULT_REQUEST", "Timeouts", "timeouts"]

DEFAULT_REQUEST = 600.0
"""The read timeout when a preset sets none: the openai and anthropic SDKs' default."""
DEFAULT_CONNECT = 5.0
"""The connect timeout when a preset sets none: the SDKs' default."""


def _http_module() -> ModuleType:
    """The HTTP library in use: ``httpx2`` (openai 3, anthropic 1+), else ``httpx``."""
    for name in ("httpx2", "httpx"):
        if name in sys.modules:
            return sys.modules[name]
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("Timeouts.httpx() needs httpx2 or httpx")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """A preset's client timeouts, in seconds.

    Attributes:
        read: the longest wait for the answer (``thinking`` in thinking mode, else ``request``).
        connect: the longest wait to connect.
    """

    read: float
    connect: float

    @property
    def seconds(self) -> float:
        """``read``, for an SDK's ``timeout=`` (a number applies to every phase)."""
        return self.read

    def httpx(self, module: ModuleType | None = None) -> Any:
        """An ``httpx.Timeout`` (or ``httpx2.Timeout``) with ``read`` and ``connect``.

        Args:
            module: ``httpx`` or ``httpx2``; default: the one already imported (httpx2 first).
        """
        http = module or _http_module()
        return http.Timeout(self.read, connect=self.connect)


def timeouts(
    preset: str = "generic", *, thinking: bool = False, profile: str | None = None
) -> Timeouts:
    """The client timeouts of ``preset`` (its ``[timeouts]`` section) under ``profile``.

    Args:
        preset: the preset name (``"deepseek"``, ``"openai"``, ...).
        thinking: for thinking-mode requests: ``thinking`` instead of ``request``.
        profile: the profile; default: the active one.

    Raises:
        PolicyError: for an unknown preset or profile.
    """
    chosen = current_profile() if profile is None else check_profile(profile)
    section = get_preset(preset).section("timeouts", chosen)
    request = float(section.get("request", DEFAULT_REQUEST))
    read = float(section.get("thinking", request)) if thinking else request
    return Timeouts(read=read, connect=float(section.get("connect", DEFAULT_CONNECT)))
