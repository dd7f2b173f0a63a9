"""What the importer writes and sends: formula injection, file modes, secrets, bad servers.

Server misbehaviour is played by an ``httpx.MockTransport`` standing in for the *server*; the
importer's own code runs unmodified.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import ssl
import stat
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from typer.testing import CliRunner

from importer import ApiSettings, ImportOptions
from importer.api import KantataClient
from importer.api._client import check_base_url
from importer.cli._app import app
from importer.core import ApiError, InputError, RetryPolicy, TransientApiError
from importer.jobs import run_import, validate_file
from importer.read import open_table
from importer.sandbox import SandboxServer

from ..conftest import HEADER, write_csv, write_xlsx

runner = CliRunner()
TOKEN = "tok-5f3c9e1a7b2d4c6e8f0a1b3c5d7e9f11"
RISKY = ("=", "+", "-", "@", "\t", "\r")
EXTRA = '=HYPERLINK("http://evil.example")'
HOSTILE = [
    [105, 202, 10010, "User", "=cmd|' /C calc'!A0", "+1"],
    [105, 202, 10011, "User", "@SUM(A1)", "-2"],
    [105, 202, 10012, "=cmd|' /C calc'!A0", "\tTAB", "ok"],
    [105, 202, "-10013", "User", "\rCR", "ok"],
]


def cells_of(path: Path) -> list[str]:
    """Every cell of a result file (header included), as text."""
    if path.suffix == ".xlsx":
        ws = openpyxl.load_workbook(path).active
        assert ws is not None
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), "a formula cell"
        return [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [cell for row in csv.reader(fh) for cell in row]


def write_rows(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    """A CSV written with the csv module (cells with commas, tabs or CRs quoted)."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def one_line(text: str) -> str:
    """Terminal output with rich's line wrapping undone."""
    return " ".join(text.split())


def listing(key: str, objects: list[dict[str, Any]]) -> httpx.Response:
    """A documented list reply (docs/kantata-api.md § Response format), one page."""
    return httpx.Response(
        200,
        json={
            "count": len(objects),
            "meta": {"count": len(objects), "page_count": 1, "page_number": 1},
            "results": [{"key": key, "id": o["id"]} for o in objects],
            key: {o["id"]: o for o in objects},
        },
    )


def documented_lookups(request: httpx.Request) -> httpx.Response:
    """The GETs of a well-behaved account: who am I, geography 105 and department 202, every
    user/workspace asked for by ``only``, no memberships yet."""
    path = request.url.path.split("/api/v1/", 1)[-1]
    if path == "users/me":
        return listing("users", [{"id": "10001", "account_membership_id": "710001"}])
    if path == "organizations":
        return listing(
            "organizations",
            [
                {"id": "105", "name": "United Kingdom", "type": "Geography"},
                {"id": "202", "name": "Engineering", "type": "Department"},
            ],
        )
    if path in ("users", "workspaces"):
        ids = [i for i in request.url.params.get("only", "").split(",") if i]
        return listing(path, [{"id": i, "full_name": f"User {i}", "title": i} for i in ids])
    return listing("organization_memberships", [])


