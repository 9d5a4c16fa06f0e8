"""The user's exception comes out as itself: same object, same type, whatever it is.

`SHAPES` is a corpus of odd exceptions (``__str__`` that raises, frozen dataclasses, notes as a
tuple, properties that raise, ``__slots__``, transport errors without a request, real SDK
errors); a property test raises each under many policies and decorator stacks, sync and async.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import itertools
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_retry import Fail, Policy, Retry, budget, circuit, fallback, llm_retry
from llm_retry.testing import (
    anthropic_error,
    capture_events,
    no_wait,
    openai_connection_error,
    openai_error,
    openai_timeout,
)


class StrRaises(Exception):
    def __str__(self) -> str:
        raise ValueError("no text")


class ReprRaises(Exception):
    def __repr__(self) -> str:
        raise ValueError("no repr")


@dataclasses.dataclass(frozen=True)
class FrozenError(Exception):
    detail: str = "frozen"


@dataclasses.dataclass(frozen=True)
class FrozenOverloaded(Exception):
    status_code: int = 503


class Slotted(Exception):
    __slots__ = ()  # no weak references


class SetattrRaises(Exception):
    def __setattr__(self, name: str, value: object) -> None:
        raise RuntimeError("read-only")


class GetattrRaises(Exception):
    def __getattr__(self, name: str) -> object:
        raise RuntimeError(f"no {name}")


class Unhashable(Exception):
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing")


def _raising(name: str, status: int | None = None) -> type[Exception]:
    """An exception class whose ``name`` property raises (with a good ``status_code``)."""

    def broken(self: object) -> object:
        raise KeyError(name)

    namespace: dict[str, Any] = {name: property(broken)}
    if status is not None and name != "status_code":
        namespace["status_code"] = status
    return type(f"{name.title()}Raises", (Exception,), namespace)


class HostileMapping(Mapping[str, str]):
    """A mapping every read of which raises."""

    def __getitem__(self, key: str) -> str:
        raise RuntimeError("no items")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no iteration")

    def __len__(self) -> int:
        return 1

    def get(self, key: str, default: object = None) -> Any:
        raise RuntimeError("no get")


class WithAttrs(Exception):
    def __init__(self, **attrs: object) -> None:
        super().__init__("attrs")
        self.__dict__.update(attrs)


def _tuple_notes() -> Exception:
    exc = ValueError("tuple notes")
    exc.__notes__ = ("first",)  # type: ignore[assignment]
    return exc


def _junk_notes() -> Exception:
    exc = RuntimeError("junk notes")
    exc.__notes__ = "not a list"  # type: ignore[assignment]
    return exc


def _caused_by_raising() -> Exception:
    try:
        raise _raising("status_code")()
    except Exception as inner:  # noqa: BLE001 - building the chain
        outer = RuntimeError("wrapped")
        outer.__cause__ = inner
        return outer


SHAPES: dict[str, Callable[[], BaseException]] = {
    "plain": lambda: ValueError("plain"),
    "str raises": StrRaises,
    "repr raises": ReprRaises,
    "frozen dataclass": FrozenError,
    "frozen dataclass, 503": FrozenOverloaded,
    "notes a tuple": _tuple_notes,
    "notes not a sequence": _junk_notes,
    "__slots__, no weakref": Slotted,
    "__setattr__ raises": SetattrRaises,
    "__getattr__ raises": GetattrRaises,
    "unhashable, __eq__ raises": Unhashable,
    "status_code raises": _raising("status_code"),
    "headers raises, 429": _raising("headers", 429),
    "response raises, 503": _raising("response", 503),
    "body raises, 400": _raising("body", 400),
    "request_id raises, 500": _raising("request_id", 500),
    "code raises, 429": _raising("code", 429),
    "request raises, 503": _raising("request", 503),
    "headers hostile mapping, 429": lambda: WithAttrs(status_code=429, headers=HostileMapping()),
    "body hostile mapping, 400": lambda: WithAttrs(status_code=400, body=HostileMapping()),
    "status_code a string": lambda: WithAttrs(status_code="429"),
    "status_code huge": lambda: WithAttrs(status_code=10**100),
    "cause with raising status": _caused_by_raising,
    "httpx.ConnectError without request": lambda: httpx.ConnectError("refused"),
    "httpx.ReadTimeout without request": lambda: httpx.ReadTimeout("slow"),
    "requests ConnectionError": lambda: requests.ConnectionError("refused"),
    "openai 429": lambda: openai_error(429, headers={"retry-after": "1"}),
    "openai 429 insufficient_quota": lambda: openai_error(429, code="insufficient_quota"),
    "openai 500": lambda: openai_error(500),
    "openai timeout": openai_timeout,
    "openai connection error": openai_connection_error,
    "anthropic 529": lambda: anthropic_error(529),
    "KeyboardInterrupt": KeyboardInterrupt,
}
"""Exception shapes that must keep their identity through the decorators."""
if sys.version_info >= (3, 11):
    _group = getattr(builtins, "ExceptionGroup")  # noqa: B009 - not a name on Python 3.10
    SHAPES["exception group"] = lambda: _group("group", [ValueError("a"), StrRaises()])

POLICIES: dict[str, dict[str, Any]] = {
    "generic": {},
    "openai": {"preset": "openai"},
    "anthropic": {"preset": "anthropic"},
    "deepseek": {"preset": "deepseek"},
    "retry everything": {"policy": Policy(otherwise=Retry("anything"), attempts=3)},
    "fail everything": {"policy": Policy(otherwise=Fail("nothing"))},
    "one attempt": {"attempts": 1},
}
_circuits = itertools.count()


class LazyClient:
    """An object whose lazy ``_client`` property raises (the SDK check looks for ``_client``)."""

    @property
    def _client(self) -> object:
        raise RuntimeError("not configured")

    def call(self, exc: BaseException) -> None:
        raise exc

    async def acall(self, exc: BaseException) -> None:
        raise exc


def _stacked(func: Callable[..., Any], stack: str, retry: dict[str, Any]) -> Callable[..., Any]:
    """``func`` under ``@llm_retry`` alone, over a circuit, under a budget, under a fallback to
    itself, or called by another decorated function."""
    if stack == "circuit":
        func = circuit(f"identity-{next(_circuits)}", failures=10**6)(func)
    wrapped = llm_retry(**retry)(func)
    if stack == "budget":
        wrapped = budget(total=600)(wrapped)
    if stack == "fallback":
        wrapped = fallback(func, on=(Exception,))(wrapped)
    if stack == "nested":
        inner = wrapped
        if asyncio.iscoroutinefunction(func):

            async def aouter() -> object:
                return await inner()

            return llm_retry(**retry)(aouter)

        def outer() -> object:
            return inner()

        return llm_retry(**retry)(outer)
    return wrapped


def _outcome(exc: BaseException, policy: str, stack: str, lazy: bool, run_async: bool) -> object:
    """What a decorated function that raises ``exc`` raises to its caller."""
    site = LazyClient()
    call: Callable[[], object]
    if run_async:

        async def araise() -> None:
            await (site.acall(exc) if lazy else _araise(exc))

        decorated = _stacked(araise, stack, POLICIES[policy])
        call = lambda: asyncio.run(decorated())  # noqa: E731 - a one-line thunk
    else:

        def sraise() -> None:
            if lazy:
                site.call(exc)
            _sraise(exc)

        call = _stacked(sraise, stack, POLICIES[policy])
    try:
        with no_wait():
            call()
    except BaseException as got:  # noqa: BLE001 - the point is what comes out
        return got
    return None


def _sraise(exc: BaseException) -> None:
    raise exc


async def _araise(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_comes_out_as_itself(shape):
    """Every shape, under the generic preset, sync: the very object, with a note if it can."""
    exc = SHAPES[shape]()
    with capture_events() as events:
        got = _outcome(exc, "generic", "plain", lazy=False, run_async=False)
    assert got is exc
    if isinstance(exc, Exception):
        assert any(e["event"] == "llm_retry.attempt_failed" for e in events)


def test_notes_go_on_odd_exceptions():
    """Frozen dataclasses and tuple notes still get the note; the tuple's notes are kept."""
    frozen, tupled = FrozenError(), _tuple_notes()
    for exc in (frozen, tupled):
        assert _outcome(exc, "generic", "plain", lazy=False, run_async=False) is exc
    assert "llm-retry [generic]" in frozen.__notes__[-1]
    assert tupled.__notes__[0] == "first"
    assert "llm-retry [generic]" in tupled.__notes__[-1]


