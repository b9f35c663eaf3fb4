"""Publish-to-browser delay of the live page, and the dashboard server's CPU and memory under load.

Usage::

    python benchmarks/dashboard_latency.py [--reactors 50] [--rate 1.0] [--sessions 3] [--seconds 120] [--json]

Method
------
One run starts everything it measures, all its own:

* a Mosquitto on a free port, without persistence (nothing is retained on any broker);
* ``bioreactor dashboard`` on a free port against it (``tests/ui/browser.py``), and no
  monitor: the server receives readings only, so the figures are the dashboard's own;
* ``--sessions`` headless Debian Chromium sessions (one browser context each) on ``/live``;
* a publisher thread that sends ``--rate`` readings/s for each of ``--reactors`` reactors
  at QoS 1, spread evenly over the reactors' period, and notes the wall-clock time
  (``time.time()``) just before each publish.

A reactor's reading ``seq`` is stamped :data:`EPOCH` + ``seq`` seconds, so the
``HH:MM:SS`` that its fleet card shows (``dashboards.widgets.reactor_card``) names that
reading. A script installed in every page before the page's own observes DOM
mutations in the document and in every shadow root (Panel draws each component in
its own shadow DOM, so the script wraps ``Element.attachShadow``); whenever cards
change it notes, with ``Date.now()``, the first time each reactor's card shows each
timestamp. The browser and Python read the same system clock, so shown minus
published is the delay.

Readings count from :data:`WARM_UP_S` after publishing starts (the first render of
every card and the server's first allocations are not the steady state) and for
``--seconds`` after that. The server's CPU, in cores, is its process's user plus
system time (all threads, ``/proc/PID/stat``) over that window divided by the
window's wall time; its resident memory is read at both ends of the window.

Output: a table (on stderr with ``--json``, whose object goes alone to stdout).
``published`` is the readings of the window; ``shown`` counts (reading, session)
pairs seen, over ``published × sessions`` possible; the delay percentiles are over
those pairs, every session pooled. The run exits 0 whether or not the targets
(:data:`P99_TARGET_MS`, :data:`CPU_TARGET_CORES`) are met.

Caveats
-------
* Each session pulls from the server's state once per second (``REFRESH_MS`` in
  ``dashboards.live``), so a reading waits for its session's next refresh: that
  alone puts the delay roughly uniformly between 0 and 1 s (p50 near 500 ms, p99
  near 1 s) before any work is done. It is the floor of these figures.
* At one reading/s per reactor and one refresh per second, a reading followed by
  its reactor's next before the session's refresh is never drawn, as it should not
  be; ``shown`` is below ``published × sessions`` for that reason, and delays are
  over what was shown.
* The time noted is that of the DOM update; the paint follows within a frame.
* Broker, publisher, browsers and server share one machine, typically a shared
  2-core one with other work on it (``load_average`` is its 1-minute load at the
  end): the browsers' rendering competes with the server for the cores, which adds
  to the delay, so both figures are upper bounds for a server with its own cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO

from playwright.sync_api import Browser, Page, sync_playwright

if not __package__:  # run as ``python benchmarks/dashboard_latency.py``: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fleet import EPOCH, reactor_id
from bioreactor.broker import Mosquitto
from bioreactor.contract import encode, topics
from bioreactor.mqtt import BrokerAddress, connect, disconnect, make_client
from tests.monitor_helpers import reading
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS, dashboard_process

#: Readings published this long after the start are the first measured (s).
WARM_UP_S = 10.0
#: After the last publish, how long the pages get to show the last readings (s): several refreshes.
GRACE_S = 5.0
#: Data time between a reactor's successive readings: one second, the resolution a card shows.
DATA_STEP = timedelta(seconds=1)
#: The card's clock repeats after a day of data time.
DATA_DAY_S = 24 * 3600
P99_TARGET_MS = 2000.0
CPU_TARGET_CORES = 0.5
#: An operator's browser draws the dashboard in the foreground: keep Chromium from
#: throttling the timers and rendering of the sessions it considers in the background.
BROWSER_ARGS = [
    *CHROMIUM_ARGS,
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
#: Notes when each reactor's card first shows each reading timestamp; ``window.__shownCards()`` returns
#: ``{"REACTOR HH:MM:SS": ms since the epoch}``. A MutationObserver, unlike a polling loop, costs nothing
#: between updates and is not throttled with a page's timers or frames.
OBSERVER_JS = """
(() => {
  const shown = new Map();
  const when = /(\\d{2}:\\d{2}:\\d{2}) UTC/;
  const note = (root) => {
    const now = Date.now();
    for (const card of root.querySelectorAll(".card[data-reactor]")) {
      const sub = card.querySelector(".sub");
      const match = sub && when.exec(sub.textContent);
      const key = match && `${card.dataset.reactor} ${match[1]}`;
      if (key && !shown.has(key)) { shown.set(key, now); }
    }
  };
  const observer = new MutationObserver((records) => {
    // A text change is reported on the text node, which has no querySelectorAll: look from its parent.
    const roots = new Set(records.map((r) => (r.target.querySelectorAll ? r.target : r.target.parentNode)));
    for (const root of roots) { if (root) { note(root); } }
  });
  const watch = (root) => observer.observe(root, { childList: true, subtree: true, characterData: true });
  // Mutations inside a shadow root are not reported to an observer of the document.
  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attachShadow.call(this, init);
    watch(root);
    return root;
  };
  watch(document);
  window.__shownCards = () => Object.fromEntries(shown);
})();
"""


@dataclass(frozen=True)
class Result:
    """One run's figures (the keys of ``--json``)."""

    reactors: int
    rate_per_reactor: float
    sessions: int
    seconds: float
    warm_up_s: float
    published: int
    shown: int
    shown_per_session: list[int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_cores: float
    rss_start_mb: float
    rss_end_mb: float
    load_average: float
    p99_target_ms: float
    p99_met: bool
    cpu_target_cores: float
    cpu_met: bool


@dataclass(frozen=True)
class Sent:
    """When a reading was published (ms since the epoch) and whether it is in the measured window."""

    at_ms: float
    measured: bool


def card_time(seq: int) -> str:
    """The ``HH:MM:SS`` a card shows for reading ``seq`` of any reactor."""
    return f"{EPOCH + seq * DATA_STEP:%H:%M:%S}"


@dataclass(frozen=True)
class Load:
    """``rate`` readings/s from each of ``reactors`` reactors for ``seconds``, warm-up included."""

    reactors: int
    rate: float
    seconds: float


def publish_paced(address: BrokerAddress, load: Load, start: float, sent: dict[tuple[str, str], Sent]) -> None:
    """Publish ``load`` from monotonic time ``start``, noting each reading in ``sent``.

    Reactors take turns, so the fleet's readings are evenly spaced rather than sent in bursts.
    """
    reactors = load.reactors
    client = make_client("benchmark-dashboard-publisher", persistent=False)
    connect(client, address)
    interval = 1 / (reactors * load.rate)
    total = round(load.seconds * load.rate) * reactors
    for k in range(total):
        seq, index = divmod(k, reactors)
        due = start + k * interval
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        r = reading(reactor_id(index), seq, "BENCH-1", timestamp=EPOCH + seq * DATA_STEP,
                    culture_h=48.0 + seq * DATA_STEP.total_seconds() / 3600)
        payload = encode(r)
        sent[(r.reactor_id, card_time(seq))] = Sent(time.time() * 1000, k * interval >= WARM_UP_S)
        client.publish(topics.reading_topic(r.reactor_id), payload, qos=1)
    disconnect(client)


def dashboard_pid() -> int:
    """The PID of this process's ``bioreactor dashboard`` child (``dashboard_process`` keeps its handle)."""
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # a process that exited while we looked
        if ppid == me and b"bioreactor" in cmdline and b"dashboard" in cmdline:
            return int(stat.parent.name)
    raise RuntimeError("no bioreactor dashboard process among this process's children")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid``, all its threads (s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` (MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def open_sessions(browser: Browser, url: str, count: int) -> list[Page]:
    """``count`` pages on ``url``, each in its own browser context, observer installed, grid drawn."""
    pages = []
    for _ in range(count):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(OBSERVER_JS)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        page.get_by_text("Waiting for reactors").wait_for()  # the fleet grid is drawn (locators pierce shadow DOM)
        pages.append(page)
    return pages


def session_delays(page: Page, sent: dict[tuple[str, str], Sent]) -> list[float]:
    """Delays (ms) from publish to first showing in ``page`` of the measured readings it showed."""
    shown: dict[str, float] = page.evaluate("window.__shownCards()")
    delays = []
    for key, at_ms in shown.items():
        reactor, _, when = key.partition(" ")
        published = sent.get((reactor, when))
        if published is not None and published.measured:
            delays.append(at_ms - published.at_ms)
    return delays


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile by linear interpolation between order statistics (NaN when empty)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def measure(args: argparse.Namespace, log: IO[str]) -> Result:
    sent: dict[tuple[str, str], Sent] = {}
    with (
        tempfile.TemporaryDirectory(prefix="dashboard-latency-") as tmp,
        Mosquitto(workdir=Path(tmp) / "mosquitto") as broker,
        dashboard_process(broker.address, Path(tmp)) as base,
        sync_playwright() as playwright,
    ):
        pid = dashboard_pid()
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        pages = open_sessions(browser, f"{base}/live", args.sessions)
        print(f"broker {broker.address}, dashboard {base}/live (pid {pid}), {len(pages)} session(s) open", file=log)
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=1) as pool:
            load = Load(args.reactors, args.rate, WARM_UP_S + args.seconds)
            publishing = pool.submit(publish_paced, broker.address, load, start, sent)
            time.sleep(WARM_UP_S)
            cpu_start, wall_start, rss_start = cpu_seconds(pid), time.monotonic(), rss_mb(pid)
            print(f"warm-up over; measuring {args.seconds:g} s", file=log)
            publishing.result()
            cpu_end, wall_end, rss_end = cpu_seconds(pid), time.monotonic(), rss_mb(pid)
        time.sleep(GRACE_S)
        per_session = [session_delays(page, sent) for page in pages]
        browser.close()
    measured = sum(1 for s in sent.values() if s.measured)
    delays = [d for session in per_session for d in session]
    p99 = percentile(delays, 0.99)
    cores = (cpu_end - cpu_start) / (wall_end - wall_start)
    return Result(
        reactors=args.reactors,
        rate_per_reactor=args.rate,
        sessions=args.sessions,
        seconds=args.seconds,
        warm_up_s=WARM_UP_S,
        published=measured,
        shown=len(delays),
        shown_per_session=[len(session) for session in per_session],
        p50_ms=round(percentile(delays, 0.5), 1),
        p99_ms=round(p99, 1),
        max_ms=round(max(delays, default=float("nan")), 1),
        server_cpu_cores=round(cores, 3),
        rss_start_mb=round(rss_start, 1),
        rss_end_mb=round(rss_end, 1),
        load_average=round(os.getloadavg()[0], 2),
        p99_target_ms=P99_TARGET_MS,
        p99_met=p99 < P99_TARGET_MS,
        cpu_target_cores=CPU_TARGET_CORES,
        cpu_met=cores < CPU_TARGET_CORES,
    )


def print_table(result: Result, out: IO[str]) -> None:
    def met(ok: bool) -> str:
        return "met" if ok else "MISSED"

    possible = result.published * result.sessions
    share = 100 * result.shown / possible if possible else float("nan")
    rows = [
        ("published", f"{result.published} readings", ""),
        ("shown", f"{result.shown} of {possible} ({share:.1f} %)", f"per session {result.shown_per_session}"),
        ("p50 delay", f"{result.p50_ms:.0f} ms", ""),
        ("p99 delay", f"{result.p99_ms:.0f} ms", f"target < {result.p99_target_ms:.0f} ms: {met(result.p99_met)}"),
        ("max delay", f"{result.max_ms:.0f} ms", ""),
        ("server CPU", f"{result.server_cpu_cores:.2f} cores",
         f"target < {result.cpu_target_cores} core: {met(result.cpu_met)}"),
        ("server RSS", f"{result.rss_start_mb:.0f} -> {result.rss_end_mb:.0f} MB", ""),
        ("load average", f"{result.load_average:.2f}", f"1 min, {os.cpu_count()} CPUs"),
    ]
    print(f"{result.reactors} reactors x {result.rate_per_reactor:g} readings/s, {result.sessions} session(s), "
          f"{result.seconds:g} s measured after {result.warm_up_s:g} s warm-up", file=out)
    for name, value, note in rows:
        print(f"  {name:<13} {value:<24} {note}".rstrip(), file=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reactors", type=int, default=50, help="reactors publishing")
    parser.add_argument("--rate", type=float, default=1.0, help="readings/s of each reactor")
    parser.add_argument("--sessions", type=int, default=3, help="browser sessions on /live")
    parser.add_argument("--seconds", type=float, default=120.0, help="measured time after the warm-up (s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout (the table on stderr)")
    args = parser.parse_args()
    if min(args.reactors, args.sessions) < 1 or args.rate <= 0 or args.seconds <= 0:
        parser.error("reactors, sessions, rate and seconds must be positive")
    if args.rate * (WARM_UP_S + args.seconds) >= DATA_DAY_S:
        parser.error(f"at most {DATA_DAY_S} readings per reactor: a card's HH:MM:SS would repeat")
    table = sys.stderr if args.json else sys.stdout
    result = measure(args, sys.stderr)
    print_table(result, table)
    if args.json:
        print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
