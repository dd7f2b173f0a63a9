"""``importer serve``'s HTTP API (Starlette's test client): guards, grid, edits, plan, send."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from importer.sandbox import SandboxConfig, SandboxServer
from importer.web import WebConfig, create_app
from importer.web._store import Store

from ..waiting import wait_for
from ..web_helpers import (
    SAMPLES,
    cli_errors_csv,
    edit_sample_csv,
    signed_in,
    upload,
    wait_for_run,
    web_config,
)


@pytest.fixture
def web(tmp_path: Path, sandbox: SandboxServer) -> Iterator[tuple[TestClient, WebConfig]]:
    """A signed-in client of a web app sending to the ``sandbox`` fixture."""
    config = web_config(tmp_path / "work", sandbox)
    with signed_in(config) as client:
        yield client, config


def test_requests_without_the_secret_are_refused(tmp_path: Path) -> None:
    """No cookie, or a wrong key, is 403; the right key sets an HttpOnly SameSite cookie."""
    config = web_config(tmp_path, None)
    client = TestClient(create_app(config))
    assert client.get("/").status_code == 403
    assert client.get("/api/runs").status_code == 403
    assert client.get("/?key=guess").status_code == 403
    reply = client.get(f"/?key={config.secret}", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/"
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert client.get("/").status_code == 200


def test_a_foreign_host_header_is_refused(tmp_path: Path) -> None:
    """A page reached under another host name (DNS rebinding) gets nothing."""
    config = web_config(tmp_path, None)
    client = signed_in(config)
    assert client.get("/", headers={"host": "evil.example:80"}).status_code == 421


def test_changes_need_the_csrf_token_and_a_same_origin(tmp_path: Path) -> None:
    """A state-changing request without the page's token, or from another origin, is refused."""
    config = web_config(tmp_path, None)
    client = signed_in(config)
    body = (SAMPLES / "people.csv").read_bytes()
    token = client.headers.pop("X-CSRF-Token")
    assert client.put("/api/uploads?name=a.csv", content=body).status_code == 403
    foreign = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
    assert client.put("/api/uploads?name=a.csv", content=body, headers=foreign).status_code == 403
    ok = {"X-CSRF-Token": token, "Origin": "http://testserver"}
    assert client.put("/api/uploads?name=a.csv", content=body, headers=ok).status_code == 201


def test_loopback_only_and_secret_in_the_printed_url(tmp_path: Path) -> None:
    """The server binds 127.0.0.1 and its URL carries the secret."""
    from importer.web import bind_loopback

    sock = bind_loopback(0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)  # no 40 ms ACK stalls
        config = WebConfig(tmp_path, port=sock.getsockname()[1])
        assert config.url().startswith(f"http://127.0.0.1:{config.port}/?key=")
        assert config.secret in config.url()
        assert config.secret not in repr(config)
    finally:
        sock.close()


def test_uploads_are_refused_by_type_and_size_as_the_cli(
    web: tuple[TestClient, WebConfig],
) -> None:
    """Unknown file types and files over the CLI's limit are refused; empty files too."""
    client, config = web
    exe = client.put("/api/uploads?name=tool.exe", content=b"MZ...")
    assert exe.status_code == 400
    assert "not a file type" in exe.json()["error"]
    assert client.put("/api/uploads?name=a.csv", content=b"").status_code == 400
    from importer.web import _jobs

    limit = _jobs.max_upload_bytes(".xlsx")
    assert limit == 200 << 20
    big = client.put("/api/uploads?name=big.xlsx", content=b"\0" * (limit + 1))
    assert big.status_code == 413
    assert not list((config.work_dir / "uploads").glob("*/input.xlsx"))


def test_a_browser_file_name_is_never_a_path(web: tuple[TestClient, WebConfig]) -> None:
    """A name with ../ is only a label: the bytes go to the upload's own folder."""
    client, config = web
    uid = upload(client, SAMPLES / "people.csv", name="../../escape.csv")
    assert (config.work_dir / "uploads" / uid / "input.csv").is_file()
    assert not (config.work_dir.parent / "escape.csv").exists()
    assert client.get("/api/uploads/..%2F..%2Fetc").status_code == 404
    assert client.get(f"/api/uploads/{uid}").json()["name"] == "../../escape.csv"
    assert "../../escape.csv" in client.get("/").text  # listed on the start page by its name


