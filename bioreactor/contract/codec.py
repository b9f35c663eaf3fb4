"""Validating conversion between payload structs and JSON, with explicit limits.

Payloads are ``msgspec`` structs (:mod:`bioreactor.contract.payloads`): their type
annotations say what a field must be, and ``msgspec.Meta`` adds bounds and the
unit. Decoding is done by msgspec in C, so the checks cost microseconds. Every
failure becomes a :class:`ContractError` that names the field and the reason, so
a dead letter says exactly what was wrong.

Limits (what a network can send, see :data:`LIMITS`): payload size, nesting
depth, string lengths and number magnitudes are bounded, timestamps must carry a
time zone and fall within :data:`EARLIEST`-:data:`LATEST`. Values that decode
but lie outside an *instrument's* range are not a contract matter: the monitor
raises a "bad value" alarm for them (``monitor.instruments``).

>>> from bioreactor.contract.payloads import Acknowledgement
>>> decode(Acknowledgement, b'{"alarm_id": "A1", "timestamp": "2026-01-01T00:00:00Z"}').alarm_id
'A1'
>>> decode(Acknowledgement, b'{"alarm_id": "A1", "timestamp": "2026-01-01T00:00:00"}')
Traceback (most recent call last):
...
bioreactor.contract.codec.ContractError: field 'timestamp': expected `datetime` with a timezone component
>>> decode(Acknowledgement, b'[' * 100 + b']' * 100)
Traceback (most recent call last):
...
bioreactor.contract.codec.ContractError: nested 100 levels deep (at most 16)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

#: The version every payload carries as ``"schema"``; another version is refused.
SCHEMA_VERSION = 2

#: Timestamps outside [EARLIEST, LATEST) are refused: older data cannot come from a
#: live culture or a digital historian, later ones overflow date arithmetic.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

#: Largest magnitude of any measured number: 200 m³ is 2e5 L and 1e7 mL/h of feed; far
#: beyond that a number is garbage, and bounding it keeps arithmetic finite.
MAGNITUDE = 1e9


@dataclass(frozen=True, slots=True)
class Limits:
    """What the codec accepts before any field is looked at.

    Attributes
    ----------
    max_bytes
        Largest payload. Mosquitto's ``message_size_limit`` should be at least this.
    max_depth
        Deepest nesting of JSON arrays and objects (a reading is 1 deep).
    """

    max_bytes: int = 64 * 1024
    max_depth: int = 16


LIMITS = Limits()


class ContractError(ValueError):
    """A payload that does not follow the contract.

    >>> str(ContractError("do", "must be a finite number, got 'NaN'"))
    "field 'do': must be a finite number, got 'NaN'"
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field {field!r}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def quantity(unit: str, low: float = -MAGNITUDE, high: float = MAGNITUDE) -> msgspec.Meta:
    """The bounds and unit of a numeric field: ``Annotated[float, quantity("g/L")]``.

    >>> quantity("g/L").extra
    {'unit': 'g/L'}
    """
    return msgspec.Meta(ge=low, le=high, extra={"unit": unit})


def text(max_length: int, pattern: str = r"^[^\x00-\x1f\x7f]*$") -> msgspec.Meta:
    """The bounds of a string field: ``Annotated[str, text(128)]``.

    By default no control characters: they have no business in ids and messages and
    corrupt logs and terminals.
    """
    return msgspec.Meta(min_length=1, max_length=max_length, pattern=pattern)


