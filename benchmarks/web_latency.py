"""Latency of ``importer serve`` with a 100,000-row file, over real HTTP (keep-alive).

    python benchmarks/web_latency.py

Uploads a generated CSV (2 % bad rows), then times 50 grid pages at random offsets (all rows and
rows with problems), 50 cell edits at random rows, and 5 each of the column tools (fill down;
find and replace changing 98,000 cells of a column; each checks every row again). Prints
medians, p90 and maxima (README figures).
"""

from __future__ import annotations

import csv
import hmac
import http.client
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import uvicorn

from importer.web import WebConfig, bind_loopback, create_app

ROWS = 100_000


def main() -> None:
    work = Path(tempfile.mkdtemp())
    src = work / "big.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["geography_id", "department_id", "member_id", "member_type", "Employee"])
        for i in range(ROWS):
            bad = i % 50 == 0
            writer.writerow(["x" if bad else "105", "202", 20001 + i, "User", f"Person {i}"])
    sock = bind_loopback(0)
    config = WebConfig(work / "work", port=sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    time.sleep(1)
    headers = {
        "Cookie": f"importer_session={config.secret}",
        "X-CSRF-Token": hmac.new(config.secret.encode(), b"csrf", "sha256").hexdigest(),
        "Content-Type": "application/json",
    }
    conn = http.client.HTTPConnection("127.0.0.1", config.port)

    def call(method: str, path: str, body: bytes | str | None = None) -> tuple[float, bytes]:
        t0 = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        data = reply.read()
        assert reply.status in (200, 201), (reply.status, data[:200])
        return (time.perf_counter() - t0) * 1000, data

    took, data = call("PUT", "/api/uploads?name=big.csv", src.read_bytes())
    uid = json.loads(data)["id"]
    print(f"upload + read + check {ROWS:,} rows: {took:.0f} ms")
    rng = random.Random(3)
    pages = []
    for view in ["all", "problems"] * 25:
        offset = rng.randrange(0, ROWS // 50 - 50 if view == "problems" else ROWS - 50)
        path = f"/api/uploads/{uid}/rows?view={view}&offset={offset}&limit=50"
        pages.append(call("GET", path)[0])
    edits = []
    for _ in range(50):
        cell = {"row": rng.randrange(2, ROWS + 2), "column": "member_id", "value": "7"}
        edits.append(call("POST", f"/api/uploads/{uid}/cells", json.dumps(cell))[0])
    fills, swaps = [], []
    for i in range(5):
        blank = {"row": rng.randrange(2, ROWS + 2), "column": "Employee", "value": ""}
        call("POST", f"/api/uploads/{uid}/cells", json.dumps(blank))
        fill = {"column": "Employee"}
        fills.append(call("POST", f"/api/uploads/{uid}/fill-down", json.dumps(fill))[0])
        old, new = ("105", "106") if i % 2 == 0 else ("106", "105")  # 98,000 cells each time
        swap = {"column": "geography_id", "find": old, "replace": new, "whole": True}
        swaps.append(call("POST", f"/api/uploads/{uid}/replace", json.dumps(swap))[0])
    for name, times in (("page", pages), ("edit", edits), ("fill down", fills), ("replace", swaps)):
        times.sort()
        p90 = times[int(len(times) * 0.9)]
        print(
            f"{name}: median {statistics.median(times):.0f} ms, p90 {p90:.0f} ms, "
            f"max {times[-1]:.0f} ms (n={len(times)})"
        )
    server.should_exit = True


if __name__ == "__main__":
    main()
