"""A bounded hand-off from paho's network thread to one worker thread.

paho calls ``on_message`` on its network thread, which must never do slow
work; the monitor hands each message over here and processes it elsewhere.
The queue is bounded so a slow worker cannot exhaust memory. When it is full
the producer *waits* (and the wait is counted): MQTT QoS 1 flow control then
holds the backlog at the broker, where it is persisted, instead of dropping it.

>>> inbox = Inbox[int](maxsize=2)
>>> inbox.put(1) and inbox.put(2)
True
>>> inbox.get_batch(max_items=10, timeout=0.0)
[1, 2]
>>> inbox.backpressure_waits
0
"""

from __future__ import annotations

import queue
import threading
from typing import Generic, TypeVar

T = TypeVar("T")

#: How often a waiting producer re-checks whether it should give up.
_WAIT_SLICE_S = 0.1


class Inbox(Generic[T]):
    """A FIFO with a hard bound, a backpressure counter and a close switch.

    Parameters
    ----------
    maxsize
        Most items held at once; a producer waits while it is full.
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, got {maxsize}")
        self._queue: queue.Queue[T] = queue.Queue(maxsize)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._waits = 0

    @property
    def backpressure_waits(self) -> int:
        """How many times a producer found the inbox full and had to wait."""
        with self._lock:
            return self._waits

    @property
    def depth(self) -> int:
        """Items waiting right now."""
        return self._queue.qsize()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Refuse new items; waiting producers give up. Queued items stay for the consumer."""
        self._closed.set()

    def put(self, item: T) -> bool:
        """Add ``item``, waiting while the inbox is full.

        Returns ``False`` (the item is not queued) only when the inbox is or gets
        closed; the caller then leaves the message unacknowledged so the broker
        delivers it again later.
        """
        if self._closed.is_set():
            return False
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            with self._lock:
                self._waits += 1
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=_WAIT_SLICE_S)
                return True
            except queue.Full:
                continue
        return False

    def get_batch(self, max_items: int, timeout: float) -> list[T]:
        """Up to ``max_items`` queued items, in order; waits up to ``timeout`` s for the first.

        An empty list means nothing arrived in time.
        """
        try:
            batch = [self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()]
        except queue.Empty:
            return []
        while len(batch) < max_items:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch
