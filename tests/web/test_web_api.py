"""``importer serve``'s HTTP API (Starlette's test client): guards, the guided steps, every route
and its errors, one run per upload, results as the CLI writes them."""

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

from ..conftest import write_xlsx
from ..waiting import CHILD_START_S, wait_for
from ..web_helpers import (
    SAMPLES,
    cli_errors_csv,
    edit_sample_csv,
    signed_in,
    upload,
    wait_for_run,
    web_config,
)
from .browser_flows import ADP_HEADER, write_adp_csv

ADP_COLUMNS = {
    "Home Department Description": "department",
    "Location Description": "geography",
    "Work Contact: Work Email": "member_email",
}


@pytest.fixture
def web(tmp_path: Path, sandbox: SandboxServer) -> Iterator[tuple[TestClient, WebConfig]]:
    """A signed-in client of a web app sending to the ``sandbox`` fixture."""
    config = web_config(tmp_path / "work", sandbox)
    with signed_in(config) as client:
        yield client, config


def _adp(client: TestClient, tmp_path: Path) -> str:
    """The ADP export uploaded, its header row and columns chosen; its id."""
    uid = upload(client, write_adp_csv(tmp_path / "adp.csv"))
    state = client.post(f"/api/uploads/{uid}/header", json={"row": 4}).json()
    chosen = {c["header"]: c["chosen"] for c in state["columns"]} | ADP_COLUMNS
    state = client.post(f"/api/uploads/{uid}/columns", json={"chosen": chosen}).json()
    assert state["columns_problem"] is None, state["columns_problem"]
    return uid


# -- guards ----------------------------------------------------------------------------------


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
    client = signed_in(web_config(tmp_path, None))
    assert client.get("/", headers={"host": "evil.example:80"}).status_code == 421


def test_changes_need_the_csrf_token_and_a_same_origin(tmp_path: Path) -> None:
    """A state-changing request without the page's token, or from another origin, is refused."""
    client = signed_in(web_config(tmp_path, None))
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


def test_the_token_never_reaches_the_browser(
    web: tuple[TestClient, WebConfig], sandbox: SandboxServer, tmp_path: Path
) -> None:
    """No page, API answer or download contains the API token."""
    client, _ = web
    uid = _adp(client, tmp_path)
    client.post(f"/api/uploads/{uid}/plan", json={})
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    wait_for_run(client, rid)
    urls = [
        "/",
        f"/uploads/{uid}",
        f"/runs/{rid}",
        f"/api/uploads/{uid}",
        f"/api/uploads/{uid}/rows?view=all",
        f"/api/uploads/{uid}/plan/rows?group=create",
        f"/api/runs/{rid}",
        f"/api/runs/{rid}/rows",
        "/api/runs",
        f"/runs/{rid}/files/summary.json",
        f"/runs/{rid}/files/success.csv",
    ]
    for url in urls:
        reply = client.get(url)
        assert reply.status_code == 200, url
        assert sandbox.token not in reply.text, url


# -- 1. upload -------------------------------------------------------------------------------


def test_uploads_are_refused_by_type_and_size_as_the_cli(
    web: tuple[TestClient, WebConfig],
) -> None:
    """Unknown file types and files over the CLI's limit are refused; empty files too."""
    from importer.web._checks import max_upload_bytes

    client, config = web
    exe = client.put("/api/uploads?name=tool.exe", content=b"MZ...")
    assert exe.status_code == 400
    assert "not a file type" in exe.json()["error"]
    assert client.put("/api/uploads?name=a.csv", content=b"").status_code == 400
    limit = max_upload_bytes(".xlsx")
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


def test_unknown_ids_are_404_on_every_route(web: tuple[TestClient, WebConfig]) -> None:
    """An id that names nothing: 404 with words, on pages and API routes alike."""
    client, _ = web
    nobody = "0123456789abcdef"
    for method, url in [
        ("GET", f"/uploads/{nobody}"),
        ("GET", f"/runs/{nobody}"),
        ("GET", f"/runs/{nobody}/files/errors.csv"),
        ("GET", f"/api/uploads/{nobody}"),
        ("DELETE", f"/api/uploads/{nobody}"),
        ("POST", f"/api/uploads/{nobody}/sheet"),
        ("POST", f"/api/uploads/{nobody}/header"),
        ("POST", f"/api/uploads/{nobody}/columns"),
        ("GET", f"/api/uploads/{nobody}/rows"),
        ("POST", f"/api/uploads/{nobody}/cells"),
        ("POST", f"/api/uploads/{nobody}/fill-down"),
        ("POST", f"/api/uploads/{nobody}/replace"),
        ("POST", f"/api/uploads/{nobody}/ignore"),
        ("POST", f"/api/uploads/{nobody}/plan"),
        ("GET", f"/api/uploads/{nobody}/plan/rows?group=create"),
        ("POST", f"/api/uploads/{nobody}/runs"),
        ("GET", f"/api/runs/{nobody}"),
        ("GET", f"/api/runs/{nobody}/rows"),
        ("POST", f"/api/runs/{nobody}/undo"),
    ]:
        body = {"row": 1, "column": "x", "value": "", "sheet": "x", "chosen": {}, "ignored": True}
        reply = client.request(method, url, json=body)
        assert reply.status_code == 404, (method, url, reply.text)


