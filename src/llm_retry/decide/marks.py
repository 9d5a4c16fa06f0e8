"""What llm-retry leaves on a user's exception, and how it reads one, without ever replacing it.

The exception a decorated function raises is the one its caller gets: same object, same type.
So nothing here may fail on an odd exception: one whose ``__str__`` raises, a frozen dataclass
(``setattr`` raises), ``__notes__`` set to a tuple, properties that raise, a class with
``__slots__`` (no weak references).

- `attach` / `attached`: llm-retry's own records (a verdict, a stream break) are kept in a table
  keyed by the exception's identity and held by a weak reference, so the exception is not
  touched; an exception that takes no weak reference gets them in its ``__dict__`` instead,
  written with ``object.__setattr__`` (a frozen dataclass's ``__setattr__`` is not called).
- `add_note`: PEP 678 ``add_note`` when it works, else the same note list written directly
  (a tuple of notes becomes a list with the same notes first); notes are redacted.
- `text`: ``str(exc)``, or a description when ``__str__`` raises; `brief`: that, redacted
  before it is cut short, so that no secret is cut in half where redaction cannot see it.
- `attr`: ``getattr(obj, name, None)`` for any failure of the attribute, not only
  ``AttributeError``.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from functools import partial
from typing import Any

from llm_retry.events import redact

__all__ = ["add_note", "attach", "attached", "attr", "brief", "text"]

_lock = threading.RLock()  # reentrant: a weak reference's callback may run under it
_records: dict[int, tuple[weakref.ref[BaseException], dict[str, object]]] = {}


def attr(obj: object, name: str) -> Any:
    """``obj.name``, or ``None`` if it is missing or reading it raises anything."""
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a property of the user's object may raise anything
        return None


def text(exc: BaseException) -> str:
    """``str(exc)``, or what it is when its ``__str__`` raises."""
    try:
        return str(exc)
    except Exception as problem:  # noqa: BLE001 - the user's __str__ may raise anything
        return f"<{type(exc).__name__}: str() raised {type(problem).__name__}>"


def brief(exc: BaseException, limit: int) -> str:
    """`text` of ``exc``, redacted, then cut to ``limit`` characters (no secret cut in half)."""
    return str(redact(text(exc)[: limit * 10]))[:limit]


def _own_dict(exc: BaseException) -> dict[str, Any]:
    """The exception's instance ``__dict__``, read past any ``__getattribute__`` of its class."""
    try:
        found = object.__getattribute__(exc, "__dict__")
    except Exception:  # noqa: BLE001 - no __dict__ at all
        return {}
    return found if isinstance(found, dict) else {}


def _forget(ident: int, ref: weakref.ref[BaseException]) -> None:
    with _lock:
        entry = _records.get(ident)
        if entry is not None and entry[0] is ref:
            del _records[ident]


def attach(exc: BaseException, key: str, value: object) -> None:
    """Keep ``value`` under ``key`` for ``exc`` (read back with `attached`)."""
    ident = id(exc)
    try:
        with _lock:
            entry = _records.get(ident)
            if entry is None or entry[0]() is not exc:
                ref = weakref.ref(exc, partial(_forget, ident))
                entry = _records[ident] = (ref, {})
            entry[1][key] = value
        return
    except TypeError:  # a class with __slots__ takes no weak reference
        pass
    with contextlib.suppress(Exception):  # nowhere to keep it: the record is only a nicety
        object.__setattr__(exc, key, value)


def attached(exc: BaseException | None, key: str) -> object:
    """What `attach` kept under ``key`` for ``exc``, or ``None``."""
    if exc is None:
        return None
    with _lock:
        entry = _records.get(id(exc))
        if entry is not None and entry[0]() is exc:
            return entry[1].get(key)
    return _own_dict(exc).get(key)


def add_note(exc: BaseException, note: str) -> None:
    """Add ``note`` (redacted) to ``exc``'s PEP 678 notes, whatever the exception is."""
    note = redact(note)
    pep678 = getattr(BaseException, "add_note", None)  # Python 3.11+
    try:
        if pep678 is not None:
            pep678(exc, note)
            return
    except Exception:  # noqa: BLE001, S110 - a frozen dataclass, or notes that are not a list
        pass
    notes = _own_dict(exc).get("__notes__")
    if notes is not None and not isinstance(notes, (list, tuple)):
        return  # not ours to replace
    with contextlib.suppress(Exception):  # nowhere to put the note; the events still say it
        object.__setattr__(exc, "__notes__", [*(notes or ()), note])
