"""A synthetic fleet for benchmarks: any number of reactors replaying simulated batches.

Simulating 1,000 reactors would take longer than the benchmark itself, so a
small library of simulated batches (half of them with a fault) is replayed by
every reactor, each starting at another batch and culture hour. A reactor that
reaches the end of its batch starts the next one under a new batch id, so a
stream never ends and per-reactor state keeps turning over as in a plant.

Every ``probe_every``-th reading of a reactor carries a temperature no
instrument can report (:data:`PROBE_TEMPERATURE`): the monitor raises its
``bad_value`` alarm on that very reading, which is how the latency benchmark
times publish-to-alarm without waiting for a simulated fault's on-delay.

>>> fleet = Fleet(SimulatedLibrary.generate(batches=2, days=1.0), reactors=3)
>>> first = [next(stream) for stream in fleet.streams()]
>>> [r.reactor_id for r in first], [r.seq for r in first]
(['R0000', 'R0001', 'R0002'], [1, 1, 1])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bioreactor.contract import PROCESS_VARIABLES, Reading, replace
from simulator.dataset import generate_frame

#: A temperature outside every instrument range (-20 to 150 °C): an immediate ``bad_value`` alarm.
PROBE_TEMPERATURE = 500.0
#: Where every reactor's data clock starts (a replay: the monitor takes its timestamps as they come).
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def reactor_id(index: int) -> str:
    """The name of the fleet's reactor ``index``."""
    return f"R{index:04d}"


@dataclass(frozen=True)
class SimulatedLibrary:
    """Simulated batches as lists of readings' process values and culture hours."""

    batches: tuple[tuple[tuple[float, dict[str, Any]], ...], ...]

    @classmethod
    def generate(cls, *, batches: int = 8, days: float = 14.0, seed: int = 3) -> SimulatedLibrary:
        """Simulate ``batches`` batches of ``days`` (5-min readings), half of them faulty."""
        frame = generate_frame(batches, seed, days=days, fault_fraction=0.5)
        variables = [v for v in PROCESS_VARIABLES if v in frame.columns]
        library = []
        for _, batch in frame.groupby("batch_id", sort=True):
            rows = []
            for row in batch.sort_values("culture_h")[["culture_h", *variables]].itertuples(index=False):
                values = {v: float(x) for v, x in zip(variables, row[1:], strict=True) if not math.isnan(x)}
                rows.append((float(row[0]), values))
            library.append(tuple(rows))
        return cls(tuple(library))


@dataclass(frozen=True)
class Fleet:
    """``reactors`` endless reading streams over a :class:`SimulatedLibrary`."""

    library: SimulatedLibrary
    reactors: int
    probe_every: int = 0

    def stream(self, index: int) -> Iterator[Reading]:
        """Reactor ``index``'s readings: its batches one after the other, seq counting on."""
        reactor = reactor_id(index)
        seq = itertools.count(1)
        clock = EPOCH
        for cycle in itertools.count():
            rows = self.library.batches[(index + cycle) % len(self.library.batches)]
            start = (index * 37) % max(len(rows) // 2, 1) if cycle == 0 else 0  # reactors out of step
            for culture_h, values in rows[start:]:
                number = next(seq)
                timestamp = clock + timedelta(hours=culture_h - rows[start][0])
                reading = Reading(
                    timestamp=timestamp, reactor_id=reactor, batch_id=f"{reactor}-{cycle + 1}", seq=number,
                    culture_h=culture_h, **values,
                )
                if self.probe_every and number % self.probe_every == 0:
                    reading = replace(reading, temperature=PROBE_TEMPERATURE)
                yield reading
            clock = timestamp + timedelta(hours=1)

    def streams(self) -> list[Iterator[Reading]]:
        """Every reactor's stream."""
        return [self.stream(i) for i in range(self.reactors)]

    def interleaved(self) -> Iterator[Reading]:
        """All reactors' readings, one of each in turn, as a fleet publishes them."""
        streams = self.streams()
        while True:
            for stream in streams:
                yield next(stream)
