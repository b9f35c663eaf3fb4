"""``docker-compose.yml``, checked without Docker: the secured broker and one ACL role per service.

The file is parsed with PyYAML and interpolated as Compose would (``$$`` is a
literal ``$``, ``${BIOREACTOR_SECRETS:?...}`` the secrets directory). The broker's
configuration is rendered by running the ``sed`` of its command on
``deploy/mosquitto-secure.conf``. The broker test runs the broker's whole start-up
script (secrets copied for user ``mosquitto``, rendered configuration, ``exec
mosquitto``) on this machine, with the container's paths and ports mapped to
temporary ones, and the healthchecks of broker, monitor and fleet against it.
"""

from __future__ import annotations

import ast
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bioreactor.broker import ACL, DEPLOY, ROLES, SECURE_CONFIG, free_port, listening
from bioreactor.contract import Metrics, Status, StatusState, encode, topics
from bioreactor.mqtt import MQTT_PORT, MQTTS_PORT, BrokerAddress, connect, disconnect, make_client

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
#: The ACL role each client service logs in as.
CLIENT_ROLES = {"monitor": "monitor", "dashboard": "dashboard", "fleet": "simulator"}
SECRETS_VARIABLE = "BIOREACTOR_SECRETS"
#: What ``deploy/make-credentials`` and ``deploy/make-certs`` write into the secrets directory.
SECRET_FILES = {"passwd", "ca.crt", "server.crt", "server.key"} | {f"{role}.password" for role in ROLES}
#: The broker's configuration inside its container (``command`` runs ``mosquitto -c`` on it).
BROKER_DIR = "/etc/mosquitto/bioreactor"
BROKER_CONFIG = f"{BROKER_DIR}/mosquitto.conf"
BROKER_DATA = "/mosquitto/data"

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_]\w*)")


# --- reading the file as Compose does ---------------------------------------------------------


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one value: ``$$``, ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}``."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"required variable {name} is missing a value: {arg}")
        return arg if op and op.endswith("-") else ""

    return _VARIABLE.sub(value, text)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _interpolated(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: _interpolated(item, env) for key, item in node.items()}
    if isinstance(node, list):
        return [_interpolated(item, env) for item in node]
    return node


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    """The file as YAML, before interpolation."""
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    """The file as Compose sees it with ``BIOREACTOR_SECRETS=/secrets``."""
    result: dict[str, Any] = _interpolated(raw, {SECRETS_VARIABLE: "/secrets"})
    return result


def acl_users() -> set[str]:
    return {line.split()[1] for line in ACL.read_text().splitlines() if line.startswith("user ")}


def script(service: Mapping[str, Any]) -> str:
    """The shell script of a ``["sh", "-euc", SCRIPT]`` command."""
    command = service["command"]
    assert command[0] == "sh" and command[1].startswith("-") and "c" in command[1], command
    return str(command[2])


def script_lines(service: Mapping[str, Any]) -> list[str]:
    return [line.strip() for line in script(service).splitlines() if line.strip()]


