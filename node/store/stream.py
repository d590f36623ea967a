"""Streaming store results to a response without crossing threads.

pyoxigraph's result iterators may only be advanced, and dropped, on the thread that made
them (a Rust panic, `PyQuerySolutions is unsendable`, takes the process down otherwise).
A streamed response is pulled on whichever server thread is free, so anything that
streams from the store goes through `on_one_thread`: one thread of its own makes and
consumes the store iterator and hands the items over in lists (plain data).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from node.store.base import StoreError

T = TypeVar("T")
log = logging.getLogger(__name__)
_DONE = object()


def on_one_thread(produce: Callable[[], Iterable[T]], batch: int = 100, depth: int = 4,
                  idle_timeout: float = 600.0) -> Iterator[T]:
    """The items of `produce()`, made and iterated on one dedicated thread. At most
    `depth` lists of `batch` items wait for the reader; a reader that stops (client gone)
    or takes none for `idle_timeout` seconds ends the thread, which drops the store
    iterator itself."""
    batches: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        waited = 0.0
        while not stop.is_set() and waited < idle_timeout:
            try:
                batches.put(item, timeout=0.5)
                return True
            except queue.Full:
                waited += 0.5
        return False

    def run() -> None:
        try:
            items = iter(produce())
            try:
                chunk: list[T] = []
                for item in items:
                    chunk.append(item)
                    if len(chunk) >= batch:
                        if not put(chunk):
                            return
                        chunk = []
                if chunk and not put(chunk):
                    return
            finally:
                _close(items)  # here, on this thread
            put(_DONE)
        except Exception as exc:  # handed over without its traceback
            log.exception("streaming from the store failed")
            put(StoreError(f"{type(exc).__name__}: {exc}"))

    thread = threading.Thread(target=run, name="fmar-store-stream", daemon=True)
    thread.start()
    try:
        while True:
            got = batches.get()
            if got is _DONE:
                return
            if isinstance(got, StoreError):
                raise got
            yield from got
    finally:
        stop.set()


def _close(items: Iterator[Any]) -> None:
    """Close a generator (or any iterator with `close`), running its `finally` blocks."""
    close = getattr(items, "close", None)
    if close is not None:
        close()
