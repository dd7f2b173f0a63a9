"""Configuration, runtime fault knobs and counters of the Kantata sandbox.

Everything here is thread-safe: the HTTP server handles each connection in its own thread, and
tests change knobs (``SandboxServer.set_knobs``) while a client is running against the server.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

BULK_MODES = ("atomic", "partial", "partial-error")
KNOB_NAMES = ("rate", "fail_rate", "drop_after_commit", "latency_ms", "bulk_mode")


def check_knob(name: str, value: Any) -> Any:
    """Validate one knob value and return it normalised; raise ValueError/TypeError otherwise."""
    if name not in KNOB_NAMES:
        raise TypeError(f"unknown sandbox knob {name!r} (known: {', '.join(KNOB_NAMES)})")
    if name == "bulk_mode":
        if value not in BULK_MODES:
            raise ValueError(f"bulk_mode must be one of {', '.join(BULK_MODES)}, not {value!r}")
        return value
    if name == "rate" and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if name == "rate" and not (0 < number < math.inf):
        raise ValueError(f"rate must be a positive number of requests per second, not {value!r}")
    if name in ("fail_rate", "drop_after_commit") and not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be a fraction between 0 and 1, not {value!r}")
    if name == "latency_ms" and not 0.0 <= number < math.inf:
        raise ValueError(f"latency_ms must be >= 0, not {value!r}")
    return number


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox server is set up; the fault knobs are all off by default."""

    port: int = 0
    db_path: str = ":memory:"
    seed: str | Path | None = None
    token: str | None = None
    rate: float | None = None
    fail_rate: float = 0.0
    drop_after_commit: float = 0.0
    latency_ms: float = 0.0
    bulk_mode: str = "atomic"
    random_seed: int | None = None
    max_per_page: int = 200

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, not {self.port}")
        for name in KNOB_NAMES:
            check_knob(name, getattr(self, name))
        if self.max_per_page < 1:
            raise ValueError(f"max_per_page must be >= 1, not {self.max_per_page}")
        if self.token is not None and not self.token.strip():
            raise ValueError("token must not be empty")


DEFAULT_CONFIG = SandboxConfig()


@dataclass(frozen=True)
class Knobs:
    """A snapshot of the fault knobs in force."""

    rate: float | None = None
    fail_rate: float = 0.0
    drop_after_commit: float = 0.0
    latency_ms: float = 0.0
    bulk_mode: str = "atomic"

    def describe(self) -> str:
        """One line for humans, e.g. ``rate=off fail_rate=0 ... bulk_mode=atomic``."""
        rate = "off" if self.rate is None else f"{self.rate:g}/s"
        return (
            f"rate={rate} fail_rate={self.fail_rate:g} "
            f"drop_after_commit={self.drop_after_commit:g} "
            f"latency_ms={self.latency_ms:g} bulk_mode={self.bulk_mode}"
        )


class FaultInjector:
    """Decides, request by request, which fault (if any) the sandbox injects."""

    def __init__(self, config: SandboxConfig) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(config.random_seed)
        self._knobs = Knobs(
            **{name: check_knob(name, getattr(config, name)) for name in KNOB_NAMES}
        )
        self._tokens = 0.0
        self._last = 0.0
        self._reset_bucket()

    @property
    def knobs(self) -> Knobs:
        with self._lock:
            return self._knobs

    def set(self, **kwargs: Any) -> Knobs:
        """Change some knobs at runtime; all are validated before any is applied."""
        changes = {name: check_knob(name, value) for name, value in kwargs.items()}
        with self._lock:
            self._knobs = replace(self._knobs, **changes)
            if "rate" in changes:
                self._reset_bucket()
            return self._knobs

    def _reset_bucket(self) -> None:
        rate = self._knobs.rate
        self._tokens = max(1.0, rate) if rate is not None else 0.0
        self._last = time.monotonic()

    def _draw(self, fraction: float) -> bool:
        # No draw at all when the knob is off, so one knob never shifts another's sequence.
        if fraction <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < fraction

    def should_fail(self) -> bool:
        """True if this request is to be answered 503 (``fail_rate``)."""
        return self._draw(self.knobs.fail_rate)

    def should_drop(self) -> bool:
        """True if this committed create is to lose its reply (``drop_after_commit``)."""
        return self._draw(self.knobs.drop_after_commit)

    def take_token(self) -> int | None:
        """Take a token from the bucket: None if allowed, else the Retry-After seconds (>= 1)."""
        with self._lock:
            rate = self._knobs.rate
            if rate is None:
                return None
            burst = max(1.0, rate)
            now = time.monotonic()
            self._tokens = min(burst, self._tokens + (now - self._last) * rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / rate))


@dataclass(frozen=True)
class Counters:
    """A snapshot of what the sandbox has seen since start (or the last reset)."""

    requests: int = 0
    create_requests: int = 0
    objects_created: int = 0
    rate_limited: int = 0
    failed: int = 0
    dropped: int = 0
    largest_batch: int = 0
    concurrency_peak: int = 0
    by_status: dict[int, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The counters as JSON-ready data (status codes become string keys)."""
        data = asdict(self)
        data["by_status"] = {str(code): n for code, n in sorted(self.by_status.items())}
        return data


class CounterBoard:
    """The live, lock-guarded counters behind :class:`Counters` snapshots."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._inflight = 0
        self._values: dict[str, int] = {}
        self._by_status: dict[int, int] = {}
        self.reset()

    def reset(self) -> None:
        with self._cond:
            self._values = {
                name: 0 for name in Counters.__dataclass_fields__ if name != "by_status"
            }
            self._values["concurrency_peak"] = self._inflight
            self._by_status = {}

    def begin(self) -> None:
        """A request starts being handled."""
        with self._cond:
            self._inflight += 1
            self._values["requests"] += 1
            peak = self._values["concurrency_peak"]
            self._values["concurrency_peak"] = max(peak, self._inflight)

    def end(self, status: int | None) -> None:
        """A request is done; ``status`` None means no response was sent (dropped)."""
        with self._cond:
            self._inflight -= 1
            if status is not None:
                self._by_status[status] = self._by_status.get(status, 0) + 1
            self._cond.notify_all()

    def add(self, name: str, amount: int = 1) -> None:
        with self._cond:
            self._values[name] += amount

    def batch(self, size: int) -> None:
        """A create request carrying ``size`` objects reached the handler."""
        with self._cond:
            self._values["create_requests"] += 1
            self._values["largest_batch"] = max(self._values["largest_batch"], size)

    def snapshot(self) -> Counters:
        with self._cond:
            return Counters(**self._values, by_status=dict(self._by_status))

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)
