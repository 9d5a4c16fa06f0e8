"""Error bodies of streamed HTTP responses, read when the status says error, at most 64 KiB.

A response made with requests' ``stream=True`` or httpx's ``client.stream()`` has not read its
body when ``raise_for_status()`` raises, so the error's JSON (``insufficient_quota``, a
spend-limit code) is unknown and a 429 the policy fails at once would be retried. aiohttp's
``ClientResponseError`` carries no body at all.

- `keep_body` runs when an attempt fails (before it is classified): a requests or httpx
  response that is still open and unread is read up to the cap, and the JSON is kept for the
  exception (`llm_retry.decide.marks.attach`, the exception itself untouched), where the
  failure reader looks after the exception's own ``body``.
- `read_then_raise` / `aread_then_raise` (``llm_retry.sdk.raise_for_status`` and
  ``araise_for_status``) read the body before the response is closed or released, for code
  that raises inside ``with client.stream(...)`` or uses aiohttp.
"""

from __future__ import annotations

import json
from typing import Any

from llm_retry.decide.marks import attach, attached, attr

__all__ = ["MAX_BODY_BYTES", "aread_then_raise", "keep_body", "read_then_raise"]

MAX_BODY_BYTES = 64 * 1024
_CHUNK = 8192


def _status(response: object) -> int | None:
    for name in ("status_code", "status"):
        value = getattr(response, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _parsed(data: bytes | None) -> object:
    if not data or len(data) > MAX_BODY_BYTES:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _unread(response: Any) -> bool:
    """A requests or httpx response whose streamed body was not read and is not closed."""
    if getattr(response, "_content", None) is False:  # requests, stream=True
        return not getattr(response, "_content_consumed", True)
    module = type(response).__module__.partition(".")[0]
    if module in {"httpx", "httpx2"}:
        return not hasattr(response, "_content") and not getattr(response, "is_closed", True)
    return False


def read_bounded(response: Any) -> bytes | None:
    """Up to `MAX_BODY_BYTES` + 1 bytes of a sync response's body; ``None`` if it cannot be read.

    A body already in memory is returned as is; a streamed one is read in chunks up to the cap
    and the response closed (the connection cannot be reused with the rest unread).
    """
    if not _unread(response):
        try:
            content = getattr(response, "content", None)
        except Exception:  # noqa: BLE001 - httpx's ResponseNotRead, StreamClosed ...
            return None
        return bytes(content) if isinstance(content, (bytes, bytearray)) else None
    chunks = response.iter_content(_CHUNK) if hasattr(response, "iter_content") else None
    if chunks is None:
        chunks = response.iter_bytes()
    data = bytearray()
    try:
        for chunk in chunks:
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                break
    except Exception:  # noqa: BLE001 - a body that cannot be read has no codes
        return None
    finally:
        response.close()
    return bytes(data)


async def aread_bounded(response: Any) -> bytes | None:
    """The async twin of `read_bounded`, for aiohttp and httpx's async responses."""
    data = bytearray()
    try:
        if type(response).__module__.startswith("aiohttp"):
            while len(data) <= MAX_BODY_BYTES:
                chunk = await response.content.read(_CHUNK)
                if not chunk:
                    break
                data += chunk
            return bytes(data)
        if hasattr(response, "_content"):  # httpx, already read
            return bytes(response.content)
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > MAX_BODY_BYTES:
                break
    except Exception:  # noqa: BLE001 - a body that cannot be read has no codes
        return None
    return bytes(data)


def keep_body(exc: BaseException) -> None:
    """Read the unread body of an error's streamed response and keep its JSON as ``body``."""
    if attr(exc, "body") is not None or attached(exc, "body") is not None:
        return
    response = attr(exc, "response")
    status = _status(response)
    if status is None or status < 400 or not _unread(response):
        return
    body = _parsed(read_bounded(response))
    if body is not None:
        attach(exc, "body", body)  # the exception itself is not touched


def read_then_raise(response: Any) -> None:
    """``response.raise_for_status()``, with the error's JSON body kept as ``body``."""
    status = _status(response)
    if status is None or status < 400:
        return
    body = _parsed(read_bounded(response))
    try:
        response.raise_for_status()
    except Exception as exc:
        if body is not None and getattr(exc, "body", None) is None:
            exc.body = body  # type: ignore[attr-defined]
        raise


async def aread_then_raise(response: Any) -> None:
    """The async twin of `read_then_raise` (aiohttp's ``ClientResponse``, httpx's async)."""
    status = _status(response)
    if status is None or status < 400:
        return
    body = _parsed(await aread_bounded(response))
    try:
        response.raise_for_status()
    except Exception as exc:
        if body is not None and getattr(exc, "body", None) is None:
            exc.body = body  # type: ignore[attr-defined]
        raise
