"""Drop folder against awkward files: long names, rows in doubt, forged names, links."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from importer.cli._app import app
from importer.drop import DropConfig, process_drop_folder
from importer.sandbox import SandboxServer

from ..conftest import write_csv

runner = CliRunner()


def rows(members: range) -> list[list[Any]]:
    """One valid membership row per member."""
    return [[105, 202, m, "User"] for m in members]


def config_for(server: SandboxServer) -> DropConfig:
    """A DropConfig pointing at ``server``; files count as complete at once."""
    return DropConfig.of(base_url=server.base_url, token=server.token, stable_seconds=0)


def test_a_250_character_name_is_imported_and_does_not_block_the_next_file(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """The results folder name is shortened (with a hash); both files are imported."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    long_name = "x" * 246 + ".csv"
    write_csv(inbox / long_name, rows(range(10010, 10013)))
    os.utime(inbox / long_name, (1, 1))  # taken first
    write_csv(inbox / "next.csv", rows(range(10013, 10016)))
    result = process_drop_folder(tmp_path, config=config_for(sandbox))
    assert sorted((f.name, f.outcome) for f in result.files) == [
        ("next.csv", "imported"),
        (long_name, "imported"),
    ]
    assert not any((tmp_path / "processing").iterdir())
    [long_done] = [f for f in result.files if f.name == long_name]
    assert long_done.path.parent == tmp_path / "done"
    assert long_done.path.is_file()
    assert long_done.path.name.startswith("xxx")
    assert long_done.path.name.endswith(".csv")
    long_results = long_done.results
    assert long_results is not None
    assert long_results.is_dir()
    assert len(long_results.name) < 255
    again = process_drop_folder(tmp_path, config=config_for(sandbox))
    assert again.files == []


@contextmanager
def _unsure(server: SandboxServer) -> Iterator[httpx.MockTransport]:
    """The sandbox, except that every create ends in a gateway error: outcome unknown."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/organization_memberships"):
            return httpx.Response(502, text="bad gateway")
        reply = upstream.send(
            upstream.build_request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        )
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    with httpx.Client() as upstream:
        yield httpx.MockTransport(handle)


def test_a_file_with_rows_in_doubt_stays_in_processing_until_finished(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """Rows whose outcome stayed unknown keep the file in processing/; the next pass ends it."""
    (tmp_path / "inbox").mkdir()
    write_csv(tmp_path / "inbox" / "members.csv", rows(range(10010, 10014)))
    quick = config_for(sandbox).changed(server_time_limit=0.0)
    with _unsure(sandbox) as transport:
        first = process_drop_folder(tmp_path, config=quick, transport=transport)
    [doubt] = first.files
    assert doubt.outcome == "in_doubt"
    assert first.exit_code == 1
    assert doubt.path == tmp_path / "processing" / "members.csv"
    assert "next run finishes it" in doubt.describe()
    second = process_drop_folder(tmp_path, config=quick)
    [done] = second.files
    assert done.error is None, done.error
    assert (done.outcome, done.resumed, done.results) == ("imported", True, doubt.results)
    assert done.counts["created"] == 4
    assert (tmp_path / "done" / "members.csv").is_file()


def test_names_with_line_breaks_and_escapes_cannot_forge_log_lines(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file name with a newline and a terminal escape is shown escaped in every line."""
    (tmp_path / "inbox").mkdir()
    evil = 'bad\n{"file": "forged", "outcome": "imported"}\x1b[2J.csv'
    (tmp_path / "inbox" / evil).write_text("geography_id,member_id\n105,10031\n")
    (tmp_path / "importer.toml").write_text(
        f'base_url = "{sandbox.base_url}"\nstable_seconds = 0\n', encoding="utf-8"
    )
    monkeypatch.setenv("KANTATA_API_TOKEN", sandbox.token)
    result = runner.invoke(app, ["drop", str(tmp_path)])
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "\x1b" not in result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("bad\\n{")
    assert "\\x1b[2J" in line
    [run] = [json.loads(x) for x in result.stdout.splitlines()]
    [record] = run["files"]
    assert record["file"] == evil
    note = next((tmp_path / "failed").glob("*.error.txt")).read_text()
    assert "\x1b" not in note
    assert note.startswith("bad\\n{")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_links_foreign_and_special_files_are_refused_unread(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A hard link, a symlink, a FIFO, another user's file: failed/, nothing of them quoted."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    secret = tmp_path / "shadow"
    secret.write_text("root:SECRET-HASH:19000:0:99999:7:::\n")
    os.link(secret, inbox / "hard.csv")
    (inbox / "soft.csv").symlink_to(secret)
    os.mkfifo(inbox / "pipe.csv")
    foreign = inbox / "foreign.csv"
    foreign.write_text("SECRET-FOREIGN\n")
    os.chown(foreign, 12345, 12345)
    write_csv(inbox / "good.csv", rows(range(10010, 10012)))
    lines: list[str] = []
    result = process_drop_folder(
        tmp_path, config=config_for(sandbox), on_file=lambda r: lines.append(r.describe())
    )
    outcomes = {f.name: f.outcome for f in result.files}
    assert outcomes == {
        "hard.csv": "failed",
        "soft.csv": "failed",
        "pipe.csv": "failed",
        "foreign.csv": "failed",
        "good.csv": "imported",
    }
    reasons = {f.name: f.error or "" for f in result.files}
    assert "hard links" in reasons["hard.csv"]
    assert "symbolic link" in reasons["soft.csv"]
    assert "not a regular file" in reasons["pipe.csv"]
    assert "user id 12345" in reasons["foreign.csv"]
    written = "\n".join(lines) + json.dumps([f.to_json() for f in result.files])
    refused = tmp_path / "failed"
    for path in tmp_path.rglob("*"):
        if path.parent == refused and not path.name.endswith(".error.txt"):
            continue  # the refused files themselves
        if path.is_file() and not path.is_symlink() and path != secret:
            written += path.read_bytes().decode("latin-1")
    assert "SECRET" not in written
    assert secret.read_text().startswith("root:SECRET")
    assert not any(inbox.iterdir())
