"""Dropping the repeats that at-least-once (QoS 1) delivery brings."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class RecentKeys(Generic[K]):
    """Remembers the last ``size`` keys and tells whether a key is new.

    A repeat of a QoS 1 message arrives soon after the original (a redelivery
    after a reconnect or a publisher's restart), so a bounded memory suffices.

    >>> seen = RecentKeys[str](size=2)
    >>> [seen.first_time(k) for k in "abab"]
    [True, True, False, False]
    >>> seen.first_time("c"), seen.first_time("a")  # "a" was forgotten when "c" came
    (True, True)
    """

    def __init__(self, size: int = 10_000) -> None:
        self._order: deque[K] = deque()
        self._keys: set[K] = set()
        self.size = size

    def first_time(self, key: K) -> bool:
        """Record ``key``; ``False`` if it is among the last ``size`` keys already."""
        if key in self._keys:
            return False
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.size:
            self._keys.discard(self._order.popleft())
        return True
