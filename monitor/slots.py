"""Per-reactor memory as columns: one row ("slot") per reactor in arrays shared by the fleet.

The engine checks a whole *wave* of readings (one per reactor) with a few numpy
operations instead of a Python loop per reading, so what a check remembers
about each reactor lives in arrays indexed by the reactor's slot. A
:class:`SlotArrays` subclass declares those arrays as dataclass fields with
their per-slot shape and fill value; it grows with the fleet, resets a slot
when a reactor starts a new batch, and dumps or loads one slot as the raw bytes
of its rows (the engine's state file holds data, never code; bytes because a
reactor's histories hold thousands of numbers, which lists of floats would make
ten times slower to save).

>>> from dataclasses import dataclass, field
>>> @dataclass
... class Counts(SlotArrays):
...     seen: FloatArray = per_slot(fill=0.0)
...     last: FloatArray = per_slot(fill=float("nan"), shape=(2,))
>>> counts = Counts.create(capacity=2)
>>> counts.seen[[0, 1]] += 1
>>> counts.grow(4)
>>> counts.seen.tolist(), counts.last.shape
([1.0, 1.0, 0.0, 0.0], (4, 2))
>>> counts.reset([1])
>>> saved = counts.dump(0)
>>> counts.load(1, saved)
>>> counts.seen.tolist()
[1.0, 1.0, 0.0, 0.0]
>>> counts.load(2, {"last": b"123"})
Traceback (most recent call last):
ValueError: saved 'last' holds 3 bytes, a slot's row 16: saved by another configuration
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


def per_slot(*, fill: float | bool | int, shape: tuple[int, ...] = (), dtype: Any = None) -> Any:
    """A :class:`SlotArrays` field: an array of ``(slots, *shape)`` filled with ``fill``."""
    kind = dtype or (np.bool_ if isinstance(fill, bool) else np.int64 if isinstance(fill, int) else np.float64)
    return dataclasses.field(default=None, metadata={"fill": fill, "shape": shape, "dtype": kind})


class SlotArrays:
    """Arrays with one row per reactor slot; subclasses are dataclasses of :func:`per_slot` fields."""

    @classmethod
    def create(cls, capacity: int, **shapes: tuple[int, ...]) -> Self:
        """Arrays for ``capacity`` slots; ``shapes`` override a field's per-slot shape."""
        arrays = {
            f.name: np.full((capacity, *shapes.get(f.name, f.metadata["shape"])), f.metadata["fill"],
                            dtype=f.metadata["dtype"])
            for f in cls._array_fields()
        }
        return cls(**arrays)

    @classmethod
    def _array_fields(cls) -> list[dataclasses.Field[Any]]:
        return [f for f in dataclasses.fields(cls) if "fill" in f.metadata]  # type: ignore[arg-type]

    def _arrays(self) -> Iterable[tuple[dataclasses.Field[Any], np.ndarray[Any, Any]]]:
        for f in self._array_fields():
            yield f, getattr(self, f.name)

    @property
    def capacity(self) -> int:
        """Slots the arrays hold."""
        return len(next(iter(self._arrays()))[1])

    def grow(self, capacity: int) -> None:
        """Hold at least ``capacity`` slots; new slots start filled."""
        for f, array in self._arrays():
            if len(array) < capacity:
                extra = np.full((capacity - len(array), *array.shape[1:]), f.metadata["fill"], dtype=array.dtype)
                setattr(self, f.name, np.concatenate([array, extra]))

    def reset(self, slots: Sequence[int] | IntArray) -> None:
        """Forget what ``slots`` remember (a new batch starts)."""
        for f, array in self._arrays():
            array[slots] = f.metadata["fill"]

    def dump(self, slot: int) -> dict[str, bytes]:
        """One slot's rows as raw bytes (native order), for the engine's state file."""
        return {f.name: np.ascontiguousarray(array[slot]).tobytes() for f, array in self._arrays()}

    def load(self, slot: int, rows: Mapping[str, bytes]) -> None:
        """Put back rows written by :meth:`dump` (a field missing from ``rows`` stays as it is).

        ``ValueError`` when a row's size does not fit: the state was saved with another
        configuration (more variables, another history length), so it cannot be used.
        """
        for f, array in self._arrays():
            if f.name not in rows:
                continue
            expected = array[slot].nbytes
            if len(rows[f.name]) != expected:
                raise ValueError(
                    f"saved {f.name!r} holds {len(rows[f.name])} bytes, a slot's row {expected}: "
                    "saved by another configuration"
                )
            array[slot] = np.frombuffer(rows[f.name], dtype=array.dtype).reshape(array.shape[1:])


class Slots:
    """Which slot each reactor occupies; slots are never reused, arrays grow by doubling.

    >>> slots = Slots()
    >>> slots.of(["R1", "R2", "R1"]).tolist(), slots.capacity
    ([0, 1, 0], 8)
    """

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._index: dict[str, int] = {}
        self._attached: dict[str, SlotArrays] = {}

    def attach(self, name: str, arrays: SlotArrays) -> None:
        """Keep ``arrays`` as large as the slot table, reset and saved with it under ``name``."""
        if name in self._attached:
            raise ValueError(f"per-slot arrays {name!r} are attached twice")
        arrays.grow(self.capacity)
        self._attached[name] = arrays

    def reset(self, slots: Sequence[int] | IntArray) -> None:
        """Forget everything ``slots`` remember (their reactors start new batches)."""
        for arrays in self._attached.values():
            arrays.reset(slots)

    def dump(self, slot: int) -> dict[str, dict[str, bytes]]:
        """What ``slot`` remembers in every attached array, as raw bytes."""
        return {name: arrays.dump(slot) for name, arrays in self._attached.items()}

    def load(self, slot: int, rows: Mapping[str, Mapping[str, bytes]]) -> None:
        """Put back what :meth:`dump` wrote (arrays not in ``rows`` start afresh for ``slot``)."""
        for name, arrays in self._attached.items():
            arrays.reset([slot])
            if name in rows:
                arrays.load(slot, rows[name])

    def __contains__(self, reactor_id: object) -> bool:
        return reactor_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def ids(self) -> list[str]:
        """Reactor ids in slot order."""
        return list(self._index)

    def get(self, reactor_id: str) -> int | None:
        return self._index.get(reactor_id)

    def index(self, reactor_id: str) -> int:
        """The slot of one reactor, assigning a new one to a reactor seen for the first time."""
        slot = self._index.get(reactor_id)
        return slot if slot is not None else int(self.of([reactor_id])[0])

    def of(self, reactor_ids: Sequence[str]) -> IntArray:
        """The slots of ``reactor_ids``, assigning new ones to reactors seen for the first time."""
        for reactor_id in reactor_ids:
            if reactor_id not in self._index:
                self._index[reactor_id] = len(self._index)
        if len(self._index) > self.capacity:
            while self.capacity < len(self._index):
                self.capacity *= 2
            for arrays in self._attached.values():
                arrays.grow(self.capacity)
        return np.fromiter((self._index[r] for r in reactor_ids), dtype=np.int64, count=len(reactor_ids))
