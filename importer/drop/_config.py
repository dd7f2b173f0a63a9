"""The drop-folder configuration: one TOML file, overridden by environment variables.

The file is ``--config PATH`` or, when not given, ``importer.toml`` in the drop folder (none at all
is fine: defaults plus the environment). Keys, all optional::

    base_url = "https://api.mavenlink.com/api/v1"
    token_file = "secrets/kantata-token"   # relative to the config file's folder
    sheet = "Members"
    header_row = 3                          # the row with the column names (default: found)
    concurrency = 8                         # a ceiling on requests in flight (pace found below)
    max_rps = 5.0                           # client-side request rate ceiling
    server_time_limit = 180                 # seconds the server may work on one request
    batch_size = 100
    differs = "report"                      # a member holding another membership: report|move|add
    stable_seconds = 30                     # unchanged this long, seen in the run: complete
    wait_seconds = 120                      # how long one run waits for files still being written
    trigger = "done"                        # take name.csv only once name.csv.done is there
    require_line_end = true                 # a CSV whose last line has no line end is incomplete
    # importer drop sftp://... or s3://... (see importer.drop._remote):
    ssh_key_file = "keys/hr-drop"           # an SSH private key (besides the agent and ~/.ssh)
    known_hosts = "known_hosts"             # host keys to check the server against
    endpoint_url = "https://minio.example"  # an S3-compatible endpoint instead of AWS
    network_timeout = 30                    # seconds each network operation may take
    results_back = false                    # copy each file's results next to it on the server
    poll_seconds = 30                       # --watch: how often the inbox is looked at
    insecure = false

    [mapping]                               # file header -> schema column
    "Org Unit" = "geography_id"

Environment overrides (an empty variable counts as unset): ``KANTATA_BASE_URL``,
``KANTATA_API_TOKEN`` (wins over any token in the file) and ``KANTATA_DROP_<KEY>`` for every other
key, e.g. ``KANTATA_DROP_CONCURRENCY=2``, ``KANTATA_DROP_TOKEN_FILE=/run/secrets/kantata``,
``KANTATA_DROP_MAPPING="Org Unit=geography_id,Dept=department_id"``.

A ``token = "..."`` in the file itself is accepted, with a warning unless only its owner can read
the file (``chmod 600``); a token file is the better place.
"""

from __future__ import annotations

import math
import os
import stat
import threading
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from importer.core import (
    BASE_URL_ENV,
    TEXT_SUFFIXES,
    TOKEN_ENV,
    ApiSettings,
    ImportOptions,
    InputError,
    RetryPolicy,
    Settings,
    parse_mapping,
    read_token,
)
from importer.drop._complete import Listing, Settler, trigger_suffix
from importer.drop._remote import Access

CONFIG_NAME = "importer.toml"
ENV_PREFIX = "KANTATA_DROP_"
#: key -> (type, lower bound) of the scalar settings; ``mapping`` is a table.
_SCALARS: dict[str, tuple[type, float | None]] = {
    "base_url": (str, None),
    "token": (str, None),
    "token_file": (str, None),
    "sheet": (str, None),
    "header_row": (int, 1),
    "concurrency": (int, 1),
    "max_rps": (float, 0),
    "server_time_limit": (float, 0.001),
    "batch_size": (int, 1),
    "differs": (str, None),
    "stable_seconds": (float, 0),
    "wait_seconds": (float, 0),
    "trigger": (str, None),
    "require_line_end": (bool, None),
    "ssh_key_file": (str, None),
    "known_hosts": (str, None),
    "endpoint_url": (str, None),
    "network_timeout": (float, 0.1),
    "results_back": (bool, None),
    "poll_seconds": (float, 0.1),
    "insecure": (bool, None),
    "max_memory_mb": (int, 1),
    "read_timeout": (float, 0.001),
}
_KNOWN = (*_SCALARS, "mapping")


#: The drop folder's own keys; every other key is a field of ``Settings``.
_DROP_KEYS = (
    "stable_seconds",
    "wait_seconds",
    "trigger",
    "require_line_end",
    "poll_seconds",
    "ssh_key_file",
    "known_hosts",
    "endpoint_url",
    "network_timeout",
    "results_back",
)