def mock_server(
    post: Callable[[httpx.Request], httpx.Response],
    lookup: Callable[[httpx.Request], httpx.Response] = documented_lookups,
) -> httpx.MockTransport:
    """A fake API: ``post`` answers bulk creates, ``lookup`` every GET."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return post(request)
        return lookup(request)

    return httpx.MockTransport(handle)


def mock_api() -> ApiSettings:
    """Settings for a mock server (https, fast retries, a short server time limit)."""
    retry = RetryPolicy(attempts=3, timeout=10, wait_initial=0.001, wait_max=0.01)
    return ApiSettings(
        base_url="https://api.example.test/api/v1",
        token=TOKEN,
        retry=retry,
        server_time_limit=0.01,
    )


def echo_created(ids: Callable[[int], str]) -> Callable[[httpx.Request], httpx.Response]:
    """A POST handler that creates every object, naming the n-th one ``ids(n)``."""

    def post(request: httpx.Request) -> httpx.Response:
        items = json.loads(request.content)["organization_memberships"]
        objects = {ids(n): {**item, "id": ids(n)} for n, item in enumerate(items)}
        results = [{"key": "organization_memberships", "id": k} for k in objects]
        return httpx.Response(
            200,
            json={"count": len(objects), "results": results, "organization_memberships": objects},
        )

    return post


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block under ``mask``."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


# ----------------------------------------------------------------------------------------------
# outputs


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_formula_injection_escaped_in_every_output(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path, suffix: str
) -> None:
    """No cell or header of success.csv, errors.csv or errors.xlsx starts like a formula."""
    header = [*HEADER, "Notes", EXTRA]
    src = (
        write_rows(tmp_path / "in.csv", header, HOSTILE)
        if suffix == ".csv"
        else write_xlsx(tmp_path / "in.xlsx", {"Members": [header, *HOSTILE]})
    )
    if suffix == ".xlsx":  # openpyxl stored the =... cells as formulas: store them as text
        wb = openpyxl.load_workbook(src)
        for cell in (c for row in wb.active.iter_rows() for c in row):  # type: ignore[union-attr]
            if cell.data_type == "f":
                cell.data_type = "s"
        wb.save(src)
    result = run_import(src, out_dir=tmp_path / "out", api=api)
    assert result.counts["created"] == 2
    files = [tmp_path / "out" / n for n in ("success.csv", "errors.csv", "errors.xlsx")]
    written = [f for f in files if f.exists()]
    assert len(written) == (3 if suffix == ".xlsx" else 2)
    cells = [c for f in written for c in cells_of(f)]
    assert not [c for c in cells if c.startswith(RISKY)]
    assert f"'{EXTRA}" in cells
    assert "'=cmd|' /C calc'!A0" in cells
    assert any("got '=cmd|" in c for c in cells)  # the error message quotes the cell safely


def test_escaped_cells_come_back_on_resubmission(tmp_path: Path) -> None:
    """Resubmitted, '-3/'+105 read as -3/+105; an escaped extra stays escaped, never doubled."""
    src = write_csv(
        tmp_path / "in.csv",
        [["+105", 202, "-3", "User", "=2+2"], ["+105", 202, "10010", "Team", "@x"]],
        header=[*HEADER, "Notes"],
    )
    validate_file(src, out_dir=tmp_path / "r1")
    first = (tmp_path / "r1" / "errors.csv").read_text(encoding="utf-8-sig")
    assert all(escaped in first for escaped in ("'+105", "'-3", "'=2+2"))
    again = validate_file(tmp_path / "r1" / "errors.csv", out_dir=tmp_path / "r2")
    assert again.counts["failed_validation"] == 2
    with (tmp_path / "r2" / "errors.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert "got '-3'" in rows[0]["error_message"]  # the original text, not "'-3"
    assert [r["Notes"] for r in rows] == ["'=2+2", "'@x"]  # a fixed point: no "''=2+2"
    assert [r["geography_id"] for r in rows] == ["'+105", "'+105"]


def test_output_files_never_world_writable(
    sandbox: SandboxServer, api: ApiSettings, tmp_path: Path
) -> None:
    """Under umask 0 every file and folder written is still not world-writable; umask is used."""
    rows = [HEADER, [105, 202, 10010, "User"], [1, 2, "x", "User"]]
    src = write_xlsx(tmp_path / "in.xlsx", {"M": rows})
    with umask(0):
        validate_file(src, out_dir=tmp_path / "a" / "b" / "validate")
        run_import(src, out_dir=tmp_path / "a" / "dry", options=ImportOptions(dry_run=True))
        run_import(src, out_dir=tmp_path / "a" / "run", api=api)
    with umask(0o077):
        run_import(src, out_dir=tmp_path / "private", options=ImportOptions(dry_run=True))
    written = list((tmp_path / "a").rglob("*"))
    names = {p.name for p in written}
    assert {"errors.csv", "errors.xlsx", "summary.json", "payloads.jsonl"} <= names
    assert {"success.csv", "journal.sqlite"} <= names
    loose = [p for p in [tmp_path / "a", *written] if p.stat().st_mode & stat.S_IWOTH]
    assert not loose
    assert stat.S_IMODE((tmp_path / "private" / "payloads.jsonl").stat().st_mode) == 0o600


def test_control_characters_survive_errors_xlsx(tmp_path: Path) -> None:
    """A cell holding a control character (Excel's _x0007_) is written, not a crash."""
    src = write_xlsx(tmp_path / "in.xlsx", {"M": [[*HEADER, "Notes"], [1, 2, "x", "User", "bell"]]})
    patched = tmp_path / "ctrl.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(patched, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b">bell<", b">a_x0007_b<")
            zout.writestr(info, data)
    assert next(open_table(patched).chunks()).loc[2, "Notes"] == "a\x07b"
    validate_file(patched, out_dir=tmp_path / "out")
    back = next(open_table(tmp_path / "out" / "errors.xlsx").chunks())
    assert back["Notes"].tolist() == ["a\x07b"]


# ----------------------------------------------------------------------------------------------
# secrets


def test_token_never_in_outputs_logs_or_terminal(
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With DEBUG logging on, runs (ok, --json, dry, refused token) never show the token."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, "x", "User"]])
    base = ["--base-url", sandbox.base_url]
    outputs = [
        runner.invoke(app, ["run", str(src), *base, "--out", str(tmp_path / "ok")]),
        runner.invoke(app, ["run", str(src), *base, "--json", "--out", str(tmp_path / "js")]),
        runner.invoke(app, ["run", str(src), "--dry-run", "--out", str(tmp_path / "dry")]),
    ]
    monkeypatch.setenv("KANTATA_API_TOKEN", TOKEN)  # a token the server refuses
    outputs.append(runner.invoke(app, ["run", str(src), *base, "--out", str(tmp_path / "no")]))
    assert [r.exit_code for r in outputs] == [1, 1, 1, 3]
    assert any(r.name.startswith("httpcore") for r in caplog.records)  # DEBUG logging was on
    for secret in (sandbox.token, TOKEN):
        assert all(secret not in r.stdout + r.stderr for r in outputs)
        assert secret not in caplog.text
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    assert (tmp_path / "ok" / "journal.sqlite").exists()
    assert (tmp_path / "dry" / "payloads.jsonl").exists()


def test_log_filter_redacts_authorization(caplog: pytest.LogCaptureFixture) -> None:
    """Anything that would log an Authorization header or the token is redacted."""
    caplog.set_level(logging.DEBUG)
    KantataClient(mock_api(), transport=mock_server(echo_created(str))).close()
    headers = [(b"Authorization", f"Bearer {TOKEN}".encode())]
    logging.getLogger("httpcore.http11").debug("headers=%r", headers)
    logging.getLogger("httpx").info("token is %s", TOKEN)
    logging.getLogger("httpcore.connection").debug("authorization: abcdefgh12345678")
    assert TOKEN not in caplog.text
    assert "abcdefgh12345678" not in caplog.text
    assert caplog.text.count("<redacted>") == 3


def test_token_file_readable_by_others_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token file readable by group/others gets a warning (not the token); 0600 does not."""
    monkeypatch.delenv("KANTATA_API_TOKEN", raising=False)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    for mode, warned in ((0o644, True), (0o640, True), (0o600, False)):
        token.chmod(mode)
        args = ["run", str(src), "--dry-run", "--quiet", "--token-file", str(token)]
        result = runner.invoke(app, [*args, "--out", str(tmp_path / f"o{mode:o}")])
        assert result.exit_code == 0, result.output
        assert ("readable by other users" in one_line(result.stderr)) is warned
        assert TOKEN not in result.stderr + result.stdout


def test_plain_http_refused_unless_loopback_or_insecure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--base-url http:// to a remote host: exit 2 before any request; loopback or --insecure ok."""
    monkeypatch.setenv("KANTATA_API_TOKEN", TOKEN)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    url = "http://api.example.com/api/v1"
    result = runner.invoke(app, ["run", str(src), "--base-url", url, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "refusing to send the API token over plain http" in one_line(result.stderr)
    assert TOKEN not in result.output
    assert check_base_url("http://localhost:8080/api/v1")
    assert check_base_url("http://api.example.com/api/v1", insecure=True)


def _tls_server(tmp_path: Path) -> tuple[ThreadingHTTPServer, str]:
    """An HTTPS server on loopback with a self-signed certificate (made by openssl)."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_address[1]}/api/v1"


def test_tls_certificates_are_verified(tmp_path: Path) -> None:
    """TLS verification is on: a self-signed server is refused (--insecure does not change it)."""
    with KantataClient(mock_api()) as client:
        context = client._http._transport._pool._ssl_context  # type: ignore[attr-defined]
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    server, url = _tls_server(tmp_path)
    item = {"geography_id": 1, "department_id": 2, "member_id": 3, "member_type": "User"}
    try:
        api = ApiSettings(base_url=url, token=TOKEN, insecure=True, retry=mock_api().retry)
        with (
            KantataClient(api) as client,
            pytest.raises(TransientApiError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            client.identity()  # idempotent: retried, then refused
        with KantataClient(api) as client, pytest.raises(ApiError, match="CERTIFICATE"):
            client.create_memberships([item])
    finally:
        server.shutdown()
        server.server_close()


def test_token_that_cannot_be_a_header_is_refused_without_echo() -> None:
    """A token with a line break or a non-ASCII character: InputError that does not show it."""
    for bad in (f"{TOKEN}\nX-Evil: 1", f"{TOKEN}é"):
        with pytest.raises(InputError) as info:
            KantataClient(ApiSettings(base_url="https://api.example.test/api/v1", token=bad))
        assert TOKEN not in str(info.value)
        assert "KANTATA_API_TOKEN" in str(info.value)


def test_server_echoing_the_token_is_redacted(tmp_path: Path) -> None:
    """A proxy error page that echoes our headers never puts the token into errors.csv."""
    page = f"<html><pre>Authorization: Bearer {TOKEN}</pre> invalid member</html>"
    transport = mock_server(lambda request: httpx.Response(400, text=page))
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    result = run_import(src, out_dir=tmp_path / "out", api=mock_api(), transport=transport)
    assert result.counts["failed_remote"] == 1
    errors = (tmp_path / "out" / "errors.csv").read_text(encoding="utf-8-sig")
    assert "Bearer <redacted>" in errors
    assert TOKEN not in errors


# ----------------------------------------------------------------------------------------------
# servers that break the API's promises

NOT_JSON = "HTTP 200 reply to POST organization_memberships is not JSON"
NO_OBJECTS = "HTTP 200 reply without the created objects"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"<html><body>Service unavailable</body></html>", NOT_JSON),
        (200, b'{"count": 2, "organization_memberships": {"9": {"id": "9", "geo', NOT_JSON),
        (200, b'{"count": 0, "results": [], "organization_memberships": {}}', NO_OBJECTS),
        (200, b"[" * 100_000 + b"]" * 100_000, NOT_JSON),
        (500, b"<html>Internal Server Error</html>", "server error (HTTP 500)"),
        (422, b"<html>oops</html>", "server refused (HTTP 422): HTTP 422: <html>oops</html>"),
    ],
    ids=["html-200", "truncated-json", "without-objects", "nested-json", "html-500", "html-422"],
)
def test_bad_replies_are_row_errors_never_successes(
    tmp_path: Path, status: int, body: bytes, expected: str
) -> None:
    """Each affected row ends in errors.csv with the raw HTTP status; none counts as created."""
    transport = mock_server(lambda request: httpx.Response(status, content=body))
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, 10011, "User"]])
    result = run_import(src, out_dir=tmp_path / "out", api=mock_api(), transport=transport)
    assert result.exit_code == 1
    assert result.counts["created"] == result.counts["already_existed"] == 0
    with (tmp_path / "out" / "errors.csv").open(encoding="utf-8-sig", newline="") as fh:
        errors = list(csv.DictReader(fh))
    assert [e["source_row"] for e in errors] == ["2", "3"]
    assert all(expected in e["error_message"] for e in errors), errors[0]["error_message"]
    success = (tmp_path / "out" / "success.csv").read_text(encoding="utf-8-sig")
    assert success.count("\n") == 1  # the header only


def test_unusable_lookup_reply_stops_the_run_without_successes(tmp_path: Path) -> None:
    """When even the lookup answers HTML, the run stops (exit 3); rows are not_processed."""
    html = lambda request: httpx.Response(200, text="<html>login</html>")  # noqa: E731
    transport = mock_server(html, lookup=html)
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"], [105, 202, 10011, "User"]])
    result = run_import(src, out_dir=tmp_path / "out", api=mock_api(), transport=transport)
    assert result.exit_code == 3
    assert (result.counts["not_processed"], result.counts["created"]) == (2, 0)
    assert "HTTP 200 reply to GET users/me is not JSON" in str(result.fatal)


def test_hostile_ids_from_the_server_are_escaped(tmp_path: Path) -> None:
    """A created object whose id is '=cmd...' lands in success.csv as text, escaped."""
    transport = mock_server(echo_created(lambda n: f"=cmd|' /C calc'!A{n}"))
    src = write_csv(tmp_path / "in.csv", [[105, 202, 10010, "User"]])
    result = run_import(src, out_dir=tmp_path / "out", api=mock_api(), transport=transport)
    assert result.counts["created"] == 1
    assert "'=cmd|' /C calc'!A0" in cells_of(tmp_path / "out" / "success.csv")
