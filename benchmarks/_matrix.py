"""Parts (h) and (i) of the benchmark: the pace on every kind of limit (issue 23, item 1).

(h) ``importer run`` (default settings, ``--batch-size 10``) against sandboxes allowing
    2, 10, 30, 100 requests a second x a burst of 1, 5, 20 x 20, 100, 300 ms latency, look-ups
    counting against the same limit; each run lasts about ``seconds``. The server's counters
    are read every 0.25 s: the rate it accepted and the 429s it sent *after the first 30 s*
    (until the run's last second). Contender beside each cell: a plain client that *knows* the
    limit and sends the same bulk creates evenly spaced at exactly that rate (honouring
    ``Retry-After``), measured over its whole run: what this machine allows at that limit (a
    burst of 1 refuses any two requests arriving closer than 1/rate, so a busy machine's
    jitter costs it 429s). ``--batch-size 10`` so that this 2-core machine can serve 100
    requests a second (it serves ~300 of them unlimited; at 100 rows a request, ~70).
(i) A limit that changes: 20 requests/s, burst 5, 100 ms; halved at 60 s, tripled (to 30) at
    120 s, the run ending at ~180 s: seconds from each change until the server accepts >= 90 %
    of the new limit over 5 s (for the halving: and at most one 429 in the next 10 s).
    A resumed run: the same server, a run stopped (SIGINT) after 40 s and run again in the same
    results folder (it resumes from its journal): seconds until it reaches 90 % of the limit,
    against the fresh run's.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import _pace

ROOT = _pace.ROOT
WORK = _pace.WORK
PROBE = _pace.PROBE
BATCH = 10
WARM_S = 30.0
RATES = (2.0, 10.0, 30.0, 100.0)
BURSTS = (1.0, 5.0, 20.0)
LATENCIES = (20.0, 100.0, 300.0)
QUICK_CELLS = ((10.0, 5.0, 100.0), (30.0, 20.0, 20.0), (100.0, 5.0, 300.0), (30.0, 1.0, 100.0))


class Series:
    """The sandbox's counters every ``step`` seconds, on a thread: (t, accepted, refused)."""

    def __init__(self, server: Any, step: float = 0.25) -> None:
        self.server, self.step = server, step
        self.points: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Series:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        c = self.server.counters
        self.points.append((time.monotonic(), c.requests - c.rate_limited, c.rate_limited))

    def _run(self) -> None:
        while not self._stop.wait(self.step):
            self._sample()

    def start(self) -> float:
        """When the server saw its first request."""
        return next((t for t, a, r in self.points if a + r > 0), self.points[-1][0])

    def end(self) -> float:
        """When the server last accepted a request."""
        last = self.points[-1][1]
        return next(t for t, a, _ in self.points if a == last)

    def at(self, t: float) -> tuple[int, int]:
        """Accepted and refused by time ``t`` (the latest sample before it)."""
        best = (0, 0)
        for when, a, r in self.points:
            if when > t:
                break
            best = (a, r)
        return best

    def window(self, start: float, end: float) -> tuple[float, int]:
        """Accepted a second and 429s between two times (seconds since the first request)."""
        t0 = self.start()
        a0, r0 = self.at(t0 + start)
        a1, r1 = self.at(t0 + end)
        return (a1 - a0) / max(end - start, 1e-9), r1 - r0

    def first_at(self, fraction: float, of: float, after: float, span: float = 5.0) -> float:
        """Seconds after ``after`` (since the first request) until the server accepted at least
        ``fraction * of`` a second over ``span`` seconds (inf: never)."""
        t0, t = self.start(), after
        while t0 + t + span <= self.end():
            if self.window(t, t + span)[0] >= fraction * of:
                return t - after
            t += 0.25
        return math.inf