@dataclass(frozen=True)
class DropConfig:
    """Everything ``importer drop`` needs besides the folder.

    Attributes:
        settings: the API and import settings (``importer.core.Settings``: its defaults are the
            defaults here too). ``base_url``, ``token``, ``sheet``, ``mapping``, ``header_row``,
            ``concurrency``, ``max_rps``, ``server_time_limit``, ``batch_size``, ``differs``,
            ``insecure``, ``max_memory_mb`` and ``read_timeout`` of ``importer.toml`` are its
            fields.
        stable_seconds: a file is complete when it did not change (size, mtime, locally also
            ctime) across a wait this long, observed in the run (see ``_complete``).
        wait_seconds: how long one run waits, in all, for inbox files to become complete;
            those still incomplete then are left for the next run, each with the reason.
        trigger: when set (``"done"``, ``"ok"`` or any suffix), ``name.csv`` is taken only once
            ``name.csv.done`` is there (the trigger-file convention of SFTP deliveries).
        require_line_end: a CSV/TSV/TXT whose last line has no line end is not complete.
        poll_seconds: how often ``--watch`` looks at the inbox.
        ssh_key_file: remote SFTP drops: an SSH private key file (the agent and ``~/.ssh/id_*``
            are tried too); relative to the config file.
        known_hosts: remote SFTP drops: the known_hosts file the server's key is checked
            against (default ``~/.ssh/known_hosts``); relative to the config file.
        endpoint_url: remote S3 drops: an S3-compatible endpoint instead of AWS.
        network_timeout: remote drops: seconds each network operation may take.
        results_back: remote drops: copy each file's results next to it on the server.
        source: the config file that was read, if any.
    """

    settings: Settings = field(default_factory=Settings)
    stable_seconds: float = 30.0
    wait_seconds: float = 120.0
    trigger: str | None = None
    require_line_end: bool = True
    poll_seconds: float = 30.0
    ssh_key_file: str | None = None
    known_hosts: str | None = None
    endpoint_url: str | None = None
    network_timeout: float = 30.0
    results_back: bool = False
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.trigger is not None and (
            not self.trigger.strip(".") or any(c in self.trigger for c in "/\\\0")
        ):
            raise InputError(f'trigger must be a file suffix such as "done" or ".ok", not '
                             f"{self.trigger!r}")  # fmt: skip

    def access(self) -> Access:
        """How to reach a remote drop folder (no secret: keys stay in their files)."""
        return Access(
            timeout=self.network_timeout,
            ssh_key_file=self.ssh_key_file,
            known_hosts=self.known_hosts,
            endpoint_url=self.endpoint_url,
        )

    @property
    def trigger_suffix(self) -> str | None:
        """The trigger files' suffix (``".done"``), or ``None`` when none are used."""
        return trigger_suffix(self.trigger)

    def is_trigger(self, name: str) -> bool:
        """``name`` is a trigger file (it announces another file; it is never imported)."""
        suffix = self.trigger_suffix
        return suffix is not None and name.endswith(suffix)

    def settler(
        self,
        listing: Callable[[], Listing],
        tail: Callable[[str, int], bytes],
        *,
        cancel: threading.Event,
    ) -> Settler:
        """The completeness watch of one run over an inbox (see ``importer.drop._complete``)."""
        return Settler(
            listing=listing,
            tail=tail,
            stable_seconds=self.stable_seconds,
            wait_seconds=self.wait_seconds,
            trigger=self.trigger_suffix,
            line_end=self.require_line_end,
            cancel=cancel,
        )

    @classmethod
    def of(cls, **values: Any) -> DropConfig:
        """A config from flat keys, as ``importer.toml`` names them (``DropConfig.of(base_url=...,
        token=..., stable_seconds=0)``)."""
        own = {k: values.pop(k) for k in (*_DROP_KEYS, "source") if k in values}
        return cls(Settings.build(**values), **own)

    def changed(self, **values: Any) -> DropConfig:
        """A copy with flat keys set (as ``of``)."""
        own = {k: values.pop(k) for k in (*_DROP_KEYS, "source") if k in values}
        return replace(self, settings=self.settings.changed(**values), **own)

    @property
    def token(self) -> str:
        """The bearer token (never printed, logged or written anywhere)."""
        return self.settings.api.token

    def api_settings(self) -> ApiSettings:
        """The ``ApiSettings`` for ``run_import``."""
        return self.settings.api

    def import_options(self, path: str | Path | None = None) -> ImportOptions:
        """The ``ImportOptions`` for ``run_import`` (never ``restart``: a drop always resumes).

        Args:
            path: the file to import: a text file (``.csv``, ``.tsv``, ``.txt``) has no sheets,
                so ``sheet`` applies to workbooks only.
        """
        text = path is not None and Path(path).suffix.lower() in TEXT_SUFFIXES
        options = self.settings.options
        return replace(options, sheet=None) if text else options