def healthcheck_python(service: Mapping[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    return str(test[3])


def bind_mounts(service: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [v for v in service.get("volumes", []) if isinstance(v, dict) and v.get("type") == "bind"]


def secret_path(compose: Mapping[str, Any], name: str) -> str:
    return str(compose["secrets"][name]["file"])


def sed_command(compose: Mapping[str, Any]) -> list[str]:
    """The ``sed`` of the broker's command, without its redirection: ``["sed", "-e", ..., INPUT]``."""
    lines = [line for line in script_lines(compose["services"]["broker"]) if line.startswith("sed ")]
    assert len(lines) == 1, lines
    words = shlex.split(lines[0])
    assert words[-2:] == [">", BROKER_CONFIG], words
    return words[:-2]


def render_broker_config(compose: Mapping[str, Any]) -> str:
    """The configuration the broker's command writes: its ``sed`` run on the mounted file."""
    *sed, source = sed_command(compose)
    mounted = {m["target"]: m["source"] for m in bind_mounts(compose["services"]["broker"])}
    assert source in mounted, f"sed reads {source}, which is not mounted"
    done = subprocess.run([*sed, str(REPO / mounted[source])], capture_output=True, text=True, check=True)
    return done.stdout


def copies(compose: Mapping[str, Any]) -> dict[str, str]:
    """Destination -> source of every ``cp`` of the broker's command."""
    pairs = [shlex.split(line)[1:] for line in script_lines(compose["services"]["broker"]) if line.startswith("cp ")]
    assert all(len(pair) == 2 for pair in pairs), pairs
    return {destination: source for source, destination in pairs}


# --- the file ---------------------------------------------------------------------------------


def test_the_four_services_and_their_images(compose):
    services = compose["services"]
    assert set(services) == {"broker", "monitor", "dashboard", "fleet"}
    assert services["broker"]["image"] == "eclipse-mosquitto:2"
    builds = [services[name]["build"] for name in CLIENT_ROLES]
    assert all(build == builds[0] for build in builds)
    assert builds[0]["context"] == "." and "pip install" in builds[0]["dockerfile_inline"]


def test_dollar_signs_are_escaped_or_the_secrets_directory(raw):
    """A bare ``$name`` in a value would be replaced by Compose (by nothing, mostly), e.g. in a shell script."""
    for text in _strings(raw):
        for match in _VARIABLE.finditer(text):
            assert match.group(0) == "$$" or match.group("name") == SECRETS_VARIABLE, (match.group(0), text)
        assert "$" not in _VARIABLE.sub("", text), text


def test_the_secrets_directory_is_required_and_never_inside_the_repo(raw):
    # The app images are built from a copy of the whole repo (COPY . .): secrets there would be in them.
    with pytest.raises(KeyError, match=SECRETS_VARIABLE):
        _interpolated(raw, {})


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1, name
        assert {"interval", "timeout", "retries"} <= set(check), name


def test_healthcheck_scripts_are_python(compose):
    for name in CLIENT_ROLES:
        ast.parse(healthcheck_python(compose["services"][name]))


def test_dashboard_healthcheck_gets_its_live_page(compose):
    code = healthcheck_python(compose["services"]["dashboard"])
    assert "urllib.request.urlopen('http://127.0.0.1:5006/live'" in code
    assert "--port" in compose["services"]["dashboard"]["command"]
    command = compose["services"]["dashboard"]["command"]
    assert command[command.index("--port") + 1] == "5006"


def test_each_client_logs_in_with_its_own_role_and_secret(compose):
    users = acl_users()
    assert set(ROLES) <= users
    for name, role in CLIENT_ROLES.items():
        service = compose["services"][name]
        env = service["environment"]
        assert env["BIOREACTOR_MQTT_USERNAME"] == role, name
        assert role in users, f"{role} has no 'user' block in deploy/acl"
        assert "BIOREACTOR_MQTT_PASSWORD" not in env, name
        secret = f"{role}_password"
        assert env["BIOREACTOR_MQTT_PASSWORD_FILE"] == f"/run/secrets/{secret}", name
        assert service["secrets"] == [secret], f"{name} gets exactly its own password"
        assert secret_path(compose, secret) == f"/secrets/{role}.password"


def test_secrets_are_the_files_of_the_deploy_scripts(compose):
    files = {Path(secret_path(compose, name)) for name in compose["secrets"]}
    assert {path.parent for path in files} == {Path("/secrets")}
    assert {path.name for path in files} <= SECRET_FILES
    used = {secret for service in compose["services"].values() for secret in service.get("secrets", [])}
    assert used == set(compose["secrets"])


def test_no_password_in_the_file():
    text = COMPOSE.read_text()
    assert not re.search(r"BIOREACTOR_MQTT_PASSWORD(?!_FILE)\b", text)
    assert not re.search(r"\bmqtts?://[^\s/\"']*@", text), "a login in a broker URL"
    assert not re.search(r"\b[0-9a-fA-F]{16,}\b", text), "something like a generated password"
    # The only -P is the line of mosquitto_sub's options file, filled from the alerts secret.
    assert re.findall(r"-P\s+([^\s\"']+)", text) == ["$$password"]
    assert not re.search(r"--pw\b|(?<![\w-])password[ \t]*[:=][ \t]*\S", text, flags=re.IGNORECASE)


def test_every_broker_url_is_the_broker_service(compose):
    urls = re.findall(r"\bmqtts?://[^\s\"',)\]]+", COMPOSE.read_text())
    assert urls
    for url in urls:
        address = BrokerAddress.parse(url, env={})
        assert (address.host, address.port, address.username) == ("broker", MQTT_PORT, None), url
    for name in CLIENT_ROLES:
        command = compose["services"][name]["command"]
        assert command[command.index("--broker") + 1] == f"mqtt://broker:{MQTT_PORT}", name
    for name in ("monitor", "fleet"):
        assert f'BrokerAddress.parse("mqtt://broker:{MQTT_PORT}")' in healthcheck_python(compose["services"][name])


def test_clients_wait_for_a_healthy_broker(compose):
    for name in CLIENT_ROLES:
        depends = compose["services"][name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: a list of services waits for nothing"
        assert depends["broker"] == {"condition": "service_healthy"}, name
        assert all(spec["condition"] == "service_healthy" for spec in depends.values()), name
    assert "monitor" in compose["services"]["fleet"]["depends_on"], "readings before the monitor's session are lost"
    assert "depends_on" not in compose["services"]["broker"]


def test_volumes_are_declared_and_used(compose):
    declared = set(compose["volumes"])
    used = {}
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source, target = volume.split(":")[:2]
                assert not source.startswith((".", "/", "~")), f"{name}: bind mount {volume} in short syntax"
                used[source] = (name, target)
    assert set(used) == declared
    assert used["broker-data"] == ("broker", BROKER_DATA)
    assert used["monitor-data"] == ("monitor", "/data")
    command = compose["services"]["monitor"]["command"]
    assert command[command.index("--historian") + 1].startswith("/data/")


def test_repo_files_are_mounted_read_only_and_exist(compose):
    mounts = bind_mounts(compose["services"]["broker"])
    assert mounts
    for name, service in compose["services"].items():
        for mount in bind_mounts(service):
            source = REPO / mount["source"]
            assert mount["source"].startswith("./") and source.is_file(), f"{name}: {mount['source']} missing"
            assert mount["read_only"] is True, mount
            assert mount["bind"]["create_host_path"] is False, mount  # a missing file stops, not a new directory


def test_ports_are_published_on_loopback_only(compose):
    ports = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert ports["broker"][:1] == [f"127.0.0.1:{MQTT_PORT}:{MQTT_PORT}"]
    assert ports["dashboard"] == ["127.0.0.1:5006:5006"]
    for name, published in ports.items():
        for port in published:
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_broker_runs_the_secure_config(compose):
    broker = compose["services"]["broker"]
    mounted = {m["target"]: m["source"] for m in bind_mounts(broker)}
    assert "./deploy/mosquitto-loopback.conf" not in mounted.values(), "the tests' anonymous config"
    assert mounted[sed_command(compose)[-1]] == "./deploy/mosquitto-secure.conf"
    assert "allow_anonymous false" in SECURE_CONFIG.read_text().splitlines()
    assert script_lines(broker)[-1] == f"exec mosquitto -c {BROKER_CONFIG}"
    assert broker["tmpfs"] == [BROKER_DIR], "the copies of password file and key stay off disk"


def test_sed_adapts_the_secure_config_for_the_container(compose):
    original = SECURE_CONFIG.read_text().splitlines()
    rendered = render_broker_config(compose).splitlines()
    assert len(rendered) == len(original)
    changed = {new for old, new in zip(original, rendered, strict=True) if old != new}
    assert changed == {f"listener {MQTT_PORT} 0.0.0.0", f"persistence_location {BROKER_DATA}/"}
    listeners = [line for line in rendered if line.startswith("listener")]
    assert listeners == [f"listener {MQTT_PORT} 0.0.0.0", f"listener {MQTTS_PORT}"]
    assert "allow_anonymous false" in rendered
    assert "per_listener_settings false" in rendered


def test_broker_files_come_from_its_secrets_and_mounts(compose):
    broker = compose["services"]["broker"]
    rendered = dict(line.split(" ", 1) for line in render_broker_config(compose).splitlines() if " " in line)
    sources = copies(compose)
    mounted = {m["target"] for m in bind_mounts(broker)}
    secrets = {f"/run/secrets/{name}" for name in broker["secrets"]}
    for key in ("password_file", "acl_file", "cafile", "certfile", "keyfile"):
        path = rendered[key]
        assert path.startswith(f"{BROKER_DIR}/") and path in sources, f"{key} {path} is not copied"
        assert sources[path] in secrets | mounted, f"{key} from {sources[path]}, which the broker does not get"
    assert secret_path(compose, sources[rendered["password_file"]].removeprefix("/run/secrets/")).endswith("/passwd")
    assert secret_path(compose, sources[rendered["keyfile"]].removeprefix("/run/secrets/")).endswith("/server.key")
    acl_source = sources[rendered["acl_file"]]
    assert {m["source"] for m in bind_mounts(broker) if m["target"] == acl_source} == {"./deploy/acl"}


def test_broker_healthcheck_logs_in_as_alerts(compose):
    broker = compose["services"]["broker"]
    test = broker["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    words = shlex.split(test[1])
    assert words[0] == f"XDG_CONFIG_HOME={BROKER_DIR}/healthcheck" and words[1] == "mosquitto_sub"
    assert "-u" not in words and "-P" not in words, "a login on the command line is visible to ps"
    assert words[words.index("-t") + 1] == topics.MONITOR_STATUS  # a topic the alerts role may read
    assert "-E" in words and "-W" in words
    lines = script_lines(broker)
    assert "IFS= read -r password < /run/secrets/alerts_password || [ -n \"$password\" ]" in lines
    assert f"printf '%s\\n' '-u alerts' \"-P $password\" > {BROKER_DIR}/healthcheck/mosquitto_sub" in lines
    assert "alerts_password" in broker["secrets"]
    assert "topic read bioreactor/_monitor/status" in ACL.read_text().split("user alerts", 1)[1]


# --- the broker's start-up script and the healthchecks, run on this machine --------------------


@dataclass
class Broker:
    port: int
    secrets: Path
    etc: Path
    process: subprocess.Popen[bytes]


def _can_run_the_broker_script() -> str | None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        return "mosquitto is not installed"
    if os.geteuid() != 0:
        return "the script gives its files to user mosquitto: needs root, as in the container"
    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return "no user mosquitto"
    return None


@pytest.fixture(scope="module")
def container_broker(compose) -> Iterator[Broker]:
    """The broker's command with the container's paths mapped to a temporary directory."""
    reason = _can_run_the_broker_script()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="compose-broker-"))
    try:
        yield from _run_broker_script(compose, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_broker_script(compose, root: Path) -> Iterator[Broker]:
    root.chmod(0o755)  # user mosquitto reaches its directories below
    secrets, etc, data = root / "secrets", root / "etc", root / "data"
    etc.mkdir()
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOREACTOR_MQTT_PASSWORD_")}
    for tool, args in (("make-credentials", [*ROLES]), ("make-certs", ["localhost", "127.0.0.1", "broker"])):
        subprocess.run(["bash", str(DEPLOY / tool), str(secrets), *args], check=True, capture_output=True, env=env)
    broker = compose["services"]["broker"]
    text = script(broker)
    for name in broker["secrets"]:
        text = text.replace(f"/run/secrets/{name}", str(secrets / Path(secret_path(compose, name)).name))
    for mount in bind_mounts(broker):
        text = text.replace(mount["target"], str(REPO / mount["source"]))
    text = text.replace(BROKER_DIR, str(etc)).replace(BROKER_DATA, str(data))
    # Just before mosquitto starts: the container's paths in the rendered configuration mapped
    # too, and the listeners on free loopback ports of this machine.
    port, tls_port = free_port(), free_port()
    remap = (
        f"sed -i -e 's#{BROKER_DIR}/#{etc}/#' -e 's/^listener {MQTT_PORT} 0.0.0.0$/listener {port} 127.0.0.1/' "
        f"-e 's/^listener {MQTTS_PORT}$/listener {tls_port} 127.0.0.1/' {etc}/mosquitto.conf\nexec mosquitto"
    )
    assert text.count("\nexec mosquitto") == 1
    text = text.replace("\nexec mosquitto", f"\n{remap}")
    with (root / "broker.log").open("wb") as log:
        process = subprocess.Popen(["sh", "-euc", text], stdout=log, stderr=subprocess.STDOUT)
    try:
        if not listening(process, (port, tls_port), timeout=10):
            pytest.fail(f"the broker's script did not start mosquitto: {(root / 'broker.log').read_text()}")
        yield Broker(port, secrets, etc, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run_broker_healthcheck(compose, broker: Broker) -> subprocess.CompletedProcess[str]:
    command = compose["services"]["broker"]["healthcheck"]["test"][1]
    command = command.replace(BROKER_DIR, str(broker.etc)).replace(f"-p {MQTT_PORT}", f"-p {broker.port}")
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30, check=False)


def _run_client_healthcheck(compose, broker: Broker, service: str, password_file: Path | None = None):
    role = CLIENT_ROLES[service]
    code = healthcheck_python(compose["services"][service]).replace(f"broker:{MQTT_PORT}", f"127.0.0.1:{broker.port}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BIOREACTOR_MQTT_")},
        "BIOREACTOR_MQTT_USERNAME": role,
        "BIOREACTOR_MQTT_PASSWORD_FILE": str(password_file or broker.secrets / f"{role}.password"),
    }
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60,
                          check=False, cwd=REPO)


def _publish_as_monitor(broker: Broker, status: StatusState, metrics_age: timedelta) -> None:
    password = (broker.secrets / "monitor.password").read_text().strip()
    client = make_client("compose-test-monitor", persistent=False)
    connect(client, BrokerAddress("127.0.0.1", broker.port, username="monitor", password=password))
    now = datetime.now(UTC)
    for topic, payload in (
        (topics.MONITOR_STATUS, Status(source="bioreactor-monitor", state=status, timestamp=now)),
        (topics.MONITOR_METRICS, Metrics(source="bioreactor-monitor", timestamp=now - metrics_age)),
    ):
        client.publish(topic, encode(payload), qos=1, retain=True).wait_for_publish(5)
    disconnect(client)


@pytest.mark.broker
def test_broker_script_gives_mosquitto_its_own_copies(container_broker):
    mosquitto = pwd.getpwnam("mosquitto").pw_uid
    for name in ("passwd", "acl", "certs/server.key", "mosquitto.conf"):
        info = (container_broker.etc / name).stat()
        assert (info.st_uid, info.st_mode & 0o777) == (mosquitto, 0o600), name
    options = container_broker.etc / "healthcheck" / "mosquitto_sub"
    assert (options.stat().st_uid, options.stat().st_mode & 0o777) == (0, 0o600)
    password = (container_broker.secrets / "alerts.password").read_text().strip()
    assert options.read_text() == f"-u alerts\n-P {password}\n"


@pytest.mark.broker
def test_broker_healthcheck_passes_with_the_alerts_login_only(compose, container_broker):
    done = _run_broker_healthcheck(compose, container_broker)
    assert done.returncode == 0, done.stderr
    options = container_broker.etc / "healthcheck" / "mosquitto_sub"
    good = options.read_text()
    try:
        options.write_text("-u alerts\n-P wrong\n")
        refused = _run_broker_healthcheck(compose, container_broker)
        assert refused.returncode != 0 and "not authori" in refused.stderr.lower(), refused.stderr
        options.write_text("")  # anonymous
        assert _run_broker_healthcheck(compose, container_broker).returncode != 0
    finally:
        options.write_text(good)


@pytest.mark.broker
def test_monitor_healthcheck_wants_online_and_fresh_metrics(compose, container_broker):
    missing = _run_client_healthcheck(compose, container_broker, "monitor")
    assert missing.returncode != 0 and "no retained message" in missing.stderr, missing.stderr
    _publish_as_monitor(container_broker, StatusState.ONLINE, timedelta(seconds=1))
    healthy = _run_client_healthcheck(compose, container_broker, "monitor")
    assert healthy.returncode == 0, healthy.stderr
    _publish_as_monitor(container_broker, StatusState.ONLINE, timedelta(minutes=2))
    stale = _run_client_healthcheck(compose, container_broker, "monitor")
    assert stale.returncode != 0 and re.search(r"metrics 12\d s old", stale.stderr), stale.stderr
    _publish_as_monitor(container_broker, StatusState.OFFLINE, timedelta(seconds=1))
    offline = _run_client_healthcheck(compose, container_broker, "monitor")
    assert offline.returncode != 0 and "monitor offline" in offline.stderr, offline.stderr


@pytest.mark.broker
def test_fleet_healthcheck_is_its_own_login(compose, container_broker, tmp_path):
    assert _run_client_healthcheck(compose, container_broker, "fleet").returncode == 0
    wrong = tmp_path / "wrong.password"
    wrong.write_text("wrong\n")
    refused = _run_client_healthcheck(compose, container_broker, "fleet", password_file=wrong)
    assert refused.returncode != 0 and "refused user 'simulator'" in refused.stderr, refused.stderr
