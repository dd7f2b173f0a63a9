"""Remote drop folders against real servers started here: OpenSSH's sshd and moto's S3.

Every fault ends with each file imported exactly once or left in place with a reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.drop import DropConfig, process_remote_drop
from importer.sandbox import SandboxServer

from ..conftest import HEADER
from .servers import FaultProxy, SshServer, start_s3, start_sshd

AWS = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-never-printed",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def csv_bytes(members: range, *, pad: int = 0) -> bytes:
    """A membership CSV; ``pad`` characters of notes per row make it big."""
    head = ",".join([*HEADER, "notes"])
    lines = [f"105,202,{m},User,{'x' * pad}" for m in members]
    return ("\n".join([head, *lines]) + "\n").encode()


def members_of(server: SandboxServer) -> list[int]:
    """Every member holding a membership, with repeats."""
    return [int(m["member_id"]) for m in server.memberships()]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    """One sshd for the module."""
    with start_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 on loopback, for the module."""
    with start_s3() as url:
        yield url


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """AWS credentials in the environment (the standard chain), no profile files."""
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    return AWS


def new_bucket(endpoint: str, name: str) -> Any:
    """A fresh bucket; returns a boto3 client for the test's own writes."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    return client


def keys(client: Any, bucket: str) -> list[str]:
    """Every key in the bucket."""
    found = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in found)


def sftp_config(sandbox: SandboxServer, sshd: SshServer, **extra: Any) -> DropConfig:
    """A DropConfig for an SFTP drop through ``sshd``'s keys."""
    extra.setdefault("stable_seconds", 0)
    extra.setdefault("wait_seconds", 0)
    extra.setdefault("network_timeout", 5)
    return DropConfig.of(
        base_url=sandbox.base_url,
        token=sandbox.token,
        ssh_key_file=str(sshd.user_key),
        known_hosts=str(sshd.known_hosts),
        **extra,
    )


def s3_config(sandbox: SandboxServer, endpoint: str, **extra: Any) -> DropConfig:
    """A DropConfig for an S3 drop on ``endpoint``."""
    extra.setdefault("stable_seconds", 0)
    extra.setdefault("wait_seconds", 0)
    extra.setdefault("network_timeout", 5)
    return DropConfig.of(
        base_url=sandbox.base_url, token=sandbox.token, endpoint_url=endpoint, **extra
    )


def sftp_drop(tmp_path: Path) -> Path:
    """The folder the SFTP server serves as the drop (the server's own disk)."""
    root = tmp_path / "remote"
    (root / "inbox").mkdir(parents=True)
    return root


def test_sftp_drop_imports_and_moves_files_on_the_server(
    sandbox: SandboxServer, sshd: SshServer, tmp_path: Path
) -> None:
    """Over SFTP: a good file imported once and moved to done/; a file without a required
    column and a workbook no reader can open moved to failed/ with a note, neither in the way."""
    import zipfile

    root = sftp_drop(tmp_path)
    with zipfile.ZipFile(root / "inbox" / "broken.xlsx", "w") as z:
        z.writestr("not-a-workbook.txt", "complete zip, no workbook inside")
    os.utime(root / "inbox" / "broken.xlsx", (1_700_000_000, 1_700_000_000))  # oldest: first
    (root / "inbox" / "good.csv").write_bytes(csv_bytes(range(10010, 10020)))
    (root / "inbox" / "bad.csv").write_text("geography_id,member_id\n105,10031\n")
    work = tmp_path / "work"
    config = sftp_config(sandbox, sshd, results_back=True)
    result = process_remote_drop(sshd.url(root), config=config, work_dir=work)
    outcomes = {f.name: (f.outcome, str(f.path)) for f in result.files}
    assert outcomes == {
        "broken.xlsx": ("failed", sshd.url(root / "failed" / "broken.xlsx")),
        "good.csv": ("imported", sshd.url(root / "done" / "good.csv")),
        "bad.csv": ("failed", sshd.url(root / "failed" / "bad.csv")),
    }
    assert result.files[0].name == "broken.xlsx"
    assert (root / "failed" / "broken.xlsx.error.txt").is_file()
    assert sorted(p.name for p in (root / "done").iterdir()) == ["good.csv", "good.csv.results"]
    assert json.loads((root / "done" / "good.csv.results" / "summary.json").read_text())
    assert "department_id" in (root / "failed" / "bad.csv.error.txt").read_text()
    assert not any((root / "inbox").iterdir())
    assert not any((root / "processing").iterdir())
    assert sorted(members_of(sandbox)).count(10010) == 1
    again = process_remote_drop(sshd.url(root), config=config, work_dir=work)
    assert (again.status, again.exit_code) == ("nothing to do", 0)


