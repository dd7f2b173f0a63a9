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
MEMBERSHIPS_PER_MEMBER = ("one", "many")
# docs/kantata-api.md § Updating and deleting: ``member_id`` is documented as one integer. The
# default refuses a comma list (400) as a typed parameter would; the other values are the ways a
# real server might treat it: "ignored" (an unknown value: the filter is dropped and *every*
# membership comes back), "first" (cast to an integer the Ruby way: "7,8" -> 7) or "honoured".
MEMBER_ID_LISTS = ("refused", "ignored", "first", "honoured")
# docs/kantata-api.md § Lookups: by_email_address(es) "exactly match" (the default); whether a
# real server folds letter case is not said, so "case-insensitive" is the other way.
EMAIL_MATCHES = ("exact", "case-insensitive")
# A server that stops answering: nothing (the default), writes only, or every request.
STOP_ANSWERING = ("no", "writes", "all")
# Another client writing while a run's write is in doubt (at each write fault, for the request's
# members): nothing, a membership identical to the one asked for, or one elsewhere.
THIRD_PARTY_WRITES = ("off", "identical", "other")
# The faults a scheduled write can get (``write_faults``), in the order writes arrive:
#   ok            no fault (the random knobs do not apply to this write either)
#   429           refused by the rate limit, nothing done
#   503           answered 503 before anything is done
#   503-after-commit  committed, then a gateway answers 503
#   drop          committed, then the connection closes with no reply
#   late          the connection closes at once with no reply; the write goes on and commits
#                 ``late_commit_s`` later (default: just before the request time limit)
#   hang          never answered (and never committed) while the sandbox runs
WRITE_FAULTS = ("ok", "429", "503", "503-after-commit", "drop", "late", "hang")
VALIDATION_STATUSES = (422, 400)
DEFAULT_WORKSPACES_RATE = 5.0  # a guess: Kantata publishes the figure only to customers


@dataclass(frozen=True)
class KnobSpec:
    """One runtime switch: its name, default, allowed values and a line of help."""

    name: str
    default: Any
    kind: str  # "rate" (positive number or None), "fraction", "seconds", "choice", "bool",
    # "count" (a whole number >= 0), "faults" (a comma list of WRITE_FAULTS)
    help: str
    choices: tuple[Any, ...] = ()
    optional: bool = False


# Every runtime switch, in the order ``importer sandbox --help`` lists them. The reference
# (docs/kantata-api.md) is silent on each behaviour a "choice"/"bool" switch selects.
KNOB_SPECS: tuple[KnobSpec, ...] = (
    KnobSpec("rate", None, "rate", "requests/s over all requests before 429", optional=True),
    KnobSpec(
        "workspaces_rate",
        DEFAULT_WORKSPACES_RATE,
        "rate",
        "requests/s on /workspaces before 429 (a guess; the real figure is unpublished)",
        optional=True,
    ),
    KnobSpec("retry_after", True, "bool", "send Retry-After with a 429"),
    KnobSpec("retry_after_s", None, "seconds", "force the Retry-After value", optional=True),
    KnobSpec("fail_rate", 0.0, "fraction", "fraction of requests answered 503"),
    KnobSpec("drop_after_commit", 0.0, "fraction", "fraction of writes whose reply is lost"),
    KnobSpec(
        "fail_after_commit",
        0.0,
        "fraction",
        "fraction of writes answered 503 after they committed (a gateway in front of the app)",
    ),
    KnobSpec(
        "late_commit",
        0.0,
        "fraction",
        "fraction of writes whose reply is lost at once while the write goes on and commits later",
    ),
    KnobSpec(
        "late_commit_s",
        None,
        "seconds",
        "seconds after arrival that a late write commits (default: just before the time limit)",
        optional=True,
    ),
    KnobSpec(
        "write_faults",
        "",
        "faults",
        "faults for the next writes, in order (comma list of " + ", ".join(WRITE_FAULTS) + ")",
    ),
    KnobSpec(
        "stop_answering",
        "no",
        "choice",
        "from now on leave requests unanswered: no | writes | all",
        STOP_ANSWERING,
    ),
    KnobSpec(
        "stop_answering_after",
        None,
        "count",
        "requests stop_answering still lets through before it takes effect",
        optional=True,
    ),
    KnobSpec("latency_ms", 0.0, "seconds", "milliseconds added to every request"),
    KnobSpec("commit_delay_ms", 0.0, "seconds", "milliseconds a write takes before it commits"),
    KnobSpec("request_time_limit_s", 180.0, "seconds", "server ends a request after this (503)"),
    KnobSpec("bulk_mode", "atomic", "choice", "a bulk create with bad objects", BULK_MODES),
    KnobSpec(
        "memberships_per_member",
        "one",
        "choice",
        "a second membership for a member: refused or accepted",
        MEMBERSHIPS_PER_MEMBER,
    ),
    KnobSpec(
        "member_id_lists",
        "refused",
        "choice",
        "a comma list in member_id (documented as one integer)",
        MEMBER_ID_LISTS,
    ),
    KnobSpec(
        "email_match",
        "exact",
        "choice",
        "by_email_address(es): exact (as documented) or case-insensitive",
        EMAIL_MATCHES,
    ),
    KnobSpec(
        "third_party_writes",
        "off",
        "choice",
        "at each write fault another client creates a membership for those members",
        THIRD_PARTY_WRITES,
    ),
    KnobSpec(
        "max_target_bytes",
        None,
        "count",
        "a front proxy's limit on the request target: 414 past it (default: none)",
        optional=True,
    ),
    KnobSpec(
        "max_header_bytes",
        None,
        "count",
        "a front proxy's limit on the request headers: 431 past it (default: none)",
        optional=True,
    ),
    KnobSpec(
        "validation_status", 422, "choice", "status of a validation error", VALIDATION_STATUSES
    ),
    KnobSpec("omit_created", 0.0, "fraction", "fraction of created objects left out of a 200"),
    KnobSpec("trickle_s", 0.0, "seconds", "send the reply body one byte every N seconds"),
    KnobSpec("echo_token", False, "bool", "error messages quote the request's bearer token"),
    KnobSpec("redirect", False, "bool", "answer every API request 301 to the same path"),
)
KNOB_NAMES = tuple(spec.name for spec in KNOB_SPECS)
_SPECS = {spec.name: spec for spec in KNOB_SPECS}


