"""Thin helpers around paho-mqtt 2.x: broker addresses and reliable MQTT v5 clients.

Every client of the project is MQTT v5 with a stable client id, a persistent
session (``clean_start=False`` with a session expiry, without which the broker
drops the session on disconnect) and automatic reconnect with backoff.

A :class:`BrokerAddress` also carries the login (user name and password) and
whether to use TLS (``mqtts://``); :func:`connect` applies them, so every
command that takes ``--broker`` works with a secured broker
(``deploy/mosquitto-secure.conf``) through the ``BIOREACTOR_MQTT_*`` variables.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

#: MQTT's registered ports: plain and over TLS.
MQTT_PORT = 1883
MQTTS_PORT = 8883
DEFAULT_BROKER = f"mqtt://127.0.0.1:{MQTT_PORT}"
#: How long the broker keeps a disconnected client's session and queued QoS 1 messages.
SESSION_EXPIRY_S = 24 * 3600


#: Environment variables every command reads for the broker's credentials and TLS trust.
ENV_USERNAME = "BIOREACTOR_MQTT_USERNAME"
ENV_PASSWORD = "BIOREACTOR_MQTT_PASSWORD"
ENV_PASSWORD_FILE = "BIOREACTOR_MQTT_PASSWORD_FILE"
ENV_CA_FILE = "BIOREACTOR_MQTT_CA_FILE"
#: Default port of each accepted scheme, and whether it is MQTT over TLS.
SCHEMES: dict[str, tuple[int, bool]] = {
    "mqtt": (MQTT_PORT, False),
    "tcp": (MQTT_PORT, False),
    "mqtts": (MQTTS_PORT, True),
}
#: CONNACK reasons of a broker that does not accept the credentials (MQTT v5 0x86, 0x87; v3 4, 5).
AUTH_REFUSALS = frozenset({"Bad user name or password", "Not authorized"})
#: A host name or IPv4 address: labels of letters, digits, ``-`` and ``_``, separated by dots.
_HOST_NAME = re.compile(r"[\w-]+(\.[\w-]+)*\.?")


@dataclass(frozen=True, slots=True, repr=False)
class BrokerAddress:
    """Where the broker listens, and how to log in to it.

    ``mqtts://`` is MQTT over TLS, verified against the system's CA store or the
    CA file named by ``BIOREACTOR_MQTT_CA_FILE``. The user name comes from the URL
    (``mqtt://user@host``) or ``BIOREACTOR_MQTT_USERNAME``; the password from the
    URL, ``BIOREACTOR_MQTT_PASSWORD`` or the first line of the file named by
    ``BIOREACTOR_MQTT_PASSWORD_FILE``, in that order. Neither ``str`` nor ``repr``
    shows the password.

    >>> BrokerAddress.parse("mqtt://10.0.0.5:1884", env={})
    BrokerAddress(host='10.0.0.5', port=1884)
    >>> BrokerAddress.parse("localhost", env={})
    BrokerAddress(host='localhost', port=1883)
    >>> secure = BrokerAddress.parse("mqtts://broker.example.org", env={"BIOREACTOR_MQTT_USERNAME": "monitor",
    ...                                                               "BIOREACTOR_MQTT_PASSWORD": "s3cret"})
    >>> secure
    BrokerAddress(host='broker.example.org', port=8883, tls=True, username='monitor', password='***')
    >>> str(secure)
    'mqtts://monitor@broker.example.org:8883'
    >>> BrokerAddress.parse("http//foo", env={})
    Traceback (most recent call last):
    ...
    ValueError: malformed broker address 'http//foo': expected [mqtt|mqtts|tcp]://[USER@]HOST[:PORT]
    >>> BrokerAddress.parse("mqtt://host:notaport", env={})
    Traceback (most recent call last):
    ...
    ValueError: malformed broker address 'mqtt://host:notaport': the port must be a number from 1 to 65535
    """

    host: str
    port: int = MQTT_PORT
    tls: bool = False
    username: str | None = None
    password: str | None = None
    #: CA certificates to verify the broker's TLS certificate against; ``None`` = the system's.
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, env: Mapping[str, str] | None = None) -> BrokerAddress:
        """An address from ``[scheme://][user[:password]@]host[:port]``, completed from ``env``.

        ``env`` defaults to ``os.environ``. Raises ``ValueError`` for a malformed
        address, an unknown scheme or an unreadable password or CA file.
        """
        env = os.environ if env is None else env
        expected = "expected [mqtt|mqtts|tcp]://[USER@]HOST[:PORT]"
        if "://" not in url and "/" in url:
            raise ValueError(f"malformed broker address {url!r}: {expected}")
        try:  # urllib refuses a bracketed host that is not an IPv6 address
            parsed = urlparse(url if "://" in url else f"mqtt://{url}")
        except ValueError as err:
            raise ValueError(f"malformed broker address {url!r}: {err}") from None
        scheme = parsed.scheme.lower()
        if scheme not in SCHEMES:
            raise ValueError(f"unsupported broker scheme {parsed.scheme!r} in {url!r} (use mqtt:// or mqtts://)")
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment or parsed.params:
            raise ValueError(f"malformed broker address {url!r}: {expected}")
        if not parsed.hostname:
            raise ValueError(f"no host in broker address {url!r}")
        # A bracketed IPv6 address is checked by urllib; a name or IPv4 address has no spaces or
        # punctuation, which would otherwise fail later as a puzzling name lookup.
        if ":" not in parsed.hostname and not _HOST_NAME.fullmatch(parsed.hostname):
            raise ValueError(f"malformed broker address {url!r}: {parsed.hostname!r} is not a host name")
        try:
            port = parsed.port  # None when the address gives none
        except ValueError:  # not a number, or above 65535
            port = 0
        if port == 0:
            raise ValueError(f"malformed broker address {url!r}: the port must be a number from 1 to 65535")
        default_port, tls = SCHEMES[scheme]
        username = unquote(parsed.username) if parsed.username else env.get(ENV_USERNAME) or None
        password = unquote(parsed.password) if parsed.password is not None else _password_from(env)
        if password is not None and username is None:
            raise ValueError(f"a broker password needs a user name: add USER@ to {url!r} or set {ENV_USERNAME}")
        ca_file = (env.get(ENV_CA_FILE) or None) if tls else None
        if ca_file is not None and not Path(ca_file).is_file():
            raise ValueError(f"{ENV_CA_FILE}={ca_file!r} is not a file")
        return cls(parsed.hostname, default_port if port is None else port, tls, username, password, ca_file)

    def __post_init__(self) -> None:
        if self.password is not None and self.username is None:
            raise ValueError("a broker password needs a user name")

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}"

    def __repr__(self) -> str:
        fields = [f"host={self.host!r}", f"port={self.port!r}"]
        if self.tls:
            fields.append("tls=True")
        if self.username is not None:
            fields.append(f"username={self.username!r}")
        if self.password is not None:
            fields.append("password='***'")
        if self.ca_file is not None:
            fields.append(f"ca_file={self.ca_file!r}")
        return f"BrokerAddress({', '.join(fields)})"


def _password_from(env: Mapping[str, str]) -> str | None:
    """``BIOREACTOR_MQTT_PASSWORD``, else the first line of ``BIOREACTOR_MQTT_PASSWORD_FILE``, else ``None``."""
    if env.get(ENV_PASSWORD):
        return env[ENV_PASSWORD]
    path = env.get(ENV_PASSWORD_FILE)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            line = file.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the broker password from {ENV_PASSWORD_FILE}={path!r}: {err}") from None
    if not line:
        raise ValueError(f"the broker password file {path!r} ({ENV_PASSWORD_FILE}) has an empty first line")
    return line


def broker_answers(address: BrokerAddress, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``address``."""
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return True
    except OSError:
        return False


def make_client(
    client_id: str,
    *,
    persistent: bool = True,
    will: tuple[str, bytes] | None = None,
) -> mqtt.Client:
    """An MQTT v5 client; ``persistent`` keeps its session and QoS 1 backlog across restarts.

    ``will`` is a ``(topic, payload)`` published retained at QoS 1 if the client
    vanishes without disconnecting.
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    # Mosquitto's default of 20 in-flight messages throttles bulk replays.
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)  # 0 = unbounded while offline: never drop locally
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.user_data_set({"persistent": persistent})
    return client


def connect(client: mqtt.Client, address: BrokerAddress, *, timeout: float = 10.0) -> None:
    """Connect, start the network thread and wait for the broker's CONNACK.

    Logs in with the address's user name and password, over TLS for ``mqtts://``.
    Raises ``ConnectionError`` when the broker refuses (a bad password, a user
    it does not know), the TLS handshake fails, or it does not answer in time.
    """
    _configure_security(client, address)
    persistent = bool(client.user_data_get().get("persistent", True))
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    connected = threading.Event()
    failure: list[str] = []
    previous: Callable[..., None] | None = client.on_connect

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        if getattr(reason, "is_failure", False):
            failure.append(str(reason))
        connected.set()
        if previous is not None:
            previous(c, userdata, flags, reason, props)

    client.on_connect = on_connect
    try:
        client.connect(
            address.host,
            address.port,
            keepalive=30,
            clean_start=not persistent,
            properties=properties,
        )
    except ssl.SSLError as err:  # before OSError, of which it is one
        raise ConnectionError(f"TLS handshake with the MQTT broker at {address} failed: {err}") from err
    except OSError as err:
        # "connection refused", "name or service not known", "timed out": the system's words, without errno.
        reason = (err.strerror or str(err) or type(err).__name__).lower()
        raise ConnectionError(f"cannot reach the MQTT broker at {address} ({reason})") from err
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise ConnectionError(f"no answer from the MQTT broker at {address} within {timeout} s")
        if failure:
            raise ConnectionError(_refusal(address, failure[0]))
    except ConnectionError:
        client.loop_stop()
        raise
    finally:
        client.on_connect = previous


def _configure_security(client: mqtt.Client, address: BrokerAddress) -> None:
    """Give ``client`` the address's credentials and, for ``mqtts://``, a verifying TLS context."""
    if address.username is not None:
        client.username_pw_set(address.username, address.password)
    if address.tls:
        try:  # verifies the certificate chain and the host name
            context = ssl.create_default_context(cafile=address.ca_file)
        except (OSError, ssl.SSLError) as err:
            raise ConnectionError(f"cannot use {address.ca_file!r} as CA certificates ({ENV_CA_FILE}): {err}") from err
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        with contextlib.suppress(ValueError):  # raised when set already: paho takes one context per client
            client.tls_set_context(context)


def _refusal(address: BrokerAddress, reason: str) -> str:
    """One line saying why the broker refused, and what to check."""
    if reason not in AUTH_REFUSALS:
        return f"the MQTT broker at {address} refused the connection: {reason}"
    if address.username is None:
        return (
            f"the MQTT broker at {address} refused an anonymous connection ({reason}): give a user name "
            f"(USER@ in the URL or {ENV_USERNAME}) and a password ({ENV_PASSWORD} or {ENV_PASSWORD_FILE})"
        )
    return (
        f"the MQTT broker at {address} refused user {address.username!r} ({reason}): check the user name "
        f"and the password ({ENV_PASSWORD} or {ENV_PASSWORD_FILE})"
    )


def disconnect(client: mqtt.Client) -> None:
    """Disconnect cleanly (the will is not sent) and stop the network thread."""
    client.disconnect()
    client.loop_stop()
