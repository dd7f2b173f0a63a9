"""One settings class, each default defined once: every front-end starts from ``Settings()``."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from importer.cli._app import run, serve_cmd, undo, validate
from importer.core import ApiSettings, ImportOptions, InputError, Settings
from importer.drop import DropConfig, load_drop_config
from importer.web import WebConfig


def test_the_drop_folder_defaults_to_the_settings(tmp_path: Path) -> None:
    """A drop folder with no importer.toml runs with exactly the settings' defaults."""
    assert load_drop_config(tmp_path, env={}).settings == Settings()
    assert DropConfig().settings == Settings()


@pytest.mark.parametrize(
    ("command", "option", "default"),
    [
        (run, "concurrency", Settings().api.concurrency),
        (serve_cmd, "concurrency", Settings().api.concurrency),
        (run, "batch_size", Settings().options.batch_size),
        (serve_cmd, "batch_size", Settings().options.batch_size),
        (run, "server_time_limit", Settings().api.server_time_limit),
        (undo, "server_time_limit", Settings().api.server_time_limit),
        (run, "max_rows", Settings().options.max_rows),
        (validate, "max_rows", Settings().options.max_rows),
    ],
)
def test_each_command_option_defaults_to_the_settings(
    command: object, option: str, default: object
) -> None:
    """``run``, ``serve``, ``undo`` and ``validate`` show the settings' default, not their own."""
    assert inspect.signature(command).parameters[option].default == default  # type: ignore[arg-type]


def test_the_web_page_defaults_to_the_settings(tmp_path: Path) -> None:
    """``importer serve``'s page sends batches of the settings' size."""
    assert WebConfig(work_dir=tmp_path).batch_size == Settings().options.batch_size


def test_build_puts_each_value_in_its_half() -> None:
    """Flat names as the front-ends gather them land in ``api`` or ``options``."""
    settings = Settings.build(concurrency=4, token="t", sheet="Members", differs="move")
    assert settings.api == ApiSettings(concurrency=4, token="t")
    assert settings.options == ImportOptions(sheet="Members", differs="move")
    assert settings.changed(batch_size=10).options.batch_size == 10


def test_build_refuses_what_no_half_has() -> None:
    """A misspelt name is an error, not a silently ignored setting."""
    with pytest.raises(TypeError, match="concurency"):
        Settings.build(concurency=4)
    with pytest.raises(InputError, match="differs"):
        Settings.build(differs="replace")
