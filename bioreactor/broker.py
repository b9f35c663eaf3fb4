"""Start and stop a private Mosquitto: for the demo when no broker answers, and for tests.

>>> conf = render_config(port=18830, data_dir=None)
>>> "listener 18830 127.0.0.1" in conf and "allow_anonymous true" in conf
True
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from bioreactor.mqtt import BrokerAddress, broker_answers

REPO_CONFIG = Path(__file__).resolve().parent.parent / "mosquitto.conf"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(*, port: int, data_dir: Path | None, extra: str = "", template: Path = REPO_CONFIG) -> str:
    """The repo's ``mosquitto.conf`` with its listener port and persistence directory replaced."""
    replacements = {
        "listener": f"listener {port} 127.0.0.1",
        "persistence": "persistence true" if data_dir else "persistence false",
        "persistence_location": f"persistence_location {data_dir}/" if data_dir else None,
    }
    lines = []
    for line in template.read_text().splitlines():
        key = line.split(" ", 1)[0]
        new = replacements.get(key, line)
        if new is not None:
            lines.append(new)
    return "\n".join(lines) + "\n" + extra


class Mosquitto:
    """A Mosquitto process of our own, stopped by its PID.

    ``data_dir`` keeps its persistence database, so a restart on the same
    directory restores sessions and retained messages.
    """

    def __init__(self, port: int | None = None, data_dir: Path | None = None, extra: str = "") -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.extra = extra
        self._workdir = Path(tempfile.mkdtemp(prefix="mosquitto-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> BrokerAddress:
        return BrokerAddress("127.0.0.1", self.port)

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise FileNotFoundError("mosquitto is not installed (apt-get install -y mosquitto)")
        conf = self._workdir / "mosquitto.conf"
        extra = self.extra
        if self.data_dir is not None and os.geteuid() == 0:
            # Started as root, Mosquitto switches to user 'mosquitto', which cannot write
            # a private data_dir ("Error: Permission denied" and no persistence).
            extra = f"user root\n{extra}"
        conf.write_text(render_config(port=self.port, data_dir=self.data_dir, extra=extra))
        log = (self._workdir / "mosquitto.log").open("ab")
        self._process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not broker_answers(self.address, timeout=0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start on port {self.port}: {self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM, which lets Mosquitto write its persistence database."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        path = self._workdir / "mosquitto.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
