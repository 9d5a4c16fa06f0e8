"""MkDocs hook: fill the preset markers of the docs from the preset files at build time.

Two markers, each alone on a line, are replaced wherever they appear in a page:

``<!-- preset-table: NAME [PROFILE] -->``
    the preset's decision table, from ``llm_retry.cli.tables.render_markdown_table`` (the same
    rows ``llm-retry show NAME --markdown`` prints).
``<!-- preset-settings: NAME -->``
    the preset's description, its policy-wide settings, its other sections (``[circuit]``,
    ``[budget]``, ``[timeouts]``) and what each profile changes, from the preset file itself.

``PROFILE`` defaults to ``prod``. A marker naming an unknown preset or profile stops the build.
``llm_retry`` is imported when a page is rendered, not when MkDocs loads this file.

Before the build, the pictures drawn by ``docs/scripts/`` are re-made from the code
(``timeline.py``: one call's attempts and waits, from its captured events); a file is written
only when its content changed, so ``mkdocs serve`` does not rebuild in a loop.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MARKER = re.compile(
    r"^<!--\s*preset-(?P<kind>table|settings):\s*(?P<name>[\w.-]+)(?:\s+(?P<profile>\w+))?\s*-->$",
    re.MULTILINE,
)
DEFAULT_PROFILE = "prod"


class MarkerError(Exception):
    """A marker that cannot be filled: the message names the marker and the reason."""


def _error(message: str) -> Exception:
    """MkDocs' own error type when MkDocs is running, so the build stops with one clean line."""
    try:
        from mkdocs.exceptions import PluginError  # noqa: PLC0415 - only under MkDocs
    except ImportError:  # the tests run the hook without MkDocs installed
        return MarkerError(message)
    return PluginError(message)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``{"backoff": {"cap": 2.0}}`` -> ``[("backoff.cap", 2.0)]``."""
    pairs: list[tuple[str, Any]] = []
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            pairs.extend(_flatten(value, f"{path}."))
        else:
            pairs.append((path, value))
    return pairs


def _settings(name: str) -> str:
    """The preset's description, settings, other sections and profile overlays as Markdown."""
    from llm_retry import presets  # noqa: PLC0415 - imported only when rendering
    from llm_retry.cli import tables as _tables  # noqa: PLC0415

    table = _tables.build_table(name, DEFAULT_PROFILE)
    value = _tables.value_text
    lines = [
        f"*{table.description}* (`{table.source}`)",
        "",
        "| Setting | Value (profile `prod`) |",
        "| --- | --- |",
    ]
    lines += [f"| `{key}` | {text} |" for key, text in table.settings]
    for section, values in table.sections.items():
        text = ", ".join(f"`{key} = {value(item)}`" for key, item in values.items())
        lines.append(f"| `[{section}]` | {text} |")
    overlays = presets.get_preset(name).data.get("profiles", {})
    for profile in presets.PROFILES:
        changes = _flatten(overlays.get(profile, {}))
        text = ", ".join(f"`{key} = {value(item)}`" for key, item in changes)
        lines.append(f"| profile `{profile}` | {text or 'the values above'} |")
    return "\n".join(lines)


def render_marker(kind: str, name: str, profile: str | None) -> str:
    """The Markdown that replaces one marker."""
    from llm_retry.cli import tables as _tables  # noqa: PLC0415 - imported only when rendering
    from llm_retry.errors import PolicyError  # noqa: PLC0415

    try:
        if kind == "settings":
            if profile is not None:
                raise PolicyError("preset-settings shows every profile: give no profile")
            return _settings(name)
        return _tables.render_markdown_table(name, profile or DEFAULT_PROFILE)
    except PolicyError as exc:
        marker = f"<!-- preset-{kind}: {name}{' ' + profile if profile else ''} -->"
        raise _error(f"docs marker {marker}: {exc}") from None


def replace_markers(markdown: str) -> str:
    """``markdown`` with every preset marker replaced by its Markdown."""
    return MARKER.sub(
        lambda m: render_marker(m["kind"], m["name"], m["profile"]),
        markdown,
    )


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs event: runs on every page's Markdown before it is converted to HTML."""
    return replace_markers(markdown)


def on_pre_build(**_: Any) -> None:
    """MkDocs event: re-make the pictures before the pages are read."""
    path = Path(__file__).parent / "scripts" / "timeline.py"
    spec = importlib.util.spec_from_file_location("docs_timeline", path)
    if spec is None or spec.loader is None:
        raise _error(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    if module.main([]) != 0:
        raise _error(f"{path.name} failed")
