"""Run a long-lived service until SIGTERM or SIGINT, then stop it cleanly.

>>> calls = []
>>> run_until_signalled(lambda: calls.append("start"), lambda: calls.append("stop"), lambda: False)
>>> calls
['start', 'stop']
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None], alive: Callable[[], bool]) -> None:
    """``start()``, wait for SIGTERM/SIGINT or until ``alive()`` turns false, then ``stop()``.

    Must be called from the main thread (Python delivers signals there).
    """
    requested = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        requested.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        start()
        while alive() and not requested.wait(0.5):
            pass
    finally:
        stop()
        for s, h in previous.items():
            signal.signal(s, h)
