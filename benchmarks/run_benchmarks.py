"""Measure the importer against the targets of issue 5, in one command.

    python benchmarks/run_benchmarks.py            # full run, ~10 minutes on 2 cores
    python benchmarks/run_benchmarks.py --quick    # small sizes, a smoke run of < 1 minute

Inputs are generated (fixed random seed) under ``benchmarks/_work/`` and reused while unchanged.
Every measured command runs in a fresh process (``_probe.py``), which reports its own import time,
work time and peak resident memory. Three parts:

(a) ``importer validate`` on a CSV and an XLSX file (1 % bad rows, and a clean twin) against a
    *floor* measured alongside: the fastest plain read of the same file (pandas' pyarrow CSV
    engine / fastexcel) plus a plain pandera validate of the four columns. Times are the best of
    ``--repeat`` runs, taken after the imports (both sides import pandas and pandera); memory is
    the peak above the process's resident size after its imports. A CSV several times larger
    shows that memory stays bounded (the CSV is streamed in chunks).
(b) ``importer run`` on the XLSX file against the local sandbox (``latency_ms=100``, a request
    rate limit), as a fraction of the ceiling ``100 rows x allowed requests/s``; 429s are counted
    by the sandbox.
(c) The same file through a naive baseline: ``pd.read_excel`` (openpyxl) and one request per row,
    one at a time, timed on the first rows and extrapolated to the whole file.

(g) What reading workbooks in a child process costs (issue 21: a hanging or exploding reader must
    not take the command with it): ``open_table`` on a two-row and a 100,000-row XLSX, in the
    process and in the reader child, alternately; the first child read starts the child.

(d), (e), (f) are in ``_pace.py``: the pace the importer finds by itself against four sandbox
settings, default settings against the best of a sweep of fixed concurrencies (issue 17); the
request budget of a 100,000-row roster (issue 13); ``importer run``'s peak memory as the file
grows. ``--skip a b c`` runs only those; ``--run-rows`` sets the sizes of (f).

Results: a table on stdout, JSON (``--out``, default ``benchmarks/results.json``) and a Markdown
snippet next to it (``RESULTS.md``) for the README. ``--quick`` writes under ``_work/`` instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import _inputs
import _pace

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "_work"
PROBE = HERE / "_probe.py"
BUNDLED_SEED = ROOT / "importer" / "sandbox" / "seed.json"
BAD_FRACTION = 0.01


@dataclass(frozen=True)
class Sizes:
    csv_rows: int
    big_csv_rows: int
    xlsx_rows: int
    repeat: int
    rate: float  # sandbox requests/s (b, c)
    latency_ms: float
    concurrency: int
    naive_rows: int  # rows the naive baseline actually sends (c)


FULL = Sizes(1_000_000, 4_000_000, 200_000, 5, 20.0, 100.0, 4, 300)
QUICK = Sizes(100_000, 400_000, 10_000, 1, 20.0, 100.0, 4, 20)

TARGETS = {
    "csv_vs_floor": 2.0,
    "xlsx_vs_floor": 1.5,
    "csv_rows_per_s": 1_000_000,
    "memory_vs_file": 4.0,
    "errors_vs_clean": 2.0,
    "growth_vs_file": 0.5,
    "ceiling_fraction": 0.90,
    "max_429": 5,
}


# -- inputs --------------------------------------------------------------------------------------


def make_inputs(sizes: Sizes) -> dict[str, Path]:
    WORK.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    specs = [
        ("csv_bad", "csv", sizes.csv_rows, BAD_FRACTION),
        ("csv_clean", "csv", sizes.csv_rows, 0.0),
        ("csv_big", "csv", sizes.big_csv_rows, BAD_FRACTION),
        ("xlsx_bad", "xlsx", sizes.xlsx_rows, BAD_FRACTION),
        ("xlsx_clean", "xlsx", sizes.xlsx_rows, 0.0),
    ]
    for name, fmt, n, bad in specs:
        label = "bad" if bad else "clean"
        path = WORK / f"members-{n}-{label}.{fmt}"
        writer = _inputs.write_csv if fmt == "csv" else _inputs.write_xlsx
        t0 = time.perf_counter()

        def build(p: Path, n: int = n, bad: float = bad, writer: Any = writer) -> None:
            writer(_inputs.make_rows(n, bad_fraction=bad), p)

        _inputs.cached(path, build, {"rows": n, "bad": bad})
        took = time.perf_counter() - t0
        note = f" (generated in {took:.1f} s)" if took > 0.5 else ""
        print(f"  input {name:<10} {path.name:<32} {path.stat().st_size / 1e6:7.1f} MB{note}")
        out[name] = path
    seed = WORK / f"seed-{sizes.xlsx_rows}.json"
    if not seed.exists():
        _inputs.write_seed(seed, sizes.xlsx_rows, BUNDLED_SEED)
    out["seed"] = seed
    return out


# -- measuring -----------------------------------------------------------------------------------


def probe(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``_probe.py`` in a fresh process; its JSON result plus the process's wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(PROBE), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"probe {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["net_mb"] = max(0.0, result["peak_rss_mb"] - result["base_rss_mb"])
    return result


def best(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest sample (by work time), with the medians of time and memory of all samples."""
    fastest = dict(min(samples, key=lambda s: s["work_s"]))
    fastest["median_work_s"] = statistics.median(s["work_s"] for s in samples)
    fastest["median_wall_s"] = statistics.median(s["wall_s"] for s in samples)
    fastest["net_mb"] = statistics.median(s["net_mb"] for s in samples)
    fastest["peak_rss_mb"] = statistics.median(s["peak_rss_mb"] for s in samples)
    fastest["work_samples_s"] = [round(s["work_s"], 3) for s in samples]
    fastest["load_averages"] = [round(s["load_average"], 2) for s in samples]
    return fastest


