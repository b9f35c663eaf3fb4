"""Start and stop a private Mosquitto: the tests', and the demo's secured one when no broker answers.

>>> conf = render_config(port=18830, data_dir=None)
>>> "listener 18830 127.0.0.1" in conf and "allow_anonymous true" in conf
True

:class:`SecureMosquitto` runs ``deploy/mosquitto-secure.conf`` (passwords, the
per-role ACL ``deploy/acl``, a plain and a TLS listener) with credentials and
certificates made by the ``deploy/`` scripts in its working directory (the demo's,
or a temporary one).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from bioreactor.mqtt import ENV_CA_FILE, ENV_PASSWORD, ENV_PASSWORD_FILE, ENV_USERNAME, BrokerAddress, broker_answers

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
#: The open, loopback-only configuration of the tests and benchmarks (anonymous clients allowed).
LOOPBACK_CONFIG = DEPLOY / "mosquitto-loopback.conf"
SECURE_CONFIG = DEPLOY / "mosquitto-secure.conf"
ACL = DEPLOY / "acl"
#: The identities of ``deploy/acl``, each a user of the password file ``deploy/make-credentials`` writes.
ROLES = ("simulator", "monitor", "dashboard", "alerts")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(
    *,
    port: int,
    data_dir: Path | None,
    extra: str = "",
    settings: Mapping[str, str] | None = None,
    template: Path = LOOPBACK_CONFIG,
) -> str:
    """``deploy/mosquitto-loopback.conf`` with its listener port and persistence directory replaced,
    and each option of ``settings`` (name -> value) set instead of the file's.

    >>> conf = render_config(port=18830, data_dir=None, settings={"autosave_interval": "3600"})
    >>> [line for line in conf.splitlines() if line.startswith(("listener", "autosave"))]
    ['listener 18830 127.0.0.1', 'autosave_interval 3600']
    """
    replacements: dict[str, str | list[str] | None] = {
        "listener": f"listener {port} 127.0.0.1",
        **_persistence(data_dir),
        **{name: f"{name} {value}" for name, value in (settings or {}).items()},
    }
    return _rewrite(template, replacements) + extra


def render_secure_config(
    *,
    port: int,
    tls_port: int,
    password_file: Path,
    certs: Path,
    data_dir: Path | None,
    acl_file: Path = ACL,
    extra: str = "",
    settings: Mapping[str, str] | None = None,
    template: Path = SECURE_CONFIG,
) -> str:
    """``deploy/mosquitto-secure.conf`` with both listeners on loopback at ``port`` (plain) and
    ``tls_port`` (TLS), and its password file, ACL, certificates and persistence replaced;
    ``settings`` as for :func:`render_config`.

    ``certs`` holds ``ca.crt``, ``server.crt`` and ``server.key`` as ``deploy/make-certs`` writes them.

    >>> conf = render_secure_config(port=18830, tls_port=18831, password_file=Path("/s/passwd"),
    ...                             certs=Path("/c"), data_dir=None).splitlines()
    >>> [line for line in conf if line.startswith(("listener", "password_file", "allow_anon"))]
    ['allow_anonymous false', 'password_file /s/passwd', 'listener 18830 127.0.0.1', 'listener 18831 127.0.0.1']
    >>> [line for line in conf if line.startswith(("cafile", "certfile", "keyfile"))]
    ['cafile /c/ca.crt', 'certfile /c/server.crt', 'keyfile /c/server.key']
    """
    replacements: dict[str, str | list[str] | None] = {
        "listener": [f"listener {port} 127.0.0.1", f"listener {tls_port} 127.0.0.1"],
        "password_file": f"password_file {password_file}",
        "acl_file": f"acl_file {acl_file}",
        "cafile": f"cafile {certs / 'ca.crt'}",
        "certfile": f"certfile {certs / 'server.crt'}",
        "keyfile": f"keyfile {certs / 'server.key'}",
        **_persistence(data_dir),
        **{name: f"{name} {value}" for name, value in (settings or {}).items()},
    }
    return _rewrite(template, replacements) + extra


def _persistence(data_dir: Path | None) -> dict[str, str | list[str] | None]:
    return {
        "persistence": "persistence true" if data_dir else "persistence false",
        "persistence_location": f"persistence_location {data_dir}/" if data_dir else None,
    }


def _rewrite(template: Path, replacements: Mapping[str, str | list[str] | None]) -> str:
    """``template`` with each line whose first word is a key replaced (``None`` drops it).

    A list replaces that key's lines in order (a config's successive ``listener`` lines);
    the template must have exactly as many.
    """
    pending = {key: list(value) for key, value in replacements.items() if isinstance(value, list)}
    lines: list[str] = []
    for line in template.read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key in pending:
            if not pending[key]:
                raise ValueError(f"{template}: more {key!r} lines than replacements for them")
            lines.append(pending[key].pop(0))
            continue
        new = replacements.get(key, line)
        if isinstance(new, str):
            lines.append(new)
    left = {key: value for key, value in pending.items() if value}
    if left:
        raise ValueError(f"{template}: fewer lines than replacements for {sorted(left)}")
    return "\n".join(lines) + "\n"


def listening(process: subprocess.Popen[bytes], ports: tuple[int, ...], timeout: float) -> bool:
    """Wait until ``process`` (a starting Mosquitto) accepts connections on every loopback port.

    ``False`` if it exits first or ``timeout`` seconds pass.
    """
    deadline = time.monotonic() + timeout
    while not all(broker_answers(BrokerAddress("127.0.0.1", port), timeout=0.2) for port in ports):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Mosquitto:
    """A Mosquitto process of our own, stopped by its PID.

    ``data_dir`` keeps its persistence database, so a restart on the same
    directory restores sessions and retained messages. ``workdir`` receives its
    configuration and log (created, private, when missing); a new temporary
    directory by default. ``settings`` replace options of the repo's configuration
    (e.g. ``{"autosave_interval": "3600"}``).
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        extra: str = "",
        workdir: Path | None = None,
        *,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.data_dir = data_dir
        self.extra = extra
        self.settings = dict(settings or {})
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix="mosquitto-"))
        workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._workdir = workdir
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
        if self._private_files() and os.geteuid() == 0:
            # Started as root, Mosquitto switches to user 'mosquitto', which cannot write
            # a private data_dir ("Error: Permission denied" and no persistence) nor read
            # a private password file.
            extra = f"user root\n{extra}"
        conf.write_text(self._render(extra))
        with (self._workdir / "mosquitto.log").open("ab") as log:
            self._process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        if not listening(self._process, self.ports, timeout):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port(s) {self.ports}: {self.log_tail()}")

    @property
    def ports(self) -> tuple[int, ...]:
        """Every port it listens on."""
        return (self.port,)

    def _private_files(self) -> bool:
        """Whether it needs files only their owner may read or write."""
        return self.data_dir is not None

    def _render(self, extra: str) -> str:
        return render_config(port=self.port, data_dir=self.data_dir, extra=extra, settings=self.settings)

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

    def kill(self) -> None:
        """SIGKILL, a crash: whatever it had not yet saved (``autosave_interval``) is lost."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 20) -> str:
        path = self._workdir / "mosquitto.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SecureMosquitto(Mosquitto):
    """A Mosquitto of our own from ``deploy/mosquitto-secure.conf`` and ``deploy/acl``.

    Both listeners are on loopback: plain at :attr:`port`, TLS at :attr:`tls_port`.
    On first start, ``deploy/make-credentials`` writes a password for each of
    :data:`ROLES` into :attr:`secrets` and ``deploy/make-certs`` a CA and a
    certificate for ``localhost``/``127.0.0.1`` into :attr:`certs`, both under
    ``workdir``. :meth:`login` gives a role's address; :attr:`address` is an
    anonymous one.
    """

    def __init__(
        self,
        port: int | None = None,
        tls_port: int | None = None,
        data_dir: Path | None = None,
        extra: str = "",
        workdir: Path | None = None,
        *,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(port, data_dir, extra, workdir, settings=settings)
        self.tls_port = tls_port or free_port()
        while self.tls_port == self.port:
            self.tls_port = free_port()
        self.secrets = self._workdir / "secrets"
        self.certs = self._workdir / "certs"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.port, self.tls_port)

    @property
    def ca_file(self) -> Path:
        """The CA certificate clients verify the TLS listener with."""
        return self.certs / "ca.crt"

    def password_file(self, role: str) -> Path:
        """The file holding ``role``'s password (first line)."""
        return self.secrets / f"{role}.password"

    def environment(self, role: str) -> dict[str, str]:
        """The variables through which a process of ``role`` logs in (and trusts the TLS listener)."""
        return {
            ENV_USERNAME: role,
            ENV_PASSWORD_FILE: str(self.password_file(role)),
            ENV_CA_FILE: str(self.ca_file),
        }

    def login(self, role: str | None, *, tls: bool = False, password: str | None = None) -> BrokerAddress:
        """The address of the plain (or ``tls``) listener as ``role`` with its password, or with
        ``password`` instead; ``role=None`` is anonymous."""
        scheme, port = ("mqtts", self.tls_port) if tls else ("mqtt", self.port)
        env = self.environment(role) if role is not None else {ENV_CA_FILE: str(self.ca_file)}
        if password is not None:
            env.pop(ENV_PASSWORD_FILE, None)
            env[ENV_PASSWORD] = password
        return BrokerAddress.parse(f"{scheme}://127.0.0.1:{port}", env=env)

    def start(self, timeout: float = 10.0) -> None:
        if not (self.secrets / "passwd").exists():
            self._run(DEPLOY / "make-credentials", str(self.secrets), *ROLES)
        if not (self.certs / "server.crt").exists():
            self._run(DEPLOY / "make-certs", str(self.certs), "localhost", "127.0.0.1")
        super().start(timeout)

    def _private_files(self) -> bool:
        return True

    def _render(self, extra: str) -> str:
        return render_secure_config(
            port=self.port,
            tls_port=self.tls_port,
            password_file=self.secrets / "passwd",
            certs=self.certs,
            data_dir=self.data_dir,
            extra=extra,
            settings=self.settings,
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop, and delete the passwords and keys (the log stays)."""
        self.stop()
        shutil.rmtree(self.secrets, ignore_errors=True)
        shutil.rmtree(self.certs, ignore_errors=True)

    @staticmethod
    def _run(script: Path, *args: str) -> None:
        # Passwords are random here: none from the caller's BIOREACTOR_MQTT_PASSWORD_<ROLE>.
        env = {k: v for k, v in os.environ.items() if not k.startswith("BIOREACTOR_MQTT_PASSWORD_")}
        done = subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{script.name} failed ({done.returncode}): {done.stderr.strip()}")
