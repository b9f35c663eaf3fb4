"""Wake a main thread waiting on an event from a signal handler, without deadlocking it.

Python runs a signal handler in the main thread, between two bytecodes of
whatever that thread was doing. A main thread waiting on a ``threading.Event``
holds the event's internal (non-reentrant) lock for a moment before and after
each sleep, so an ``Event.set()`` in the handler can wait for ever for a lock
its own thread holds: a Ctrl-C or SIGTERM that hangs the process it should
stop. The handler hands the ``set()`` to a short-lived thread instead.

>>> import threading
>>> event = threading.Event()
>>> with event._cond:  # as Event.wait() holds it when the signal lands
...     set_from_handler(event)
>>> event.wait(5)
True
"""

from __future__ import annotations

import threading


def set_from_handler(event: threading.Event) -> None:
    """Set ``event`` from another thread: safe inside a signal handler."""
    threading.Thread(target=event.set, name="signal-set", daemon=True).start()
