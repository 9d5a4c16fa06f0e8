"""A key's limits in Redis, so that processes and hosts admit as one client of the provider.

`RedisLimits` is the Redis backend of `llm_retry.run.admission`: the concurrency limit, the
attempts in flight (of every process) and the rate windows live in one hash under the key, and
every admission, release and lesson is one Lua script run (``register_script``: ``EVALSHA``,
loaded again if Redis forgot it), atomic on the server: one round trip each. The script is the
same arithmetic as `llm_retry.decide.limits` and `llm_retry.run.admission.LocalLimits` (a test
runs both on the same sequences). Times are the callers' wall clocks: hosts sharing a key
should keep their clocks in sync (NTP).

When Redis cannot be reached, admission goes on with this process's `LocalLimits` (and the
store's one warning event), as circuits do; a pass admitted locally is released locally. A
process that dies with attempts in flight leaves them counted until the key expires (the
store's ``ttl`` after its last write).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llm_retry.decide import limits as _limits

if TYPE_CHECKING:
    from llm_retry.decide.limits import LimitSettings, Signal
    from llm_retry.run.admission import Hint, LocalLimits, Pass

    from .redis import RedisStore

__all__ = ["SCRIPT", "RedisLimits"]

SCRIPT = """
local k, w = KEYS[1], KEYS[2]
local op, ttl = ARGV[1], tonumber(ARGV[2])
local function A(i) return tonumber(ARGV[i]) end
local initial, lo, hi, backoff, conc, pacing = A(3), A(4), A(5), A(6), A(7), A(8)
local PLATEAU, PROBE, BETA, IDLE, MAXP = A(9), A(10), A(11), A(12), A(13)
local raw = redis.call('HGETALL', k)
local s = {}
for i = 1, #raw, 2 do s[raw[i]] = tonumber(raw[i + 1]) end
local function get(f, d) if s[f] == nil then return d end return s[f] end
local limit, inflight, epoch = get('limit', initial), get('inflight', 0), get('epoch', 0)
local grown, quota, period = get('grown', 1073741824), get('quota', 0), get('period', 1)
local anchor, repoch, grown_to = get('anchor', 0), get('repoch', 0), get('grown_to', -1)
local org_re, org_w, floor = get('org_re', -1), get('org_w', -1), get('floor', 1)
local last, cold_start, cold_sent = get('last', 0), get('cold_start', -1e300), get('cold_sent', 0)
local function slots(l) local n = math.floor(l + 0.5) if n < 1 then n = 1 end return n end
local function reserved(win) return tonumber(redis.call('HGET', w, tostring(win)) or '0') end
local function save()
  redis.call('HSET', k, 'limit', tostring(limit), 'inflight', inflight, 'epoch', epoch,
    'grown', grown, 'quota', quota, 'period', tostring(period), 'anchor', tostring(anchor),
    'repoch', repoch,
    'grown_to', grown_to, 'org_re', org_re, 'org_w', org_w, 'floor', floor, 'last', tostring(last),
    'cold_start', tostring(cold_start), 'cold_sent', cold_sent)
  redis.call('PEXPIRE', k, ttl)
  if redis.call('EXISTS', w) == 1 then redis.call('PEXPIRE', w, ttl) end
end
local function reply(status, value, a, b, c, d, e)
  return {status, tostring(value), tostring(a), tostring(b), tostring(c), tostring(d), tostring(e),
    tostring(slots(limit) - inflight)}
end
if op == 'admit' then
  local now, start, hre, hw, hseq = A(14), A(15), A(16), A(17), A(18)
  if quota > 0 and now - last > IDLE then
    quota = 0 repoch = repoch + 1 redis.call('DEL', w)
  end
  if quota > 0 and pacing == 1 then
    local current = math.max(0, math.floor((start - anchor) / period))
    local prev = current - 1
    if prev >= PLATEAU and prev > grown_to and reserved(prev) >= quota then
      grown_to = prev quota = quota + 1
    end
    if not (hre == repoch and hseq >= 0 and hw >= current and hseq < quota) then
      local win = current
      while reserved(win) >= quota do win = win + 1 end
      hseq = reserved(win)
      redis.call('HINCRBY', w, tostring(win), 1)
      hre, hw = repoch, win
    end
    local at = math.max(start, anchor + hw * period)
    if at > now then save() return reply('wait', at - now, epoch, 0, hre, hw, hseq) end
  end
  if conc == 1 and inflight >= slots(limit) then
    save() return reply('full', 0, epoch, 0, hre, hw, hseq)
  end
  inflight = inflight + 1
  if quota == 0 then
    if now - cold_start >= 1 then cold_start = now cold_sent = 0 end
    cold_sent = cold_sent + 1
    hre, hw, hseq = repoch, -1, -1
  end
  save()
  return reply('go', 0, epoch, inflight, hre, hw, hseq)
elseif op == 'release' then
  local ok = tonumber(ARGV[14])
  local full = inflight >= slots(limit)
  inflight = math.max(0, inflight - 1)
  if ok == 1 then
    grown = grown + 1
    if full and grown >= PROBE * slots(limit) then
      limit = math.min(hi, limit + 1 / math.max(limit, 1))
    end
  end
