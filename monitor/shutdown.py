"""Run a long-lived service until SIGTERM or SIGINT, then stop it cleanly.

A service whose worker dies is stopped too, and :class:`ServiceFailedError` tells the
caller, so the command exits non-zero and a supervisor restarts it.

>>> calls = []
>>> run_until_signalled(lambda: calls.append("start"), lambda: calls.append("stop"), lambda: False)
Traceback (most recent call last):
...
monitor.shutdown.ServiceFailedError: the service's worker stopped
>>> calls
['start', 'stop']
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from bioreactor.signals import set_from_handler

log = logging.getLogger(__name__)


class ServiceFailedError(RuntimeError):
    """The service stopped by itself, not because it was asked to."""


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None], alive: Callable[[], bool]) -> None:
    """``start()``, wait for SIGTERM/SIGINT or until ``alive()`` turns false, then ``stop()``.

    Raises :class:`ServiceFailedError` when ``alive()`` turned false without a signal.
    Must be called from the main thread (Python delivers signals there).
    """
    requested = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        set_from_handler(requested)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        start()
        while alive() and not requested.wait(0.5):
            pass
    finally:
        stop()
        for s, h in previous.items():
            signal.signal(s, h)
    if not requested.is_set():
        raise ServiceFailedError("the service's worker stopped")