def test_unreadable_message_is_described():
    """An exception whose ``__str__`` raises is described in the event, not str()-ed."""
    with capture_events() as events:
        _outcome(StrRaises(), "generic", "plain", lazy=False, run_async=False)
    failed = next(e for e in events if e["event"] == "llm_retry.attempt_failed")
    assert failed["message"] == "<StrRaises: str() raised ValueError>"


def test_connect_error_without_request_is_retried_with_a_note():
    """``httpx.ConnectError("refused")`` raised by hand is a connection failure: retried."""
    exc = httpx.ConnectError("refused")
    with capture_events() as events:
        got = _outcome(exc, "generic", "plain", lazy=False, run_async=False)
    assert got is exc
    failed = [e for e in events if e["event"] == "llm_retry.attempt_failed"]
    assert len(failed) > 1
    assert failed[0]["rule"] == "transport connection"
    assert "gave up after" in exc.__notes__[-1]


def test_lazy_client_property_does_not_replace_the_error():
    """The SDK-retry check reads ``self._client`` of each frame; a raising one is skipped."""
    exc = ValueError("from a method")
    assert _outcome(exc, "generic", "plain", lazy=True, run_async=False) is exc


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.sampled_from(sorted(SHAPES)),
    policy=st.sampled_from(sorted(POLICIES)),
    stack=st.sampled_from(["plain", "circuit", "budget", "fallback", "nested"]),
    lazy=st.booleans(),
    run_async=st.booleans(),
)
def test_whatever_is_raised_comes_out_as_itself(shape, policy, stack, lazy, run_async):
    """Any shape x policy x stack x call site, sync and async: the same object comes out."""
    exc = SHAPES[shape]()
    assert _outcome(exc, policy, stack, lazy, run_async) is exc


