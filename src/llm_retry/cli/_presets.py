"""The commands about preset files: ``presets``, ``show`` and ``validate``.

``presets`` lists them, ``show`` prints one's decision table, ``validate`` checks files.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llm_retry.cli._output import print_json, terminal_width
from llm_retry.cli.tables import build_table, format_grid, render_markdown, render_plain
from llm_retry.errors import PolicyError
from llm_retry.policy import schema as _schema
from llm_retry.policy.files import read_text
from llm_retry.presets import PROFILES, Preset, available_presets, current_profile, get_preset

__all__ = ["cmd_presets", "cmd_show", "cmd_validate", "validate_file"]


# -- presets --------------------------------------------------------------------------------
def _preset_entries() -> list[dict[str, Any]]:
    """Every preset with its profiles, file and description, or the reason it is invalid."""
    entries = []
    for name, source in available_presets().items():
        entry: dict[str, Any] = {"name": name, "source": source, "profiles": list(PROFILES)}
        try:
            entry["description"] = get_preset(name).description
            entry["profiles"] = list(get_preset(name).profiles)
        except PolicyError as exc:
            entry["description"] = ""
            entry["error"] = str(exc)
        entries.append(entry)
    return entries


def cmd_presets(args: argparse.Namespace) -> int:
    """List the presets."""
    entries = _preset_entries()
    if args.json:
        print_json({"active_profile": current_profile(), "presets": entries})
    else:
        rows = [
            (
                entry["name"],
                " ".join(entry["profiles"]),
                entry["source"],
                f"INVALID: {entry['error']}" if "error" in entry else entry["description"],
            )
            for entry in entries
        ]
        for line in format_grid(
            ("PRESET", "PROFILES", "SOURCE", "DESCRIPTION"), rows, terminal_width()
        ):
            print(line)
        print()
        print(
            f"Active profile: {current_profile()} "
            "(set LLM_RETRY_PROFILE, or call llm_retry.presets.use_profile)."
        )
        print("See one with: llm-retry show PRESET [--profile dev|test|prod]")
    return 1 if any("error" in entry for entry in entries) else 0


# -- show -----------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    """Print a preset's decision table."""
    table = build_table(args.preset, args.profile or current_profile())
    if args.json:
        print_json(table.as_dict())
    elif args.markdown:
        print(render_markdown(table))
    else:
        print(render_plain(table, terminal_width()))
    return 0


# -- validate -------------------------------------------------------------------------------
def validate_file(path: str) -> list[str]:
    """The problems of the preset file at ``path`` (empty when it is valid in every profile).

    Each problem is one line naming the file and the key, as `PolicyError` messages do.
    """
    try:
        data = _schema.parse(read_text(Path(path)), path)
    except PolicyError as exc:
        return [str(exc)]
    preset = Preset(Path(path).stem, path, str(data.get("description", "")), data)
    failing: dict[str, list[str]] = {}
    for profile in preset.profiles:
        try:
            preset.policy(profile)
        except PolicyError as exc:
            failing.setdefault(str(exc), []).append(profile)
    return [_with_profiles(message, profiles) for message, profiles in failing.items()]


def _with_profiles(message: str, profiles: list[str]) -> str:
    """``message``, saying which profiles it applies to unless all do or it says so itself."""
    if len(profiles) == len(PROFILES) or f"profile {profiles[0]} " in message:
        return message
    return f"{message} (profile {', '.join(profiles)})"


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate preset files."""
    results = {path: validate_file(path) for path in args.files}
    if args.json:
        print_json(
            [
                {"file": path, "ok": not problems, "profiles": list(PROFILES), "problems": problems}
                for path, problems in results.items()
            ]
        )
    else:
        for path, problems in results.items():
            if problems:
                for problem in problems:
                    print(problem)
            else:
                print(f"{path}: ok (profiles {', '.join(PROFILES)})")
    return 1 if any(results.values()) else 0
