"""Replay a CSV of historical readings over MQTT, as if the reactors were running now.

Each reactor in the file gets its own MQTT client, so that its retained status
has its own last will (``offline`` if the replay dies). Readings go to
``bioreactor/<reactor>/reading`` at QoS 1 in time order across reactors, with
the spacing of their timestamps divided by ``speed`` (or none at all). Rows
that cannot be read are reported, published to the dead-letter topic and
skipped; at the end every reactor's status says ``end_of_stream``.

A reactor runs one batch at a time, and the monitor refuses a reading of a batch
once the reactor has moved on to the next. A file in which one reactor's batches
overlap in time is therefore refused before anything is published, rather than
streamed into hundreds of dead letters: typically ``--reactor-id`` given to a file
of several reactors that ran side by side, or such a file without a reactor column
(all its rows then belong to the reactor named after the file).

Publishing goes through :class:`~bioreactor.publisher.OrderedPublisher`: bounded,
so a replay as fast as possible never outruns the broker, and in order across a
broker restart.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TextIO

from tqdm import tqdm

from bioreactor.columns import ColumnMap
from bioreactor.contract import Clock, DeadLetter, Reading, Status, StatusState, encode
from bioreactor.contract.topics import DEAD_LETTER, reading_topic, status_topic
from bioreactor.csvio import CsvReadings, Row, RowError
from bioreactor.errors import error_line
from bioreactor.mqtt import DEFAULT_BROKER, BrokerAddress, connect, make_client
from bioreactor.publisher import OrderedPublisher
from bioreactor.signals import set_from_handler

__all__ = ["DEFAULT_SPEED", "SOURCE", "ReplaySummary", "replay", "replay_file"]

#: Culture time per wall time by default: one culture minute per second.
DEFAULT_SPEED = 60.0
#: ``source`` of the statuses and dead letters a replay publishes.
SOURCE = "replay"
# Seconds to wait at the end for the broker to acknowledge what is still in flight
# (shorter after Ctrl-C: the user wants out).
_DRAIN_TIMEOUT_S = 30.0
_INTERRUPTED_DRAIN_TIMEOUT_S = 5.0


@contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """Turn the first Ctrl-C into ``stop.set()``, so the replay stops between messages.

    A second Ctrl-C raises ``KeyboardInterrupt`` as usual. Signals reach only
    the main thread, so elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        set_from_handler(stop)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _status(state: StatusState, batch_id: str | None, detail: str) -> bytes:
    # A replay streams the file's own timestamps, historical or not: its clock is not the wall clock.
    return encode(Status(SOURCE, state, datetime.now(UTC), batch_id=batch_id, detail=detail, clock=Clock.REPLAY))


@dataclass
class _Reactor:
    """Counts and the last batch of one replayed reactor."""

    publisher: OrderedPublisher
    batch_id: str
    total: int
    skipped: int
    sent: int = 0


@dataclass
class ReplaySummary:
    """What a replay did.

    >>> print(ReplaySummary(readings=998, skipped=2, reactors=2, elapsed_s=4.0))
    replayed 998 readings of 2 reactors in 4.0 s (250/s), 2 rows skipped
    """

    readings: int
    skipped: int
    reactors: int
    elapsed_s: float
    interrupted: bool = False
    unacknowledged: int = 0
    skipped_lines: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        rate = self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0
        text = (
            f"replayed {self.readings} readings of {self.reactors} "
            f"reactor{'' if self.reactors == 1 else 's'} in "
            f"{self.elapsed_s:.1f} s ({rate:.0f}/s), {self.skipped} rows skipped"
        )
        if self.interrupted:
            text += "; interrupted"
        if self.unacknowledged:
            text += f"; {self.unacknowledged} readings not acknowledged by the broker"
        return text


def _connect(
    address: BrokerAddress, client_id: str, *, will: tuple[str, bytes] | None, window: int
) -> OrderedPublisher:
    client = make_client(client_id, persistent=False, will=will)
    publisher = OrderedPublisher(client, window)
    connect(client, address)
    return publisher


