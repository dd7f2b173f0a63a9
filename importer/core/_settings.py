"""The settings: one class (``Settings``) in two halves, where every default is defined once.

``ApiSettings`` says where and how to reach the API, ``ImportOptions`` what to read and how to
send it. The front-ends (``importer.cli``, the drop folder's ``importer.toml``, the web page) each
map their own inputs onto these fields (``Settings.build(concurrency=4, sheet="Members")``) and
never restate a default.

Environment variables are read only here (``ApiSettings.from_env``, ``read_token``) and in the
front-ends, never deep inside the pipeline.
"""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from importer.core._errors import InputError
from importer.core._words import DIFFERS_MODES, DIFFERS_REPORT

DEFAULT_BASE_URL = "https://api.mavenlink.com/api/v1"
TOKEN_ENV = "KANTATA_API_TOKEN"
BASE_URL_ENV = "KANTATA_BASE_URL"
MAX_BATCH = 100


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried (exponential backoff with full jitter).

    Attributes:
        attempts: total tries of one request, the first included.
        timeout: total seconds one request may spend retrying.
        wait_initial: backoff ceiling before the first retry, in seconds.
        wait_max: largest single backoff, in seconds (a server's ``Retry-After`` may ask for more).
        max_retry_after: the longest ``Retry-After`` the run waits for; a server asking for more
            stops the run cleanly (exit 3, rows kept for the next run) instead of hanging it.
        unreachable_after: seconds of failing to reach a host that has never answered in this
            run before giving up with "cannot reach HOST" (once it has answered, the other limits
            apply).
    """

    attempts: int = 8
    timeout: float = 300.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    max_retry_after: float = 600.0
    unreachable_after: float = 10.0


@dataclass(frozen=True)
class ApiSettings:
    """Where and how to reach the API.

    Attributes:
        base_url: the API root, e.g. ``https://api.mavenlink.com/api/v1``.
        token: the OAuth bearer token. Never logged, printed or written to any file.
        timeout: seconds for one HTTP request (connect, read, write).
        concurrency: a ceiling on requests in flight at once; below it the run finds the
            server's pace itself (``importer.api``).
        max_rps: a ceiling on requests per second (``None``: none); below it the rate is
            learned from the server's 429s.
        retry: the retry policy for transient failures.
        insecure: allow plain ``http://`` to a host that is not loopback.
        server_time_limit: seconds after which the server itself ends a request
            (docs/kantata-api.md § Basics: 3 minutes). A write is declared "in doubt" only after
            waiting this long for its reply, and a row in doubt is re-sent only once this long has
            passed since its request left (the server can no longer be executing it) and a
            look-up made after that moment shows it absent.
    """

    base_url: str = DEFAULT_BASE_URL
    token: str = field(default="", repr=False)
    timeout: float = 60.0
    concurrency: int = 16
    max_rps: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    insecure: bool = False
    server_time_limit: float = 180.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> ApiSettings:
        """Settings from the environment the CLI reads: ``$KANTATA_BASE_URL`` (default
        ``DEFAULT_BASE_URL``) and ``$KANTATA_API_TOKEN``; ``overrides`` set other fields.

        ``run_import``, ``plan_file`` and ``validate_file`` use this when given no ``api``.
        """
        environ = os.environ if env is None else env
        url = environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
        settings = cls(base_url=url, token=read_token(env=dict(environ)))
        return replace(settings, **overrides) if overrides else settings


@dataclass(frozen=True)
class ImportOptions:
    """What to read and how to batch it.

    Attributes:
        sheet: the worksheet to read (default: the first visible one).
        batch_size: objects per bulk request, 1..100.
        mapping: explicit header mapping, file header -> schema column.
        chunk_rows: rows read at a time (bounds memory on big files).
        dry_run: do everything but send; write the exact payloads to ``payloads.jsonl``.
        restart: discard the output folder's run journal (even one of another input) and start
            afresh instead of resuming.
        differs: what to do with a row whose member already holds another membership:
            ``report`` (default: write nothing, report the row with the membership it holds),
            ``move`` (``--move``: move the member's only membership to the row's place) or
            ``add`` (``--add``: create another membership, for accounts that allow several).
        max_rows: refuse an input with more data rows than this (``--max-rows``).
        max_file_bytes: refuse a larger input file (``--max-file-mb``); ``None``: 1 GiB for text,
            200 MiB for workbooks (which may unpack to 8x this).
        header_row: the row holding the column names, as Excel numbers rows (``--header-row``);
            ``None``: the row among the first 20 naming the most columns (below a title or a
            date line, as HR custom reports have them).
        max_memory_mb: the memory reading a workbook's sheet may need, in MB, estimated from its
            unpacked size before reading (``--max-memory-mb``); ``None``: 2 GB, or a quarter of
            the machine's memory when that is less. A workbook is read in a child process whose
            address space may grow by this much at most (``importer.read``).
        read_timeout: seconds a workbook read may take before its child process is stopped and
            the file refused (``--read-timeout``); ``None``: 60 s plus 10 s per MB of file.
    """

    sheet: str | None = None
    batch_size: int = MAX_BATCH
    mapping: dict[str, str] = field(default_factory=dict)
    chunk_rows: int = 100_000  # benchmarks/: ~100 MB peak on a 1M-row CSV (250_000: ~155 MB)
    dry_run: bool = False
    restart: bool = False
    differs: str = DIFFERS_REPORT
    max_rows: int = 5_000_000
    max_file_bytes: int | None = None
    header_row: int | None = None
    max_memory_mb: int | None = None
    read_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.header_row is not None and self.header_row < 1:
            raise InputError(f"--header-row must be at least 1, got {self.header_row}")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise InputError(
                f"--batch-size must be between 1 and {MAX_BATCH}, got {self.batch_size}"
            )
        if self.differs not in DIFFERS_MODES:
            raise InputError(f"differs must be report, move or add, not {self.differs!r}")
        if self.max_rows < 1:
            raise InputError(f"--max-rows must be at least 1, got {self.max_rows}")
        if self.max_file_bytes is not None and self.max_file_bytes < 1:
            raise InputError(f"--max-file-mb must be positive, got {self.max_file_bytes} bytes")
        if self.max_memory_mb is not None and self.max_memory_mb < 1:
            raise InputError(f"--max-memory-mb must be positive, got {self.max_memory_mb}")
        if self.read_timeout is not None and not self.read_timeout > 0:
            raise InputError(f"--read-timeout must be positive, got {self.read_timeout}")


_API_FIELDS = frozenset(f.name for f in fields(ApiSettings))
_OPTION_FIELDS = frozenset(f.name for f in fields(ImportOptions))


@dataclass(frozen=True)
class Settings:
    """Everything a job needs besides its input: ``api`` (``ApiSettings``) and ``options``
    (``ImportOptions``). ``Settings()`` holds every default, once.
    """

    api: ApiSettings = field(default_factory=ApiSettings)
    options: ImportOptions = field(default_factory=ImportOptions)

    @classmethod
    def build(cls, **values: Any) -> Settings:
        """The defaults with ``values`` set, each by its field name in either half
        (``concurrency``, ``token``, ``sheet``, ``batch_size`` ...).

        Raises:
            TypeError: a name that is no field of either half.
            InputError: a value ``ImportOptions`` refuses.
        """
        return cls().changed(**values)

    def changed(self, **values: Any) -> Settings:
        """A copy with ``values`` set (as ``build``)."""
        unknown = sorted(set(values) - _API_FIELDS - _OPTION_FIELDS)
        if unknown:
            raise TypeError(f"no such setting: {', '.join(unknown)}")
        api = {k: v for k, v in values.items() if k in _API_FIELDS}
        options = {k: v for k, v in values.items() if k in _OPTION_FIELDS}
        return Settings(
            replace(self.api, **api) if api else self.api,
            replace(self.options, **options) if options else self.options,
        )


def read_token(*, token_file: str | Path | None = None, env: dict[str, str] | None = None) -> str:
    """Return the API token from ``token_file`` or ``$KANTATA_API_TOKEN``.

    Warns when the token file is readable by group or others. Raises ``InputError`` when the
    file is missing or empty. Returns ``""`` when neither source has a token.
    """
    environ = os.environ if env is None else env
    if token_file is not None:
        path = Path(token_file)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(
                f"cannot read token file {path}: {exc.strerror}", path=str(path)
            ) from exc
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.warn(
                f"token file {path} is readable by other users; run: chmod 600 {path}",
                UserWarning,
                stacklevel=2,
            )
        if not text:
            raise InputError(f"token file {path} is empty", path=str(path))
        return text
    return environ.get(TOKEN_ENV, "").strip()


def parse_mapping(text: str, where: str = "--map") -> dict[str, str]:
    """``"A=geography_id,B=member_id"`` -> ``{"A": "geography_id", "B": "member_id"}``.

    Raises:
        InputError: a part is not ``HEADER=column`` (``where`` names the option or variable).
    """
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        header, sep, target = part.rpartition("=")
        if not sep or not header.strip() or not target.strip():
            raise InputError(f"{where} expects HEADER=column pairs, got {part!r}")
        mapping[header.strip()] = target.strip()
    return mapping
