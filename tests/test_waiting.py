"""The tests' wait helper fails loudly, naming what never came."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .waiting import Lines, wait_for


def test_wait_for_returns_the_first_truthy_value() -> None:
    calls = iter([0, None, "", "here"])
    assert wait_for(lambda: next(calls), timeout=5, what="a value", interval=0) == "here"


def test_wait_for_names_what_never_came() -> None:
    with pytest.raises(AssertionError, match=r"waited 0\.05 s for the moon; it never came"):
        wait_for(lambda: False, timeout=0.05, what="the moon")


def test_lines_waits_for_a_line_and_shows_what_came_instead() -> None:
    code = "import sys; print('one'); print('two', flush=True)"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        lines = Lines(proc.stdout)
        assert lines.wait_for("two", timeout=30) == "two\n"
        with pytest.raises(AssertionError, match=r"'three'.*the lines read: 'one\\ntwo\\n'"):
            lines.wait_for("three", timeout=0.05)
        assert lines.join(timeout=30) == "one\ntwo\n"