def check_timestamp(value: datetime, field: str = "timestamp") -> datetime:
    """``value`` in UTC, refused (``ContractError``) outside [EARLIEST, LATEST).

    >>> check_timestamp(datetime(2026, 1, 1, 1, tzinfo=UTC)).isoformat()
    '2026-01-01T01:00:00+00:00'
    """
    if value.tzinfo is None:
        raise ContractError(field, "timestamp has no time zone (expected UTC, e.g. ...Z)")
    # Compare before converting: a year-1 time with a positive offset underflows astimezone().
    if not EARLIEST <= value < LATEST:
        raise ContractError(field, f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year - 1}")
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix and millisecond precision.

    >>> format_timestamp(datetime(2026, 3, 1, 12, tzinfo=UTC))
    '2026-03-01T12:00:00.000Z'
    """
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: object, field: str = "timestamp") -> datetime:
    """Parse an ISO 8601 timestamp that carries a time zone; return it in UTC.

    >>> parse_timestamp("2026-03-01T13:00:00+01:00").isoformat()
    '2026-03-01T12:00:00+00:00'
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ContractError(field, f"not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise ContractError(field, f"must be an ISO 8601 string, got {type(value).__name__}")
    return check_timestamp(parsed, field)


_PATH = re.compile(r" - at `\$\.?([^`]*)`$")
_MISSING = re.compile(r"missing required field `([^`]*)`")
_OWN = re.compile(r"^field '([^']*)': (.*)$", re.DOTALL)
# A JSON string (skipped, so brackets inside text do not count) or a bracket.
_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _contract_error(err: msgspec.MsgspecError) -> ContractError:
    """msgspec's message ("Expected `int`, got `str` - at `$.seq`") as a field-named error."""
    message = str(err)
    own = _OWN.match(message)  # raised by a payload's own __post_init__
    if own:
        return ContractError(own.group(1), own.group(2))
    match = _PATH.search(message)
    field = match.group(1) if match else ""
    reason = message[: match.start()] if match else message
    missing = _MISSING.search(reason)
    if missing:
        field = f"{field}.{missing.group(1)}" if field else missing.group(1)
        reason = "is required"
    elif field == "schema":
        version = reason.removeprefix("Invalid value ")
        reason = f"{version} is not a supported schema version (expected {SCHEMA_VERSION})"
    elif not isinstance(err, msgspec.ValidationError):  # the bytes are not JSON at all
        reason = f"malformed JSON: {reason.removeprefix('JSON is malformed: ')}"
    return ContractError(field, reason[:1].lower() + reason[1:])


def _depth(payload: bytes) -> int:
    """The deepest nesting of JSON arrays and objects (brackets inside strings do not count).

    >>> _depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    depth = deepest = 0
    for match in _BRACKETS.finditer(payload):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in (b"]", b"}"):
            depth -= 1
    return deepest


class _Token(str):
    """A ``NaN``/``Infinity`` token found by the standard parser."""


def _non_finite(data: bytes) -> ContractError | None:
    """The field holding a ``NaN``/``Infinity`` token, which JSON does not allow.

    Only called for a payload msgspec found malformed, which is already bounded in
    size and depth, so the slower standard parser is safe here.
    """
    try:
        parsed = json.loads(data, parse_constant=_Token)
    except (ValueError, RecursionError):
        return None
    pending: list[tuple[str, Any]] = [("", parsed)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, _Token):
            return ContractError(path, f"must be a finite number, got {str(value)!r}")
        if isinstance(value, dict):
            pending += [(f"{path}.{k}" if path else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            pending += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    return None


class Codec:
    """Decoders and an encoder built once, with the :class:`Limits` applied before decoding.

    >>> from bioreactor.contract.payloads import Acknowledgement
    >>> Codec(Limits(max_bytes=10)).decode(Acknowledgement, b'{"alarm_id": "A1"}')
    Traceback (most recent call last):
    ...
    bioreactor.contract.codec.ContractError: payload of 18 bytes exceeds the limit of 10 bytes
    """

    def __init__(self, limits: Limits = LIMITS) -> None:
        self.limits = limits
        self._decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
        self._encoder = msgspec.json.Encoder()

    def decode(self, cls: type[T], payload: bytes | bytearray | memoryview | str) -> T:
        """Parse and validate a JSON payload into ``cls``; raises :class:`ContractError`."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        if len(data) > self.limits.max_bytes:
            raise ContractError("", f"payload of {len(data)} bytes exceeds the limit of {self.limits.max_bytes} bytes")
        # Counting brackets is a C-speed bound: only a payload with many of them is scanned.
        if data.count(b"[") + data.count(b"{") > self.limits.max_depth:
            depth = _depth(data)
            if depth > self.limits.max_depth:
                raise ContractError("", f"nested {depth} levels deep (at most {self.limits.max_depth})")
        decoder = self._decoders.get(cls)
        if decoder is None:
            decoder = self._decoders[cls] = msgspec.json.Decoder(cls)
        try:
            return decoder.decode(data)  # type: ignore[no-any-return]
        except UnicodeDecodeError as err:
            raise ContractError("", f"payload is not UTF-8: {err.reason} at byte {err.start}") from None
        except msgspec.ValidationError as err:
            raise _contract_error(err) from None
        except msgspec.DecodeError as err:
            raise _non_finite(data) or _contract_error(err) from None
        except RecursionError:  # a nesting the bracket count could not see (should not happen)
            raise ContractError("", "nested too deep") from None

    def encode(self, payload: Any) -> bytes:
        """Serialise a payload struct to compact UTF-8 JSON (``None`` fields are left out)."""
        return self._encoder.encode(payload)


_DEFAULT = Codec()


def decode(cls: type[T], payload: bytes | bytearray | memoryview | str) -> T:
    """Parse and validate a JSON payload into ``cls`` with the default :data:`LIMITS`."""
    return _DEFAULT.decode(cls, payload)


def encode(payload: Any) -> bytes:
    """Serialise a payload struct to compact UTF-8 JSON."""
    return _DEFAULT.encode(payload)


def from_dict(cls: type[T], data: Any) -> T:
    """Build and validate a payload from Python values (``datetime`` objects allowed).

    Unknown keys are ignored so that newer publishers can add optional fields.

    >>> from bioreactor.contract.payloads import Acknowledgement
    >>> from_dict(Acknowledgement, {"alarm_id": "A1", "timestamp": "2026-01-01T00:00:00Z"}).alarm_id
    'A1'
    """
    if not isinstance(data, dict):
        raise ContractError("", f"payload must be a JSON object, got {type(data).__name__}")
    try:
        return msgspec.convert({key: _plain(value) for key, value in data.items()}, cls)
    except msgspec.MsgspecError as err:
        raise _contract_error(err) from None


def from_record(cls: type[T], record: Mapping[Any, Any]) -> T:
    """Build a payload from a table row: empty cells (``None``, NaN, ``NaT``) are left out.

    >>> from bioreactor.contract.payloads import Acknowledgement
    >>> from_record(Acknowledgement, {"alarm_id": "A1", "timestamp": "2026-01-01T00:00:00Z", "user": float("nan")}).user
    """
    # NaN and NaT are the values that differ from themselves.
    return from_dict(cls, {str(k): v for k, v in record.items() if v is not None and v == v})  # noqa: PLR0124


def _plain(value: Any) -> Any:
    """A Python value msgspec converts: pandas and numpy scalars (a table's cells) become builtins."""
    if isinstance(value, datetime) and type(value) is not datetime:
        return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value.replace()  # pandas.Timestamp
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, str | bytes):
        return item()  # numpy scalar
    return value