def check_knob(name: str, value: Any) -> Any:
    """Validate one knob value and return it normalised; raise ValueError/TypeError otherwise."""
    spec = _SPECS.get(name)
    if spec is None:
        raise TypeError(f"unknown sandbox knob {name!r} (known: {', '.join(KNOB_NAMES)})")
    if value is None and spec.optional:
        return None
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, not {value!r}")
        return value
    if spec.kind == "faults":
        return _check_faults(name, value)
    if spec.kind == "count":
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")
        return value
    if spec.kind == "choice":
        if isinstance(value, str) and all(isinstance(c, int) for c in spec.choices):
            value = int(value) if value.isdigit() else value
        if isinstance(value, bool) or value not in spec.choices:
            allowed = ", ".join(map(str, spec.choices))
            raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if spec.kind == "rate" and not (0 < number < math.inf):
        raise ValueError(f"{name} must be a positive number of requests per second, not {value!r}")
    if spec.kind == "fraction" and not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must be a fraction between 0 and 1, not {value!r}")
    if spec.kind == "seconds" and not 0.0 <= number < math.inf:
        raise ValueError(f"{name} must be >= 0, not {value!r}")
    return number


def _check_faults(name: str, value: Any) -> str:
    """A ``write_faults`` schedule: a comma list (or a list) of WRITE_FAULTS names."""
    if isinstance(value, list | tuple):
        value = ",".join(map(str, value))
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a comma list of faults, not {value!r}")
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [n for n in names if n not in WRITE_FAULTS]
    if unknown:
        allowed = ", ".join(WRITE_FAULTS)
        raise ValueError(f"{name}: unknown fault {unknown[0]!r} (known: {allowed})")
    return ",".join(names)


@dataclass(frozen=True)
class Knobs:
    """A snapshot of the runtime switches in force (see :data:`KNOB_SPECS`)."""

    rate: float | None = None
    workspaces_rate: float | None = DEFAULT_WORKSPACES_RATE
    retry_after: bool = True
    retry_after_s: float | None = None
    fail_rate: float = 0.0
    drop_after_commit: float = 0.0
    fail_after_commit: float = 0.0
    late_commit: float = 0.0
    late_commit_s: float | None = None
    write_faults: str = ""
    stop_answering: str = "no"
    stop_answering_after: int | None = None
    latency_ms: float = 0.0
    commit_delay_ms: float = 0.0
    request_time_limit_s: float = 180.0
    bulk_mode: str = "atomic"
    memberships_per_member: str = "one"
    member_id_lists: str = "refused"
    email_match: str = "exact"
    third_party_writes: str = "off"
    max_target_bytes: int | None = None
    max_header_bytes: int | None = None
    validation_status: int = 422
    omit_created: float = 0.0
    trickle_s: float = 0.0
    echo_token: bool = False
    redirect: bool = False

    def describe(self) -> str:
        """One line for humans, e.g. ``rate=off workspaces_rate=5/s ... redirect=False``."""
        parts = []
        for name in KNOB_NAMES:
            value = getattr(self, name)
            if _SPECS[name].kind == "rate":
                text = "off" if value is None else f"{value:g}/s"
            elif _SPECS[name].kind == "faults":
                text = value or "-"
            elif isinstance(value, float):
                text = f"{value:g}"
            else:
                text = "-" if value is None else str(value)
            parts.append(f"{name}={text}")
        return " ".join(parts)


