"""Reading a preset file: any bytes give its text or a `PolicyError` naming the file.

TOML files are UTF-8. A file saved as UTF-16 or latin-1 by an editor, a binary file dropped in
an ``LLM_RETRY_POLICIES`` folder, a directory or a named pipe called ``x.toml`` (opening a pipe
would wait for a writer), an unreadable or huge file: each
is reported as ``FILE: PROBLEM``, never as a ``UnicodeDecodeError`` or an ``OSError`` traceback.
A UTF-8 byte-order mark (Windows Notepad writes one) is accepted and dropped.
"""

from __future__ import annotations

import codecs
import stat
from collections.abc import Callable
from pathlib import Path

from llm_retry.errors import PolicyError

__all__ = ["MAX_FILE_BYTES", "decode", "read_text", "reader"]

MAX_FILE_BYTES = 1024 * 1024
"""The largest preset file read: a megabyte (the shipped ones are about 3 KB)."""

_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def decode(raw: bytes, source: str) -> str:
    """The text of a preset file's bytes ``raw``; ``source`` names the file in the error."""
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyError(f"{source}: larger than 1 MB, too large for a preset file")
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            raise PolicyError(f"{source}: the file is {encoding} text; save it as UTF-8 (TOML)")
    if b"\x00" in raw:
        raise PolicyError(f"{source}: a binary file (it holds NUL bytes), not TOML text")
    try:
        return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = raw[exc.start]
        raise PolicyError(
            f"{source}: not UTF-8 text (byte 0x{byte:02x} at offset {exc.start}); "
            "TOML files are UTF-8: save it as UTF-8"
        ) from None


def read_text(path: Path) -> str:
    """The text of the preset file at ``path``, read at most `MAX_FILE_BYTES` (+1) bytes."""
    source = str(path)
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a folder, or a pipe that would block
            raise PolicyError(f"{source}: cannot read: not a regular file")
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return decode(raw, source)


def reader(path: Path) -> Callable[[], str]:
    """A function reading the preset file at ``path`` (for the preset index)."""
    return lambda: read_text(path)
