"""``python -m llm_retry``: the ``llm-retry`` command."""

from __future__ import annotations

from llm_retry.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
