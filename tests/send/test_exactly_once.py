"""Every row exactly once on accounts that accept several memberships per member (issue 14).

With ``memberships_per_member="many"`` the server never refuses a second, identical membership,
so any row the client sends twice becomes a duplicate on the account. These tests lose replies,
leave objects out of replies, let writes commit after the client stopped waiting, and apply
refused bulks partly, then count the memberships on the server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.api import LISTS_HONOURED, LISTS_IGNORED, Holdings, KantataClient
from importer.core import STATUS_CREATED, ImportOptions
from importer.jobs import run_import
from importer.report import Outcomes
from importer.sandbox import SandboxConfig, SandboxServer
from importer.send._batch import Batch
from importer.send._dispatch import Recorder
from importer.send._send import BatchSender

from ..conftest import bundled_seed_path, settings_for, write_csv

HELD = range(20001, 20251)  # 250 users already holding a membership: listings are 2 pages
NEW = range(21001, 21041)  # 40 users to import


def crowded_seed(path: Path) -> Path:
    """The bundled seed plus 250 users holding a membership and 40 holding none.

    With more than one page of memberships, looking members up by ``member_id`` is cheaper than
    listing everything, so the ``member_id_lists`` switch matters.
    """
    seed = json.loads(bundled_seed_path().read_text(encoding="utf-8"))
    seed["users"] += [
        {"id": i, "full_name": f"Held {i}", "email_address": f"held.{i}@acme.example"} for i in HELD
    ] + [{"id": i, "full_name": f"New {i}", "email_address": f"new.{i}@acme.example"} for i in NEW]
    seed["organization_memberships"] += [
        {
            "id": 30000 + n,
            "geography_id": 106,
            "department_id": 203,
            "member_id": i,
            "member_type": "User",
        }
        for n, i in enumerate(HELD)
    ]
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def server_for(tmp_path: Path, **knobs: Any) -> SandboxServer:
    """A started sandbox on the crowded seed accepting several memberships per member."""
    knobs.setdefault("request_time_limit_s", 1.0)
    config = SandboxConfig(
        seed=crowded_seed(tmp_path / "seed.json"),
        random_seed=14,
        memberships_per_member="many",
        **knobs,
    )
    return SandboxServer(config).start()


@pytest.fixture
def stop() -> Iterator[list[SandboxServer]]:
    """Servers to stop at the end of the test."""
    servers: list[SandboxServer] = []
    yield servers
    for server in servers:
        server.stop()


def held_count(server: SandboxServer, members: range) -> Counter[int]:
    """How many memberships each of ``members`` holds on the server."""
    wanted = set(members)
    return Counter(
        int(m["member_id"]) for m in server.memberships() if int(m["member_id"]) in wanted
    )


def import_new(server: SandboxServer, tmp_path: Path, **settings: Any) -> dict[str, int]:
    """Import one row per NEW user (10 a batch) and return the run's counts."""
    src = write_csv(tmp_path / "in.csv", [[105, 202, m, "User"] for m in NEW])
    result = run_import(
        src,
        out_dir=tmp_path / "out",
        api=settings_for(server, **settings),
        options=ImportOptions(batch_size=10),
    )
    assert result.exit_code == 0, result.summary
    return result.counts


@pytest.mark.parametrize(
    ("client_limit", "server_limit", "commit_ms"),
    [
        (3.0, 3.0, 1500),  # the client knows the server's limit: it waits for the reply
        (0.5, 4.0, 2500),  # it underestimates it: gives up, parks, looks up later
    ],
    ids=["waits-for-slow-commit", "gives-up-before-commit"],
)
def test_commit_slower_than_the_read_timeout_is_created_once(
    tmp_path: Path,
    stop: list[SandboxServer],
    client_limit: float,
    server_limit: float,
    commit_ms: float,
) -> None:
    """A write committing after the client's read timeout: each row once, counted created."""
    server = server_for(tmp_path, request_time_limit_s=server_limit, commit_delay_ms=commit_ms)
    stop.append(server)
    counts = import_new(server, tmp_path, timeout=0.5, server_time_limit=client_limit)
    assert held_count(server, NEW) == Counter(dict.fromkeys(NEW, 1))
    assert counts["created"] == len(NEW)
    assert counts["already_existed"] == 0
    assert server.counters.create_requests == 4  # 4 batches, none sent twice
    assert server.counters.timed_out == 0


@pytest.mark.parametrize("lists", ["honoured", "ignored", "refused"])
def test_objects_left_out_of_replies_are_created_once(
    tmp_path: Path, stop: list[SandboxServer], lists: str
) -> None:
    """30 % of created objects missing from the 200: looked up, never re-sent; all created."""
    server = server_for(tmp_path, omit_created=0.3, member_id_lists=lists)
    stop.append(server)
    counts = import_new(server, tmp_path)
    assert server.counters.omitted > 0
    assert held_count(server, NEW) == Counter(dict.fromkeys(NEW, 1))
    assert held_count(server, HELD) == Counter(dict.fromkeys(HELD, 1))
    assert counts["created"] == len(NEW)
    assert counts["already_existed"] == 0


@pytest.mark.parametrize("lists", ["honoured", "ignored"])
def test_lost_replies_are_created_once(
    tmp_path: Path, stop: list[SandboxServer], lists: str
) -> None:
    """30 % of replies lost after commit: parked, looked up after the limit; all created once."""
    server = server_for(tmp_path, drop_after_commit=0.3, member_id_lists=lists)
    stop.append(server)
    counts = import_new(server, tmp_path)
    assert server.counters.dropped > 0
    assert held_count(server, NEW) == Counter(dict.fromkeys(NEW, 1))
    assert counts["created"] == len(NEW)
    assert counts["already_existed"] == 0


@pytest.mark.parametrize("fault", ["omit_created", "drop_after_commit"])
@pytest.mark.parametrize("lists", ["honoured", "ignored", "refused"])
def test_partly_applied_refusals_are_not_sent_again(
    tmp_path: Path, stop: list[SandboxServer], fault: str, lists: str
) -> None:
    """A refused bulk that applied its good objects (partial-error), with replies lost or
    trimmed: the good rows are looked up before any split; each created once, bad rows fail."""
    server = server_for(tmp_path, bulk_mode="partial-error", member_id_lists=lists)
    server.set_knobs(**{fault: 0.3})
    stop.append(server)
    items = [
        {"geography_id": 105, "department_id": 202, "member_id": m, "member_type": "User"}
        for m in NEW
    ]
    for i in (3, 17, 30):
        items[i] = {**items[i], "geography_id": 999}  # refused by the server
    outcomes = Outcomes()
    with KantataClient(settings_for(server)) as client:
        holdings = Holdings(client)
        holdings.probe()
        assert holdings.lists == (LISTS_HONOURED if lists == "honoured" else LISTS_IGNORED)
        sender = BatchSender(client, Recorder(outcomes, None), holdings)
        for lo in range(0, len(items), 10):
            rows = tuple(range(lo + 2, lo + 12))
            sender.send(Batch(lo // 10 + 1, rows, tuple(items[lo : lo + 10])))
        sender.settle()
    frame = outcomes.frame()
    bad = {m for i, m in enumerate(NEW) if i in (3, 17, 30)}
    assert held_count(server, NEW) == Counter({m: 1 for m in NEW if m not in bad})
    assert sorted(frame.index[frame["status"] != STATUS_CREATED]) == [5, 19, 32]
    assert (frame["error_field"][frame["status"] != STATUS_CREATED] == "geography_id").all()
    assert int((frame["status"] == STATUS_CREATED).sum()) == len(NEW) - 3