def find_config(root: str | Path, path: str | Path | None = None) -> Path | None:
    """The config file to use: ``path`` if given (it must exist), else ``root/importer.toml``.

    Raises:
        InputError: ``path`` was given and does not exist.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"config file not found: {p}", path=str(p))
        return p
    default = Path(root) / CONFIG_NAME
    return default if default.is_file() else None


def _check(key: str, value: Any, where: str) -> Any:
    kind, low = _SCALARS[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"{where}: {key} must be {kind.__name__}, not {value!r}")
    checked: Any = value
    if isinstance(checked, float) and not math.isfinite(checked):
        raise InputError(f"{where}: {key} must be a finite number, not {value!r}")
    if low is not None and checked < low:
        raise InputError(f"{where}: {key} must be at least {low:g}, not {value!r}")
    if kind is str and key != "token" and not checked.strip():
        raise InputError(f"{where}: {key} must not be empty")
    return checked


def _from_env(key: str, text: str) -> Any:
    kind = _SCALARS[key][0]
    name = ENV_PREFIX + key.upper()
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError(text)
            return lowered in ("1", "true", "yes", "on")
        return _check(key, kind(text.strip()), f"${name}")
    except ValueError:
        raise InputError(f"${name} must be {kind.__name__}, not {text!r}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror}", path=str(path)) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {path} is not valid TOML: {exc}", path=str(path)) from exc
    unknown = sorted(set(data) - set(_KNOWN))
    if unknown:
        raise InputError(
            f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(_KNOWN)})",
            path=str(path),
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "mapping":
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
            ):
                raise InputError(f"{path}: [mapping] must map header text to column names")
            values[key] = {k.strip(): v.strip() for k, v in value.items()}
        else:
            values[key] = _check(key, value, str(path))
    if "token" in values and "token_file" in values:
        raise InputError(f"{path}: give token or token_file, not both", path=str(path))
    if "token" in values and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(
            f"config file {path} holds the API token and is readable by other users; "
            f"run: chmod 600 {path} (or move the token to a token_file)",
            UserWarning,
            stacklevel=3,
        )
    for key in ("token_file", "ssh_key_file", "known_hosts"):
        if key in values:
            values[key] = str(path.parent / Path(values[key]).expanduser())
    return values


def load_drop_config(
    root: str | Path,
    *,
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
) -> DropConfig:
    """Read the drop folder's configuration: defaults < config file < environment.

    Args:
        root: the drop folder (``importer.toml`` in it is read when ``path`` is not given).
        path: an explicit config file.
        env: the environment to read overrides from (default: ``os.environ``).
        retry: the retry policy (default: ``RetryPolicy()``).

    Returns:
        The merged configuration, token resolved (``""`` when there is none).

    Raises:
        InputError: the file is missing or invalid, a value or variable is of the wrong type, the
            token file cannot be read.

    Warns:
        UserWarning: the token is in a config file, or a token file, readable by other users.
    """
    environ = os.environ if env is None else env
    source = find_config(root, path)
    values = _read_file(source) if source is not None else {}
    for key in [k for k in _SCALARS if k != "token"]:  # the token's is KANTATA_API_TOKEN
        text = environ.get(ENV_PREFIX + key.upper(), "")
        if text.strip():
            values[key] = _from_env(key, text)
    if environ.get(ENV_PREFIX + "TOKEN_FILE", "").strip():
        values.pop("token", None)
    if text := environ.get(ENV_PREFIX + "MAPPING", "").strip():
        values["mapping"] = parse_mapping(text, f"${ENV_PREFIX}MAPPING")
    if url := environ.get(BASE_URL_ENV, "").strip():
        values["base_url"] = url
    token = environ.get(TOKEN_ENV, "").strip()
    token_file = values.pop("token_file", None)
    if not token:
        token = values.get("token", "").strip() or (
            read_token(token_file=token_file, env={}) if token_file else ""
        )
    values["token"] = token
    return DropConfig.of(
        **values, retry=retry or RetryPolicy(), source=source.resolve() if source else None
    )