def _inputs(rows: int) -> tuple[Path, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    src = WORK / f"pace-{rows}.csv"
    _pace._roster(src, rows)
    seed = WORK / f"pace-seed-{rows}.json"
    if not seed.exists():
        _pace._seed(seed, rows)
    return src, seed


def _rows_for(rate: float, seconds: float) -> int:
    """Rows for a run of about ``seconds`` at ``rate`` requests a second (multiples of 500, so
    that the inputs are reused)."""
    return max(500, math.ceil(rate * seconds * BATCH / 500) * 500)


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(PROBE), "cli", *cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _finish(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"importer run took over {timeout:.0f} s:\n{err[-2000:]}") from None
    if proc.returncode != 0:
        raise RuntimeError(f"importer run failed ({proc.returncode}):\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _server(rate: float, burst: float, latency_ms: float, seed: Path) -> Any:
    from importer.sandbox import SandboxConfig, SandboxServer

    config = SandboxConfig(seed=seed, random_seed=1, latency_ms=latency_ms, rate=rate, burst=burst)
    return SandboxServer(config)


def _run_cmd(src: Path, server: Any, out: Path) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "KANTATA_API_TOKEN": server.token}
    env.pop("BENCH_FIXED_CONCURRENCY", None)
    cmd = [str(out), "run", str(src), "--base-url", server.base_url, "--batch-size", str(BATCH)]
    return cmd, env


def cell(rate: float, burst: float, latency_ms: float, seconds: float) -> dict[str, Any]:
    """One ``importer run`` against one kind of limit; figures after the first 30 s."""
    src, seed = _inputs(_rows_for(rate, seconds))
    out = WORK / "matrix-results"
    shutil.rmtree(out, ignore_errors=True)
    with _server(rate, burst, latency_ms, seed) as server, Series(server) as series:
        cmd, env = _run_cmd(src, server, out)
        result = _finish(_start(cmd, env), timeout=seconds * 4 + 120)
    span = series.end() - series.start()
    accepted, refused = series.window(WARM_S, span - 1.0)
    measured = max(span - 1.0 - WARM_S, 1e-9)
    summary = result["summary"]
    return {
        "rate": rate,
        "burst": burst,
        "latency_ms": latency_ms,
        "rows": summary["counts"].get("rows"),
        "seconds": round(span, 1),
        "measured_s": round(measured, 1),
        "fraction": round(accepted / rate, 4),
        "per_10s": round(refused / measured * 10, 2),
        "first_30s_429": series.window(0.0, WARM_S)[1],
        "requests_by_kind": summary.get("requests_by_kind"),
        "pace": summary.get("pace"),
        "lost": int(summary["counts"].get("valid", 0))
        - sum(int(summary["counts"].get(k, 0)) for k in ("created", "already_existed")),
    }


def paced_contender(rate: float, burst: float, latency_ms: float, seconds: float) -> dict[str, Any]:
    """A client that knows the limit: the same bulk creates, one every 1/rate seconds exactly
    (enough threads for the latency), every sender paused for a 429's Retry-After."""
    import httpx

    src, seed = _inputs(_rows_for(rate, seconds))
    lines = src.read_text(encoding="utf-8").splitlines()[1:]
    items = []
    for line in lines[: int(rate * seconds) * BATCH]:
        geo, dept, member, kind = line.split(",")
        items.append(
            {
                "geography_id": int(geo),
                "department_id": int(dept),
                "member_id": int(member),
                "member_type": kind,
            }
        )
    batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
    lock = threading.Lock()
    state = {"next": 0.0, "index": 0, "resume": 0.0}
    with _server(rate, burst, latency_ms, seed) as server, Series(server) as series:
        headers = {"Authorization": f"Bearer {server.token}"}
        state["next"] = time.monotonic()

        def worker() -> None:
            with httpx.Client(base_url=server.base_url + "/", headers=headers, timeout=60) as c:
                while True:
                    with lock:
                        if state["index"] >= len(batches):
                            return
                        batch = batches[int(state["index"])]
                        state["index"] += 1
                        slot = max(state["next"], state["resume"])
                        state["next"] = slot + 1 / rate
                    while True:
                        delay = slot - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
                        body = {"organization_memberships": batch}
                        reply = c.post("organization_memberships", json=body)
                        if reply.status_code != 429:
                            break
                        wait = float(reply.headers.get("Retry-After", "1"))
                        with lock:
                            state["resume"] = max(state["resume"], time.monotonic() + wait)
                            slot = max(state["next"], state["resume"])
                            state["next"] = slot + 1 / rate

        threads = [
            threading.Thread(target=worker) for _ in range(max(4, int(rate * latency_ms / 500) + 4))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    span = series.end() - series.start()
    accepted, refused = series.window(0.0, span)
    return {
        "fraction": round(accepted / rate, 4),
        "per_10s": round(refused / max(span, 1e-9) * 10, 2),
        "seconds": round(span, 1),
    }


def part_h(quick: bool, seconds: float | None = None) -> dict[str, Any]:
    """The matrix (quick: four cells), each with the contender beside it."""
    cells = (
        QUICK_CELLS
        if quick
        else tuple((r, b, lat) for r in RATES for b in BURSTS for lat in LATENCIES)
    )
    seconds = seconds or (55.0 if quick else 75.0)
    out: dict[str, Any] = {"seconds": seconds, "batch_size": BATCH, "cells": []}
    for rate, burst, latency in cells:
        where = f"{rate:g}/s, burst {burst:g}, {latency:g} ms"
        print(f"  (h) {where}: importer run ...", flush=True)
        entry = cell(rate, burst, latency, seconds)
        print(
            f"      {entry['fraction']:.1%} of the rate after 30 s, "
            f"{entry['per_10s']:.2f} 429s per 10 s; known-limit contender ...",
            flush=True,
        )
        entry["contender"] = paced_contender(rate, burst, latency, min(seconds, 30.0))
        out["cells"].append(entry)
    return out


def change(quick: bool) -> dict[str, Any]:
    """Halved at 60 s, tripled at 120 s."""
    rate, burst, latency = 20.0, 5.0, 100.0
    phases = (60.0, 60.0, 60.0) if not quick else (45.0, 45.0, 45.0)
    sent = sum(r * s for r, s in zip((rate, rate / 2, rate * 1.5), phases, strict=True))
    src, seed = _inputs(_rows_for(sent, 1.0))
    out_dir = WORK / "change-results"
    shutil.rmtree(out_dir, ignore_errors=True)
    with _server(rate, burst, latency, seed) as server, Series(server) as series:
        cmd, env = _run_cmd(src, server, out_dir)
        proc = _start(cmd, env)
        while not any(a for _, a, _ in series.points):
            time.sleep(0.05)
        t0 = series.start()
        halved_at, tripled_at = phases[0], phases[0] + phases[1]
        time.sleep(max(0.0, t0 + halved_at - time.monotonic()))
        server.set_knobs(rate=rate / 2, burst=burst)
        time.sleep(max(0.0, t0 + tripled_at - time.monotonic()))
        server.set_knobs(rate=rate * 1.5, burst=burst)
        time.sleep(max(0.0, t0 + sum(phases) - time.monotonic()))
        proc.send_signal(signal.SIGINT)
        _finish_any(proc)

    def settled(after: float, new: float) -> float:
        t = after
        while t + 10 <= series.end() - t0:
            got = series.window(t, t + 5)[0]
            if got >= 0.9 * new and series.window(t, t + 10)[1] <= 1:
                return t - after
            t += 0.25
        return math.inf

    return {
        "rate": rate,
        "burst": burst,
        "latency_ms": latency,
        "halved_followed_s": settled(halved_at, rate / 2),
        "tripled_followed_s": series.first_at(0.9, rate * 1.5, tripled_at),
        "429_after_halving": series.window(halved_at, halved_at + 30)[1],
        "429_after_tripling": series.window(tripled_at, tripled_at + 30)[1],
    }


def resumed(quick: bool) -> dict[str, Any]:
    """A fresh run and the same run resumed after a stop: seconds until 90 % of the limit."""
    rate, burst, latency = 30.0, 5.0, 100.0
    stop_s = 40.0
    src, seed = _inputs(_rows_for(rate, stop_s * 3))
    out_dir = WORK / "resume-results"
    shutil.rmtree(out_dir, ignore_errors=True)
    reached: dict[str, float] = {}
    with _server(rate, burst, latency, seed) as server:
        cmd, env = _run_cmd(src, server, out_dir)
        with Series(server) as fresh:
            proc = _start(cmd, env)
            while not any(a for _, a, _ in fresh.points):
                time.sleep(0.05)
            time.sleep(max(0.0, fresh.start() + stop_s - time.monotonic()))
            proc.send_signal(signal.SIGINT)
            _finish_any(proc)
        reached["fresh"] = fresh.first_at(0.9, rate, 0.0)
        time.sleep(1.0)  # the bucket is empty: the resumed run starts right after
        with Series(server) as again:
            proc = _start(cmd, env)
            while not any(a for _, a, _ in again.points):
                time.sleep(0.05)
            time.sleep(max(0.0, again.start() + stop_s - time.monotonic()))
            proc.send_signal(signal.SIGINT)
            _finish_any(proc)
        base = again.points[0][1:]
        again.points = [(t, a - base[0], r - base[1]) for t, a, r in again.points]
        reached["resumed"] = again.first_at(0.9, rate, 0.0)
    return {"rate": rate, "burst": burst, "latency_ms": latency, "reached_90_s": reached}


def _finish_any(proc: subprocess.Popen[str]) -> None:
    """Wait for a run that was stopped (its exit code says so)."""
    try:
        proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def part_i(quick: bool) -> dict[str, Any]:
    print("  (i) a limit that changes: halved, then tripled ...", flush=True)
    out = {"change": change(quick)}
    print("  (i) a resumed run against a fresh one ...", flush=True)
    out["resume"] = resumed(quick)
    return out