def test_headers_that_raise_are_reported_not_raised():
    """A 429 whose headers mapping raises on every read: retried by backoff, the reason shown."""
    exc = WithAttrs(status_code=429, headers=HostileMapping())
    with capture_events() as events:
        assert _outcome(exc, "generic", "plain", lazy=False, run_async=False) is exc
    failed = next(e for e in events if e["event"] == "llm_retry.attempt_failed")
    assert failed["rule"] == "status 429"
    assert failed["ignored_headers"] == ["headers unreadable: RuntimeError"]


def _raiser() -> property:
    def read(self: object) -> object:
        raise RuntimeError("unreadable")

    return property(read)


_RAISES = object()  # a drawn attribute whose property raises
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_ATTRS = {
    "status_code": st.one_of(st.integers(-5, 700), st.text(max_size=4), st.none()),
    "status": st.one_of(st.integers(-5, 700), st.none()),
    "headers": st.one_of(
        st.dictionaries(
            st.sampled_from(["retry-after", "retry-after-ms", "x-ratelimit-reset-tokens", "x"]),
            st.text(max_size=12),
            max_size=3,
        ),
        st.just(HostileMapping()),
        st.text(max_size=5),
    ),
    "body": _JSON,
    "code": st.one_of(
        st.text(max_size=12), st.sampled_from(["insufficient_quota", "overloaded_error"])
    ),
    "type": st.text(max_size=12),
    "request_id": st.one_of(st.text(max_size=8), st.integers()),
    "response": st.one_of(st.none(), st.just(HostileMapping()), st.integers()),
    "request": st.one_of(st.none(), st.integers()),
}


@st.composite
def _generated_exceptions(draw: st.DrawFn) -> BaseException:
    """An exception class built from drawn attributes, some of them properties that raise."""
    base = draw(st.sampled_from([Exception, ValueError, ConnectionError, TimeoutError, OSError]))
    chosen = draw(st.lists(st.sampled_from(sorted(_ATTRS)), unique=True, max_size=5))
    namespace: dict[str, Any] = {}
    for name in chosen:
        value = draw(st.one_of(_ATTRS[name], st.just(_RAISES)))
        namespace[name] = _raiser() if value is _RAISES else value
    if draw(st.booleans()):
        namespace["__str__"] = StrRaises.__str__
    if draw(st.booleans()):
        namespace["__setattr__"] = SetattrRaises.__setattr__
    cls = type("Generated", (base,), namespace)
    exc: BaseException = cls("generated")
    if draw(st.booleans()):
        with contextlib.suppress(Exception):
            object.__setattr__(exc, "__notes__", draw(st.sampled_from([("a",), "junk", ["b"]])))
    return exc


@settings(max_examples=100, deadline=None)
@given(
    exc=_generated_exceptions(),
    policy=st.sampled_from(sorted(POLICIES)),
    stack=st.sampled_from(["plain", "circuit", "budget", "fallback", "nested"]),
    run_async=st.booleans(),
)
def test_generated_exceptions_come_out_as_themselves(exc, policy, stack, run_async):
    """Exceptions assembled from drawn attributes (statuses, headers, bodies, codes, any of them
    a property that raises; ``__str__`` or ``__setattr__`` that raise; odd notes)."""
    assert _outcome(exc, policy, stack, lazy=False, run_async=run_async) is exc
