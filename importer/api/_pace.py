"""Finding the server's pace without being told it: how many requests in flight, how many a second.

Nobody knows their account's rate limit (Kantata publishes it only to customers, and it may
change), so the importer learns both numbers while it runs; ``--concurrency`` and ``--max-rps``
are *ceilings* on what it learns, not settings. Two small controllers, pure (no I/O, the clock
injected) so they can be tested alone:

* :class:`ConcurrencyLimit` -- how many requests may be in flight: it grows while latency holds
  (fast at first, like TCP's slow start, then by one per window of answers) and is cut
  multiplicatively when the server is overloaded (503, time-outs) or recent latency jumps well
  above its long-run average (a queue building on the server: the gradient of Netflix's
  concurrency limiter, after TCP Vegas).
* :class:`RateLearner` -- how many requests a second: unlimited until the server first answers
  429; from then on an AIMD that keeps probing: it holds just below the rate last refused for a
  quiet while, then climbs back to it and past it ever faster (a raised limit is found within
  seconds), and cuts on each 429 (see the class for how deep).

The client feeds both on every answered request (latency, 429, 503); the send pool asks
:attr:`ConcurrencyLimit.limit`, the client's token bucket asks :attr:`RateLearner.rate`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from importer.core import ApiSettings

DEFAULT_CEILING = ApiSettings.concurrency  # in flight at most when no --concurrency is given


class ConcurrencyLimit:
    """AIMD on requests in flight, with latency as the early signal of a queue.

    Args:
        ceiling: never more in flight than this (``--concurrency``).
        initial: where to start (a few: a rate-limited server sees few refusals at the start).
        tolerance: recent latency above ``tolerance`` times the long-run average means a queue
            building (a latency that rises slowly as more is in flight does not: on a busy
            server throughput still grows then).
        floor: never fewer than this.
    """

    def __init__(
        self,
        ceiling: int = DEFAULT_CEILING,
        *,
        initial: int = 2,
        tolerance: float = 2.0,
        floor: int = 1,
    ) -> None:
        if ceiling < 1 or floor < 1:
            raise ValueError("ceiling and floor must be at least 1")
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.tolerance = tolerance
        self._limit = float(min(max(initial, self.floor), ceiling))
        self._lock = threading.Lock()
        self._long: float | None = None  # long-run average latency
        self._smooth: float | None = None  # recent latency
        self._since_cut = 0  # answers since the last cut (one cut per window of answers)
        self._growing_fast = True  # slow start: until the first sign of overload
        self.cuts = 0

    @property
    def limit(self) -> int:
        """Requests that may be in flight now."""
        return int(self._limit)

    def answered(self, latency: float) -> None:
        """A request got an answer (not a 429/503) after ``latency`` seconds."""
        latency = max(latency, 1e-4)
        with self._lock:
            self._long = _ewma(self._long, latency, 0.05)
            self._smooth = _ewma(self._smooth, latency, 0.3)
            self._since_cut += 1
            if self._smooth > self.tolerance * self._long and self._since_cut >= self._limit:
                self._cut(0.9)
                return
            step = 0.5 if self._growing_fast else 1.0 / self._limit
            self._limit = min(float(self.ceiling), self._limit + step)

    def overloaded(self) -> None:
        """The server said it is overloaded (503) or a request timed out: cut by a quarter."""
        with self._lock:
            if self._since_cut >= min(self._limit, 4):
                self._cut(0.75)

    def _cut(self, factor: float) -> None:
        self._limit = max(float(self.floor), self._limit * factor)
        self._since_cut = 0
        self._growing_fast = False
        self.cuts += 1


def _ewma(average: float | None, value: float, alpha: float) -> float:
    return value if average is None else (1 - alpha) * average + alpha * value


FREE, HOLD, PROBE = "free", "hold", "probe"  # the rate learner's phases

# The rate learner's tuning (the README, "Finding the server's pace"; tests/api/test_pace_sim.py
# plays it against simulated servers, benchmarks/_matrix.py against the sandbox).
BELOW = 0.97  # hold at this fraction of the level refused
CUT = 0.94  # refused while holding (the hold was too fast): at most this fraction of it
HOLD_S = (6.0, 9.0)  # quiet seconds before probing: after a new level, once it is confirmed
FIRST_HOLD_S = 2.0  # ... after the first refusal (slow start's overshoot): search again soon
HID = 0.1  # refused within 10 % of the last level: it is confirmed (a bucket hid it a while)
CLIMB_S = 4.0  # a probe climbs back to the level in this many seconds,
PLATEAU_S = (3.0, 6.0)  # stays there this long (longer when a burst hid the level),
GROWTH = 0.4  # then grows past it, by up to 40 % a second (e^0.4: 49 %),
ACCEL_S = 5.0  # reached after this many seconds past the level
MEASURE_S = 10.0  # what the server accepted is measured over this many seconds at most
MIN_RATE = 0.05  # requests a second: never slower (a 429 storm must not stop the run)


class RateLearner:
    """The request rate a server accepts, learned from its 429 refusals: AIMD that keeps probing.

    Unlimited until the first 429. From then on it *holds* a rate a little below the *level* (the
    rate last refused) for a quiet while (:data:`HOLD_S`), then *probes*: climbs back to the
    level (:data:`CLIMB_S`), stays there a moment (:data:`PLATEAU_S`), then grows ever faster
    past it (up to :data:`GROWTH` a second), so a limit that was raised is found within seconds.
    Each 429 ends the probe and cuts the rate (requests already in flight then, refused too,
    belong to the same 429):

    * refused at the level: the server's limit is just below it; hold at :data:`BELOW` of it
      (or between the rate held and the level, if lower), and longer once the same level is
      refused again;
    * refused soon after growing past it: a large burst hid the level for a while; the next
      probe stays at the level longer;
    * refused after growing well past it: the limit rose; the new level is at most what the
      server accepted just before (the probe went on growing while the server's bucket ran
      dry and the refusal came back);
    * refused while holding (the limit fell, or the level was an overestimate): cut the hold by
      :data:`CUT`, deeper each time in a row -- down to what the server accepted since the
      previous refusal, which its limit is at least;
    * the first refusal ends a slow start that may have overshot by twice: hold at half the rate
      sent, then search upward from there at once.

    Args:
        ceiling: never faster than this (``--max-rps``; ``None``: no ceiling of the user's).
        clock: injectable for tests.
    """

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling is not None and ceiling <= 0:
            raise ValueError("ceiling must be > 0")
        self.ceiling = ceiling
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._phase = FREE
        self._base = 0.0  # the rate held (and where a probe starts)
        self._level: float | None = None  # the rate at which the server last refused
        self._since = now  # when the phase began (a hold: when the pause ended)
        self._hold = FIRST_HOLD_S
        self._plateau = PLATEAU_S[0]
        self._search = False  # probing up from the first refusal: no level known yet
        self._sends: deque[tuple[float, bool]] = deque(maxlen=16)  # (when, rate-bound)
        self._window: deque[float] = deque()  # when the latest accepted requests were sent
        self._resumed = now  # the end of the latest pause (nothing is measured across it)
        self._refused_at: float | None = None
        self._accepted = 0  # accepted since the latest refusal
        self._cuts_held = 0  # refusals in a row while holding
        self._quiet_until = -math.inf  # refusals until then belong to the latest one
        self.refusals = 0  # 429s
        self.cuts = 0  # refusals that cut the rate (the others were in flight then)

    @property
    def rate(self) -> float | None:
        """Requests a second allowed now (``None``: unlimited)."""
        with self._lock:
            rate = self._now_rate(self._clock())
        if rate is None:
            return self.ceiling
        return rate if self.ceiling is None else min(rate, self.ceiling)

    @property
    def level(self) -> float | None:
        """The rate at which the server last refused (``None``: never refused)."""
        return self._level

    @property
    def phase(self) -> str:
        """``free`` (never refused), ``hold`` or ``probe``."""
        with self._lock:
            self._now_rate(self._clock())
            return self._phase

    def sent(self, *, bound: bool = True) -> None:
        """A request leaves now; ``bound``: it waited for the rate (more were ready to go)."""
        with self._lock:
            self._sends.append((self._clock(), bound))

    def accepted(self) -> None:
        """A request went through."""
        with self._lock:
            now = self._clock()
            self._accepted += 1
            self._window.append(now)
            while self._window[0] < now - MEASURE_S:
                self._window.popleft()

    def refused(self, retry_after: float | None = None) -> None:
        """The server answered 429 (``retry_after``: its ``Retry-After``, seconds)."""
        with self._lock:
            now = self._clock()
            self.refusals += 1
            pause = retry_after if retry_after is not None else 1.0
            if now < self._quiet_until:  # in flight when the latest refusal came
                return
            self.cuts += 1
            current = self._now_rate(now)
            if current is None or self.ceiling is not None:
                current = min(current or math.inf, self.ceiling or math.inf)
            if current == math.inf:
                current = None
            hi = self._sending(now, current)
            if self._phase == FREE:
                base, level = self._first(hi)
            elif self._phase == PROBE:
                base, level = self._probe_refused(now, hi)
            else:
                base, level = self._hold_refused(now, hi)
            if self.ceiling is not None:
                base = min(base, self.ceiling)
            self._level, self._base = max(MIN_RATE, level), max(MIN_RATE, base)
            self._phase, self._since = HOLD, now + pause
            self._resumed = self._quiet_until = now + pause
            self._refused_at, self._accepted = now, 0
            self._window.clear()

    def _first(self, hi: float) -> tuple[float, float]:
        """Slow start refused: it may have overshot by twice; search up from half."""
        self._search, self._hold, self._cuts_held = True, FIRST_HOLD_S, 0
        return hi / 2, hi / 2

    def _probe_refused(self, now: float, hi: float) -> tuple[float, float]:
        level = self._level or hi
        past = now - self._since - (CLIMB_S if level > self._base else 0.0) - self._plateau
        self._cuts_held = 0
        if self._search or past > ACCEL_S:  # grew well past the level: the limit rose
            # ... to somewhere below ``hi``: the refusal comes a while after the server's bucket
            # ran dry, and the probe grew meanwhile. What the server accepted just before tells
            # its limit better (plus what its bucket still held then).
            self._search = False
            self._plateau, self._hold = PLATEAU_S[0], HOLD_S[0]
            accepted = self._measured(now, min(max(1.0, 10 / hi), past + self._plateau))
            if accepted is not None:
                hi = max(min(hi, accepted), level)
            return BELOW * hi, hi
        if past > 0:  # refused soon after growing past the level: a bucket hid the level
            self._plateau = min(2 * self._plateau, PLATEAU_S[1])
        # Refused at the level (or on the way back to it): just below it, and not above what
        # was held until then.
        same = abs(hi / level - 1) <= HID
        self._hold = min(2 * self._hold, HOLD_S[1]) if same else HOLD_S[0]
        return min(BELOW * hi, math.sqrt(self._base * hi)), hi

    def _hold_refused(self, now: float, hi: float) -> tuple[float, float]:
        """The hold was too fast: cut it by CUT, deeper (down to what the server accepted since
        the previous refusal) the more holds in a row were refused."""
        floor = hi * CUT ** (self._cuts_held + 2)
        self._cuts_held += 1
        lo = 0.0
        if self._refused_at is not None and now > self._refused_at:
            lo = self._accepted / (now - self._refused_at)
        return min(CUT * hi, max(lo, floor)), hi

    def _measured(self, now: float, span: float) -> float | None:
        """Requests the server accepted a second over the latest ``span`` seconds (at most
        MEASURE_S, and since the latest pause; None: no time to tell)."""
        span = min(MEASURE_S, span, now - self._resumed)
        if span <= 0.0:
            return None
        return sum(1 for t in self._window if t > now - span) / span

    def _sending(self, now: float, current: float | None) -> float:
        """The rate requests were leaving at just before ``now``: the rate allowed if they were
        waiting for it, else (fewer were ready) as measured over the latest 8 since the latest
        pause; before any limit, over the latest second (a slow start's)."""
        if current is None:
            start = max(self._resumed, now - 1.0)
            times = [t for t, _ in self._sends if t >= start]
            span = max(now - min(times, default=start), 1.0 if len(times) < 8 else 0.25)
            return max(MIN_RATE, max(len(times), 1) / span)
        latest = [(t, bound) for t, bound in list(self._sends)[-8:] if t >= self._resumed]
        if len(latest) < 8 or sum(bound for _, bound in latest) >= 6:
            return current
        measured = (len(latest) - 1) / max(latest[-1][0] - latest[0][0], 1e-6)
        return max(MIN_RATE, min(current, measured))

    def _now_rate(self, now: float) -> float | None:
        """The rate of the phase at ``now`` (a hold turns into a probe when its time is up)."""
        if self._phase == FREE:
            return None
        if self._phase == HOLD:
            if now < self._since + self._hold:
                return self._base
            self._phase, self._since = PROBE, self._since + self._hold
        level = self._level or self._base
        t = max(0.0, now - self._since)
        return _probe(self._base, level, t, 0.0 if self._search else self._plateau)


def _probe(base: float, level: float, t: float, plateau: float) -> float:
    """The rate ``t`` seconds into a probe from ``base`` when the last refusal came at
    ``level``: up to the level in CLIMB_S (linearly), there for ``plateau`` seconds, then
    growing ever faster past it, up to GROWTH a second (after ACCEL_S)."""
    if level > base:
        if t <= CLIMB_S:
            return base + (level - base) * t / CLIMB_S
        t -= CLIMB_S
    top = max(base, level)
    beyond = min(max(0.0, t - plateau), 120.0)
    if beyond <= ACCEL_S and plateau > 0:
        return top * math.exp(GROWTH * beyond * beyond / (2 * ACCEL_S))
    return top * math.exp(GROWTH * (beyond - (ACCEL_S / 2 if plateau > 0 else 0.0)))


def describe(limit: int, rate: float | None) -> str:
    """``"12 in flight, ≤ 9.6 req/s"`` for progress output."""
    text = f"{limit} in flight"
    return text if rate is None else f"{text}, ≤ {rate:.3g} req/s"


__all__ = ["DEFAULT_CEILING", "ConcurrencyLimit", "RateLearner", "describe"]