def test_grid_shows_the_rows_with_errors_as_the_cli(web: tuple[TestClient, WebConfig]) -> None:
    """The errors-only grid lists the rows and messages of the CLI's errors.csv, bad cells named."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.xlsx")
    state = client.get(f"/api/uploads/{uid}").json()
    assert state["sheet"] == "Members"
    assert state["sheets"] == ["Members", "Reference"]
    assert state["counts"] == {"rows": 42, "valid": 36, "errors": 6}
    assert state["suggested"][" Dept ID"] == "department_id"
    page = client.get(f"/api/uploads/{uid}/rows?errors=1&limit=3").json()
    assert page["total"] == 6
    assert [r["row"] for r in page["rows"]] == [35, 36, 37]
    assert page["rows"][0]["bad"] == ["Member ID"]
    assert page["rows"][0]["message"] == "member_id must be a whole number, got '10031.5'"
    every = client.get(f"/api/uploads/{uid}/rows?errors=0&offset=10&limit=5").json()
    assert every["total"] == 42
    assert [r["row"] for r in every["rows"]] == [12, 13, 15, 16, 17]  # row 14 is blank
    jump = client.get(f"/api/uploads/{uid}/rows?errors=1&from_row=38&limit=2").json()
    assert (jump["offset"], [r["row"] for r in jump["rows"]]) == (3, [38, 39])
    blank = client.get(f"/api/uploads/{uid}/rows?errors=0&from_row=14&limit=1").json()
    assert [r["row"] for r in blank["rows"]] == [15]  # the next row shown


def test_another_sheet_can_be_chosen_and_chosen_back(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """A sheet that cannot be read says why (as the CLI) and the sheet list stays to go back."""
    from ..conftest import write_xlsx

    book = write_xlsx(
        tmp_path / "two.xlsx",
        {
            "Members": [
                ["geography_id", "department_id", "member_id", "member_type"],
                [105, 202, 10040, "User"],
            ],
            "Notes": [["just a title"]],
        },
    )
    client, _ = web
    uid = upload(client, book)
    other = client.post(f"/api/uploads/{uid}/setup", json={"sheet": "Notes"}).json()
    assert other["error"].startswith("two.xlsx, sheet 'Notes'")  # the CLI's one line
    assert other["sheets"] == ["Members", "Notes"]
    back = client.post(f"/api/uploads/{uid}/setup", json={"sheet": "Members"}).json()
    assert back["error"] is None
    assert back["counts"] == {"rows": 1, "valid": 1, "errors": 0}


def test_a_header_below_a_title_keeps_the_row_numbers(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """A title above the header: the reader's note is shown; rows and results keep Excel's rows."""
    path = tmp_path / "titled.csv"
    path.write_text(
        "Memberships for March\n\ngeography_id,department_id,member_id,member_type\n"
        "105,202,10040,User\n105,202,oops,User\n",
        encoding="utf-8",
    )
    client, _ = web
    uid = upload(client, path)
    state = client.get(f"/api/uploads/{uid}").json()
    assert any("3" in note for note in state["notes"])  # "header found on row 3" or so
    assert [r["row"] for r in client.get(f"/api/uploads/{uid}/rows").json()["rows"]] == [5]
    client.post(
        f"/api/uploads/{uid}/cells", json={"row": 5, "column": "member_id", "value": "10041"}
    )
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    status = wait_for_run(client, rid)
    assert status["counts"]["rows"] == 2
    success = client.get(f"/runs/{rid}/files/success.csv").text.splitlines()
    assert [line.split(",")[1] for line in success[1:]] == ["4", "5"]


def test_a_cell_edit_is_checked_at_once_duplicates_included(
    web: tuple[TestClient, WebConfig],
) -> None:
    """Fixing a cell clears its row's error; an edit that makes a duplicate names the first row."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    fixed = client.post(
        f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "10031"}
    ).json()
    assert fixed["message"] == ""
    assert fixed["counts"]["errors"] == 5
    dup = client.post(
        f"/api/uploads/{uid}/cells", json={"row": 3, "column": "Member ID", "value": "10006"}
    ).json()
    assert dup["message"].startswith("duplicate member 10006 (User): already on row 2")
    assert dup["bad"] == ["Member ID", "member type"]
    assert client.get(f"/api/uploads/{uid}").json()["edited"] == 2
    bad = client.post(f"/api/uploads/{uid}/cells", json={"row": 14, "column": "Member ID"})
    assert bad.status_code == 404


def test_edits_survive_a_restart_of_the_server(tmp_path: Path) -> None:
    """The edits layer is on disk: a new process shows the edited grid."""
    config = web_config(tmp_path / "work", None)
    uid = upload(signed_in(config), SAMPLES / "people.csv")
    client = signed_in(config)
    client.post(f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "1"})
    again = signed_in(web_config(tmp_path / "work", None))
    assert again.get(f"/api/uploads/{uid}").json()["counts"]["errors"] == 5


