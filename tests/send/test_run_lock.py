"""A results folder is used by one run at a time (the run journal's lock)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from importer.core import JournalError
from importer.send import RunLock


def test_a_results_folder_in_use_is_refused_naming_its_holder(tmp_path: Path) -> None:
    """A second lock on the folder fails with the holder's pid; once released, it is free."""
    first = RunLock(tmp_path)
    first.acquire()
    with pytest.raises(
        JournalError, match=rf"in use by another importer run \(pid {os.getpid()}\)"
    ):
        RunLock(tmp_path).acquire()
    first.release()
    second = RunLock(tmp_path)
    second.acquire()
    second.release()
