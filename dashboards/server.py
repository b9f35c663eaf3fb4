"""Serve the dashboards: ``/live`` (the fleet over MQTT), ``/analyze`` (uploaded CSV files) and
``/compare`` (batches from the historian or uploads, overlaid).

One process holds one MQTT connection and one :class:`~dashboards.state.FleetState`;
every browser session gets its own page and Bokeh models. The server runs
Tornado's loop in the calling thread until SIGINT or SIGTERM, then disconnects
from the broker cleanly.
"""

from __future__ import annotations

import logging
import signal
import socket
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import panel as pn
from bokeh.server.server import Server
from tornado.platform.asyncio import BaseAsyncIOLoop
from tornado.web import RedirectHandler

from bioreactor.mqtt import BrokerAddress
from dashboards.bridge import MqttBridge
from dashboards.compare import compare_page
from dashboards.guide import ProcessGuide
from dashboards.history import backfill
from dashboards.live import live_page
from dashboards.state import DEFAULT_HISTORY, FleetState
from dashboards.upload import upload_page
from monitor.run import monitor_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DashboardSettings:
    """Where to listen and what to show.

    ``allow_origins`` are extra ``host:port`` values browsers may connect
    from (e.g. the machine's name when ``address`` is ``0.0.0.0``). ``profile``
    and ``config`` are the monitor's: the plots draw the limits it alarms on and
    the profile's golden-batch envelope (the simulator's default profile when none).
    ``user_header`` names the HTTP header in which an authenticating reverse proxy passes
    the signed-in operator: acknowledgements then carry that name.
    """

    broker: str = "mqtt://127.0.0.1:1883"
    port: int = 5006
    address: str = "127.0.0.1"
    historian: str | Path | None = None
    model: Path | None = None
    profile: Path | None = None
    config: Path | None = None
    user_header: str | None = None
    history: int = DEFAULT_HISTORY
    allow_origins: tuple[str, ...] = field(default_factory=tuple)

    def origins(self, port: int) -> list[str]:
        """Hosts whose pages may open the server's websocket.

        >>> DashboardSettings(address="127.0.0.1").origins(5006)
        ['127.0.0.1:5006', 'localhost:5006']
        """
        return list(dict.fromkeys([f"{self.address}:{port}", f"localhost:{port}", *self.allow_origins]))


def serve(settings: DashboardSettings, announce: Callable[[str], None] = print) -> None:
    """Connect to the broker, serve both pages and block until interrupted.

    Raises ``ConnectionError`` when the broker cannot be reached and
    ``FileNotFoundError`` for a missing historian.
    """
    state = FleetState(history=settings.history)
    guide = ProcessGuide.from_config(monitor_config(settings.profile, settings.config))
    if settings.historian is not None:
        loaded = backfill(state, settings.historian)
        announce(f"loaded {loaded} readings from {settings.historian}")
    address = BrokerAddress.parse(settings.broker)
    bridge = MqttBridge(address, state)
    bridge.start()
    try:
        # Panel calls a plain function once per browser session (it would show a partial as text).
        def live() -> pn.viewable.Viewable:
            return live_page(state, bridge.acknowledge, str(address), guide, settings.user_header)

        def analyze() -> pn.viewable.Viewable:
            return upload_page(settings.model)

        def compare() -> pn.viewable.Viewable:
            return compare_page(settings.historian, guide)

        pages = {"live": live, "analyze": analyze, "compare": compare}
        port = settings.port or _free_port(settings.address)
        server = pn.serve(
            pages,
            port=port,
            address=settings.address,
            websocket_origin=settings.origins(port),
            show=False,
            start=False,
            threaded=False,
            title={"live": "Bioreactor fleet – live", "analyze": "Bioreactor run analysis",
                   "compare": "Bioreactor batch comparison"},
            verbose=False,
            # "/" is the live page, not Panel's generic index of pages.
            extra_patterns=[(r"/", RedirectHandler, {"url": "/live"})],
        )
        server.start()
        base = f"http://{settings.address}:{port}"
        announce(f"live fleet:  {base}/live")
        announce(f"analyze CSV: {base}/analyze")
        announce(f"compare batches: {base}/compare")
        _stop_on_signals(server)
        server.io_loop.start()
    finally:
        bridge.stop()


def _free_port(address: str) -> int:
    """A port nobody listens on now (``--port 0``), chosen by the system."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def _stop_on_signals(server: Server) -> None:
    loop = typing.cast(BaseAsyncIOLoop, server.io_loop).asyncio_loop

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the dashboard", signum)
        loop.call_soon_threadsafe(server.io_loop.stop)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
