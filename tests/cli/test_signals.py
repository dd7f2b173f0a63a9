"""Ctrl-C and SIGTERM handling of the commands (the subprocess tests are in test_never_hang.py)."""

from __future__ import annotations

import builtins
import os
import signal
from typing import Any

import pytest

from importer.cli._app import _stop_on_signals


def test_the_signal_handler_imports_nothing(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A signal can land while the main thread is half-way through importing a module (rich
    imports some of its own lazily while printing). A handler that printed through rich then
    re-entered that import and the run died with a traceback instead of stopping (seen under
    load: "cannot import name 'EMOJI' from partially initialized module"). The handler must
    write its line without importing anything."""

    def no_imports(*args: Any, **kwargs: Any) -> Any:
        raise ImportError("the signal handler imported something")

    with _stop_on_signals(quiet=False) as cancel:
        monkeypatch.setattr(builtins, "__import__", no_imports)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # handled here, before the next line runs
        finally:
            monkeypatch.undo()
        assert cancel.is_set()
    assert "stopping: waiting for requests in flight" in capfd.readouterr().err
