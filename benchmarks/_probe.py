"""One measured task in a fresh process; ``run_benchmarks.py`` starts it and reads its JSON line.

Usage: ``python benchmarks/_probe.py TASK ARGS...`` with TASK one of

* ``validate FILE OUT``: ``importer validate FILE --out OUT --quiet``, run through the console
  script's own entry point (``importer.cli.main``) in this process;
* ``floor FILE``: the floor for ``validate``: the fastest plain read of FILE (pandas' pyarrow CSV
  engine, or fastexcel for a workbook) plus a plain pandera validate of the same four columns;
* ``cli OUT ARGS...``: ``importer ARGS...`` (``run``/``plan``, token from ``$KANTATA_API_TOKEN``)
  through the console script's entry point, then ``OUT/summary.json``; with
  ``$BENCH_FIXED_CONCURRENCY=N`` the pace is pinned at N in flight (the importer before it
  learned its pace: the benchmark's fixed-concurrency comparison);
* ``read FILE REPEAT``: what reading a workbook in a child process costs (issue 21): ``open_table``
  and its chunks, in this process and in the reader child, alternately REPEAT times; the first
  child read starts the child (cold), the others find it waiting (warm);
* ``naive FILE BASE_URL ROWS``: the naive baseline: ``pd.read_excel(engine="openpyxl")`` of the
  whole file, then one POST per row, one at a time, for the first ROWS rows (token from
  ``$KANTATA_API_TOKEN``).

Every task imports its libraries first (and runs one tiny pandera validate, which imports the
rest of pandera), then notes the resident memory (the *baseline*), then does the work; it prints
``{"import_s", "work_s", "base_rss_mb", "peak_rss_mb", ...}`` where ``peak_rss_mb`` is the
process's high-water mark (``VmHWM``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WHOLE_NUMBER = r"^\+?[0-9]{1,18}(?:\.0*)?$"
ID_COLUMNS = ("geography_id", "department_id", "member_id")


def _status_mb(field: str) -> float:
    """``VmRSS``/``VmHWM`` from /proc (getrusage's ru_maxrss may carry the parent's peak over
    fork+exec); ``getrusage`` where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


IMPORTS = {
    # importer.jobs pulls in pandas, pyarrow, pandera and the pipeline; the readers are imported
    # lazily by the loader, so they are imported here too.
    "validate": (
        "importer.cli._app",
        "importer.jobs._run",
        "importer.read._delimited",
        "importer.read._excel",
    ),
    "floor": ("pandas", "pandera.pandas", "pyarrow.csv", "fastexcel"),
    "naive": ("pandas", "openpyxl", "httpx"),
    "read": ("importer.read", "importer.read._excel", "importer.read._isolate"),
    "cli": (
        "importer.cli._app",
        "importer.jobs._run",
        "importer.jobs._plan",
        "importer.read._delimited",
    ),
}


def _imports(task: str) -> None:
    """Import what the task needs and warm pandera up (its first validate imports ~100 modules),
    so that the work time is the work."""
    for name in IMPORTS[task]:
        importlib.import_module(name)
    if task in ("validate", "floor", "cli"):
        import pandas as pd
        import pandera.pandas as pa

        tiny = pd.DataFrame({"a": ["1", "x"]}, dtype="str")
        schema = pa.DataFrameSchema({"a": pa.Column(checks=pa.Check.str_matches(WHOLE_NUMBER))})
        with contextlib.suppress(pa.errors.SchemaErrors):
            schema.validate(tiny, lazy=True)


def validate(path: str, out: str) -> dict[str, Any]:
    from importer.cli import main

    sys.argv = ["importer", "validate", path, "--out", out, "--quiet"]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    return {"exit_code": code, "counts": summary["counts"]}


