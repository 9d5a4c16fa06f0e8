"""A preset's decision table, built once and rendered as plain text, Markdown or JSON.

The table has one row per rule, in the order a failure is looked up: provider error codes, exact
statuses, status classes, transport failures, exception classes, and ``otherwise``. The first row
that matches a failure decides it. The documentation embeds `render_markdown_table`; the
``llm-retry show`` command prints the other renderings.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llm_retry.policy import Backoff, Fail, Policy, Retry, Rule
from llm_retry.policy.presets import Preset, get_preset

__all__ = [
    "SECTIONS",
    "PresetTable",
    "RuleRow",
    "build_table",
    "format_grid",
    "render_markdown",
    "render_markdown_table",
    "render_plain",
]

SECTIONS = ("budget", "circuit", "timeouts")
"""The non-policy sections of a preset file shown under the policy-wide settings."""

_MAX_LISTED_WAITS = 6
_MIN_TEXT_WIDTH = 30
_JITTER_NAMES = {"full": "full jitter", "equal": "equal jitter", "none": "no jitter"}


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One rule of a policy, described for people.

    Attributes:
        key: what the rule matches: ``429``, ``5xx``, ``code insufficient_quota``,
            ``timeout``, ``exception ValueError`` or ``otherwise``.
        kind: ``code``, ``status``, ``status class``, ``transport``, ``exception`` or
            ``otherwise``.
        action: ``retry`` or ``fail``.
        attempts: total attempts while this rule decides (``None`` for ``fail``).
        waits: the backoff ceilings and the Retry-After treatment (empty for ``fail``).
        reason: what the failure means.
        fix: what a person must do about it (``fail`` rules only).
        ceilings: the backoff ceiling before each retry, in seconds (``retry`` rules only).
        retry_after_cap: the longest server hint honoured, or ``None`` when hints are ignored.
    """

    key: str
    kind: str
    action: str
    attempts: int | None
    waits: str
    reason: str
    fix: str
    ceilings: tuple[float, ...] = ()
    retry_after_cap: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return {
            "key": self.key,
            "kind": self.kind,
            "action": self.action,
            "attempts": self.attempts,
            "waits": self.waits or None,
            "reason": self.reason,
            "fix": self.fix or None,
            "backoff_ceilings": list(self.ceilings) if self.action == "retry" else None,
            "retry_after_up_to": self.retry_after_cap,
        }