def test_s3_drop_imports_with_a_lease_and_moves_objects(
    sandbox: SandboxServer, s3_endpoint: str, aws: dict[str, str], tmp_path: Path
) -> None:
    """An S3 prefix: the file is claimed by a conditional put, imported, moved to done/."""
    client = new_bucket(s3_endpoint, "hr-basic")
    body = csv_bytes(range(10010, 10015))
    client.put_object(Bucket="hr-basic", Key="drop/inbox/a.csv", Body=body)
    config = s3_config(sandbox, s3_endpoint)
    result = process_remote_drop("s3://hr-basic/drop", config=config, work_dir=tmp_path / "w")
    assert [(f.name, f.outcome) for f in result.files] == [("a.csv", "imported")]
    assert keys(client, "hr-basic") == ["drop/done/a.csv"]
    assert sorted(members_of(sandbox)).count(10010) == 1


def write_toml(path: Path, **settings: Any) -> Path:
    """A config file with these settings (the token comes from the environment)."""
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()))
    return path


def drop_cmd(url: str, work: Path, config: Path, *args: str) -> list[str]:
    """``python -m importer drop URL --work-dir WORK --config CONFIG ...``."""
    return [sys.executable, "-m", "importer.cli", "drop", url, "--work-dir", str(work),
            "--config", str(config), *args]  # fmt: skip