def measure_validate(path: Path, repeat: int, *, floor: bool = True) -> dict[str, Any]:
    """Floor and ``importer validate`` on ``path``, interleaved, ``repeat`` times each."""
    out = WORK / f"{path.stem}-results"
    ours: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    for _ in range(repeat):
        if floor:
            floors.append(probe("floor", str(path)))
        shutil.rmtree(out, ignore_errors=True)
        ours.append(probe("validate", str(path), str(out)))
    size_mb = path.stat().st_size / 1e6
    result: dict[str, Any] = {"file": path.name, "file_mb": size_mb, "importer": best(ours)}
    if path.suffix == ".xlsx":  # compressed: memory is also compared with what it unpacks to
        with zipfile.ZipFile(path) as archive:
            result["unzipped_mb"] = sum(i.file_size for i in archive.infolist()) / 1e6
        result["memory_vs_unzipped"] = result["importer"]["net_mb"] / result["unzipped_mb"]
    result["rows"] = result["importer"]["counts"]["rows"]
    result["rows_per_s"] = result["rows"] / result["importer"]["work_s"]
    result["median_rows_per_s"] = result["rows"] / result["importer"]["median_work_s"]
    result["memory_vs_file"] = result["importer"]["net_mb"] / size_mb
    if floor:
        result["floor"] = best(floors)
        # Ratios of medians: the two run interleaved, so a busy moment slows both alike; the
        # ratio of the best runs is kept too.
        imp, floor_ = result["importer"], result["floor"]
        result["vs_floor"] = imp["median_work_s"] / floor_["median_work_s"]
        result["vs_floor_best"] = imp["work_s"] / floor_["work_s"]
        result["vs_floor_wall"] = imp["median_wall_s"] / floor_["median_wall_s"]
    return result