def replay(
    source: CsvReadings,
    address: BrokerAddress,
    *,
    speed: float | None = DEFAULT_SPEED,
    window: int = 100,
    progress: bool = False,
    log: TextIO | None = None,
) -> ReplaySummary:
    """Publish the readings of ``source`` to the broker at ``address``.

    Parameters
    ----------
    source
        The CSV, already matched to the contract's fields.
    speed
        Culture time per wall-clock time (60: one culture minute per second);
        ``None`` publishes as fast as the broker acknowledges.
    window
        Most readings per reactor awaiting the broker's acknowledgement.
    progress
        Show a progress bar on ``log``.
    log
        Where bad rows are reported, one line each (default stderr).

    Returns the summary. Ctrl-C (in the main thread) stops the replay between
    two messages, sets each reactor's status to ``offline`` and marks the
    summary ``interrupted``. Raises ``ValueError``, before connecting, when the
    batches of a reactor overlap in time.
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    log = log or sys.stderr
    label = Path(source.name).name or "CSV"
    rows: list[Reading] = []
    errors: list[RowError] = []
    for result in source:
        if isinstance(result, Row):
            rows.append(result.reading)
        else:
            errors.append(result)
            print(f"{label}: {result}", file=log)
    # Python's sort is stable: rows with equal timestamps keep their file order.
    rows.sort(key=lambda reading: reading.timestamp)
    _refuse_overlapping_batches(rows, label)
    totals = Counter(reading.reactor_id for reading in rows)
    skipped = Counter(error.reactor_id for error in errors)
    session = uuid.uuid4().hex[:8]
    stop = threading.Event()
    started = time.monotonic()
    reactors: dict[str, _Reactor] = {}
    with _ctrl_c_sets(stop):
        control = _connect(address, f"bioreactor-replay-{session}", will=None, window=window)
        try:
            for error in errors:
                control.publish(DEAD_LETTER, _dead_letter(label, error), stop)
            for reading in rows:
                if reading.reactor_id not in reactors:
                    publisher = _start_reactor(address, reading, f"{session}-{reading.reactor_id}", window, label)
                    reactors[reading.reactor_id] = _Reactor(
                        publisher,
                        reading.batch_id,
                        totals[reading.reactor_id],
                        skipped[reading.reactor_id],
                    )
            _stream(rows, reactors, speed=speed, progress=progress, log=log, stop=stop)
        finally:
            unacknowledged = _finish(reactors, control, stop.is_set())
    return ReplaySummary(
        readings=sum(r.sent for r in reactors.values()),
        skipped=len(errors),
        reactors=len(reactors),
        elapsed_s=time.monotonic() - started,
        interrupted=stop.is_set(),
        unacknowledged=unacknowledged,
        skipped_lines=[e.line for e in errors],
    )


def _refuse_overlapping_batches(rows: list[Reading], label: str) -> None:
    """Raise ``ValueError`` if a reactor's batches interleave in ``rows`` (in time order).

    The monitor follows one batch per reactor: once the next batch has started, a
    reading of the previous one is out of order and dead-lettered.
    """
    runs: dict[str, list[str]] = {}  # per reactor, the batch of each run of consecutive rows
    for reading in rows:
        batches = runs.setdefault(reading.reactor_id, [])
        if not batches or batches[-1] != reading.batch_id:
            batches.append(reading.batch_id)
    for reactor, batches in runs.items():
        overlapping = sorted(batch for batch, count in Counter(batches).items() if count > 1)
        if overlapping:
            shown = ", ".join(overlapping[:3]) + (", ..." if len(overlapping) > 3 else "")
            raise ValueError(
                f"{label}: {len(overlapping)} batches of reactor {reactor} overlap in time ({shown}), but a "
                "reactor runs one batch at a time: replay without --reactor-id to keep the file's reactors, "
                "or name each batch's reactor in a reactor_id column"
            )


def _dead_letter(label: str, error: RowError) -> bytes:
    # A row whose reactor is known is filed under the topic it was meant for.
    topic = reading_topic(error.reactor_id) if error.reactor_id else f"file:{label}"
    letter = DeadLetter(
        topic=topic, payload=error.text, size=len(error.text.encode()), reason=f"{label}: {error}", source=SOURCE,
        timestamp=datetime.now(UTC),
    )
    return encode(letter)


def _start_reactor(
    address: BrokerAddress, first: Reading, client_suffix: str, window: int, label: str
) -> OrderedPublisher:
    """Connect a reactor's client, with its last will, and announce it ``online``."""
    topic = status_topic(first.reactor_id)
    will = (topic, _status(StatusState.OFFLINE, first.batch_id, "replay lost its connection"))
    publisher = _connect(address, f"bioreactor-replay-{client_suffix}", will=will, window=window)

    def announce() -> None:
        payload = _status(StatusState.ONLINE, first.batch_id, f"replaying {label}")
        publisher.publish(topic, payload, None, retain=True)

    # The broker may have published the will while the connection was down.
    publisher.announce = announce
    announce()
    return publisher