@dataclass(frozen=True, slots=True)
class PresetTable:
    """A preset under one profile: where it comes from, its settings and its rule rows."""

    preset: str
    profile: str
    source: str
    description: str
    settings: tuple[tuple[str, str], ...]
    sections: Mapping[str, Mapping[str, Any]]
    rows: tuple[RuleRow, ...]
    values: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The table as a JSON-ready dict."""
        return {
            "preset": self.preset,
            "profile": self.profile,
            "source": self.source,
            "description": self.description,
            "settings": dict(self.values),
            "sections": {name: dict(values) for name, values in self.sections.items()},
            "rules": [row.as_dict() for row in self.rows],
        }


# -- building -------------------------------------------------------------------------------
def seconds(value: float) -> str:
    """``60 s``, ``0.5 s``: a number of seconds without needless decimals."""
    return f"{value:g} s"


def backoff_text(backoff: Backoff) -> str:
    """``1.0 s doubling up to 30 s, full jitter``."""
    jitter = _JITTER_NAMES[backoff.jitter]
    if backoff.cap == 0 or backoff.base == 0:
        return "none (every backoff wait is 0 s)"
    if backoff.multiplier == 1 or backoff.base >= backoff.cap:
        return f"{min(backoff.base, backoff.cap):.1f} s every time, {jitter}"
    growth = "doubling" if backoff.multiplier == 2 else f"times {backoff.multiplier:g}"
    return f"{backoff.base:.1f} s {growth} up to {seconds(backoff.cap)}, {jitter}"


def _ceilings_text(backoff: Backoff, retries: int) -> str:
    """``1.0, 2.0, 4.0, 8.0 s (full jitter)``: the ceiling before each retry."""
    if retries < 1:
        return "no retries"
    ceilings = [backoff.ceiling(n) for n in range(retries)]
    if not any(ceilings):
        return "no backoff"
    shown = [f"{c:.1f}" for c in ceilings]
    if len(shown) > _MAX_LISTED_WAITS:
        shown = [*shown[: _MAX_LISTED_WAITS - 1], "...", shown[-1]]
    return f"{', '.join(shown)} s ({_JITTER_NAMES[backoff.jitter]})"


def waits_text(rule: Retry, policy: Policy, attempts: int) -> str:
    """The waits of a retry rule: backoff ceilings, then how Retry-After is treated."""
    backoff = _ceilings_text(rule.backoff or policy.backoff, attempts - 1)
    cap = _hint_cap(rule, policy)
    hint = "Retry-After ignored" if cap is None else f"Retry-After honoured up to {seconds(cap)}"
    return f"{backoff}, {hint}"


def _hint_cap(rule: Retry, policy: Policy) -> float | None:
    """The longest server hint a retry rule honours, or ``None`` when it ignores hints."""
    return policy.max_retry_after if rule.retry_after and policy.retry_after else None


def _row(key: str, kind: str, rule: Rule, policy: Policy) -> RuleRow:
    if isinstance(rule, Fail):
        return RuleRow(key, kind, "fail", None, "", rule.reason, rule.fix)
    attempts = rule.attempts if rule.attempts is not None else policy.attempts
    backoff = rule.backoff or policy.backoff
    return RuleRow(
        key,
        kind,
        "retry",
        attempts,
        waits_text(rule, policy, attempts),
        rule.reason,
        "",
        ceilings=tuple(backoff.ceiling(n) for n in range(attempts - 1)),
        retry_after_cap=_hint_cap(rule, policy),
    )


def _status_order(key: int | str) -> tuple[int, int]:
    """Exact statuses first, numerically; then classes (``"4xx"`` is looked up after ``429``)."""
    if isinstance(key, int):
        return (0, key)
    return (1, int(key[0]))


def rule_rows(policy: Policy) -> Iterator[RuleRow]:
    """One row per rule of ``policy``, in lookup order."""
    for code, rule in policy.codes.items():
        yield _row(f"code {code}", "code", rule, policy)
    for status in sorted(policy.statuses, key=_status_order):
        kind = "status" if isinstance(status, int) else "status class"
        yield _row(str(status), kind, policy.statuses[status], policy)
    for kind in ("timeout", "connection"):
        if kind in policy.transport:
            yield _row(kind, "transport", policy.transport[kind], policy)
    for cls, rule in policy.exceptions.items():
        yield _row(f"exception {cls.__name__}", "exception", rule, policy)
    for result_kind, rule in policy.results.items():  # results a validate= check rejected
        yield _row(f"result {result_kind}", "result", rule, policy)
    yield _row("otherwise", "otherwise", policy.otherwise, policy)


def settings_rows(policy: Policy) -> tuple[tuple[str, str], ...]:
    """The policy-wide settings as (name, description) pairs."""
    return (
        ("attempts", f"{policy.attempts} in all, the first included"),
        ("backoff", backoff_text(policy.backoff)),
        (
            "max_retry_after",
            f"{seconds(policy.max_retry_after)} (a longer server hint means give up at once)",
        ),
        ("retry_after", "honoured" if policy.retry_after else "ignored (no server hint is used)"),
    )


def settings_values(policy: Policy) -> dict[str, Any]:
    """The policy-wide settings as plain values, for JSON."""
    backoff = policy.backoff
    return {
        "attempts": policy.attempts,
        "backoff": {
            "base": backoff.base,
            "cap": backoff.cap,
            "multiplier": backoff.multiplier,
            "jitter": backoff.jitter,
        },
        "max_retry_after": policy.max_retry_after,
        "retry_after": policy.retry_after,
    }


def build_table(preset_name: str | Preset, profile: str) -> PresetTable:
    """The decision table of preset ``preset_name`` (a name, or a loaded preset) under ``profile``.

    Raises:
        PolicyError: for an unknown preset or profile, or an invalid preset file.
    """
    preset = preset_name if isinstance(preset_name, Preset) else get_preset(preset_name)
    policy = preset.policy(profile)
    sections = {name: preset.section(name, profile) for name in SECTIONS}
    return PresetTable(
        preset=preset.name,
        profile=profile,
        source=preset.source,
        description=preset.description,
        settings=settings_rows(policy),
        sections={name: values for name, values in sections.items() if values},
        rows=tuple(rule_rows(policy)),
        values=settings_values(policy),
    )


# -- plain text -----------------------------------------------------------------------------
def value_text(value: object) -> str:
    """A TOML value as written in a preset file: ``true``, ``0.2``, ``"text"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return json.dumps(value)
    return str(value)