def cli(out: str, *args: str) -> dict[str, Any]:
    fixed = os.environ.get("BENCH_FIXED_CONCURRENCY")
    if fixed:
        import importer.api._client
        from importer.api import ConcurrencyLimit

        class Fixed(ConcurrencyLimit):
            """N in flight, whatever happens."""

            def __init__(self, ceiling: int = 16, **_: Any) -> None:
                super().__init__(int(fixed), initial=int(fixed))

            def answered(self, latency: float) -> None:
                pass

            def overloaded(self) -> None:
                pass

        importer.api._client.ConcurrencyLimit = Fixed  # type: ignore[misc]
    from importer.cli import main

    sys.argv = ["importer", *args, "--out", out, "--quiet"]
    t0 = time.perf_counter()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    took = time.perf_counter() - t0
    summary = json.loads((Path(out) / "summary.json").read_text(encoding="utf-8"))
    return {"exit_code": code, "command_s": took, "summary": summary}


def floor(path: str) -> dict[str, Any]:
    import pandas as pd
    import pandera.pandas as pa

    if path.endswith(".csv"):
        frame = pd.read_csv(path, engine="pyarrow", dtype="str", keep_default_na=False)
    else:
        import fastexcel

        sheet = fastexcel.read_excel(path).load_sheet(0, dtypes="string")
        frame = sheet.to_pandas()
    schema = pa.DataFrameSchema(
        {name: pa.Column(checks=pa.Check.str_matches(WHOLE_NUMBER)) for name in ID_COLUMNS}
        | {"member_type": pa.Column(checks=pa.Check.isin(["User", "Workspace"]))}
    )
    try:
        schema.validate(frame, lazy=True)
        failures = 0
    except pa.errors.SchemaErrors as exc:
        failures = len(exc.failure_cases)
    return {"rows": len(frame), "failure_cases": failures}


def naive(path: str, base_url: str, rows: str) -> dict[str, Any]:
    import httpx
    import pandas as pd

    t0 = time.perf_counter()
    frame = pd.read_excel(path, engine="openpyxl")  # pandas' default reader for .xlsx
    read_s = time.perf_counter() - t0

    def plain(value: Any) -> Any:
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, int | str) else str(value)

    token = os.environ["KANTATA_API_TOKEN"]
    status: dict[str, int] = {}
    t1 = time.perf_counter()
    sent = 0
    with httpx.Client(
        base_url=base_url + "/", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        for record in frame.head(int(rows)).to_dict("records"):
            body = {"organization_membership": {k: plain(v) for k, v in record.items()}}
            while True:
                reply = client.post("organization_memberships", json=body)
                status[str(reply.status_code)] = status.get(str(reply.status_code), 0) + 1
                if reply.status_code != 429:
                    break
                time.sleep(float(reply.headers.get("Retry-After", "1")))
            sent += 1
    send_s = time.perf_counter() - t1
    return {"rows": len(frame), "read_s": read_s, "sent": sent, "send_s": send_s, "status": status}


def read(path: str, repeat: str) -> dict[str, Any]:
    from importer.read import open_table

    def once(isolate: bool) -> float:
        t0 = time.perf_counter()
        table = open_table(path, isolate=isolate)
        rows = sum(len(chunk) for chunk in table.chunks())
        assert rows > 0
        return time.perf_counter() - t0

    here: list[float] = []
    child: list[float] = []
    for _ in range(int(repeat)):
        here.append(once(False))
        child.append(once(True))
        time.sleep(0.5)  # a pause between reads, as between two commands' files
    return {"in_process_s": here, "child_cold_s": child[0], "child_warm_s": child[1:]}


TASKS: dict[str, Callable[..., dict[str, Any]]] = {
    "validate": validate,
    "floor": floor,
    "naive": naive,
    "cli": cli,
    "read": read,
}


def main(argv: list[str]) -> None:
    task, args = argv[0], argv[1:]
    load = os.getloadavg()[0]  # other work on the machine shows up in the times
    t0 = time.perf_counter()
    _imports(task)
    t1 = time.perf_counter()
    base = _status_mb("VmRSS")
    result = TASKS[task](*args)
    t2 = time.perf_counter()
    result.update(
        import_s=t1 - t0,
        work_s=t2 - t1,
        base_rss_mb=base,
        peak_rss_mb=_status_mb("VmHWM"),
        load_average=load,
    )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