@dataclass(frozen=True)
class SandboxConfig(Knobs):
    """How a sandbox server is set up: the switches' starting values plus the plumbing."""

    port: int = 0
    db_path: str = ":memory:"
    seed: str | Path | None = None
    token: str | None = None
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

    def knobs(self) -> Knobs:
        """The starting switches."""
        return Knobs(**{name: check_knob(name, getattr(self, name)) for name in KNOB_NAMES})


DEFAULT_CONFIG = SandboxConfig()


class _Bucket:
    """A token bucket of ``rate`` requests/s with a burst of ``max(1, rate)``."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._tokens = max(1.0, rate) if rate is not None else 0.0
        self._last = time.monotonic()

    def take(self) -> float | None:
        """None if allowed, else the seconds until a token is back."""
        rate = self.rate
        if rate is None:
            return None
        now = time.monotonic()
        self._tokens = min(max(1.0, rate), self._tokens + (now - self._last) * rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / rate


class FaultInjector:
    """Decides, request by request, which fault (if any) the sandbox injects."""

    def __init__(self, config: SandboxConfig) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(config.random_seed)
        self._knobs = config.knobs()
        self._buckets = {"all": _Bucket(self._knobs.rate)}
        self._buckets["workspaces"] = _Bucket(self._knobs.workspaces_rate)
        self._echo = 0

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
                self._buckets["all"] = _Bucket(self._knobs.rate)
            if "workspaces_rate" in changes:
                self._buckets["workspaces"] = _Bucket(self._knobs.workspaces_rate)
            return self._knobs

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
        """True if this committed write is to lose its reply (``drop_after_commit``)."""
        return self._draw(self.knobs.drop_after_commit)

    def should_fail_after_commit(self) -> bool:
        """True if this committed write is to be answered 503 (``fail_after_commit``)."""
        return self._draw(self.knobs.fail_after_commit)

    def should_commit_late(self) -> bool:
        """True if this write is to lose its reply at once and commit later (``late_commit``)."""
        return self._draw(self.knobs.late_commit)

    def next_write_fault(self) -> str | None:
        """The scheduled fault of the write arriving now (``write_faults``), None when none is
        scheduled; each entry serves one write."""
        with self._lock:
            names = self._knobs.write_faults.split(",") if self._knobs.write_faults else []
            if not names:
                return None
            self._knobs = replace(self._knobs, write_faults=",".join(names[1:]))
            return names[0]

    def stops_answering(self, *, write: bool) -> bool:
        """True if this request is to be left unanswered (``stop_answering``); each request it
        still lets through counts down ``stop_answering_after``."""
        with self._lock:
            mode = self._knobs.stop_answering
            if mode == "no" or (mode == "writes" and not write):
                return False
            left = self._knobs.stop_answering_after
            if left:
                self._knobs = replace(self._knobs, stop_answering_after=left - 1)
                return False
            return True

    def should_omit(self) -> bool:
        """True if this created object is to be left out of the reply (``omit_created``)."""
        return self._draw(self.knobs.omit_created)

    def next_echo(self) -> int:
        """A counter that varies where an echoed token lands in a message."""
        with self._lock:
            self._echo += 1
            return self._echo

    def take_token(self, bucket: str = "all") -> float | None:
        """Take a token from a bucket (``all`` or ``workspaces``): None if allowed, else the
        seconds until the next one."""
        with self._lock:
            return self._buckets[bucket].take()


@dataclass(frozen=True)
class Counters:
    """A snapshot of what the sandbox has seen since start (or the last reset)."""

    requests: int = 0
    create_requests: int = 0
    objects_created: int = 0
    rate_limited: int = 0
    failed: int = 0
    dropped: int = 0
    omitted: int = 0
    timed_out: int = 0
    failed_after_commit: int = 0
    late_commits: int = 0
    unanswered: int = 0
    third_party_created: int = 0
    too_large: int = 0
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
