"""Rate-limited logging: a flood of bad input must not become a flood of log lines.

At most ``burst`` lines per ``interval`` per kind are logged; the rest are counted
and summarised in one line when the next interval starts.

>>> import logging
>>> times = iter([0.0, 1.0, 2.0, 3.0, 70.0])
>>> limiter = RateLimitedLog(logging.getLogger("demo"), burst=2, interval_s=60.0, clock=lambda: next(times))
>>> [limiter.warning("dead letter", "bad %s", i) for i in range(5)]
[True, True, False, False, True]
>>> limiter.suppressed_total
2
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    started: float
    logged: int = 0
    suppressed: int = 0


class RateLimitedLog:
    """A logger wrapper that logs at most ``burst`` lines per ``interval_s`` per kind.

    Parameters
    ----------
    logger
        Where the lines go.
    burst
        Lines per kind and interval.
    interval_s
        Length of an interval.
    clock
        Monotonic seconds (a parameter for tests).
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 10,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.burst = burst
        self.interval_s = interval_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self.suppressed_total = 0

    def warning(self, kind: str, message: str, *args: object) -> bool:
        """Log ``message % args`` as a warning unless ``kind`` used up its burst; True if logged."""
        now = self._clock()
        window = self._windows.get(kind)
        if window is None or now - window.started >= self.interval_s:
            if window is not None and window.suppressed:
                self.logger.warning(
                    "%d more %s line(s) were not logged in the last %.0f s", window.suppressed, kind, self.interval_s
                )
            window = self._windows[kind] = _Window(now)
        if window.logged < self.burst:
            window.logged += 1
            self.logger.warning(message, *args)
            return True
        window.suppressed += 1
        self.suppressed_total += 1
        return False
