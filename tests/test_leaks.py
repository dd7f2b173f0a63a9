"""No piece of the API token survives in any output, whatever the server echoes and wherever."""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from importer.api import server_text
from importer.api._redact import FRAGMENT, register_secret
from importer.cli._app import app
from importer.sandbox import SandboxConfig, SandboxServer

from .conftest import HEADER, big_seed, write_xlsx

TOKEN = "Zq7KpQLm9Rt4Wv8Ny3Bs6D"  # 22 characters, like the one in the issue (no digit 6th:
# a 5-character piece the server left would join the journal's next timestamp, "2026-...")
CUTS = (120, 200, 500)  # where the importer cuts server text it keeps
runner = CliRunner()


def _cases() -> list[tuple[str, int, int]]:
    """(reply form, message length, token offset): the token at every offset around each cut."""
    cases = []
    for form, cut in (("not_json", 120), ("text", 200), ("errors", 500)):
        for length in (cut - 5, cut + 10, cut + 40):
            for offset in range(max(0, cut - len(TOKEN) - 20), min(length, cut + 5)):
                cases.append((form, length, offset))
    return cases


CASES = _cases()


def _message(length: int, offset: int) -> str:
    filler = "server said no. " * (length // 16 + 2)
    text = filler[:offset] + TOKEN + filler[offset:]
    return text[:length]


FIRST_MEMBER = 20001  # users the seed gets for this test (conftest.big_seed)


class _Careless(BaseHTTPRequestHandler):
    """A careless server: bulk creates are refused with the token echoed (the case is chosen by
    member_id); everything else is passed to a real sandbox (``upstream``)."""

    upstream: SandboxServer

    def log_message(self, *args: object) -> None:
        """Quiet."""

    def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self, body: bytes | None = None) -> None:
        reply = httpx.request(
            self.command,
            self.upstream.base_url + self.path.removeprefix("/api/v1"),
            content=body,
            headers={
                "Authorization": f"Bearer {self.upstream.token}",
                "Content-Type": "application/json",
            },
        )
        self._reply(reply.status_code, reply.content, reply.headers.get("Content-Type", ""))

    def do_GET(self) -> None:
        """Look-ups: the sandbox answers."""
        self._forward()

    def do_POST(self) -> None:
        """Refuse each single-row create with a message holding the token at some offset."""
        body = self.rfile.read(int(self.headers["Content-Length"]))
        items = json.loads(body).get("organization_memberships")
        if not isinstance(items, list):
            self._forward(body)
            return
        case = int(items[0]["member_id"]) - FIRST_MEMBER
        if case == len(CASES):  # the last row: the token is refused, echoed
            self._reply(401, f"bad token {TOKEN[:15]}".encode(), "text/plain")
            return
        form, length, offset = CASES[case]
        text = _message(length, offset)
        if form == "errors":
            self._reply(422, json.dumps({"errors": [{"message": text}]}).encode())
        elif form == "text":
            self._reply(422, text.encode(), "text/html")
        else:
            self._reply(200, text.encode(), "text/html")


@pytest.fixture
def careless(tmp_path: Path) -> Iterator[str]:
    """The careless server on loopback, in front of a sandbox; yields its base URL."""
    seed = big_seed(tmp_path / "seed.json", len(CASES) + 1, FIRST_MEMBER)
    with SandboxServer(SandboxConfig(seed=seed, random_seed=3)) as upstream:
        handler = type("Handler", (_Careless,), {"upstream": upstream})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()


def _fragments() -> set[str]:
    return {TOKEN[i : i + FRAGMENT] for i in range(len(TOKEN) - FRAGMENT + 1)}


def _leaks(text: str) -> list[str]:
    return sorted(f for f in _fragments() if f in text)


def test_no_piece_of_the_token_survives_in_any_output(
    careless: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """errors.csv/xlsx, summary.json, the journal, --json and stderr hold no 6 characters of it."""
    rows = [[105, 202, FIRST_MEMBER + i, "User"] for i in range(len(CASES) + 1)]
    book = write_xlsx(tmp_path / "in.xlsx", {"Members": [HEADER, *rows]})
    out = tmp_path / "out"
    monkeypatch.setenv("KANTATA_API_TOKEN", TOKEN)
    result = runner.invoke(
        app,
        [
            *("run", str(book), "--out", str(out), "--base-url", careless),
            *("--batch-size", "1", "--concurrency", "1", "--json"),
        ],
    )
    assert result.exit_code == 3, result.output + result.stderr
    assert "server refused" in (out / "errors.csv").read_text(encoding="utf-8")
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    for path in out.iterdir():
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                texts.update({f"{path.name}:{n}": z.read(n).decode() for n in z.namelist()})
        else:
            texts[path.name] = path.read_bytes().decode("latin-1")
    assert {"errors.csv", "summary.json", "journal.sqlite"} <= texts.keys()
    found = {name: leaks for name, text in texts.items() if (leaks := _leaks(text))}
    assert found == {}


@pytest.mark.parametrize("limit", CUTS)
def test_server_text_cuts_after_redacting(limit: int) -> None:
    """A token at any offset of any length of text is masked before the cut, never split."""
    register_secret(TOKEN)
    for length in range(limit - 30, limit + 30, 7):
        for offset in range(length):
            kept = server_text(_message(length, offset), limit)
            assert len(kept) <= limit
            assert _leaks(kept) == [], (length, offset, kept)


def test_server_text_masks_a_piece_the_server_cut_itself() -> None:
    """A reply that ends (or starts) with part of the token loses that part too."""
    register_secret(TOKEN)
    assert _leaks(server_text(f"denied for {TOKEN[:9]}", 200)) == []
    assert _leaks(server_text(f"{TOKEN[-7:]} is unknown", 200)) == []
    assert server_text("an ordinary message", 200) == "an ordinary message"
