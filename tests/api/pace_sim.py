"""A deterministic simulator of a run's pace: the client's real controllers against a model server.

A fake clock and an event queue stand in for time and threads; nothing sleeps. What runs is the
importer's own :class:`~importer.api._ratelimit.RateLimiter` (its rate learner included) and
:class:`~importer.api.ConcurrencyLimit`, driven the way ``KantataClient`` and the send pool
drive them:

* a pool of ``ceiling`` workers starts a request whenever fewer than ``pace.limit`` are under
  way (the send pool's gate); each asks the limiter for a token (``try_acquire``) and waits as
  told, then sends;
* the server (:class:`TokenBucket`, like the sandbox's ``rate``/``burst`` knobs) spends
  ``latency`` seconds (plus a random jitter: a busy machine's threads) before it takes a token
  from its bucket, as the sandbox does; no token: 429 at once, ``Retry-After`` the whole seconds
  until the next token (at least 1); else it answers ``service`` seconds later;
* a 429 pauses the limiter (every sender) for ``Retry-After`` and the same request is tried
  again, as ``KantataClient.request`` does; an answer feeds ``pace.answered`` and
  ``limiter.succeeded``.

The server's limit may change during the run (``changes``: ``(at_s, rate, burst)``; the bucket is
then full, as the sandbox's is when its knob is set). The result holds when each request was
accepted or refused by the server, to measure rate and 429s over any window.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from importer.api import ConcurrencyLimit
from importer.api._pace import DEFAULT_CEILING
from importer.api._ratelimit import RateLimiter


class FakeClock:
    """The simulation's time; moved only by the event loop."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:  # pragma: no cover - the loop never blocks
        raise AssertionError("the simulator never sleeps: it uses try_acquire")


class TokenBucket:
    """The server's limit: ``rate`` tokens a second, at most ``burst`` held (the sandbox's)."""

    def __init__(self, rate: float | None, burst: float | None = None) -> None:
        self.set(rate, burst, 0.0)

    def set(self, rate: float | None, burst: float | None, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else (rate or 1.0))
        self.tokens = self.burst
        self.last = now

    def take(self, now: float) -> float | None:
        """None: allowed (a token taken); else the seconds until the next token."""
        if self.rate is None:
            return None
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


@dataclass
class SimResult:
    """What the server saw: times of accepted and refused requests; the client's rate over
    time (``trace``: (time, rate or None, in-flight limit) once a second)."""

    seconds: float
    accepted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)  # refusals the learner cut the rate for
    trace: list[tuple[float, float | None, int]] = field(default_factory=list)

    def rate(self, start: float, end: float | None = None) -> float:
        """Requests the server accepted a second between ``start`` and ``end``."""
        end = self.seconds if end is None else end
        n = sum(1 for t in self.accepted if start <= t < end)
        return n / max(end - start, 1e-9)

    def refusals(self, start: float, end: float | None = None) -> int:
        """429s the server sent between ``start`` and ``end``."""
        end = self.seconds if end is None else end
        return sum(1 for t in self.refused if start <= t < end)

    def episodes(self, start: float, end: float | None = None) -> int:
        """Refusals the client cut its rate for (the others were in flight at one of those)."""
        end = self.seconds if end is None else end
        return sum(1 for t in self.cuts if start <= t < end)

    def first_time_at(self, fraction: float, of: float, after: float, window: float = 5.0) -> float:
        """The first moment after ``after`` from which the server accepted at least
        ``fraction * of`` requests a second over the next ``window`` seconds (``inf``: never)."""
        t = after
        while t + window <= self.seconds:
            if self.rate(t, t + window) >= fraction * of:
                return t
            t += 0.5
        return math.inf


def simulate(
    rate: float | None,
    burst: float | None,
    latency: float,
    seconds: float,
    *,
    ceiling: int = DEFAULT_CEILING,
    max_rps: float | None = None,
    jitter: float = 0.002,
    service: float = 0.005,
    changes: Sequence[tuple[float, float | None, float | None]] = (),
    empty: bool = False,
    seed: int = 1,
    make: Callable[[FakeClock], tuple[RateLimiter, ConcurrencyLimit]] | None = None,
) -> SimResult:
    """Run the client's pace controllers for ``seconds`` of simulated time against a server
    allowing ``rate`` requests a second with a burst of ``burst`` (None: the sandbox's default,
    a second's worth), ``latency`` seconds before it decides, exponential ``jitter`` (mean
    seconds) on top; its bucket starts full, or ``empty`` (another run just spent it). ``make``
    builds the controllers on the simulation's clock (default: the importer's, ``--concurrency
    ceiling``, ``--max-rps max_rps``)."""
    clock = FakeClock()
    if make is not None:
        limiter, pace = make(clock)
    else:
        limiter = RateLimiter(max_rps, clock=clock, sleep=clock.sleep)
        pace = ConcurrencyLimit(ceiling)
    rng = random.Random(seed)
    server = TokenBucket(rate, burst)
    if empty:
        server.tokens = 0.0
    result = SimResult(seconds)
    events: list[tuple[float, int, str, int, float]] = []  # (time, seq, kind, task, sent_at)
    seq = 0

    def push(at: float, kind: str, task: int, sent_at: float = 0.0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, task, sent_at))

    for at, _, _ in changes:
        push(at, "change", 0, 0.0)
    pending_changes = list(changes)
    under_way = 0
    next_task = 0

    def top_up(now: float) -> None:
        nonlocal under_way, next_task
        while under_way < max(1, min(ceiling, pace.limit)):
            under_way += 1
            next_task += 1
            push(now, "try", next_task)

    top_up(0.0)
    push(0.2, "poll", 0)
    next_trace = 0.0
    while events:
        now, _, kind, task, sent_at = heapq.heappop(events)
        if now > seconds:
            break
        clock.now = now
        while next_trace <= now:
            result.trace.append((next_trace, limiter.rate, pace.limit))
            next_trace += 1.0
        if kind == "change":
            _, new_rate, new_burst = pending_changes.pop(0)
            server.set(new_rate, new_burst, now)
        elif kind == "poll":  # the send pool looks at the limit again every 0.2 s
            top_up(now)
            push(now + 0.2, "poll", 0)
        elif kind == "try":
            wait = limiter.try_acquire()
            if wait > 0:
                push(now + wait, "try", task)
            else:
                delay = latency + (rng.expovariate(1 / jitter) if jitter else 0.0)
                push(now + delay, "arrive", task, now)
        elif kind == "arrive":
            refused = server.take(now)
            if refused is None:
                result.accepted.append(now)
                push(now + service, "ok", task, sent_at)
            else:
                result.refused.append(now)
                push(now, "429", task, float(max(1, math.ceil(refused))))
        elif kind == "ok":
            pace.answered(now - sent_at)
            limiter.succeeded()
            under_way -= 1
            top_up(now)
        elif kind == "429":
            cuts = limiter.learner.cuts
            limiter.pause(sent_at)  # here: the Retry-After
            if limiter.learner.cuts > cuts:
                result.cuts.append(now)
            push(now, "try", task)
    return result
