"""Run the producing end of a pipeline in a background thread, a bounded number of items ahead.

Reading a chunk (pyarrow's CSV parser) and checking its cells (Arrow compute kernels) release the
GIL, so on a machine with two or more cores they overlap with the ordered work on the caller's
thread (duplicate check, report writing): ``validate`` of a million-row CSV takes roughly the
time of its slower half instead of the sum of both. At most ``depth`` items wait in the queue,
plus one being made and one being used, so memory stays bounded by a few chunks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL_S = 0.1  # how often a blocked producer looks whether the consumer has gone


class _Done:
    pass


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Prefetch(Generic[T]):
    """Iterate ``source`` in a daemon thread, ``depth`` items ahead of the consumer.

    Items come out in ``source``'s order; an exception raised by ``source`` is raised again by
    the consumer's ``next()`` (after the items made before it). Leaving early (``close()``, or
    the ``with`` block) stops the producer at its next item and closes ``source``'s generator.
    """

    def __init__(self, source: Iterable[T], *, depth: int = 1, name: str = "prefetch") -> None:
        self._queue: queue.Queue[T | _Done | _Failed] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._source = source
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        iterator = iter(self._source)
        try:
            for item in iterator:
                if not self._put(item):
                    return
            self._put(_Done())
        except BaseException as exc:  # handed to the consumer, who decides
            self._put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _put(self, item: T | _Done | _Failed) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def close(self) -> None:
        """Stop the producer (it finishes the item it is making, then ends)."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
