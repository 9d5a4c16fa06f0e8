"""The docs' pictures: the timeline is what the code draws now; the circuit states, a diagram."""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def load_timeline():
    """docs/scripts/timeline.py as a module."""
    spec = importlib.util.spec_from_file_location("docs_timeline", DOCS / "scripts" / "timeline.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_timeline_is_current():
    """docs/images/timeline.svg is exactly what the script draws from a call's events now."""
    timeline = load_timeline()
    assert timeline.OUTPUT.read_text(encoding="utf-8") == timeline.current(), (
        "run: python docs/scripts/timeline.py"
    )


def test_the_timeline_follows_the_events():
    """Attempts start where the previous wait ended, and the waits are the scheduled ones."""
    timeline = load_timeline()
    events = timeline.capture()
    attempts = timeline.attempts(events)
    assert [a.kind for a in attempts] == ["retry", "retry", "success"]
    assert [a.label.split()[0] for a in attempts] == ["429", "503", "200"]
    assert attempts[0].wait == 2.0
    assert attempts[0].wait_source == "retry-after"
    for before, after in itertools.pairwise(attempts):
        assert round(after.start, 3) == round(before.end + before.wait, 3)
        assert round(after.end - after.start, 3) == timeline.REQUEST_SECONDS
    svg = timeline.render(attempts)
    assert svg.count("<rect ") == 1 + len(attempts)  # the background and one bar per attempt
    assert "wait 2.0 s (retry-after)" in svg


def test_the_circuit_states_are_a_mermaid_diagram():
    """docs/circuit.md draws its states in Mermaid (rendered by Material), not ASCII art."""
    page = (DOCS / "circuit.md").read_text(encoding="utf-8")
    states = page.split("## States", 1)[1].split("\n## ", 1)[0]
    (diagram,) = re.findall(r"^```mermaid\n(.*?)^```$", states, re.M | re.S)
    assert diagram.startswith("stateDiagram-v2")
    for transition in ("closed --> open", "open --> half_open", "half_open --> closed"):
        assert transition in diagram
    assert "+--------+" not in page
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "pymdownx.superfences.fence_code_format" in config