elseif op == 'learn' then
  local sig, t_epoch, t_k, t_re, t_w = ARGV[14], A(15), A(16), A(17), A(18)
  local hint, now, reset = A(19), A(20), A(21)
  if sig == 'rate' then
    last = now
    if t_re ~= repoch then
      if t_re == org_re and t_w == org_w and quota > 0 then quota = math.max(floor, quota - 1) end
    else
      local back = 1
      if hint >= 0 then back = math.min(MAXP, hint) end
      local per = math.max(1, back)
      if reset >= 0 then back = math.min(reset, per) end
      local sent = cold_sent
      if t_w ~= -1 then sent = reserved(t_w) if sent == 0 then sent = 1 end end
      org_re, org_w = repoch, t_w
      if quota > 0 then floor = math.max(1, math.floor(BETA * quota)) else floor = 1 end
      quota = math.max(floor, sent - 1)
      repoch = repoch + 1
      period, anchor, grown_to = per, now + back, -1
      redis.call('DEL', w)
    end
  elseif (sig == 'concurrency' or sig == 'overload') and t_epoch == epoch then
    local target = limit * backoff
    if t_k > 0 and sig == 'concurrency' then target = math.min(target, t_k - 1) end
    limit = math.min(hi, math.max(lo, target))
    epoch = epoch + 1
    if sig == 'concurrency' then grown = 0 end
  end
elseif op == 'cancel' then
  local t_re, t_w, t_seq = A(14), A(15), A(16)
  if t_re == repoch and t_seq >= 0 and reserved(t_w) > 0 then
    redis.call('HINCRBY', w, tostring(t_w), -1)
  end
elseif op == 'snapshot' then
  return reply('snapshot', limit, inflight, quota, 0, 0, 0)
end
save()
return reply('ok', 0, 0, 0, 0, 0, 0)
"""


class RedisLimits:
    """A key's limit state in Redis, with this process's `LocalLimits` while Redis is away."""

    def __init__(self, store: RedisStore, key: str, local: LocalLimits) -> None:
        self.store = store
        self.local = local
        self._keys = [f"{store.prefix}limits:{key}", f"{store.prefix}limits:{key}:w"]
        self._script = store.client.register_script(SCRIPT)
        self._free = 1
        self._last_cfg = _limits.LimitSettings()

    def _run(self, op: str, cfg: LimitSettings | None, *args: object) -> list[str] | None:
        """One script run; ``None`` (and local state) when Redis is unreachable."""
        store = self.store
        if store.failover.skip():  # the store's own availability gate
            return None
        head = self._head(cfg)
        try:
            raw = self._script(keys=self._keys, args=[op, int(store.ttl * 1000), *head, *args])
        except store._errors as exc:
            store.failover.failed(exc)
            return None
        store.failover._came_back()
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in raw]
        self._free = int(float(values[7]))
        return values

    def _head(self, cfg: LimitSettings | None) -> tuple[Any, ...]:
        if cfg is None:
            cfg = self._last_cfg
        self._last_cfg = cfg
        return (
            cfg.initial,
            cfg.min,
            cfg.max,
            cfg.backoff,
            int(cfg.concurrency),
            int(cfg.pacing),
            _limits.PLATEAU,
            _limits.PROBE_AFTER,
            _limits.BETA,
            _limits.IDLE_RESET,
            _limits.MAX_PERIOD,
        )

    def admit(self, now: float, start: float, held: Pass, cfg: LimitSettings) -> float | None:
        """As `LocalLimits.admit`, in Redis."""
        found = self._run("admit", cfg, repr(now), repr(start), held.repoch, held.window, held.seq)
        if found is None:
            held.local = True
            return self.local.admit(now, start, held, cfg)
        status, value, epoch, k, repoch, window, seq = found[:7]
        held.repoch, held.window, held.seq = int(repoch), int(float(window)), int(float(seq))
        if status == "wait":
            return float(value)
        if status == "full":
            return None
        held.epoch, held.k, held.admitted, held.local = int(epoch), int(k), True, False
        return 0.0

    def release(self, ticket: Pass, ok: bool, cfg: LimitSettings) -> None:
        """As `LocalLimits.release`, in Redis (locally for a pass admitted locally)."""
        if ticket.local or self._run("release", cfg, int(ok)) is None:
            self.local.release(ticket, ok, cfg)

    def learn(self, ticket: Pass, sig: Signal, hint: Hint, now: float, cfg: Any) -> None:
        """As `LocalLimits.learn`, in Redis."""
        args = (sig, ticket.epoch, ticket.k, ticket.repoch, ticket.window)
        after, reset = (-1 if h is None else repr(float(h)) for h in hint)
        when = (after, repr(now), reset)
        if ticket.local or self._run("learn", cfg, *args, *when) is None:
            self.local.learn(ticket, sig, hint, now, cfg)

    def cancel(self, ticket: Pass) -> None:
        """As `LocalLimits.cancel`, in Redis."""
        args = (ticket.repoch, ticket.window, ticket.seq)
        if ticket.admitted or ticket.seq < 0:
            return
        if ticket.local or self._run("cancel", None, *args) is None:
            self.local.cancel(ticket)

    def free(self) -> int:
        """Free slots as of the last script run."""
        return self._free

    def snapshot(self) -> dict[str, float]:
        """``limit``, ``inflight`` and ``quota`` as Redis has them (local ones if away)."""
        found = self._run("snapshot", None)
        if found is None:
            return self.local.snapshot()
        return {"limit": float(found[1]), "inflight": float(found[2]), "quota": float(found[3])}