def test_mapping_choices_are_checked_as_the_cli_would(web: tuple[TestClient, WebConfig]) -> None:
    """Ignoring a required column gives the CLI's message; mapping it back clears it."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    chosen = client.get(f"/api/uploads/{uid}").json()["chosen"]
    state = client.post(
        f"/api/uploads/{uid}/setup", json={"chosen": {**chosen, " Dept ID": "ignore"}}
    ).json()
    assert "missing required column 'department_id'" in state["mapping_error"]
    assert "people.csv" in state["mapping_error"] or "sheet" not in state["mapping_error"]
    assert client.post(f"/api/uploads/{uid}/runs", json={}).status_code == 400
    state = client.post(f"/api/uploads/{uid}/setup", json={"chosen": chosen}).json()
    assert state["mapping_error"] is None
    assert state["counts"]["errors"] == 6


def test_plan_counts_use_the_plan_classes(web: tuple[TestClient, WebConfig]) -> None:
    """Check against the server: new / exists / differs / missing reference, and the rows."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    counts = client.post(f"/api/uploads/{uid}/plan").json()["plan"]
    # Row 41's geography 999 is unknown: "new" today, "missing reference" once plan has it.
    assert counts["new"] + counts["missing reference"] == 34
    assert (counts["exists"], counts["differs"], counts["invalid"]) == (1, 1, 6)
    rows = client.get(f"/api/uploads/{uid}/plan/rows?class=differs").json()
    assert rows["total"] == 1
    assert rows["rows"][0]["source_row"] == "34"
    assert "10002" in rows["rows"][0]["detail"]
    assert "9002" in rows["rows"][0]["detail"]
    assert client.get(f"/api/uploads/{uid}/plan/rows?class=../x").status_code == 400