def part_a(sizes: Sizes, inputs: dict[str, Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("csv_bad", "csv_clean", "xlsx_bad", "xlsx_clean"):
        print(f"  (a) validate {name} x{sizes.repeat} (+ floor) ...", flush=True)
        out[name] = measure_validate(inputs[name], sizes.repeat)
    print("  (a) validate csv_big x1 (memory bound) ...", flush=True)
    out["csv_big"] = measure_validate(inputs["csv_big"], 1, floor=False)
    for fmt in ("csv", "xlsx"):
        out[f"{fmt}_errors_vs_clean"] = (
            out[f"{fmt}_bad"]["importer"]["median_work_s"]
            / out[f"{fmt}_clean"]["importer"]["median_work_s"]
        )
    # Memory growth per extra row, against the file's bytes per row: below 1 means the file can
    # be larger than memory; the working set is per chunk, the duplicate tracker per member.
    big, one = out["csv_big"], out["csv_bad"]
    extra_rows = big["rows"] - one["rows"]
    out["growth_bytes_per_row"] = (
        (big["importer"]["net_mb"] - one["importer"]["net_mb"]) * 1e6 / extra_rows
    )
    out["file_bytes_per_row"] = (big["file_mb"] - one["file_mb"]) * 1e6 / extra_rows
    out["growth_vs_file"] = out["growth_bytes_per_row"] / out["file_bytes_per_row"]
    return out


def part_b(sizes: Sizes, inputs: dict[str, Path]) -> dict[str, Any]:
    from importer.sandbox import SandboxConfig, SandboxServer

    path = inputs["xlsx_bad"]
    out_dir = WORK / "run-results"
    shutil.rmtree(out_dir, ignore_errors=True)
    config = SandboxConfig(
        rate=sizes.rate, latency_ms=sizes.latency_ms, seed=inputs["seed"], random_seed=1
    )
    print(
        f"  (b) importer run {path.name} -> sandbox (rate {sizes.rate:g}/s, "
        f"latency {sizes.latency_ms:g} ms) ...",
        flush=True,
    )
    with SandboxServer(config) as server:
        cmd = [
            sys.executable,
            "-m",
            "importer.cli",
            "run",
            str(path),
            "--base-url",
            server.base_url,
            "--out",
            str(out_dir),
            "--max-rps",
            f"{sizes.rate:g}",
            "--concurrency",
            str(sizes.concurrency),
            "--quiet",
        ]
        env = {**os.environ, "KANTATA_API_TOKEN": server.token}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        counters = server.counters.to_json()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"importer run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    created = summary["counts"]["created"]
    ceiling = 100 * sizes.rate
    send_s = summary["timings_s"]["send"]
    return {
        "file": path.name,
        "command": f"importer run {path.name} --base-url SANDBOX --max-rps {sizes.rate:g} "
        f"--concurrency {sizes.concurrency}",
        "timings_s": summary["timings_s"],
        "rate": sizes.rate,
        "latency_ms": sizes.latency_ms,
        "concurrency": sizes.concurrency,
        "counts": summary["counts"],
        "exit_code": proc.returncode,
        "wall_s": wall,
        "send_s": send_s,
        "ceiling_rows_per_s": ceiling,
        "rows_per_s": created / wall,
        "send_rows_per_s": created / send_s if send_s else 0.0,
        "ceiling_fraction": created / wall / ceiling,
        "send_ceiling_fraction": (created / send_s / ceiling) if send_s else 0.0,
        "requests": summary.get("requests"),
        "retries": summary.get("retries"),
        "rate_limit_wait_s": summary.get("rate_limit_wait_s"),
        "server": counters,
        "http_429": counters["rate_limited"],
    }


def part_c(sizes: Sizes, inputs: dict[str, Path], importer_wall_s: float) -> dict[str, Any]:
    from importer.sandbox import SandboxConfig, SandboxServer

    path = inputs["xlsx_bad"]
    config = SandboxConfig(
        rate=sizes.rate, latency_ms=sizes.latency_ms, seed=inputs["seed"], random_seed=1
    )
    print(
        f"  (c) naive baseline: read_excel(openpyxl) + {sizes.naive_rows} single POSTs ...",
        flush=True,
    )
    with SandboxServer(config) as server:
        env = {**os.environ, "KANTATA_API_TOKEN": server.token}
        result = probe("naive", str(path), server.base_url, str(sizes.naive_rows), env=env)
    per_row = result["send_s"] / result["sent"]
    projected = result["read_s"] + per_row * result["rows"]
    return {
        "file": path.name,
        "rows": result["rows"],
        "read_s": result["read_s"],
        "sent_rows": result["sent"],
        "send_s": result["send_s"],
        "status": result["status"],
        "rows_per_s_sending": 1 / per_row,
        "projected_total_s": projected,
        "importer_wall_s": importer_wall_s,
        "factor": projected / importer_wall_s,
    }


# -- reporting -----------------------------------------------------------------------------------


def part_g(quick: bool) -> dict[str, Any]:
    """The reader child's cost: a two-row and a 100,000-row XLSX, in process and in the child."""
    out: dict[str, Any] = {}
    for name, n in (("small", 1), ("xlsx_100k", 10_000 if quick else 100_000)):
        path = WORK / f"isolation-{n}.xlsx"
        if not path.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            _inputs.write_xlsx(_inputs.make_rows(n, bad_fraction=0.01), path)
        print(f"  (g) read {name} in process and in the reader child ...", flush=True)
        got = probe("read", str(path), "3" if quick else "7")
        here = statistics.median(got["in_process_s"])
        warm = statistics.median(got["child_warm_s"])
        out[name] = {
            "rows": n,
            "file_mb": path.stat().st_size / 1e6,
            "in_process_s": here,
            "child_cold_s": got["child_cold_s"],
            "child_warm_s": warm,
            "cold_overhead_s": got["child_cold_s"] - here,
            "warm_overhead_s": warm - here,
            "samples": got,
        }
        cold = got["child_cold_s"]
        print(
            f"      in process {here * 1000:,.0f} ms; child: first {cold * 1000:,.0f} ms, then "
            f"{warm * 1000:,.0f} ms",
            flush=True,
        )
    return out


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    packages = ("pandas", "pyarrow", "pandera", "numpy", "fastexcel", "openpyxl", "httpx")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {name: version(name) for name in packages},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def verdicts(res: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(measure, value, target, pass) rows."""
    a, b = res["validate"], res["run"]
    t = TARGETS
    rows = [
        (
            "(a) CSV validate / floor",
            f"{a['csv_bad']['vs_floor']:.2f}x (best {a['csv_bad']['vs_floor_best']:.2f}x)",
            f"<= {t['csv_vs_floor']:g}x",
            a["csv_bad"]["vs_floor"] <= t["csv_vs_floor"],
        ),
        (
            "(a) XLSX validate / floor",
            f"{a['xlsx_bad']['vs_floor']:.2f}x (best {a['xlsx_bad']['vs_floor_best']:.2f}x)",
            f"<= {t['xlsx_vs_floor']:g}x",
            a["xlsx_bad"]["vs_floor"] <= t["xlsx_vs_floor"],
        ),
        (
            "(a) CSV validation speed",
            f"{a['csv_bad']['median_rows_per_s'] / 1e6:.2f}M rows/s "
            f"(best {a['csv_bad']['rows_per_s'] / 1e6:.2f}M)",
            f">= {t['csv_rows_per_s'] / 1e6:g}M rows/s",
            a["csv_bad"]["median_rows_per_s"] >= t["csv_rows_per_s"],
        ),
    ]
    for fmt in ("csv", "xlsx"):
        r = a[f"{fmt}_bad"]
        rows.append(
            (
                f"(a) {fmt.upper()} peak memory / file size",
                f"{r['memory_vs_file']:.1f}x ({r['importer']['net_mb']:.0f} MB; "
                f"floor {r['floor']['net_mb'] / r['file_mb']:.1f}x)",
                f"<= {t['memory_vs_file']:g}x",
                r["memory_vs_file"] <= t["memory_vs_file"],
            )
        )
    r = a["xlsx_bad"]
    rows.append(
        (
            "(a) XLSX peak memory / unzipped size",
            f"{r['memory_vs_unzipped']:.1f}x ({r['unzipped_mb']:.0f} MB unzipped)",
            f"<= {t['memory_vs_file']:g}x",
            r["memory_vs_unzipped"] <= t["memory_vs_file"],
        )
    )
    big = a["csv_big"]
    rows.append(
        (
            f"(a) CSV {big['rows'] / 1e6:g}M rows: memory / file",
            f"{big['memory_vs_file']:.1f}x ({big['importer']['net_mb']:.0f} MB)",
            f"<= {t['memory_vs_file']:g}x",
            big["memory_vs_file"] <= t["memory_vs_file"],
        )
    )
    rows.append(
        (
            "(a) CSV memory growth / file growth",
            f"{a['growth_vs_file']:.2f} ({a['growth_bytes_per_row']:.0f} B/row)",
            f"<= {t['growth_vs_file']:g}",
            a["growth_vs_file"] <= t["growth_vs_file"],
        )
    )
    for fmt in ("csv", "xlsx"):
        v = a[f"{fmt}_errors_vs_clean"]
        rows.append(
            (
                f"(a) {fmt.upper()} 1 % bad / clean",
                f"{v:.2f}x",
                f"<= {t['errors_vs_clean']:g}x",
                v <= t["errors_vs_clean"],
            )
        )
    rows += [
        (
            "(b) run / rate ceiling",
            f"{b['ceiling_fraction']:.1%} ({b['rows_per_s']:.0f} rows/s)",
            f">= {t['ceiling_fraction']:.0%}",
            b["ceiling_fraction"] >= t["ceiling_fraction"],
        ),
        (
            "(b) HTTP 429 replies",
            str(b["http_429"]),
            f"<= {t['max_429']}",
            b["http_429"] <= t["max_429"],
        ),
    ]
    return rows


def markdown(res: dict[str, Any]) -> str:
    m, a, b, c = res["machine"], res["validate"], res["run"], res["naive"]
    v = m["versions"]
    lines = [
        f"Measured {res['finished_at'][:10]} with `python benchmarks/run_benchmarks.py"
        f"{' --quick' if res['quick'] else ''}` on {m['cpu']}, {m['cores']} cores, "
        f"{m['ram_gb']:g} GB RAM, {m['os']}; Python {m['python']}, pandas {v['pandas']}, "
        f"pyarrow {v['pyarrow']}, pandera {v['pandera']}, fastexcel {v['fastexcel']}.",
        "",
        "| measure | result | target | |",
        "|---|---|---|---|",
    ]
    for measure, value, target, ok in verdicts(res):
        lines.append(f"| {measure} | {value} | {target} | {'pass' if ok else 'FAIL'} |")
    lines += [
        "",
        "`importer validate` against the floor (plain read + plain pandera validate), "
        f"{res['sizes']['repeat']} interleaved runs each in fresh processes: median (best) "
        "time after the imports, which take ~1.5 s more in both; memory is the median peak "
        "above the process's size after its imports (floor's in brackets):",
        "",
        "| input | rows | file | floor | importer validate | rows/s (best) | peak memory |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("csv_bad", "csv_clean", "csv_big", "xlsx_bad", "xlsx_clean"):
        r = a[name]
        floor = r.get("floor")
        floor_text = f"{floor['median_work_s']:.2f} s ({floor['work_s']:.2f})" if floor else "-"
        floor_mb = f" ({floor['net_mb']:.0f} MB)" if floor else ""
        imp = r["importer"]
        lines.append(
            f"| {name.replace('_', ' ')} | {r['rows']:,} | {r['file_mb']:.1f} MB | {floor_text} "
            f"| {imp['median_work_s']:.2f} s ({imp['work_s']:.2f}) "
            f"| {r['rows_per_s'] / 1e6:.2f}M | {imp['net_mb']:.0f} MB{floor_mb} |"
        )
    lines += [
        "",
        f"`importer run` of {b['file']} ({b['counts']['rows']:,} rows, "
        f"{b['counts']['created']:,} valid) against the sandbox at {b['rate']:g} requests/s and "
        f"{b['latency_ms']:g} ms latency, `--max-rps {b['rate']:g} --concurrency "
        f"{b['concurrency']}`: {b['wall_s']:.1f} s end to end, {b['rows_per_s']:.0f} rows/s = "
        f"{b['ceiling_fraction']:.1%} of the {b['ceiling_rows_per_s']:.0f} rows/s ceiling "
        f"(sending alone: {b['send_ceiling_fraction']:.1%}); {b['requests']} requests, "
        f"{b['http_429']} answered 429.",
        "",
        f"Naive baseline on the same file (`pd.read_excel` + one POST per row, one at a time): "
        f"reading {c['read_s']:.1f} s, sending {c['rows_per_s_sending']:.1f} rows/s (measured "
        f"on the first {c['sent_rows']} rows), so about {c['projected_total_s'] / 3600:.1f} h "
        f"for the whole file (extrapolated): **{c['factor']:.0f}x** the importer's "
        f"{c['importer_wall_s']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def print_table(res: dict[str, Any]) -> None:
    rows = verdicts(res)
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print()
    for measure, value, target, ok in rows:
        print(f"  {measure:<{width}}  {value:>{vwidth}}  {target:<18} {'pass' if ok else 'FAIL'}")
    c = res["naive"]
    print(
        f"  (c) naive baseline: ~{c['projected_total_s']:.0f} s projected vs "
        f"{c['importer_wall_s']:.0f} s: {c['factor']:.0f}x slower"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run, < 1 min)")
    parser.add_argument("--out", type=Path, help="JSON results [benchmarks/results.json]")
    parser.add_argument("--repeat", type=int, help="runs per validate measurement [3; quick 1]")
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["a", "b", "c", "d", "e", "f", "g"],
        help="parts to leave out",
    )
    parser.add_argument(
        "--run-rows",
        type=int,
        nargs="*",
        help="sizes of the (f) run-memory files [100000 1000000 4000000; quick 20000 200000]",
    )
    parser.add_argument(
        "--pace-repeat", type=int, help="runs of each (d) command on unlimited servers [3; quick 1]"
    )
    parser.add_argument(
        "--pace-settings",
        type=int,
        nargs="*",
        default=[],
        help="which (d) server settings to run, 0-3 [all]",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeat:
        sizes = Sizes(**{**sizes.__dict__, "repeat": args.repeat})
    out = args.out or (WORK / "results-quick.json" if args.quick else HERE / "results.json")
    sys.path.insert(0, str(ROOT))

    t0 = time.perf_counter()
    res: dict[str, Any] = {
        "quick": args.quick,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "sizes": sizes.__dict__,
        "targets": TARGETS,
    }
    print(f"machine: {res['machine']['cpu']}, {res['machine']['cores']} cores")
    inputs = make_inputs(sizes)
    if "a" not in args.skip:
        res["validate"] = part_a(sizes, inputs)
    if "b" not in args.skip:
        res["run"] = part_b(sizes, inputs)
    if "c" not in args.skip:
        wall = res["run"]["wall_s"] if "run" in res else float("nan")
        res["naive"] = part_c(sizes, inputs, wall)
    if "d" not in args.skip:
        res["pace"] = _pace.part_d(
            args.quick, args.pace_repeat or (1 if args.quick else 3), tuple(args.pace_settings)
        )
    if "e" not in args.skip:
        res["budget"] = _pace.part_e(args.quick)
    if "f" not in args.skip:
        res["run_memory"] = _pace.part_f(args.quick, tuple(args.run_rows or ()))
    if "g" not in args.skip:
        res["isolation"] = part_g(args.quick)
    res["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    res["elapsed_s"] = time.perf_counter() - t0

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    first = not {"a", "b", "c"} & set(args.skip)
    if first:
        print_table(res)
    elif any(k in res for k in ("validate", "run", "naive")):
        print(json.dumps({k: res[k] for k in ("validate", "run", "naive") if k in res}, indent=1))
    pace_rows = _pace.verdicts(res)
    if pace_rows:
        width = max(len(r[0]) for r in pace_rows)
        for measure, value, target, ok in pace_rows:
            print(f"  {measure:<{width}}  {value:>30}  {target:<18} {'pass' if ok else 'FAIL'}")
    md = out.with_name("RESULTS.md" if out.parent == HERE else out.stem + ".md")
    text = markdown(res) if first else ""
    if pace_rows:
        text += "\n| measure | result | target | |\n|---|---|---|---|\n"
        text += "".join(
            f"| {m} | {v} | {t} | {'pass' if ok else 'FAIL'} |\n" for m, v, t, ok in pace_rows
        )
        text += "\n" + _pace.markdown(res)
    md.write_text(text, encoding="utf-8")
    print(f"\nwrote {out} and {md} in {res['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