def to_dict(payload: Any) -> dict[str, Any]:
    """A JSON-ready dict of a payload (timestamps as ISO text); ``None`` fields are left out."""
    result: dict[str, Any] = msgspec.to_builtins(payload)
    return result


def field_names(cls: type[Any]) -> tuple[str, ...]:
    """The fields of a payload class, in order (the ``schema`` tag is not a field).

    >>> from bioreactor.contract.payloads import Acknowledgement
    >>> field_names(Acknowledgement)
    ('alarm_id', 'timestamp', 'comment', 'user')
    """
    return tuple(f.name for f in msgspec.structs.fields(cls))


def field_units(cls: type[Any]) -> dict[str, str]:
    """The unit of every numeric field of a payload class that declares one.

    >>> from bioreactor.contract.payloads import Reading
    >>> field_units(Reading)["glucose"], field_units(Reading)["culture_h"]
    ('g/L', 'h')
    """
    units: dict[str, str] = {}
    struct = msgspec.inspect.type_info(cls)
    assert isinstance(struct, msgspec.inspect.StructType), f"{cls!r} is not a payload struct"
    for info in struct.fields:
        kind = info.type
        if isinstance(kind, msgspec.inspect.UnionType):
            kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
        extra = getattr(kind, "extra", None) or {}
        if "unit" in extra:
            units[info.name] = extra["unit"]
    return units


def optional_fields(cls: type[Any]) -> frozenset[str]:
    """The fields a payload may leave out.

    >>> from bioreactor.contract.payloads import Acknowledgement
    >>> sorted(optional_fields(Acknowledgement))
    ['comment', 'user']
    """
    return frozenset(f.name for f in msgspec.structs.fields(cls) if not f.required)


replace = msgspec.structs.replace
