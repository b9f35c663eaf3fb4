"""``bioreactor monitor``: the service wired to its configuration, profile, store and advisor."""

from __future__ import annotations

import logging
from pathlib import Path

from monitor.config import MonitorConfig
from monitor.engine import MonitorEngine
from monitor.historian import open_historian
from monitor.profile import ProcessProfile, default_profile, load_profile
from monitor.service import MonitorService, Recommender, ServiceSettings

log = logging.getLogger(__name__)


def monitor_config(profile_path: Path | None, config_path: Path | None) -> MonitorConfig:
    """The packaged defaults, then the profile (the simulator default when none is given), then ``--config``."""
    profile: ProcessProfile = load_profile(profile_path) if profile_path else default_profile()
    if config_path:
        return MonitorConfig.from_toml(config_path, profile)
    return MonitorConfig.from_mapping({}, profile)


def run_monitor(
    broker: str,
    historian: str,
    *,
    profile_path: Path | None = None,
    config_path: Path | None = None,
    settings: ServiceSettings | None = None,
    recommender: Recommender | None = None,
) -> None:
    """Run the service until SIGTERM or SIGINT (``ServiceFailedError`` when its worker dies)."""
    from bioreactor.mqtt import BrokerAddress  # noqa: PLC0415 - keeps this module's import light

    config = monitor_config(profile_path, config_path)
    service = MonitorService(
        BrokerAddress.parse(broker), open_historian(historian), lambda: MonitorEngine(config),
        settings or ServiceSettings(), recommender,
    )
    name = config.profile.card.name if config.profile else "none"
    # Said once connected, so that a broker out of reach is the only line the command prints.
    service.run_until_signalled(
        lambda: log.info("monitoring %s as %r with profile %r, history in %s",
                         service.address, service.settings.client_id, name, historian)
    )