def json_lines(text: str) -> list[dict[str, Any]]:
    """The run records a drop command printed."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("kind", ["sftp", "s3"])
def test_two_drop_processes_at_once_import_each_file_once(
    sandbox: SandboxServer,
    sshd: SshServer,
    s3_endpoint: str,
    aws: dict[str, str],
    tmp_path: Path,
    kind: str,
) -> None:
    """Two machines (two work folders) on one remote folder: the claim lets one take each file."""
    sandbox.set_knobs(latency_ms=10)
    files = {f"f{i}.csv": range(10010 + 30 * i, 10040 + 30 * i) for i in range(4)}
    common = {"base_url": sandbox.base_url, "stable_seconds": 0, "wait_seconds": 0,
              "batch_size": 10, "concurrency": 1}  # fmt: skip
    if kind == "sftp":
        root = sftp_drop(tmp_path)
        for name, members in files.items():
            (root / "inbox" / name).write_bytes(csv_bytes(members))
        url = sshd.url(root)
        extra = {"ssh_key_file": str(sshd.user_key), "known_hosts": str(sshd.known_hosts)}
    else:
        client = new_bucket(s3_endpoint, "hr-twice")
        for name, members in files.items():
            client.put_object(Bucket="hr-twice", Key=f"in/inbox/{name}", Body=csv_bytes(members))
        url, extra = "s3://hr-twice/in", {"endpoint_url": s3_endpoint}
    config = write_toml(tmp_path / "importer.toml", **common, **extra)
    env = {**os.environ, **aws, "KANTATA_API_TOKEN": sandbox.token}
    procs = [
        subprocess.Popen(drop_cmd(url, tmp_path / f"machine{i}", config), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    secret = aws["AWS_SECRET_ACCESS_KEY"]
    assert not any(secret in out + err for out, err in outputs)
    written = [p for i in range(2) for p in (tmp_path / f"machine{i}").rglob("*") if p.is_file()]
    assert written
    assert not any(secret.encode() in p.read_bytes() for p in written)  # results, ledger ...
    handled = [f["file"] for out, _ in outputs for r in json_lines(out) for f in r["files"]]
    assert sorted(handled) == sorted(files)  # each file by exactly one of them
    everyone = [m for members in files.values() for m in members]
    assert sorted(members_of(sandbox)) == sorted(set(members_of(sandbox)))
    assert set(everyone) <= set(members_of(sandbox))
    if kind == "sftp":
        assert sorted(p.name for p in (root / "done").iterdir()) == sorted(files)
        assert not any((root / "processing").iterdir())
    else:
        assert keys(client, "hr-twice") == sorted(f"in/done/{n}" for n in files)


def test_a_connection_dropped_mid_download_is_tried_again_or_left_in_place(
    sandbox: SandboxServer, sshd: SshServer, tmp_path: Path
) -> None:
    """Cut once: a fresh connection finishes it. Cut every time: left in processing/ with the
    reason (exit 5); the next run imports it, once."""
    proxy = FaultProxy(sshd.port)
    sshd.trust(proxy.port)
    try:
        root = sftp_drop(tmp_path)
        (root / "inbox" / "big.csv").write_bytes(csv_bytes(range(10010, 10040), pad=60_000))
        config = sftp_config(sandbox, sshd)
        url = sshd.url(root, port=proxy.port)
        proxy.cut_after, proxy.cuts = 500_000, 1_000  # every connection dies mid-download
        broken = process_remote_drop(url, config=config, work_dir=tmp_path / "w")
        [left] = broken.files
        assert (left.outcome, broken.exit_code) == ("remote_error", 5)
        assert "download" in (left.error or "")
        assert sorted(p.name for p in (root / "processing").iterdir()) == [
            "big.csv", "big.csv.claim"
        ]  # fmt: skip
        assert members_of(sandbox) == [m for m in members_of(sandbox) if m < 10010]
        proxy.cuts = 1  # the next run: one connection dies, the fresh one finishes
        fixed = process_remote_drop(url, config=config, work_dir=tmp_path / "w")
        [done] = fixed.files
        assert (done.outcome, done.resumed, done.counts["created"]) == ("imported", True, 30)
        assert proxy.cuts == 0  # the cut really happened in this run
        assert sorted(p.name for p in (root / "done").iterdir()) == ["big.csv"]
        assert sorted(members_of(sandbox)).count(10010) == 1
    finally:
        proxy.close()


def test_a_file_still_being_uploaded_over_sftp_is_imported_whole(
    sandbox: SandboxServer, sshd: SshServer, tmp_path: Path
) -> None:
    """An upload that pauses mid-line for longer than stable_seconds: the run waits for it."""
    root = sftp_drop(tmp_path)
    target = root / "inbox" / "nightly.csv"
    whole = csv_bytes(range(10010, 10030))
    cut = whole.index(b"10020") + 3  # "100" of 10020: a line cut mid-number
    target.write_bytes(whole[:cut])

    def finish() -> None:
        time.sleep(1.5)
        with target.open("ab") as f:
            f.write(whole[cut:])

    import threading

    writer = threading.Thread(target=finish)
    writer.start()
    try:
        config = sftp_config(sandbox, sshd, stable_seconds=0.3, wait_seconds=20)
        result = process_remote_drop(sshd.url(root), config=config, work_dir=tmp_path / "w")
    finally:
        writer.join()
    [only] = result.files
    assert (only.outcome, only.counts["rows"], only.counts["created"]) == ("imported", 20, 20)
    assert 100 not in members_of(sandbox)


def test_a_changed_host_key_stops_the_run_with_one_line(
    sandbox: SandboxServer, sshd: SshServer, tmp_path: Path
) -> None:
    """known_hosts holds another key for the server: exit 5, one line, nothing touched."""
    from .servers import keygen

    root = sftp_drop(tmp_path)
    (root / "inbox" / "a.csv").write_bytes(csv_bytes(range(10010, 10012)))
    other = keygen(tmp_path / "impostor")
    known = tmp_path / "known_hosts"
    impostor = " ".join(other.with_suffix(".pub").read_text().split()[:2])
    known.write_text(f"[127.0.0.1]:{sshd.port} {impostor}\n")
    config = write_toml(tmp_path / "importer.toml", base_url=sandbox.base_url,
                        ssh_key_file=str(sshd.user_key), known_hosts=str(known),
                        stable_seconds=0, wait_seconds=0)  # fmt: skip
    env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
    run = subprocess.run(drop_cmd(sshd.url(root), tmp_path / "w", config), env=env,
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert run.returncode == 5, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert "host key that differs" in line
    assert str(known) in line
    [record] = json_lines(run.stdout)
    assert (record["status"], record["exit_code"]) == ("error", 5)
    assert [p.name for p in (root / "inbox").iterdir()] == ["a.csv"]
    assert sandbox.counters.requests == 0


def test_a_hung_sftp_server_ends_the_run_within_its_deadlines(
    sandbox: SandboxServer, sshd: SshServer, tmp_path: Path
) -> None:
    """A server that accepts and then never answers: the run ends (exit 5), nothing taken."""
    proxy = FaultProxy(sshd.port)
    sshd.trust(proxy.port)
    proxy.frozen.set()
    try:
        root = sftp_drop(tmp_path)
        (root / "inbox" / "a.csv").write_bytes(csv_bytes(range(10010, 10012)))
        config = write_toml(tmp_path / "importer.toml", base_url=sandbox.base_url,
                            ssh_key_file=str(sshd.user_key), known_hosts=str(sshd.known_hosts),
                            network_timeout=1)  # fmt: skip
        env = {**os.environ, "KANTATA_API_TOKEN": sandbox.token}
        run = subprocess.run(
            drop_cmd(sshd.url(root, port=proxy.port), tmp_path / "w", config),
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )  # fmt: skip  (killed there: a hang fails the test)
    finally:
        proxy.close()
    assert run.returncode == 5, run.stderr
    assert "sftp server 127.0.0.1" in run.stderr
    assert [p.name for p in (root / "inbox").iterdir()] == ["a.csv"]


def test_a_bucket_that_refuses_done_keeps_the_file_in_processing_until_it_can_move(
    sandbox: SandboxServer,
    s3_endpoint: str,
    aws: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An IAM policy denies PutObject under done/: imported once, left in processing/ with
    the reason (exit 5); once allowed, the next run only moves it (no request to Kantata).

    moto (5.2) enforces IAM identity policies (not bucket policies) once ``/moto-api/reset-auth``
    turns authentication on, and of the writes under done/ it checks PutObject but not
    CopyObject: the denial is met by the results copied back (``results_back``)."""
    import boto3
    import httpx

    client = new_bucket(s3_endpoint, "hr-deny")
    body = csv_bytes(range(10010, 10015))
    client.put_object(Bucket="hr-deny", Key="drop/inbox/a.csv", Body=body)
    iam = boto3.client("iam", endpoint_url=s3_endpoint, region_name="us-east-1",
                       aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    iam.create_user(UserName="dropper")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::hr-deny/drop/done/*"},
    ]}  # fmt: skip
    iam.put_user_policy(UserName="dropper", PolicyName="no-done", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="dropper")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    config = s3_config(sandbox, s3_endpoint, results_back=True)
    httpx.post(f"{s3_endpoint}/moto-api/reset-auth", content=b"0")  # IAM checked from now on
    try:
        denied = process_remote_drop("s3://hr-deny/drop", config=config, work_dir=tmp_path / "w")
    finally:
        httpx.post(f"{s3_endpoint}/moto-api/reset-auth", content=b"inf")
    [left] = denied.files
    assert (left.outcome, denied.exit_code) == ("imported", 5)
    assert "stays in processing/" in (left.error or "")
    assert "permission denied" in (denied.remote_error or "")
    assert keys(client, "hr-deny") == ["drop/processing/a.csv", "drop/processing/a.csv.claim"]
    sandbox.reset_counters()
    allowed = process_remote_drop("s3://hr-deny/drop", config=config, work_dir=tmp_path / "w")
    [moved] = allowed.files
    assert (moved.outcome, moved.resumed, allowed.exit_code) == ("imported", True, 0)
    assert sandbox.counters.requests == 0  # not imported again
    assert [k for k in keys(client, "hr-deny") if ".results/" not in k] == ["drop/done/a.csv"]
    assert "drop/done/a.csv.results/summary.json" in keys(client, "hr-deny")
    assert sorted(members_of(sandbox)).count(10010) == 1


def test_sftp_trigger_files_announce_uploads_and_follow_their_file(
    sandbox: SandboxServer, sshd: SshServer, tmp_path: Path
) -> None:
    """trigger = "ok" over SFTP: a.csv goes once a.csv.ok is there, the trigger along with it."""
    root = sftp_drop(tmp_path)
    (root / "inbox" / "a.csv").write_bytes(csv_bytes(range(10010, 10013)))
    (root / "inbox" / "a.csv.ok").write_bytes(b"")
    (root / "inbox" / "b.csv").write_bytes(csv_bytes(range(10020, 10023)))
    config = sftp_config(sandbox, sshd, trigger="ok", stable_seconds=60, wait_seconds=0.5)
    result = process_remote_drop(sshd.url(root), config=config, work_dir=tmp_path / "w")
    assert [(f.name, f.outcome) for f in result.files] == [("a.csv", "imported")]
    assert [(w.name, w.reason) for w in result.waiting] == [
        ("b.csv", "waiting for its trigger file b.csv.ok")
    ]
    assert sorted(p.name for p in (root / "done").iterdir()) == ["a.csv", "a.csv.ok"]
    assert sorted(p.name for p in (root / "inbox").iterdir()) == ["b.csv"]


@pytest.mark.parametrize("kind", ["sftp", "s3"])
def test_a_claim_can_be_won_once(
    sshd: SshServer, s3_endpoint: str, aws: dict[str, str], tmp_path: Path, kind: str
) -> None:
    """The claim primitives on the real servers: the second exclusive create and the second
    move of a name both lose (SFTP: O_EXCL and rename; S3: If-None-Match: * put)."""
    from importer.drop._remote import Access, RemoteFolder, parse_remote

    if kind == "sftp":
        root = sftp_drop(tmp_path)
        (root / "processing").mkdir()
        (root / "inbox" / "a.csv").write_bytes(b"x\n")
        url = sshd.url(root)
        access = Access(timeout=5, ssh_key_file=str(sshd.user_key),
                        known_hosts=str(sshd.known_hosts))  # fmt: skip
    else:
        client = new_bucket(s3_endpoint, "hr-claim")
        client.put_object(Bucket="hr-claim", Key="d/inbox/a.csv", Body=b"x\n")
        url, access = "s3://hr-claim/d", Access(timeout=5, endpoint_url=s3_endpoint)
    folder = RemoteFolder(parse_remote(url), access)
    folder.connect()
    try:
        assert folder.create_exclusive("processing", "a.csv.claim", b"first")
        assert not folder.create_exclusive("processing", "a.csv.claim", b"second")
        assert folder.read_text("processing", "a.csv.claim") == "first"
        assert folder.move(("inbox", "a.csv"), ("processing", "a.csv"))
        assert not folder.move(("inbox", "a.csv"), ("processing", "a.csv"))
        assert sorted(folder.listing("processing")) == ["a.csv", "a.csv.claim"]
    finally:
        folder.close()
