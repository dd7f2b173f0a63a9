"""Parts (d), (e), (f) of the benchmark: the pace found without tuning (issue 17), the request
budget of a roster re-import (issue 13), and ``importer run``'s memory as the file grows.

(d) Four server settings of the sandbox (``latency_ms``, ``rate``): ``importer run`` with default
    settings against the best of a sweep of fixed concurrencies (on rate-limited servers: against
    ``--max-rps`` set to the server's rate, which nobody knows in real life); rows/s, 429s seen,
    requests by kind. Targets: rate-limited: requests accepted at >= 95 % of the allowed rate over
    the run, at most 5 429s plus one per 10 s; unlimited: >= 90 % of the best fixed concurrency's
    rows/s. No row lost in any setting.
(e) A seeded account (one membership per member, ``member_id`` lists honoured): a 100,000-row
    roster of which 99 % already exist identically, 0.5 % are new and 0.5 % moved, through
    ``plan`` (<= 600 requests) and ``run --move`` (<= 1,100); then 100,000 new rows into an account
    holding few memberships (<= 1,100 requests beyond its 1,000 creates). Retries of 429/503 are
    counted apart.
(f) ``importer run`` of all-new CSVs (no latency, no limit) at growing sizes: peak resident
    memory (target: under 400 MB at 1M rows, growing by less than 100 MB per further million).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
PROBE = HERE / "_probe.py"
BUNDLED_SEED = ROOT / "importer" / "sandbox" / "seed.json"
FIRST_USER = 20001
GEOGRAPHIES = np.arange(101, 109)
DEPARTMENTS = np.arange(201, 211)

# (latency ms, requests/s or None): the four settings of issue 17.
SETTINGS = ((100.0, 10.0), (300.0, 2.0), (20.0, None), (100.0, None))


def _seed(path: Path, n_users: int, memberships: list[dict[str, Any]] | None = None) -> Path:
    seed = json.loads(BUNDLED_SEED.read_text(encoding="utf-8"))
    seed["users"] += [
        {"id": i, "full_name": f"Load Test {i}", "email_address": f"load.{i}@acme.example"}
        for i in range(FIRST_USER, FIRST_USER + n_users)
    ]
    seed["organization_memberships"] += memberships or []
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def _places(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.choice(GEOGRAPHIES, n), rng.choice(DEPARTMENTS, n)


def _roster(path: Path, n: int, seed: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """``n`` valid rows for users FIRST_USER.. (streamed: 4M rows fit in little memory)."""
    geo, dept = _places(n, seed)
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("geography_id,department_id,member_id,member_type\n")
            step = 500_000
            for lo in range(0, n, step):
                hi = min(n, lo + step)
                ids = np.arange(FIRST_USER + lo, FIRST_USER + hi)
                fh.writelines(
                    f"{g},{d},{m},User\n"
                    for g, d, m in zip(
                        geo[lo:hi].tolist(), dept[lo:hi].tolist(), ids.tolist(), strict=True
                    )
                )
        tmp.replace(path)
    return geo, dept


def _cli(out: Path, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(PROBE), "cli", str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"importer {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t0
    return result


def _import(
    src: Path,
    seed: Path,
    *,
    latency_ms: float = 0.0,
    rate: float | None = None,
    args: tuple[str, ...] = (),
    fixed: int | None = None,
    command: str = "run",
) -> dict[str, Any]:
    """One ``importer`` command against a fresh sandbox; its summary, the server's counters."""
    from importer.sandbox import SandboxConfig, SandboxServer

    config = SandboxConfig(seed=seed, random_seed=1, latency_ms=latency_ms, rate=rate)
    with SandboxServer(config) as server:
        env = {**os.environ, "KANTATA_API_TOKEN": server.token}
        env.pop("BENCH_FIXED_CONCURRENCY", None)
        if fixed is not None:
            env["BENCH_FIXED_CONCURRENCY"] = str(fixed)
        out = WORK / f"{command}-results"
        cmd = [command, str(src), "--base-url", server.base_url, *args]
        result = _cli(out, cmd, env)
        counters = server.counters.to_json()
    summary = result["summary"]
    counts = summary["counts"]
    kinds = summary.get("requests_by_kind") or {}
    send_s = summary.get("timings_s", {}).get("send") or result["command_s"]
    sent = sum(int(kinds.get(k, 0)) for k in ("lookups", "creates", "moves", "deletes"))
    row: dict[str, Any] = {
        "exit_code": result["exit_code"],
        "command_s": round(result["command_s"], 3),
        "send_s": round(send_s, 3),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "base_rss_mb": round(result["base_rss_mb"], 1),
        "counts": counts,
        "requests_by_kind": kinds,
        "requests_sent": sent,
        "http_429": counters["rate_limited"],
        "server_requests": counters["requests"],
        "pace": summary.get("pace"),
        "plan": summary.get("plan") or summary.get("counts"),
    }
    done = sum(int(counts.get(k, 0)) for k in ("created", "already_existed", "moved"))
    row["rows_done"] = done
    row["lost"] = int(counts.get("valid", 0)) - done
    row["rows_per_s"] = round(done / result["command_s"], 1) if result["command_s"] else 0.0
    if rate is not None:
        accepted = counters["requests"] - counters["rate_limited"]
        row["rate_fraction"] = round(accepted / (rate * send_s), 4) if send_s else 0.0
        row["budget_429"] = round(5 + send_s / 10, 1)
    return row


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median rows/s, with every run's rows/s beside it."""
    ordered = sorted(runs, key=lambda r: r["rows_per_s"])
    middle = dict(ordered[len(ordered) // 2])
    middle["rows_per_s_samples"] = [r["rows_per_s"] for r in runs]
    return middle


def part_d(quick: bool, repeat: int = 1, only: tuple[int, ...] = ()) -> dict[str, Any]:
    """The pace against four server settings: default vs a sweep of fixed concurrencies.

    On unlimited servers (where the machine's own load moves the figures most) each command runs
    ``repeat`` times, interleaved; the median run counts.
    """
    WORK.mkdir(parents=True, exist_ok=True)
    sweep = (4, 16) if quick else (1, 2, 4, 8, 16)
    out: dict[str, Any] = {"sweep": list(sweep), "repeat": repeat, "settings": []}
    for number, (latency, rate) in enumerate(SETTINGS):
        if only and number not in only:
            continue
        n = (2_000 if rate else 5_000) if quick else 20_000
        src = WORK / f"pace-{n}.csv"
        _roster(src, n)
        seed = WORK / f"pace-seed-{n}.json"
        if not seed.exists():
            _seed(seed, n)
        where = f"{latency:g} ms, " + (f"{rate:g} req/s" if rate else "no limit")
        print(f"  (d) {where}: {n:,} rows, default ...", flush=True)
        entry: dict[str, Any] = {"latency_ms": latency, "rate": rate, "rows": n}
        fixed: dict[str, Any] = {}
        if rate:  # knowing the limit: --max-rps at it, the old default of 4 in flight
            entry["default"] = _import(src, seed, latency_ms=latency, rate=rate)
            print(f"  (d) {where}: --max-rps {rate:g} --concurrency 4 (fixed) ...", flush=True)
            fixed[f"max-rps {rate:g}"] = _import(
                src, seed, latency_ms=latency, rate=rate, args=("--max-rps", f"{rate:g}"), fixed=4
            )
        else:
            runs: dict[str, list[dict[str, Any]]] = {"default": []}
            runs.update({str(c): [] for c in sweep})
            for _ in range(repeat):
                for name in runs:
                    print(f"  (d) {where}: {name} ...", flush=True)
                    pin = None if name == "default" else int(name)
                    runs[name].append(_import(src, seed, latency_ms=latency, fixed=pin))
            entry["default"] = _median_run(runs.pop("default"))
            fixed = {name: _median_run(samples) for name, samples in runs.items()}
        entry["fixed"] = fixed
        best = max(fixed, key=lambda k: fixed[k]["rows_per_s"])
        entry["best_fixed"] = best
        entry["vs_best"] = round(entry["default"]["rows_per_s"] / fixed[best]["rows_per_s"], 4)
        out["settings"].append(entry)
    return out


def part_e(quick: bool) -> dict[str, Any]:
    """Issue 13's request budget: roster re-import (plan, run --move) and a first import."""
    WORK.mkdir(parents=True, exist_ok=True)
    n = 100_000
    src = WORK / f"roster-{n}.csv"
    geo, dept = _roster(src, n)
    rng = np.random.default_rng(5)
    kind = rng.random(n)  # < 0.005: new (no membership); < 0.010: moved (held elsewhere)
    seed = WORK / f"roster-seed-{n}.json"
    if not seed.exists():
        memberships = []
        for i in np.flatnonzero(kind >= 0.005).tolist():
            g, d = int(geo[i]), int(dept[i])
            if kind[i] < 0.010:
                g = int(GEOGRAPHIES[(list(GEOGRAPHIES).index(g) + 1) % len(GEOGRAPHIES)])
            memberships.append(
                {
                    "id": 1_000_000 + i,
                    "geography_id": g,
                    "department_id": d,
                    "member_id": FIRST_USER + i,
                    "member_type": "User",
                }
            )
        _seed(seed, n, memberships)
    fresh_seed = WORK / f"pace-seed-{n}.json"
    if not fresh_seed.exists():
        _seed(fresh_seed, n)
    out: dict[str, Any] = {"rows": n, "new": int((kind < 0.005).sum())}
    out["moved_rows"] = int(((kind >= 0.005) & (kind < 0.010)).sum())
    print(f"  (e) roster {n:,} rows (99 % identical): plan ...", flush=True)
    out["plan"] = _import(src, seed, command="plan")
    print("  (e) roster: run --move ...", flush=True)
    out["run_move"] = _import(src, seed, args=("--move",))
    print(f"  (e) first import of {n:,} new rows ...", flush=True)
    out["first_import"] = _import(src, fresh_seed)
    for key in ("plan", "run_move", "first_import"):
        kinds = out[key]["requests_by_kind"]
        retries = int(kinds.get("retries", 0))
        out[key]["requests_without_retries"] = out[key]["requests_sent"] - retries
    first = out["first_import"]
    first["beyond_creates"] = first["requests_without_retries"] - n // 100
    return out


def part_f(quick: bool, sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """``importer run`` peak memory at growing sizes."""
    WORK.mkdir(parents=True, exist_ok=True)
    if not sizes:
        sizes = (20_000, 200_000) if quick else (100_000, 1_000_000, 4_000_000)
    out: dict[str, Any] = {"runs": []}
    for n in sizes:
        src = WORK / f"pace-{n}.csv"
        _roster(src, n)
        seed = WORK / f"pace-seed-{n}.json"
        if not seed.exists():
            _seed(seed, n)
        print(f"  (f) importer run of {n:,} new rows: memory ...", flush=True)
        row = _import(src, seed)
        row["rows"] = n
        out["runs"].append(row)
    return out


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(measure, value, target, pass) rows for the parts that ran."""
    rows: list[tuple[str, str, str, bool]] = []
    if "pace" in res:
        for s in res["pace"]["settings"]:
            d = s["default"]
            where = f"{s['latency_ms']:g} ms, " + (f"{s['rate']:g}/s" if s["rate"] else "no limit")
            if s["rate"]:
                rows.append(
                    (
                        f"(d) {where}: requests / allowed",
                        f"{d['rate_fraction']:.1%}",
                        ">= 95%",
                        d["rate_fraction"] >= 0.95,
                    )
                )
                rows.append(
                    (
                        f"(d) {where}: 429s",
                        str(d["http_429"]),
                        f"<= {d['budget_429']:g}",
                        d["http_429"] <= d["budget_429"],
                    )
                )
            else:
                rows.append(
                    (
                        f"(d) {where}: default / best fixed",
                        f"{s['vs_best']:.1%} ({d['rows_per_s']:.0f} vs "
                        f"{s['fixed'][s['best_fixed']]['rows_per_s']:.0f} rows/s, "
                        f"c={s['best_fixed']})",
                        ">= 90%",
                        s["vs_best"] >= 0.90,
                    )
                )
            lost = d["lost"]
            rows.append((f"(d) {where}: rows not done", str(lost), "0", lost == 0))
    if "budget" in res:
        b = res["budget"]
        for key, label, limit in (
            ("plan", "(e) roster plan: requests", 600),
            ("run_move", "(e) roster run --move: requests", 1100),
            ("first_import", "(e) first import: requests beyond creates", 1100),
        ):
            r = b[key]
            value = r["beyond_creates"] if key == "first_import" else r["requests_without_retries"]
            rows.append((label, f"{value:,}", f"<= {limit:,}", value <= limit))
    if "run_memory" in res:
        runs = res["run_memory"]["runs"]
        for r in runs:
            rows.append(
                (
                    f"(f) run {r['rows']:,} rows: peak memory",
                    f"{r['peak_rss_mb']:.0f} MB",
                    "<= 400 MB at 1M",
                    r["rows"] > 1_000_000 or r["peak_rss_mb"] <= 400,
                )
            )
        if len(runs) >= 2:
            a, b2 = runs[-2], runs[-1]
            per_m = (b2["peak_rss_mb"] - a["peak_rss_mb"]) / ((b2["rows"] - a["rows"]) / 1e6)
            rows.append(
                ("(f) run memory growth", f"{per_m:.0f} MB / M rows", "< 100 MB / M", per_m < 100)
            )
    return rows


def markdown(res: dict[str, Any]) -> str:
    """The tables of parts d-f for the README."""
    lines = []
    if "pace" in res:
        lines += [
            "| server | default rows/s | 429s | requests (lookups/creates) | "
            "in flight, rate at end | fixed: rows/s (429s) |",
            "|---|---:|---:|---|---|---|",
        ]
        for s in res["pace"]["settings"]:
            d = s["default"]
            k = d["requests_by_kind"]
            pace = d.get("pace") or {}
            rate = pace.get("rate")
            where = f"{s['latency_ms']:g} ms, " + (
                f"{s['rate']:g} req/s" if s["rate"] else "no limit"
            )
            fixed = ", ".join(
                f"{name}: {r['rows_per_s']:.0f} ({r['http_429']})" for name, r in s["fixed"].items()
            )
            frac = f" ({d['rate_fraction']:.0%} of allowed)" if s["rate"] else ""
            lines.append(
                f"| {where}, {s['rows']:,} rows | {d['rows_per_s']:.0f}{frac} | {d['http_429']} "
                f"| {k.get('lookups', 0)}/{k.get('creates', 0)} | {pace.get('in_flight')}, "
                f"{'-' if rate is None else f'{rate:.3g}/s'} | {fixed} |"
            )
        lines.append("")
    if "budget" in res:
        b = res["budget"]
        lines += ["| scenario | lookups | creates | moves | retries | total (no retries) |"]
        lines += ["|---|---:|---:|---:|---:|---:|"]
        for key, label in (
            ("plan", "roster plan"),
            ("run_move", "roster run --move"),
            ("first_import", "first import"),
        ):
            k = b[key]["requests_by_kind"]
            lines.append(
                f"| {label} ({b['rows']:,} rows) | {k.get('lookups', 0)} | {k.get('creates', 0)} "
                f"| {k.get('moves', 0)} | {k.get('retries', 0)} | "
                f"{b[key]['requests_without_retries']} |"
            )
        lines.append("")
    if "run_memory" in res:
        lines += ["| run of new rows | peak memory | time | rows/s |", "|---:|---:|---:|---:|"]
        for r in res["run_memory"]["runs"]:
            lines.append(
                f"| {r['rows']:,} | {r['peak_rss_mb']:.0f} MB | {r['command_s']:.0f} s | "
                f"{r['rows_per_s']:.0f} |"
            )
        lines.append("")
    return "\n".join(lines)