def test_send_writes_what_the_cli_writes_for_the_same_edit(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """Send after an edit: errors.csv equals the CLI's for the same file edited by hand."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    client.post(
        f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "10031"}
    )
    started = client.post(f"/api/uploads/{uid}/runs", json={"differs": "report"})
    assert started.status_code == 201
    status = wait_for_run(client, started.json()["id"])
    assert status["state"] == "finished"
    assert status["counts"]["created"] == 32
    assert status["failed"] == 5 + 4  # validation + refused by the server
    assert set(status["files"]) >= {"success.csv", "errors.csv", "summary.json"}
    web_errors = client.get(f"/runs/{status['id']}/files/errors.csv").content
    edited = edit_sample_csv(tmp_path / "people.csv", ";10031.5;", ";10031;")
    assert web_errors == cli_errors_csv(edited, tmp_path / "cli")
    outcomes = client.get(f"/api/runs/{status['id']}/rows?limit=500").json()
    assert outcomes["total"] == 42
    assert {r["outcome"] for r in outcomes["rows"]} >= {"created", "failed: validation"}


def test_downloads_are_a_fixed_list_of_names(web: tuple[TestClient, WebConfig]) -> None:
    """Only the result files can be downloaded; the journal and paths cannot."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    wait_for_run(client, rid)
    assert client.get(f"/runs/{rid}/files/summary.json").status_code == 200
    assert client.get(f"/runs/{rid}/files/journal.sqlite").status_code == 404
    assert client.get(f"/runs/{rid}/files/..%2Frun.json").status_code == 404


def test_the_token_never_reaches_the_browser(
    web: tuple[TestClient, WebConfig], sandbox: SandboxServer
) -> None:
    """No page, API answer or download contains the API token."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    client.post(f"/api/uploads/{uid}/plan")
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    wait_for_run(client, rid)
    urls = [
        "/",
        f"/uploads/{uid}",
        f"/runs/{rid}",
        f"/api/uploads/{uid}",
        f"/api/uploads/{uid}/rows?errors=0",
        f"/api/runs/{rid}",
        "/api/runs",
        f"/runs/{rid}/files/summary.json",
    ]
    for url in urls:
        assert sandbox.token not in client.get(url).text, url


def test_differs_choice_is_refused_until_the_library_has_it(
    web: tuple[TestClient, WebConfig],
) -> None:
    """--move/--add are offered only when ImportOptions has `differs`; unknown words never."""
    from importer.web import _jobs

    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    nonsense = client.post(f"/api/uploads/{uid}/runs", json={"differs": "delete"})
    assert nonsense.status_code == 400
    move = client.post(f"/api/uploads/{uid}/runs", json={"differs": "move"})
    assert (move.status_code == 201) is _jobs.supports_differs()


def test_cancel_then_resume_in_a_new_server_sends_every_row_once(tmp_path: Path) -> None:
    """A cancelled run is interrupted; a restarted server resumes it from its journal."""
    with SandboxServer(SandboxConfig(latency_ms=40)) as server:
        config = web_config(tmp_path / "work", server, batch_size=1)
        client = signed_in(config)
        uid = upload(client, SAMPLES / "people.csv")
        rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
        wait_for(
            lambda: client.get(f"/api/runs/{rid}").json()["done"] >= 3,
            timeout=30,
            what="3 rows done",
        )
        client.post(f"/api/runs/{rid}/cancel")
        stopped = wait_for_run(client, rid)
        assert stopped["state"] == "interrupted"
        assert stopped["counts"]["not_processed"] > 0
        restarted = signed_in(web_config(tmp_path / "work", server, batch_size=1))
        assert restarted.post(f"/api/runs/{rid}/resume").status_code == 200
        done = wait_for_run(restarted, rid)
        assert done["state"] == "finished"
        assert done["counts"]["created"] + done["counts"]["already_existed"] == 32
        assert done["counts"]["not_processed"] == 0
        assert done["counts"]["failed_remote"] == 4  # nothing sent twice ("already taken")


def test_a_header_the_matching_misses_can_be_mapped_by_hand(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """'Unit X' is no known header: the CLI's message names it; choosing department_id sends."""
    path = tmp_path / "unit.csv"
    path.write_text(
        "geography_id,Unit X,member_id,member_type\n105,202,10040,User\n", encoding="utf-8"
    )
    client, _ = web
    uid = upload(client, path)
    state = client.get(f"/api/uploads/{uid}").json()
    assert "missing required column 'department_id'" in state["mapping_error"]
    assert state["suggested"]["Unit X"] == ""
    chosen = {**state["chosen"], "Unit X": "department_id"}
    state = client.post(f"/api/uploads/{uid}/setup", json={"chosen": chosen}).json()
    assert state["mapping_error"] is None
    assert state["counts"] == {"rows": 1, "valid": 1, "errors": 0}
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    assert wait_for_run(client, rid)["counts"]["created"] == 1


def test_ignoring_a_matched_name_column_leaves_it_unread(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """An ignored 'department' (a name column) is not resolved; results label it as ignored."""
    path = tmp_path / "names.csv"
    path.write_text(
        "geography_id,department_id,member_id,member_type,department\n"
        "105,202,10040,User,No Such Department\n",
        encoding="utf-8",
    )
    client, _ = web
    uid = upload(client, path)
    state = client.get(f"/api/uploads/{uid}").json()
    assert state["suggested"]["department"] == "department"
    assert state["counts"]["errors"] == 1  # the name does not match department 202
    chosen = {**state["chosen"], "department": "ignore"}
    state = client.post(f"/api/uploads/{uid}/setup", json={"chosen": chosen}).json()
    assert state["counts"]["errors"] == 0
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    assert wait_for_run(client, rid)["counts"]["created"] == 1
    success = client.get(f"/runs/{rid}/files/success.csv").text
    assert "department (ignored)" in success.splitlines()[0]


def test_a_run_cut_off_by_a_server_stop_is_offered_for_resume(tmp_path: Path) -> None:
    """A run still 'sending' when the process died is listed as interrupted after a restart."""
    store = Store(tmp_path, None)
    folder = tmp_path / "runs" / "0123456789abcdef"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(
        json.dumps({"id": "0123456789abcdef", "created": "x", "state": "sending"}),
        encoding="utf-8",
    )
    del store
    again = Store(tmp_path, None)
    assert again.run("0123456789abcdef").status()["state"] == "interrupted"


def test_cleaning_up_an_upload_removes_its_folder(web: tuple[TestClient, WebConfig]) -> None:
    """'clean up' deletes the upload's working folder."""
    client, config = web
    uid = upload(client, SAMPLES / "people.csv")
    assert (config.work_dir / "uploads" / uid).is_dir()
    assert client.delete(f"/api/uploads/{uid}").status_code == 200
    assert not (config.work_dir / "uploads" / uid).exists()
    assert client.get(f"/api/uploads/{uid}").status_code == 404


def test_the_cli_does_not_import_the_web_stack() -> None:
    """`import importer.cli` (every command's start) loads neither starlette nor uvicorn."""
    code = (
        "import sys, importer.cli._app; print('starlette' in sys.modules, 'uvicorn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_grid_pages_and_edits_work_on_100k_rows(tmp_path: Path) -> None:
    """With 100,000 rows, any page of the grid and any cell edit answer correctly (their speed
    is measured by benchmarks/web_latency.py, not asserted here)."""
    path = tmp_path / "big.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["geography_id", "department_id", "member_id", "member_type"])
        for i in range(100_000):
            writer.writerow(["x" if i % 50 == 0 else "105", "202", 20_001 + i, "User"])
    client = signed_in(web_config(tmp_path / "work", None))
    uid = upload(client, path)

    for offset in (0, 990, 50_000, 99_950):
        for errors in (0, 1):
            page = client.get(f"/api/uploads/{uid}/rows?errors={errors}&offset={offset}&limit=50")
            assert page.status_code == 200
    for row in (2, 50_002, 100_001, 52, 70_002):
        edit = client.post(
            f"/api/uploads/{uid}/cells", json={"row": row, "column": "geography_id", "value": "106"}
        )
        assert edit.status_code == 200
    fixed = 4  # rows 2, 52, 50002 and 70002 were bad
    assert client.get(f"/api/uploads/{uid}").json()["counts"]["errors"] == 2_000 - fixed


def test_upload_threads_do_not_block_the_page(web: tuple[TestClient, WebConfig]) -> None:
    """While a run is sending, the run list still answers (the run is in its own thread)."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    assert client.get("/api/runs").status_code == 200
    wait_for_run(client, rid)
    assert any(t.name == f"run-{rid}" for t in threading.enumerate()) is False


def test_a_workbook_with_edits_is_sent_as_a_workbook_with_the_same_rows(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """An edited .xlsx: errors.csv and errors.xlsx rows match the CLI's on the edited workbook."""
    import openpyxl

    client, _ = web
    uid = upload(client, SAMPLES / "people.xlsx")
    client.post(
        f"/api/uploads/{uid}/cells", json={"row": 36, "column": "Geography ID", "value": "105"}
    )
    rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
    status = wait_for_run(client, rid)
    assert "errors.xlsx" in status["files"]
    book = openpyxl.load_workbook(SAMPLES / "people.xlsx")
    book["Members"]["A36"] = 105
    book.save(tmp_path / "people.xlsx")
    web_errors = client.get(f"/runs/{rid}/files/errors.csv").content
    assert web_errors == cli_errors_csv(tmp_path / "people.xlsx", tmp_path / "cli")


def test_importer_serve_prints_a_loopback_url_that_signs_in(tmp_path: Path) -> None:
    """`importer serve --sandbox` prints its URL (127.0.0.1, with the key) and answers on it."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "importer.cli", "serve", "--sandbox", "--work-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert "?key=" in url
        with httpx.Client(follow_redirects=True) as client:

            def answer() -> httpx.Response | None:
                try:
                    return client.get(url)
                except httpx.ConnectError:
                    return None

            reply = wait_for(answer, timeout=10, what=f"an answer from {url}")
            assert reply.status_code == 200
            assert "Drop a CSV" in reply.text
            bare = httpx.get(url.split("?")[0])
            assert bare.status_code == 403
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
        if proc.stdout is not None:
            proc.stdout.close()


def test_progress_counts_requests_and_retries_while_sending(tmp_path: Path) -> None:
    """A flaky server: busy answers are counted while sending; the summary's retries after."""
    with SandboxServer(SandboxConfig(fail_rate=0.3, random_seed=7)) as server:
        client = signed_in(web_config(tmp_path / "work", server, batch_size=5))
        uid = upload(client, SAMPLES / "people.csv")
        rid = client.post(f"/api/uploads/{uid}/runs", json={}).json()["id"]
        status = wait_for_run(client, rid)
    assert status["state"] == "finished"
    assert status["transient"] > 0
    assert status["retries"] > 0
    assert status["requests"] > status["transient"]


def test_the_move_choice_reaches_the_run(web: tuple[TestClient, WebConfig]) -> None:
    """'move the member' sends as `run --move`: the row that differs is moved, not refused."""
    from importer.web import _jobs

    if not _jobs.supports_differs():
        pytest.skip("the library has no differs option yet")
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    rid = client.post(f"/api/uploads/{uid}/runs", json={"differs": "move"}).json()["id"]
    status = wait_for_run(client, rid)
    assert status["differs"] == "move"
    assert status["counts"]["moved"] == 1
    assert "10002" not in client.get(f"/runs/{rid}/files/errors.csv").text
