"""The same file uploaded twice is never sent twice at once: not from one ``importer serve``, not
from two processes on one working folder (the lock is the file's content and the server)."""

from __future__ import annotations

import hmac
import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from importer.sandbox import SandboxConfig, SandboxServer

from ..waiting import wait_for
from ..web_helpers import signed_in, upload, wait_for_run, web_config
from .browser_flows import write_adp_csv

DEADLINE = 30  # seconds for the other process to start and answer


@contextmanager
def serve_process(work: Path, server: SandboxServer) -> Iterator[httpx.Client]:
    """``importer serve`` in a process of its own on ``work``, sending to ``server`` one row a
    request; a signed-in client of it. The process is killed (its group) on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer.cli", "serve", "--base-url", server.base_url,
         "--work-dir", str(work), "--batch-size", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        env={**os.environ, "KANTATA_API_TOKEN": server.token},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as ready:
            ready.register(proc.stdout, selectors.EVENT_READ)
            assert ready.select(DEADLINE), f"importer serve printed no URL in {DEADLINE} s"
        url = proc.stdout.readline().strip()
        key = re.search(r"key=([^&\s]+)", url)
        assert key is not None, url
        csrf = hmac.new(key.group(1).encode(), b"csrf", "sha256").hexdigest()
        with httpx.Client(base_url=url.split("/?")[0], timeout=DEADLINE) as client:
            client.headers["X-CSRF-Token"] = csrf
            wait_for(lambda: _signs_in(client, url), timeout=DEADLINE, what=f"{url} to answer")
            yield client
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(DEADLINE)
        if proc.stdout is not None:
            proc.stdout.close()


def _signs_in(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url, follow_redirects=True).status_code == 200
    except httpx.ConnectError:
        return False


def test_the_same_file_uploaded_twice_is_not_sent_twice_at_once(tmp_path: Path) -> None:
    """Two uploads of one file: while the first is sent, the second's Send is refused (409,
    naming the first's run, "from its other upload"); its undo is refused the same way. Once the
    first has ended, the second upload says the file was sent, and sending it again creates
    nothing twice."""
    adp = write_adp_csv(tmp_path / "adp.csv")
    with SandboxServer(SandboxConfig(latency_ms=150)) as server:
        client = signed_in(web_config(tmp_path / "work", server, batch_size=1))
        one, two = upload(client, adp), upload(client, adp, "adp (1).csv")
        first = client.post(f"/api/uploads/{one}/runs")
        second = client.post(f"/api/uploads/{two}/runs")
        assert first.status_code == 201
        assert second.status_code == 409, second.text
        refused = second.json()
        assert (refused["run"], refused["other_upload"]) == (first.json()["id"], True)
        assert "from its other upload" in refused["error"]
        done = wait_for_run(client, first.json()["id"])
        assert (done["counts"]["created"], done["counts"]["already_existed"]) == (4, 1)
        state = client.get(f"/api/uploads/{two}").json()
        assert [r["id"] for r in state["sent_before"]] == [first.json()["id"]]
        again = client.post(f"/api/uploads/{two}/runs")
        assert again.status_code == 201, again.text
        status = wait_for_run(client, again.json()["id"])
        assert (status["counts"]["created"], status["counts"]["already_existed"]) == (0, 5)
        # an undo of the first while the second upload sends: refused too
        third = client.post(f"/api/uploads/{two}/runs").json()["id"]
        undo = client.post(f"/api/runs/{first.json()['id']}/undo")
        assert (undo.status_code, undo.json().get("run")) == (409, third)
        wait_for_run(client, third)
        assert len(server.memberships()) == 5 + 4  # the seed's five, and four created once


@pytest.mark.slow
def test_another_serve_process_does_not_send_the_same_file_at_once(tmp_path: Path) -> None:
    """Two ``importer serve`` processes on one working folder, the file uploaded to each: while
    one sends it, the other's Send is refused with the run that goes on."""
    adp = write_adp_csv(tmp_path / "adp.csv")
    with SandboxServer(SandboxConfig(latency_ms=150)) as server:
        here = signed_in(web_config(tmp_path / "work", server, batch_size=1))
        mine = upload(here, adp)
        with serve_process(tmp_path / "work", server) as there:
            theirs = there.put("/api/uploads?name=adp.csv", content=adp.read_bytes())
            assert theirs.status_code == 201, theirs.text
            sent = there.post(f"/api/uploads/{theirs.json()['id']}/runs")
            assert sent.status_code == 201, sent.text
            refused = here.post(f"/api/uploads/{mine}/runs")
            assert refused.status_code == 409, refused.text
            assert refused.json()["run"] == sent.json()["id"]
            wait_for(
                lambda: not there.get(f"/api/runs/{sent.json()['id']}").json()["running"],
                timeout=60,
                what="the other process's run to end",
            )
        assert len(server.memberships()) == 5 + 4
