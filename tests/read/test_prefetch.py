"""``importer.read.Prefetch``: order kept, errors passed on, bounded, stops when left."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from importer.read import Prefetch

from ..waiting import wait_for


def test_items_come_in_order() -> None:
    with Prefetch(iter(range(1000)), depth=2) as ahead:
        assert list(ahead) == list(range(1000))


def test_an_error_comes_after_the_items_made_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad row 3")

    got: list[int] = []

    def consume() -> None:
        with Prefetch(source()) as ahead:
            got.extend(ahead)

    with pytest.raises(ValueError, match="bad row 3"):
        consume()
    assert got == [1, 2]


def test_the_producer_stays_at_most_depth_items_ahead() -> None:
    made = []

    def source() -> Iterator[int]:
        for i in range(100):
            made.append(i)
            yield i

    with Prefetch(source(), depth=2) as ahead:
        it = iter(ahead)
        assert next(it) == 0
        # one taken, two waiting in the queue, one made and waiting for room ...
        wait_for(lambda: len(made) >= 4, timeout=10, what="the producer to run ahead")
        time.sleep(0.2)  # ... and no further, however long it is given
        assert len(made) == 4


def test_leaving_early_stops_the_producer_and_closes_the_source() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    ahead = Prefetch(source(), depth=1, name="test-prefetch")
    with ahead:
        for item in ahead:
            if item == 3:
                break
    assert closed.wait(5), "the source was not closed"
    wait_for(
        lambda: all(t.name != "test-prefetch" for t in threading.enumerate()),
        timeout=5,
        what="the producer thread to end",
    )


def test_the_producer_runs_in_another_thread() -> None:
    threads = []

    def source() -> Iterator[int]:
        threads.append(threading.current_thread())
        yield 1

    with Prefetch(source()) as ahead:
        assert list(ahead) == [1]
    assert threads[0] is not threading.current_thread()
