"""What the browser tests share: Debian's Chromium, where screenshots go, and a dashboard process.

Chromium comes from Debian (``apt-get install -y chromium``), never from
``playwright install``. Screenshots go to the temporary directory for a person to
look at; nothing here measures time.
"""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from bioreactor.mqtt import BrokerAddress

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(tempfile.gettempdir())
#: Generous: a shared 2-core machine may take a while to start the server and render.
WAIT_MS = 60_000

pytestmark = [
    pytest.mark.ui,
    pytest.mark.broker,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no Debian Chromium at /usr/bin/chromium: install it with `apt-get install -y chromium`",
    ),
]


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


@contextmanager
def dashboard_process(broker: BrokerAddress, workdir: Path, *options: str) -> Iterator[str]:
    """A `bioreactor dashboard` process on a free port (no feed model); yields its base URL."""
    command = [sys.executable, "-m", "bioreactor", "dashboard", "--broker", str(broker), "--port", "0"]
    command += ["--model", str(workdir / "no-model.joblib"), *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=WAIT_MS / 1000)
            except queue.Empty:
                pytest.fail(f"the dashboard printed no URL:\n{''.join(seen)}")
            seen.append(line)
            if line.startswith("live fleet:"):
                break
        yield line.split()[-1].removesuffix("/live")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
