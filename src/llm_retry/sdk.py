"""The SDKs' own retries: notice them under ``@llm_retry``, and turn them off.

The openai and anthropic clients retry by themselves (``max_retries=2`` by default), on status
alone. Under a retrying decorator one call then becomes up to ``attempts * (1 + max_retries)``
requests, and a ``429 insufficient_quota`` the policy fails at once is still sent three times.

When an attempt fails, llm-retry looks for the client that raised the error (in the frames the
error passed through, so no SDK is imported and the happy path pays nothing) and, failing that,
for the ``x-stainless-retry-count`` header the SDKs put on every request (``> 0``: the SDK had
already retried). It then logs one ``llm_retry.sdk_retries`` warning per client, with the fix::

    client = without_retries(openai.OpenAI())   # or openai.OpenAI(max_retries=0)
"""

from __future__ import annotations

import sys
import threading
import weakref
from types import TracebackType
from typing import Any, TypeVar

from .decide.marks import attr
from .events import emit

__all__ = ["FIX", "without_retries"]

C = TypeVar("C")
FIX = "create the client with max_retries=0, or use llm_retry.sdk.without_retries(client)"
_HEADER = "x-stainless-retry-count"
_MAX_CAUSE_DEPTH = 3

_lock = threading.Lock()
_warned_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_warned_hosts: set[str] = set()


def without_retries(client: C) -> C:
    """A copy of an openai or anthropic ``client`` that does not retry by itself.

    The copy shares the original's connection pool (``client.with_options(max_retries=0)``), so
    making one per call site is cheap.

    Raises:
        TypeError: for an object that has no ``with_options``.
    """
    with_options = getattr(client, "with_options", None)
    if not callable(with_options):
        raise TypeError(f"{type(client).__name__} has no with_options(max_retries=...)")
    copy: C = with_options(max_retries=0)
    return copy


def _type_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__.partition('.')[0]}.{cls.__name__}"


def _is_client(obj: object) -> bool:
    """A client of an SDK with built-in retries (its package exports ``DEFAULT_MAX_RETRIES``)."""
    package = sys.modules.get(type(obj).__module__.partition(".")[0])
    if package is None or not hasattr(package, "DEFAULT_MAX_RETRIES"):
        return False
    retries = attr(obj, "max_retries")
    return isinstance(retries, int) and callable(attr(obj, "with_options"))


def _client_in(tb: TracebackType | None) -> Any:
    """The SDK client whose method (or resource, or stream) a traceback passed through."""
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and _is_client(owner):
            return owner
        inner = attr(owner, "_client") if owner is not None else None
        if inner is not None and _is_client(inner):
            return inner
        tb = tb.tb_next
    return None


def _retry_count(exc: BaseException) -> int:
    """The ``x-stainless-retry-count`` of the request that failed, or 0."""
    headers = attr(attr(exc, "request"), "headers")  # httpx raises for a request never set
    try:
        return int(headers.get(_HEADER, 0)) if headers is not None else 0
    except Exception:  # noqa: BLE001 - an unreadable header is no retry count
        return 0


def _host(exc: BaseException) -> str:
    host = attr(attr(attr(exc, "request"), "url"), "host")
    return str(host or type(exc).__module__.partition(".")[0])


def _first_warning(client: Any, exc: BaseException) -> bool:
    """Record a warning for ``client`` (or, without one, for the request's host)."""
    with _lock:
        if client is not None:
            if client in _warned_clients:
                return False
            _warned_clients.add(client)
            return True
        host = _host(exc)
        if host in _warned_hosts:
            return False
        _warned_hosts.add(host)
        return True


def _culprit(exc: BaseException) -> tuple[Any, int]:
    """The client and the SDK retry count of ``exc`` or of the SDK error it wraps."""
    error: BaseException | None = exc
    for _ in range(_MAX_CAUSE_DEPTH + 1):
        if error is None:
            break
        client, count = _client_in(error.__traceback__), _retry_count(error)
        if client is not None or count:
            return client, count
        error = error.__cause__
    return None, 0


def notice(exc: BaseException, name: str) -> None:
    """Warn once per client when ``exc`` shows the SDK retrying under the decorator."""
    client, count = _culprit(exc)
    retries = client.max_retries if client is not None else None
    if (retries is None and not count) or retries == 0 or not _first_warning(client, exc):
        return
    emit(
        "llm_retry.sdk_retries",
        "warning",
        callable=name,
        client=_type_name(client) if client is not None else None,
        max_retries=retries,
        sdk_retry_count=count or None,
        fix=FIX,
    )


def forget() -> None:
    """Forget which clients were warned about (for tests)."""
    with _lock:
        _warned_clients.clear()
        _warned_hosts.clear()