def _stream(
    rows: list[Reading],
    reactors: dict[str, _Reactor],
    *,
    speed: float | None,
    progress: bool,
    log: TextIO,
    stop: threading.Event,
) -> None:
    if not rows:
        return
    origin, wall_origin = rows[0].timestamp, time.monotonic()
    with tqdm(total=len(rows), unit="reading", file=log, disable=not progress) as bar:
        for reading in rows:
            delay = 0.0
            if speed is not None:
                due = wall_origin + (reading.timestamp - origin).total_seconds() / speed
                delay = max(0.0, due - time.monotonic())
            reactor = reactors[reading.reactor_id]
            topic, payload = reading_topic(reading.reactor_id), encode(reading)
            if stop.wait(delay) or not reactor.publisher.publish(topic, payload, stop):
                return
            reactor.sent += 1
            reactor.batch_id = reading.batch_id
            bar.update()


def _finish(reactors: dict[str, _Reactor], control: OrderedPublisher, interrupted: bool) -> int:
    """Publish each reactor's final status, wait for acknowledgements, disconnect.

    Returns how many messages the broker did not acknowledge in time.
    """
    for reactor_id, reactor in reactors.items():
        done = f"replayed {reactor.sent} rows, {reactor.skipped} skipped"
        if interrupted:
            state, detail = StatusState.OFFLINE, f"interrupted: {done} of {reactor.total}"
        else:
            state, detail = StatusState.END_OF_STREAM, done
        payload = _status(state, reactor.batch_id, detail)
        reactor.publisher.announce = None
        reactor.publisher.publish(status_topic(reactor_id), payload, None, retain=True)
    unacknowledged = 0
    deadline = time.monotonic() + (_INTERRUPTED_DRAIN_TIMEOUT_S if interrupted else _DRAIN_TIMEOUT_S)
    for publisher in [control, *(r.publisher for r in reactors.values())]:
        unacknowledged += publisher.close(max(0.0, deadline - time.monotonic()))
    return unacknowledged


def replay_file(
    path: Path,
    *,
    maps: Sequence[str] = (),
    speed: float | None = DEFAULT_SPEED,
    broker: str = DEFAULT_BROKER,
    reactor_id: str | None = None,
    out: TextIO | None = None,
    log: TextIO | None = None,
) -> int:
    """The ``bioreactor replay`` command: replay ``path``, report, return the exit status.

    Exit status 0 when every readable row was acknowledged by the broker, 1
    when nothing could be replayed or the broker failed, 2 for bad options or
    a file that cannot be matched or replayed as it is, 130 after Ctrl-C. The
    summary goes to ``out`` (default stdout), bad rows to ``log`` (default
    stderr), and an error as one line (:func:`bioreactor.errors.error_line`).
    """
    out, log = out or sys.stdout, log or sys.stderr
    try:
        address = BrokerAddress.parse(broker)
        source = CsvReadings(path, ColumnMap.parse(maps), reactor_id=reactor_id)
        if source.columns.unused:
            print(f"{path.name}: ignoring columns {', '.join(map(repr, source.columns.unused))}", file=log)
        summary = replay(source, address, speed=speed, progress=log.isatty(), log=log)
    except ConnectionError as err:  # an OSError too: the broker's, before those of the file
        print(error_line(err), file=log)
        return 1
    except (ValueError, OSError) as err:
        print(error_line(err), file=log)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C, or one while reading the file
        print("interrupted", file=log)
        return 130
    print(summary, file=out)
    if summary.interrupted:
        return 130
    return 1 if summary.unacknowledged or (summary.skipped and not summary.readings) else 0