def format_grid(
    header: Sequence[str], rows: Sequence[Sequence[str | Sequence[str]]], width: int
) -> list[str]:
    """Align ``rows`` under ``header``; the last column wraps to fit ``width``.

    Every cell is a string, except that the last one may be a list of paragraphs, each
    started on a line of its own (a rule's meaning, then its fix).
    """
    fixed = [[str(cell) for cell in row[:-1]] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(header[:-1], *fixed, strict=True)]
    indent = sum(widths) + 2 * len(widths)
    text_width = max(_MIN_TEXT_WIDTH, width - indent)

    def line(cells: Sequence[str], text: str) -> str:
        padded = "".join(cell.ljust(w + 2) for cell, w in zip(cells, widths, strict=True))
        return (padded + text).rstrip()

    lines = [line(header[:-1], header[-1])]
    for cells, row in zip(fixed, rows, strict=True):
        last = row[-1]
        paragraphs = [last] if isinstance(last, str) else list(last)
        wrapped = [
            part
            for paragraph in paragraphs
            for part in textwrap.wrap(
                paragraph, text_width, subsequent_indent="  ", break_on_hyphens=False
            )
            or [""]
        ]
        lines.append(line(cells, wrapped[0]))
        lines.extend(line([""] * len(cells), part) for part in wrapped[1:])
    return lines


def _settings_lines(table: PresetTable) -> list[str]:
    pairs = list(table.settings)
    pairs += [
        (name, ", ".join(f"{key} = {value_text(value)}" for key, value in values.items()))
        for name, values in table.sections.items()
    ]
    width = max(len(name) for name, _ in pairs)
    return [f"  {name.ljust(width)}  {text}" for name, text in pairs]


def _meaning(row: RuleRow) -> list[str]:
    paragraphs = [row.reason or "(no reason given)"]
    if row.fix:
        paragraphs.append(f"fix: {row.fix}")
    if row.waits:
        paragraphs.append(f"waits: {row.waits}")
    return paragraphs


def render_plain(table: PresetTable, width: int = 100) -> str:
    """The table for a terminal: a header with the settings, then the aligned rules."""
    lines = [f"{table.preset}  (profile {table.profile}, from {table.source})"]
    if table.description:
        lines.append(table.description)
    lines += ["", *_settings_lines(table), ""]
    lines.append("Rules in lookup order: the first one that matches a failure decides.")
    lines.append("")
    rows = [(row.key, row.action, str(row.attempts or "-"), _meaning(row)) for row in table.rows]
    lines += format_grid(("RULE", "ACTION", "ATTEMPTS", "MEANING"), rows, width)
    return "\n".join(lines)


# -- Markdown -------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ") if text else "-"


def _markdown_key(row: RuleRow) -> str:
    if row.kind in ("code", "exception"):
        return f"{row.kind} `{row.key.partition(' ')[2]}`"
    return f"`{row.key}`"


def render_markdown(table: PresetTable) -> str:
    """The rules as a Markdown table: rule, action, attempts, waits, meaning, fix."""
    lines = [
        "| Rule | Action | Attempts | Waits | Meaning | Fix |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in table.rows:
        cells = [
            _markdown_key(row),
            row.action,
            str(row.attempts or "-"),
            _cell(row.waits),
            _cell(row.reason),
            _cell(row.fix),
        ]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def render_markdown_table(preset_name: str, profile: str) -> str:
    """The decision table of a preset under ``profile`` as Markdown, for the documentation.

    Raises:
        PolicyError: for an unknown preset or profile, or an invalid preset file.
    """
    return render_markdown(build_table(preset_name, profile))
