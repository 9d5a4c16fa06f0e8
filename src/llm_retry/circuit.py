"""``@circuit``: stop calling a provider that is down, and find out quickly when it is back.

``circuit(name, ...)`` returns a `Circuit`: a decorator (``@circuit("deepseek")``) and a handle
for health checks and operators (``circuit("deepseek").state()``, ``.open()``, ``.close()``).
Circuits of the same name share their state. What counts as a failure is the policy's
classification (each rule's ``circuit`` effect), so a 400 does not open the circuit and a 402
opens it at once. The state machine is `llm_retry.decide.breaker`; the store makes its transitions
atomic, in this process or across processes through Redis. No lock is held across the call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

from .decide.breaker import (
    ADMIT,
    CLOSED,
    Admission,
    BreakerState,
    CircuitSettings,
    Outcome,
    Transition,
    admit,
    force,
    record,
)
from .decide.classify import classify
from .errors import CircuitOpenError, PolicyError
from .events import emit
from .policy import Policy
from .policy.presets import available_presets, current_profile, get_preset, preset_source
from .run import clock as _clock
from .run.keys import default_store
from .run.pipeline import attach
from .stores import JSONCodec, MemoryStore, Store

__all__ = ["Circuit", "CircuitSnapshot", "circuit"]

P = ParamSpec("P")
R = TypeVar("R")

_CODEC: JSONCodec[BreakerState] = JSONCodec(BreakerState.to_json, BreakerState.from_json)
_MAX_CAUSES = 1_000
_CLEAN = Admission(True)  # admitted while no state was stored at all: closed and clean
_AdmitStep = Callable[[BreakerState], tuple[tuple[Admission, "Transition | None"], BreakerState]]
_RecordStep = Callable[[BreakerState], tuple["Transition | None", BreakerState]]


@dataclass(frozen=True, slots=True)
class CircuitSnapshot:
    """A circuit's state, for health checks.

    Attributes:
        name: the circuit's name.
        key: the per-key circuit's key ("" for the circuit as a whole).
        state: ``"closed"``, ``"open"`` or ``"half_open"``.
        failures: consecutive failures counted.
        retry_in: seconds until a probe is allowed (open circuits only).
        reason: why it opened.
    """

    name: str
    key: str
    state: Literal["closed", "open", "half_open"]
    failures: int
    retry_in: float | None
    reason: str


class Circuit:
    """A named circuit breaker: decorate functions with it, query it, force it.

    Args:
        name: circuits with the same name (and store) share state.
        preset: the preset whose ``[circuit]`` section gives the defaults and whose policy
            classifies failures; defaults to ``name`` when a preset of that name exists,
            else ``generic``.
        policy: a `Policy` to classify failures with, instead of the preset's.
        key: a function of the call's arguments giving a per-key circuit (one per model).
        store: where state lives; a process-wide `MemoryStore` by default, or a `RedisStore`.
        **settings: `CircuitSettings` fields overriding the preset's.
    """

    def __init__(
        self,
        name: str,
        *,
        preset: str | None = None,
        policy: Policy | None = None,
        key: Callable[..., object] | None = None,
        store: Store | None = None,
        **settings: Any,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise PolicyError(f"a circuit needs a name, not {name!r}")
        self.name = name
        self._preset = preset or (name if name in available_presets() else "generic")
        self._overrides = settings
        self._key = key
        self.store: Store = store if store is not None else default_store()
        self._policy: Callable[[], Policy] = (
            (lambda: policy) if policy is not None else preset_source(self._preset, {})
        )
        self._settings: dict[str, CircuitSettings] = {}
        # Fail at decoration time, not in production; and learn whether any profile tracks a
        # failure rate (if none does, a clean success needs no write at all).
        profiles = get_preset(self._preset).profiles  # dev, test, prod and the file's own
        self._tracks_rate = any(self._settings_for(p).failure_rate is not None for p in profiles)
        self._whole_key = self._store_key(None)
        self._causes: OrderedDict[str, BaseException] = OrderedDict()
        self._causes_lock = threading.Lock()
        if not isinstance(self.store, MemoryStore) and hasattr(self.store, "aupdate"):
            # A store with I/O: async pipelines await these instead (`llm_retry.run.ahooks`).
            self.aenter, self.aexit = self._aenter, self._aexit

    # -- settings and keys ---------------------------------------------------------------
    def _settings_for(self, profile: str) -> CircuitSettings:
        cfg = self._settings.get(profile)
        if cfg is None:
            section = get_preset(self._preset).section("circuit", profile)
            cfg = self._settings[profile] = CircuitSettings.from_mapping(
                {**section, **self._overrides}
            )
        return cfg

    @property
    def settings(self) -> CircuitSettings:
        """The settings under the active profile."""
        return self._settings_for(current_profile())

    def _store_key(self, key: object) -> str:
        # The name's length keeps "a:b" + key "c" apart from "a" + key "b:c".
        return f"circuit:{len(self.name)}:{self.name}:{'' if key is None else key}"

    # -- the gate ------------------------------------------------------------------------
    def _admit(self, skey: str) -> Admission:
        plan = self._admission(self.store.peek(skey, _CODEC))
        if isinstance(plan, Admission):
            return plan
        return self._admitted(skey, self.store.update(skey, plan, CLOSED, _CODEC))

    async def _aadmit(self, skey: str) -> Admission:
        current: BreakerState | None = await self.store.apeek(skey, _CODEC)
        plan = self._admission(current)
        if isinstance(plan, Admission):
            return plan
        return self._admitted(skey, await self.store.aupdate(skey, plan, CLOSED, _CODEC))

    def _admission(self, current: BreakerState | None) -> Admission | _AdmitStep:
        """The admission, when the state read is enough; else the step to apply atomically."""
        if current is None:
            return _CLEAN
        if current.state == "closed":
            return ADMIT
        cfg, now = self.settings, _clock.wall()
        seen, unchanged, _ = admit(current, now, cfg)
        if unchanged is current:  # a refusal changes nothing: no transaction needed
            return seen

        def step(s: BreakerState) -> tuple[tuple[Admission, Transition | None], BreakerState]:
            admission, new, change = admit(s, now, cfg)
            return (admission, change), new

        return step

    def _admitted(self, skey: str, done: tuple[Admission, Transition | None]) -> Admission:
        admission, change = done
        if change is not None:
            self._announce(skey, change)
        return admission

    def _outcome(self, exc: BaseException | None) -> tuple[Outcome, str]:
        if exc is None:
            return "success", "success"
        if not isinstance(exc, Exception) or isinstance(exc, CircuitOpenError):
            return "ignore", type(exc).__name__
        decision = classify(exc, self._policy(), now=_clock.wall())
        return decision.rule.circuit, decision.describe()

    def _finish(self, skey: str, admission: Admission, exc: BaseException | None) -> None:
        step = self._record(admission, exc)
        if step is not None:
            self._recorded(skey, exc, self.store.update(skey, step, CLOSED, _CODEC))

    async def _afinish(self, skey: str, admission: Admission, exc: BaseException | None) -> None:
        step = self._record(admission, exc)
        if step is not None:
            self._recorded(skey, exc, await self.store.aupdate(skey, step, CLOSED, _CODEC))

    def _record(self, admission: Admission, exc: BaseException | None) -> _RecordStep | None:
        """The step that records the call's outcome (``None``: nothing to write)."""
        outcome, reason = self._outcome(exc)
        if outcome == "success" and admission is _CLEAN and not self._tracks_rate:
            return None  # closed, clean and still clean: nothing to write
        cfg, now = self.settings, _clock.wall()

        def step(s: BreakerState) -> tuple[Transition | None, BreakerState]:
            new, change = record(s, outcome, probe=admission.probe, now=now, cfg=cfg, reason=reason)
            return change, new

        return step

    def _recorded(self, skey: str, exc: BaseException | None, change: Transition | None) -> None:
        if change is not None:
            if change.after == "open" and exc is not None:
                self._remember(skey, exc)
            self._announce(skey, change)

    def _rejected(self, skey: str, key: object, admission: Admission) -> CircuitOpenError:
        when = (
            "a probe is in flight"
            if admission.retry_in is None
            else (f"probe allowed in {admission.retry_in:.1f} s")
        )
        label = self.name if key is None else f"{self.name}[{key}]"
        error = CircuitOpenError(
            f"circuit {label!r} is {admission.state.replace('_', '-')}: {when}",
            name=self.name,
            key=key,
            state=admission.state,
            retry_in=admission.retry_in,
            reason=admission.reason,
        )
        error.__cause__ = self._causes.get(skey)
        emit(
            "llm_retry.circuit_rejected",
            "info",
            circuit=self.name,
            key=None if key is None else str(key),
            state=admission.state,
            retry_in=None if admission.retry_in is None else round(admission.retry_in, 3),
        )
        return error

    def _remember(self, skey: str, exc: BaseException) -> None:
        with self._causes_lock:
            self._causes[skey] = exc
            self._causes.move_to_end(skey)
            while len(self._causes) > _MAX_CAUSES:
                self._causes.popitem(last=False)

    def _announce(self, skey: str, change: Transition) -> None:
        emit(
            f"llm_retry.circuit_{change.after}",
            "warning" if change.after == "open" else "info",
            circuit=self.name,
            key=skey[len(self._whole_key) :] or None,
            before=change.before,
            reason=change.reason,
            failures=change.failures if change.after == "open" else None,
            break_duration=change.break_duration if change.after == "open" else None,
        )

    # -- the pipeline's hook -------------------------------------------------------------
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``func``: reject calls while open, count outcomes while closed or probing."""
        return attach(func, self)

    def _keys(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[object, str]:
        """The call's key (``None``: the circuit as a whole) and its key in the store."""
        if self._key is None:
            return None, self._whole_key
        key = self._key(*args, **kwargs)
        return key, self._store_key(key)

    def enter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Admission]:
        """Admit the call or raise `CircuitOpenError`; the key and admission to finish with."""
        key, skey = self._keys(args, kwargs)
        admission = self._admit(skey)
        if not admission.allowed:
            raise self._rejected(skey, key, admission)
        return skey, admission

    def exit(self, token: tuple[str, Admission], error: BaseException | None) -> None:
        """Count how the admitted call ended."""
        if error is None and token[1] is _CLEAN and not self._tracks_rate:
            return  # closed, clean and still clean: nothing to write
        self._finish(token[0], token[1], error)

    async def _aenter(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Admission]:
        """`enter` for async callers: the store is awaited, never waited on."""
        key, skey = self._keys(args, kwargs)
        admission = await self._aadmit(skey)
        if not admission.allowed:
            raise self._rejected(skey, key, admission)
        return skey, admission

    async def _aexit(self, token: tuple[str, Admission], error: BaseException | None) -> None:
        """`exit` for async callers."""
        if error is None and token[1] is _CLEAN and not self._tracks_rate:
            return
        await self._afinish(token[0], token[1], error)

    # -- health checks and manual control ------------------------------------------------
    def state(self, key: object = None) -> CircuitSnapshot:
        """The state of the circuit (or of its per-key circuit ``key``)."""
        s = self.store.peek(self._store_key(key), _CODEC) or CLOSED
        retry_in = max(0.0, s.open_until - _clock.wall()) if s.state == "open" else None
        return CircuitSnapshot(
            self.name, "" if key is None else str(key), s.state, s.failures, retry_in, s.reason
        )

    def _force(self, action: Literal["open", "close", "reset"], key: object, reason: str) -> None:
        skey, cfg, now = self._store_key(key), self.settings, _clock.wall()

        def step(s: BreakerState) -> tuple[Transition | None, BreakerState]:
            new, change = force(s, action, now, cfg, reason)
            return change, new

        change = self.store.update(skey, step, CLOSED, _CODEC)
        if change is not None:
            self._announce(skey, change)

    def open(self, key: object = None, *, reason: str = "opened by hand") -> None:
        """Open the circuit now, for one break duration."""
        self._force("open", key, reason)

    def close(self, key: object = None, *, reason: str = "closed by hand") -> None:
        """Close the circuit now."""
        self._force("close", key, reason)

    def reset(self, key: object = None) -> None:
        """Forget the circuit's state and counts."""
        self._force("reset", key, "reset")
        with self._causes_lock:
            self._causes.pop(self._store_key(key), None)

    def __repr__(self) -> str:
        return f"Circuit({self.name!r}, preset={self._preset!r})"


circuit = Circuit
"""``circuit(name, ...)``: `Circuit` spelled as a decorator factory (``@circuit("deepseek")``)."""