# -- 2. sheet and header row -----------------------------------------------------------------


def test_the_header_row_is_found_and_can_be_chosen_by_clicking_a_row(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """The ADP export: its first rows are shown, title lines included; row 4 is found by its
    content and said why; clicking a title row makes it the header (nothing can be read then),
    clicking row 4 again restores the columns; a blank or unknown row is refused in words."""
    client, _ = web
    uid = upload(client, write_adp_csv(tmp_path / "adp.csv"))
    state = client.get(f"/api/uploads/{uid}").json()
    assert state["header"]["rows"][0] == ["New Hire Report"]
    assert len(state["header"]["rows"]) == 12
    assert (state["header"]["row"], state["header"]["chosen"]) == (4, False)
    assert state["header"]["reason"] == "it names 3 expected columns"
    assert [c["header"] for c in state["columns"]] == ADP_HEADER
    assert state["counts"] == {"rows": 11, "ignored": 0, "problems": 6, "ready": 5}
    title = client.post(f"/api/uploads/{uid}/header", json={"row": 1}).json()
    assert (title["header"]["row"], title["header"]["chosen"]) == (1, True)
    assert "beyond the last header column" in title["error"]  # the reader's reason, in words
    assert "--" not in title["error"]
    assert (title["columns"], title["counts"]) == ([], {})
    assert len(title["header"]["rows"]) == 12  # still there to click another row
    state = client.post(f"/api/uploads/{uid}/header", json={"row": 4}).json()
    assert [c["header"] for c in state["columns"]] == ADP_HEADER
    assert state["columns"][3]["samples"] == ["Engineering", "Sales", "Engneering"]
    assert state["counts"] == {"rows": 11, "ignored": 0, "problems": 6, "ready": 5}
    for bad in ({"row": 40}, {"row": 0}, {"row": "x"}, {}):
        reply = client.post(f"/api/uploads/{uid}/header", json=bad)
        assert reply.status_code == 400, bad
    blank = tmp_path / "blank.csv"
    blank.write_text(
        "Report\n\ngeography_id,department_id,member_id,member_type\n105,202,10040,User\n"
    )
    bid = upload(client, blank)
    assert client.post(f"/api/uploads/{bid}/header", json={"row": 2}).status_code == 400


def test_suggestions_judge_values_and_never_offer_an_hr_number_as_member_id(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """Employee ID is no member id (said why); a column of e-mails is a guess to check; the
    guesses are pre-chosen so the rows can be checked at once."""
    path = tmp_path / "hr.csv"
    path.write_text(
        "Employee ID,Mail,Dept,Standort\n"
        + "".join(f"{900 + i},x{i}@acme.example,Sales,Germany\n" for i in range(4)),
        encoding="utf-8",
    )
    client, _ = web
    state = client.get(f"/api/uploads/{upload(client, path)}").json()
    columns = {c["header"]: c for c in state["columns"]}
    assert columns["Employee ID"]["chosen"] == "ignore"
    assert columns["Employee ID"]["reason"] == "It is an HR number, not a Kantata user id"
    assert (columns["Mail"]["chosen"], columns["Mail"]["sure"]) == ("member_email", False)
    assert columns["Mail"]["reason"].startswith("It holds e-mail addresses")
    assert (columns["Dept"]["chosen"], columns["Dept"]["sure"]) == ("department", True)
    assert state["columns_problem"] is None


def test_a_workbook_sheet_is_chosen_and_chosen_back(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """Sheets are listed; another sheet shows its rows (its problem in words, no flag); the
    first can be chosen again; an unknown sheet is refused."""
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
    state = client.get(f"/api/uploads/{uid}").json()
    assert (state["sheet"], state["sheets"]) == ("Members", ["Members", "Notes"])
    other = client.post(f"/api/uploads/{uid}/sheet", json={"sheet": "Notes"}).json()
    assert other["sheet"] == "Notes"
    assert other["header"]["rows"] == [["just a title"]]
    assert other["error"]
    assert "--" not in other["error"]
    back = client.post(f"/api/uploads/{uid}/sheet", json={"sheet": "Members"}).json()
    assert back["error"] is None
    assert back["counts"] == {"rows": 1, "ignored": 0, "problems": 0, "ready": 1}
    assert client.post(f"/api/uploads/{uid}/sheet", json={"sheet": "Nope"}).status_code == 400


def test_a_workbook_whose_first_sheet_names_nothing_still_lists_its_sheets(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """An Instructions sheet first and two member sheets: the reader cannot choose, the page
    lists the sheets and says why, without the command line's advice."""
    header = ["geography_id", "department_id", "member_id", "member_type"]
    book = write_xlsx(
        tmp_path / "three.xlsx",
        {
            "Instructions": [["Fill in the sheets"]],
            "March": [header, [105, 202, 10040, "User"]],
            "April": [header, [105, 202, 10041, "User"]],
        },
    )
    client, _ = web
    state = client.get(f"/api/uploads/{upload(client, book)}").json()
    assert state["sheets"] == ["Instructions", "March", "April"]
    assert state["sheet"] == "Instructions"
    assert any("'March'" in n for n in state["notes"])
    assert not any("--" in n for n in state["notes"])


# -- 3. columns ------------------------------------------------------------------------------


def test_columns_show_friendly_targets_and_the_clis_suggestions(
    web: tuple[TestClient, WebConfig],
) -> None:
    """Each file column has examples and the CLI's match pre-chosen; targets have names a person
    reads ("Department (name)"); every schema column has one."""
    from importer.core import load_row_schema
    from importer.web._words import TARGETS

    client, _ = web
    state = client.get(f"/api/uploads/{upload(client, SAMPLES / 'people.xlsx')}").json()
    by_header = {c["header"]: c for c in state["columns"]}
    assert by_header[" Dept ID"]["chosen"] == by_header[" Dept ID"]["suggested"] == "department_id"
    assert by_header["Employee"]["chosen"] == "ignore"
    assert by_header["Employee"]["samples"] == ["Mateo Campbell", "Priya Weber", "Ethan Young"]
    labels = {t["value"]: t["label"] for t in state["targets"]}
    assert labels["department"] == "Department (name)"
    assert labels["member_email"] == "Person's e-mail"
    spec = load_row_schema()
    assert set(TARGETS) == {*spec.column_names, *(a.name for a in spec.alternates)}


def test_column_choices_are_checked_and_said_in_words(
    web: tuple[TestClient, WebConfig],
) -> None:
    """Leaving out a needed column says what is still to choose; two columns read as one thing
    are refused; choosing them back clears it; an unknown target counts as not imported."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    chosen = {c["header"]: c["chosen"] for c in client.get(f"/api/uploads/{uid}").json()["columns"]}
    state = client.post(
        f"/api/uploads/{uid}/columns", json={"chosen": {**chosen, " Dept ID": "ignore"}}
    ).json()
    assert state["columns_problem"] == "Still to choose: the department (its name or Kantata id)."
    assert state["counts"]["problems"] is None  # not "42 with errors" while nothing is checked
    assert client.get(f"/api/uploads/{uid}/rows").json()["total"] == 0
    assert client.post(f"/api/uploads/{uid}/runs").status_code == 400
    assert client.post(f"/api/uploads/{uid}/plan", json={}).status_code == 400
    twice = client.post(
        f"/api/uploads/{uid}/columns", json={"chosen": {**chosen, "Notes": "department_id"}}
    ).json()
    assert "both read as the same thing" in twice["columns_problem"]
    odd = client.post(
        f"/api/uploads/{uid}/columns", json={"chosen": {**chosen, "Notes": "../etc"}}
    ).json()
    assert {c["header"]: c["chosen"] for c in odd["columns"]}["Notes"] == "ignore"
    state = client.post(f"/api/uploads/{uid}/columns", json={"chosen": chosen}).json()
    assert state["columns_problem"] is None
    assert state["counts"] == {"rows": 42, "ignored": 0, "problems": 6, "ready": 36}
    assert client.post(f"/api/uploads/{uid}/columns", json={"chosen": []}).status_code == 400


def test_a_header_the_matching_misses_can_be_chosen_by_hand(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """'Unit X' is no known header: choosing "Department (Kantata id)" sends it."""
    path = tmp_path / "unit.csv"
    path.write_text(
        "geography_id,Unit X,member_id,member_type\n105,202,10040,User\n", encoding="utf-8"
    )
    client, _ = web
    uid = upload(client, path)
    state = client.get(f"/api/uploads/{uid}").json()
    assert "the department" in state["columns_problem"]
    chosen = {c["header"]: c["chosen"] for c in state["columns"]} | {"Unit X": "department_id"}
    state = client.post(f"/api/uploads/{uid}/columns", json={"chosen": chosen}).json()
    assert state["counts"] == {"rows": 1, "ignored": 0, "problems": 0, "ready": 1}
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    assert wait_for_run(client, rid)["counts"]["created"] == 1


def test_a_name_column_left_out_is_not_read(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """A 'department' column (names) left out is not resolved; results label it as left out."""
    path = tmp_path / "names.csv"
    path.write_text(
        "geography_id,department_id,member_id,member_type,department\n"
        "105,202,10040,User,No Such Department\n",
        encoding="utf-8",
    )
    client, _ = web
    uid = upload(client, path)
    state = client.get(f"/api/uploads/{uid}").json()
    assert state["counts"]["problems"] == 1  # the name does not match department 202
    chosen = {c["header"]: c["chosen"] for c in state["columns"]} | {"department": "ignore"}
    state = client.post(f"/api/uploads/{uid}/columns", json={"chosen": chosen}).json()
    assert state["counts"]["problems"] == 0
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    assert wait_for_run(client, rid)["counts"]["created"] == 1
    success = client.get(f"/runs/{rid}/files/success.csv").text
    assert "department (ignored)" in success.splitlines()[0]


# -- 4. fix ----------------------------------------------------------------------------------


def test_the_grid_shows_the_rows_with_problems_as_the_cli(
    web: tuple[TestClient, WebConfig],
) -> None:
    """The problems view lists the rows and messages of the CLI's errors.csv, bad cells named;
    its total is the problem count; all rows and a jump to a row work."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.xlsx")
    state = client.get(f"/api/uploads/{uid}").json()
    assert state["counts"] == {"rows": 42, "ignored": 0, "problems": 6, "ready": 36}
    page = client.get(f"/api/uploads/{uid}/rows?view=problems&limit=3").json()
    assert page["total"] == state["counts"]["problems"]
    assert [r["row"] for r in page["rows"]] == [35, 36, 37]
    assert page["rows"][0]["bad"] == ["Member ID"]
    assert page["rows"][0]["message"] == "member id must be a whole number, got '10031.5'"
    every = client.get(f"/api/uploads/{uid}/rows?view=all&offset=10&limit=5").json()
    assert every["total"] == 42
    assert [r["row"] for r in every["rows"]] == [12, 13, 15, 16, 17]  # row 14 is blank
    jump = client.get(f"/api/uploads/{uid}/rows?view=problems&from_row=38&limit=2").json()
    assert (jump["offset"], [r["row"] for r in jump["rows"]]) == (3, [38, 39])
    assert client.get(f"/api/uploads/{uid}/rows?view=../x").status_code == 400


def test_a_cell_edit_is_checked_at_once_duplicates_included(
    web: tuple[TestClient, WebConfig],
) -> None:
    """Fixing a cell clears its row's problem; an edit that makes a duplicate names the first
    row; a cell that is not there or a value too long is refused."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    fixed = client.post(
        f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "10031"}
    ).json()
    assert fixed["done"]["message"] == ""
    assert fixed["counts"]["problems"] == 5
    dup = client.post(
        f"/api/uploads/{uid}/cells", json={"row": 3, "column": "Member ID", "value": "10006"}
    ).json()
    assert dup["done"]["message"].startswith("duplicate member 10006 (User): already on row 2")
    assert dup["done"]["bad"] == ["Member ID", "member type"]
    assert dup["edited"] == 2
    for bad in (
        {"row": 14, "column": "Member ID", "value": "1"},  # a blank row: not in the grid
        {"row": 3, "column": "Nope", "value": "1"},
        {"row": 3, "column": "Member ID"},
        {"row": 3, "column": "Member ID", "value": "x" * (1 << 20 | 1)},
    ):
        assert client.post(f"/api/uploads/{uid}/cells", json=bad).status_code == 400, bad


def test_fill_down_fills_each_empty_cell_from_the_one_above(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """A department written once per group: three empty cells take the value above them, the
    problems go, the edits are kept (a restart shows them); an unknown column is refused."""
    client, config = web
    uid = _adp(client, tmp_path)
    assert client.get(f"/api/uploads/{uid}").json()["counts"]["problems"] == 6
    done = client.post(
        f"/api/uploads/{uid}/fill-down", json={"column": "Home Department Description"}
    ).json()
    assert done["done"] == 3
    assert done["counts"] == {"rows": 11, "ignored": 0, "problems": 3, "ready": 8}
    rows = client.get(f"/api/uploads/{uid}/rows?view=all&limit=5").json()["rows"]
    assert [r["cells"][3] for r in rows] == ["Engineering"] * 3 + ["Sales", "Sales"]
    again = client.post(
        f"/api/uploads/{uid}/fill-down", json={"column": "Home Department Description"}
    ).json()
    assert again["done"] == 0
    assert client.post(f"/api/uploads/{uid}/fill-down", json={"column": "Nope"}).status_code == 400
    restarted = signed_in(web_config(config.work_dir, None))
    assert restarted.get(f"/api/uploads/{uid}").json()["edited"] == 3


def test_find_and_replace_in_a_column(web: tuple[TestClient, WebConfig], tmp_path: Path) -> None:
    """Whole cells, or text inside cells, of one column only; nothing to find is refused."""
    client, _ = web
    uid = _adp(client, tmp_path)
    column = "Home Department Description"
    whole = client.post(
        f"/api/uploads/{uid}/replace",
        json={"column": column, "find": " Engneering ", "replace": "Engineering", "whole": True},
    ).json()
    assert (whole["done"], whole["counts"]["problems"]) == (2, 4)
    inside = client.post(
        f"/api/uploads/{uid}/replace",
        json={"column": "Work Contact: Work Email", "find": "@agency.example",
              "replace": "@acme.example", "whole": False},
    ).json()  # fmt: skip
    assert inside["done"] == 1
    assert inside["counts"]["problems"] == 4  # temp.worker@acme.example: still nobody there
    empty = {"column": column, "find": "", "replace": "x", "whole": False}
    assert client.post(f"/api/uploads/{uid}/replace", json=empty).status_code == 400


def test_an_ignored_row_is_left_out_of_the_counts_the_check_and_the_send(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """Ignoring row 14 (a person not on the account): not a problem, listed as ignored, not
    sent, and in the results with who it was; taking it back makes it a problem again."""
    client, _ = web
    uid = _adp(client, tmp_path)
    client.post(f"/api/uploads/{uid}/fill-down", json={"column": "Home Department Description"})
    client.post(
        f"/api/uploads/{uid}/replace",
        json={"column": "Home Department Description", "find": "Engneering",
              "replace": "Engineering"},
    )  # fmt: skip
    back = client.post(f"/api/uploads/{uid}/ignore", json={"row": 14, "ignored": True}).json()
    assert back["done"]["ignored"] is True
    assert back["counts"] == {"rows": 11, "ignored": 1, "problems": 0, "ready": 10}
    shown = client.get(f"/api/uploads/{uid}/rows?view=ignored").json()
    assert [r["row"] for r in shown["rows"]] == [14]
    plan = client.post(f"/api/uploads/{uid}/plan", json={}).json()["plan"]
    assert plan["counts"] == {"create": 9, "exists": 1, "move": 0, "add": 0, "elsewhere": 0,
                              "fail": 0, "invalid": 0, "ignored": 1}  # fmt: skip
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    status = wait_for_run(client, rid)
    assert status["counts"]["rows"] == 10
    assert status["ignored"] == 1
    outcomes = client.get(f"/api/runs/{rid}/rows").json()
    row14 = next(r for r in outcomes["rows"] if r["row"] == 14)
    assert row14["outcome"] == "ignored (you chose not to send it)"
    assert row14["who"] == "temp.worker@agency.example"
    assert {c["outcome"]: c["rows"] for c in outcomes["counts"]} == {
        "created": 9, "already there": 1, "ignored (you chose not to send it)": 1,
    }  # fmt: skip
    assert "temp.worker" not in client.get(f"/runs/{rid}/files/errors.csv").text
    again = client.post(f"/api/uploads/{uid}/ignore", json={"row": 14, "ignored": False}).json()
    assert again["counts"]["problems"] == 1
    assert (
        client.post(f"/api/uploads/{uid}/ignore", json={"row": 99, "ignored": True}).status_code
        == 400
    )
    assert client.post(f"/api/uploads/{uid}/ignore", json={"row": 14}).status_code == 400


def test_edits_survive_a_restart_of_the_server(tmp_path: Path) -> None:
    """The edits layer is on disk: a new process shows the edited grid."""
    config = web_config(tmp_path / "work", None)
    uid = upload(signed_in(config), SAMPLES / "people.csv")
    client = signed_in(config)
    client.post(f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "1"})
    again = signed_in(web_config(tmp_path / "work", None))
    assert again.get(f"/api/uploads/{uid}").json()["counts"]["problems"] == 5


def test_a_header_below_a_title_keeps_the_row_numbers(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """A title above the header: rows and results keep Excel's row numbers."""
    path = tmp_path / "titled.csv"
    path.write_text(
        "Memberships for March\n\ngeography_id,department_id,member_id,member_type\n"
        "105,202,10040,User\n105,202,oops,User\n",
        encoding="utf-8",
    )
    client, _ = web
    uid = upload(client, path)
    assert client.get(f"/api/uploads/{uid}").json()["header"]["row"] == 3
    assert [r["row"] for r in client.get(f"/api/uploads/{uid}/rows").json()["rows"]] == [5]
    client.post(
        f"/api/uploads/{uid}/cells", json={"row": 5, "column": "member_id", "value": "10041"}
    )
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    status = wait_for_run(client, rid)
    assert status["counts"]["rows"] == 2
    success = client.get(f"/runs/{rid}/files/success.csv").text.splitlines()
    assert [line.split(",")[1] for line in success[1:]] == ["4", "5"]


# -- 5. check --------------------------------------------------------------------------------


def test_the_check_says_what_sending_would_do_and_why_rows_fail(
    web: tuple[TestClient, WebConfig],
) -> None:
    """people.csv: created / already there / placed elsewhere / cannot be sent (with the reason
    in words) / problems in the file; the rows of a group; moving them changes the words."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    assert client.get(f"/api/uploads/{uid}/plan/rows?group=create").json()["total"] == 0
    state = client.post(f"/api/uploads/{uid}/plan", json={}).json()
    plan = state["plan"]
    assert plan["counts"]["invalid"] == state["counts"]["problems"]  # one count, everywhere
    assert plan["counts"] == {"create": 31, "exists": 1, "move": 0, "add": 0, "elsewhere": 1,
                              "fail": 3, "invalid": 6, "ignored": 0}  # fmt: skip
    assert {r["text"] for r in plan["reasons"]} == {
        "geography 999 not found on the account",
        "no user 99999 on the account",
        "department 105 is a Geography (United Kingdom), not a Department",
    }
    rows = client.get(f"/api/uploads/{uid}/plan/rows?group=elsewhere").json()
    assert rows["total"] == 1
    assert rows["rows"][0]["row"] == 34
    assert rows["rows"][0]["who"] == "user 10002"
    assert "9002" in rows["rows"][0]["detail"]
    assert "--" not in rows["rows"][0]["detail"]
    moved = client.post(f"/api/uploads/{uid}/plan", json={"differs": "move"}).json()
    assert moved["differs"] == "move"
    assert (moved["plan"]["counts"]["move"], moved["plan"]["counts"]["elsewhere"]) == (1, 0)
    assert client.post(f"/api/uploads/{uid}/plan", json={"differs": "delete"}).status_code == 400
    assert client.get(f"/api/uploads/{uid}/plan/rows?group=../x").status_code == 400


def test_an_edit_makes_the_check_old(web: tuple[TestClient, WebConfig]) -> None:
    """After an edit the check is gone from the state: its counts no longer hold."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    assert client.post(f"/api/uploads/{uid}/plan", json={}).json()["plan"] is not None
    client.post(f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "1"})
    assert client.get(f"/api/uploads/{uid}").json()["plan"] is None


def test_without_a_token_files_are_checked_but_not_sent(tmp_path: Path) -> None:
    """No API token: the grid works; the check and the send say why they cannot."""
    client = signed_in(web_config(tmp_path / "work", None))
    uid = upload(client, SAMPLES / "people.csv")
    assert client.get(f"/api/uploads/{uid}").json()["counts"]["problems"] == 6
    for url in (f"/api/uploads/{uid}/plan", f"/api/uploads/{uid}/runs"):
        reply = client.post(url, json={})
        assert reply.status_code == 400
        assert "no API token" in reply.json()["error"]


# -- 6. send, 7. results ---------------------------------------------------------------------


def test_send_writes_what_the_cli_writes_for_the_same_edit(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """Send after an edit: errors.csv equals the CLI's for the same file edited by hand; the
    results table counts what the files hold."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    client.post(
        f"/api/uploads/{uid}/cells", json={"row": 35, "column": "Member ID", "value": "10031"}
    )
    problems = client.get(f"/api/uploads/{uid}").json()["counts"]["problems"]
    started = client.post(f"/api/uploads/{uid}/runs")
    assert started.status_code == 201
    status = wait_for_run(client, started.json()["id"])
    assert status["state"] == "finished"
    assert status["counts"]["created"] == 32
    assert set(status["files"]) >= {"success.csv", "errors.csv", "summary.json"}
    web_errors = client.get(f"/runs/{status['id']}/files/errors.csv").content
    edited = edit_sample_csv(tmp_path / "people.csv", ";10031.5;", ";10031;")
    assert web_errors == cli_errors_csv(edited, tmp_path / "cli")
    outcomes = client.get(f"/api/runs/{status['id']}/rows?limit=500").json()
    assert outcomes["total"] == 42
    counts = {c["outcome"]: c["rows"] for c in outcomes["counts"]}
    assert counts == {"created": 32, "already there": 1, "not sent: a problem in the file": 5,
                      "refused by Kantata": 4}  # fmt: skip
    assert counts["not sent: a problem in the file"] == problems
    row2 = outcomes["rows"][0]  # a file of ids only: the names are the ones the run found
    assert row2["row"] == 2
    assert row2["who"].startswith("Mateo Campbell <")
    assert row2["who"].endswith("(user 10006)")
    assert row2["where"] == "United Kingdom (105) / Engineering (202)"
    assert all("--" not in r["message"] for r in outcomes["rows"])


def test_results_name_who_and_where_beside_the_ids_and_undo_is_shown_per_row(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """The ADP file: names, e-mails and place names beside the ids (a row already there too);
    after undo the rows it changed say "undone", the row that was already there does not, and
    the counts say so too."""
    client, _ = web
    uid = _adp(client, tmp_path)
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    assert wait_for_run(client, rid)["state"] == "finished"
    rows = {r["row"]: r for r in client.get(f"/api/runs/{rid}/rows").json()["rows"]}
    assert rows[5]["who"] == "Hannah Bianchi <hannah.bianchi@acme.example> (user 10021)"
    assert rows[5]["where"] == "United Kingdom (105) / Engineering (202)"
    assert rows[5]["outcome"] == "created"
    assert rows[13]["outcome"] == "already there"
    assert rows[13]["who"] == "Liam Tanaka <liam.tanaka@acme.example> (user 10002)"
    assert rows[6]["outcome"] == "not sent: a problem in the file"
    assert client.post(f"/api/runs/{rid}/undo").status_code == 200
    status = wait_for_run(client, rid)
    assert status["state"] == "undone"
    after = client.get(f"/api/runs/{rid}/rows").json()
    rows = {r["row"]: r for r in after["rows"]}
    assert (rows[5]["outcome"], rows[5]["undone"]) == ("undone (deleted)", True)
    assert (rows[13]["outcome"], rows[13]["undone"]) == ("already there", False)
    counts = {c["outcome"]: c["rows"] for c in after["counts"]}
    assert "created" not in counts
    assert counts["undone (deleted)"] == 4
    assert "undo.csv" in status["files"]
    assert client.post(f"/api/runs/{rid}/resume").status_code == 400  # nothing to resume


def test_a_finished_run_with_rows_not_sent_can_go_on(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    """A run that ended with rows not sent or still in doubt (a server that stopped answering)
    offers to go on, as the messages of those rows say; one with every row sent does not."""
    client = signed_in(web_config(tmp_path / "work", sandbox))
    uid = _adp(client, tmp_path)
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    assert wait_for_run(client, rid)["resumable"] is False
    meta_path = tmp_path / "work" / "runs" / rid / "run.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["summary"]["counts"]["not_processed"] = 2  # as a run whose server stopped answering
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    restarted = signed_in(web_config(tmp_path / "work", sandbox))
    status = restarted.get(f"/api/runs/{rid}").json()
    assert (status["state"], status["resumable"]) == ("finished", True)
    assert restarted.post(f"/api/runs/{rid}/resume").status_code == 200
    again = wait_for_run(restarted, rid)
    assert (again["counts"]["not_processed"], again["resumable"]) == (0, False)
    refused = restarted.post(f"/api/runs/{rid}/resume")
    assert (refused.status_code, refused.json()["error"]) == (
        400,
        "every row of this run was sent: there is nothing to go on with",
    )


def test_a_second_send_of_the_same_upload_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    """Two Sends at once: one run, the other 409 "already running" naming it; deleting the upload
    and undoing are refused the same way; once it ends, nothing was created twice."""
    with SandboxServer(SandboxConfig(latency_ms=150)) as server:
        client = signed_in(web_config(tmp_path / "work", server, batch_size=1))
        uid = _adp(client, tmp_path)
        first = client.post(f"/api/uploads/{uid}/runs")
        second = client.post(f"/api/uploads/{uid}/runs")
        assert first.status_code == 201
        assert second.status_code == 409
        assert second.json()["error"].startswith("already running")
        assert second.json()["run"] == first.json()["id"]
        assert client.delete(f"/api/uploads/{uid}").status_code == 409
        assert client.post(f"/api/runs/{first.json()['id']}/undo").status_code == 409
        status = wait_for_run(client, first.json()["id"])
        assert len(client.get("/api/runs").json()["runs"]) == 1
        assert (status["counts"]["created"], status["counts"]["failed_remote"]) == (4, 0)


def test_another_process_sending_the_upload_is_seen_and_waited_for(tmp_path: Path) -> None:
    """Two servers on one working folder (two processes): the second's Send gets 409 and the
    run's state; a process holding the upload's lock (as a run does) blocks Send too."""
    with SandboxServer(SandboxConfig(latency_ms=150)) as server:
        one = signed_in(web_config(tmp_path / "work", server, batch_size=1))
        uid = _adp(one, tmp_path)
        two = signed_in(web_config(tmp_path / "work", server, batch_size=1))
        rid = one.post(f"/api/uploads/{uid}/runs").json()["id"]
        refused = two.post(f"/api/uploads/{uid}/runs")
        assert (refused.status_code, refused.json()["run"]) == (409, rid)
        elsewhere = two.get(f"/api/runs/{rid}").json()
        assert (elsewhere["running"], elsewhere["elsewhere"]) == (True, True)
        wait_for_run(one, rid)
        assert wait_for_run(two, rid)["state"] == "finished"
    lock = tmp_path / "work" / "locks" / f"{uid}.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from importer.core import FolderLock;"
         f"l = FolderLock({str(lock)!r}); assert l.acquire(); print('held', flush=True);"
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert two.post(f"/api/uploads/{uid}/runs").status_code == 409
    finally:
        holder.communicate("", timeout=10)


def test_cancel_then_resume_in_a_new_server_sends_every_row_once(tmp_path: Path) -> None:
    """A cancelled run is interrupted; a restarted server resumes it from its journal."""
    with SandboxServer(SandboxConfig(latency_ms=40)) as server:
        config = web_config(tmp_path / "work", server, batch_size=1)
        client = signed_in(config)
        uid = upload(client, SAMPLES / "people.csv")
        rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
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
        assert restarted.post(f"/api/runs/{rid}/explode").status_code == 404


def test_a_run_cut_off_by_a_server_stop_is_offered_for_resume(tmp_path: Path) -> None:
    """A run still 'sending' on disk, whose upload nobody holds, is interrupted (a run saved by
    the page's first version, its choices laid flat, is read too)."""
    from importer.web._store import Store

    folder = tmp_path / "runs" / "0123456789abcdef"
    folder.mkdir(parents=True)
    meta = {"id": "0123456789abcdef", "upload": "fedcba9876543210", "created": "x",
            "state": "sending", "sheet": None, "header_row": 3, "headers": ["a"],
            "chosen": {"a": "member_id"}, "differs": "move"}  # fmt: skip
    (folder / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    run = Store(tmp_path, None).run("0123456789abcdef")
    status = run.status()
    assert (status["state"], status["running"], status["differs"]) == ("interrupted", False, "move")
    assert run.recipe.header_row == 3


def test_downloads_are_a_fixed_list_of_names(web: tuple[TestClient, WebConfig]) -> None:
    """Only the result files can be downloaded; the journal and paths cannot."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    wait_for_run(client, rid)
    assert client.get(f"/runs/{rid}/files/summary.json").status_code == 200
    assert client.get(f"/runs/{rid}/files/journal.sqlite").status_code == 404
    assert client.get(f"/runs/{rid}/files/..%2Frun.json").status_code == 404
    assert client.get(f"/runs/{rid}/files/undo.csv").status_code == 404  # not undone
    assert client.get(f"/runs/{rid}").status_code == 200


def test_the_move_choice_reaches_the_run(web: tuple[TestClient, WebConfig]) -> None:
    """ "Move them" sends as the CLI's move: the row placed elsewhere is moved, not refused."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    client.post(f"/api/uploads/{uid}/plan", json={"differs": "move"})
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    status = wait_for_run(client, rid)
    assert status["differs"] == "move"
    assert status["counts"]["moved"] == 1
    assert "10002" not in client.get(f"/runs/{rid}/files/errors.csv").text


def test_cleaning_up_an_upload_removes_its_folder(web: tuple[TestClient, WebConfig]) -> None:
    """'clean up' deletes the upload's working folder."""
    client, config = web
    uid = upload(client, SAMPLES / "people.csv")
    assert (config.work_dir / "uploads" / uid).is_dir()
    assert client.delete(f"/api/uploads/{uid}").status_code == 200
    assert not (config.work_dir / "uploads" / uid).exists()
    assert client.get(f"/api/uploads/{uid}").status_code == 404


def test_progress_counts_requests_and_retries_while_sending(tmp_path: Path) -> None:
    """A flaky server: busy answers are counted while sending; the summary's retries after."""
    with SandboxServer(SandboxConfig(fail_rate=0.3, random_seed=7)) as server:
        client = signed_in(web_config(tmp_path / "work", server, batch_size=5))
        uid = upload(client, SAMPLES / "people.csv")
        rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
        status = wait_for_run(client, rid)
    assert status["state"] == "finished"
    assert status["transient"] > 0
    assert status["retries"] > 0
    assert status["requests"] > status["transient"]


def test_a_workbook_with_edits_is_sent_as_a_workbook_with_the_same_rows(
    web: tuple[TestClient, WebConfig], tmp_path: Path
) -> None:
    """An edited .xlsx: errors.csv rows match the CLI's on the edited workbook."""
    import openpyxl

    client, _ = web
    uid = upload(client, SAMPLES / "people.xlsx")
    client.post(
        f"/api/uploads/{uid}/cells", json={"row": 36, "column": "Geography ID", "value": "105"}
    )
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    status = wait_for_run(client, rid)
    assert "errors.xlsx" in status["files"]
    book = openpyxl.load_workbook(SAMPLES / "people.xlsx")
    book["Members"]["A36"] = 105
    book.save(tmp_path / "people.xlsx")
    web_errors = client.get(f"/runs/{rid}/files/errors.csv").content
    assert web_errors == cli_errors_csv(tmp_path / "people.xlsx", tmp_path / "cli")


# -- the page's words ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("User 7 holds membership 9 (geography 1); run with --move to move it, or --add to add "
         "another membership", "User 7 holds membership 9 (geography 1)"),
        ("a.xlsx is 300.0 MB, more than the 200 MB limit for workbook files; split it, or raise "
         "the limit with --max-file-mb", "a.xlsx is 300.0 MB, more than the 200 MB limit for "
         "workbook files; split it"),
        ("x.csv: row 40 (--header-row) is empty", "x.csv: row 40 is empty"),
        ("sheets 'A', 'B' have: choose one with --sheet \"A\"",
         "sheets 'A', 'B' have: choose one in the sheet tabs above"),
        ("member_email 'x@y' not found", "e-mail 'x@y' not found"),
        ("membership 9 was updated since the run; use --force to undo anyway",
         "membership 9 was updated since the run; so it was left as it is"),
    ],
)  # fmt: skip
def test_messages_lose_their_command_line_advice(message: str, words: str) -> None:
    """The library's advice with a flag goes; the fact stays; schema names become words."""
    from importer.web._words import plain

    assert plain(message) == words


def test_the_pages_name_no_command_line_flag(web: tuple[TestClient, WebConfig]) -> None:
    """No template or script says --move, --sheet, --map ... to the person."""
    import re

    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    static = Path(__file__).resolve().parents[2] / "importer" / "web" / "static"
    texts = [client.get(u).text for u in ("/", f"/uploads/{uid}")]
    texts += [p.read_text(encoding="utf-8") for p in static.glob("*.js")]
    for text in texts:
        assert not re.search(r"(?<![\w-])--[a-z]", text), re.search(r"--[a-z][\w-]*", text)


# -- the process -----------------------------------------------------------------------------


def test_the_cli_does_not_import_the_web_stack() -> None:
    """`import importer.cli` (every command's start) loads neither starlette nor uvicorn."""
    code = (
        "import sys, importer.cli._app; print('starlette' in sys.modules, 'uvicorn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


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

            reply = wait_for(answer, timeout=CHILD_START_S, what=f"an answer from {url}")
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


def test_upload_threads_do_not_block_the_page(web: tuple[TestClient, WebConfig]) -> None:
    """While a run is sending, the run list still answers (the run is in its own thread)."""
    client, _ = web
    uid = upload(client, SAMPLES / "people.csv")
    rid = client.post(f"/api/uploads/{uid}/runs").json()["id"]
    assert client.get("/api/runs").status_code == 200
    wait_for_run(client, rid)
    wait_for(
        lambda: all(t.name != f"run-{rid}" for t in threading.enumerate()),
        timeout=10,
        what=f"the thread of run {rid} to end",
    )


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
        for view in ("all", "problems"):
            page = client.get(f"/api/uploads/{uid}/rows?view={view}&offset={offset}&limit=50")
            assert page.status_code == 200
    for row in (2, 50_002, 100_001, 52, 70_002):
        edit = client.post(
            f"/api/uploads/{uid}/cells", json={"row": row, "column": "geography_id", "value": "106"}
        )
        assert edit.status_code == 200
    fixed = 4  # rows 2, 52, 50002 and 70002 were bad
    assert client.get(f"/api/uploads/{uid}").json()["counts"]["problems"] == 2_000 - fixed
