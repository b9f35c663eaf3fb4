"""Validating conversion between payload dataclasses and JSON.

The rules come from the dataclass itself: its type hints say what a field must
be, and ``field(metadata=...)`` adds a unit and a plausible range. Errors name
the field and the reason, so a dead letter says exactly what was wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")

SCHEMA_VERSION = 1


class ContractError(ValueError):
    """A payload that does not follow the contract.

    >>> str(ContractError("do", "must be a finite number, got 'NaN'"))
    "field 'do': must be a finite number, got 'NaN'"
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field {field!r}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def quantity(unit: str, low: float | None = None, high: float | None = None, **kwargs: Any) -> Any:
    """A dataclass field carrying a physical unit and a plausible range ``[low, high]``."""
    return dataclasses.field(metadata={"unit": unit, "low": low, "high": high}, **kwargs)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and millisecond precision."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: object, field: str = "timestamp") -> datetime:
    """Parse an ISO 8601 timestamp that carries a time zone; return it in UTC."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ContractError(field, f"not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise ContractError(field, f"must be an ISO 8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        raise ContractError(field, f"timestamp has no time zone (expected UTC, e.g. ...Z): {value!r}")
    return parsed.astimezone(UTC)


@dataclasses.dataclass(frozen=True, slots=True)
class _FieldRule:
    name: str
    hint: Any
    optional: bool
    metadata: typing.Mapping[str, Any]


@cache
def _rules(cls: Any) -> tuple[_FieldRule, ...]:
    """How to validate each field of ``cls``: computed once per class, since decoding is hot."""
    hints = typing.get_type_hints(cls)
    rules = []
    for f in dataclasses.fields(cls):
        hint, optional = _unwrap_optional(hints[f.name])
        has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        rules.append(_FieldRule(f.name, hint, optional or has_default, f.metadata))
    return tuple(rules)


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def _check_range(name: str, value: float, meta: typing.Mapping[str, Any]) -> None:
    low, high, unit = meta.get("low"), meta.get("high"), meta.get("unit", "")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ContractError(name, f"{value:g} {unit} is outside the plausible range [{low}, {high}]")


def _decode_value(name: str, hint: Any, raw: object, meta: typing.Mapping[str, Any]) -> Any:
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ContractError(name, f"must be a number, got {raw!r}")
        value = float(raw)
        if not math.isfinite(value):
            raise ContractError(name, f"must be a finite number, got {raw!r}")
        _check_range(name, value, meta)
        return value
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, float) and raw.is_integer():
                raw = int(raw)
            else:
                raise ContractError(name, f"must be an integer, got {raw!r}")
        _check_range(name, raw, meta)
        return raw
    if hint is str:
        if not isinstance(raw, str) or not raw:
            raise ContractError(name, f"must be a non-empty string, got {raw!r}")
        return raw
    if hint is datetime:
        return parse_timestamp(raw, name)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        allowed = [m.value for m in hint]
        if raw not in allowed:
            raise ContractError(name, f"must be one of {', '.join(allowed)}, got {raw!r}")
        return hint(raw)
    if typing.get_origin(hint) is tuple:
        (item_hint, _) = typing.get_args(hint)
        if not isinstance(raw, list | tuple):
            raise ContractError(name, f"must be a list, got {type(raw).__name__}")
        return tuple(_decode_value(f"{name}[{i}]", item_hint, x, {}) for i, x in enumerate(raw))
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(raw, dict):
            raise ContractError(name, f"must be an object, got {type(raw).__name__}")
        try:
            return from_dict(hint, raw)
        except ContractError as err:
            raise ContractError(f"{name}.{err.field}", err.reason) from None
    raise TypeError(f"unsupported field type {hint!r} for {name}")  # a bug in the contract


def from_dict(cls: type[T], data: typing.Mapping[str, Any]) -> T:
    """Build and validate a payload dataclass from a decoded JSON object.

    Unknown keys are ignored so that newer publishers can add optional fields;
    a different ``schema`` version is refused.
    """
    if not isinstance(data, typing.Mapping):
        raise ContractError("", f"payload must be a JSON object, got {type(data).__name__}")
    values: dict[str, Any] = {}
    for rule in _rules(typing.cast(Any, cls)):
        raw = data.get(rule.name)
        if raw is None:
            if rule.optional:
                continue
            reason = "is required" if rule.name not in data else "must not be null"
            raise ContractError(rule.name, reason)
        values[rule.name] = _decode_value(rule.name, rule.hint, raw, rule.metadata)
    schema = values.get("schema", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise ContractError("schema", f"version {schema} is not supported (expected {SCHEMA_VERSION})")
    return cls(**values)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple):
        return [_encode_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    return value


def to_dict(payload: Any) -> dict[str, Any]:
    """A JSON-ready dict of a payload dataclass; ``None`` fields are left out."""
    return {
        f.name: _encode_value(getattr(payload, f.name))
        for f in dataclasses.fields(payload)
        if getattr(payload, f.name) is not None
    }


def encode(payload: Any) -> bytes:
    """Serialise a payload dataclass to compact UTF-8 JSON."""
    return json.dumps(to_dict(payload), separators=(",", ":"), allow_nan=False).encode()


def decode(cls: type[T], payload: bytes | bytearray | str) -> T:
    """Parse and validate a JSON payload into ``cls``; raises :class:`ContractError`."""
    try:
        text = payload if isinstance(payload, str) else bytes(payload).decode()
    except UnicodeDecodeError as err:
        raise ContractError("", f"payload is not UTF-8: {err.reason} at byte {err.start}") from None
    try:
        data = json.loads(text, parse_constant=_keep_constant)
    except json.JSONDecodeError as err:
        raise ContractError("", f"malformed JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    return from_dict(cls, data)


def _keep_constant(name: str) -> float:
    # json accepts the non-standard NaN/Infinity tokens; keep them so the field
    # check can name the field that carried one.
    return float(name)
