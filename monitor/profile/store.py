"""Profile files: a readable TOML plus a model file of arrays that nothing can run code from.

``save_profile(profile, "plant.profile.toml")`` writes

- ``plant.profile.toml``: everything but arrays, commented with units, for a
  process engineer to read (and, with care, edit);
- ``plant.profile.npz``: the envelope's bands and the batch-evolution model's
  arrays, plus the card as JSON (data hash, batches, date, library versions).
  Plain numpy arrays, read with ``allow_pickle=False``: a profile file can hold
  no object, so loading one can never run code (pickle can).

The TOML names the model file and its SHA-256; :func:`load_profile` refuses a
model file whose hash differs (changed, or from another fit) and one whose card
does not match the TOML's, so the two halves of a profile cannot be mixed up.

>>> import tempfile, pathlib
>>> from monitor.profile.fit import fit_profile
>>> from monitor.profile.equality import equal
>>> import numpy as np, pandas as pd
>>> hours = np.arange(0.0, 48.0, 0.5)
>>> frame = pd.concat([pd.DataFrame({"batch_id": f"B{i}", "culture_h": hours,
...                                  "glucose": 6 - hours / (20 + i)}) for i in range(3)])
>>> profile = fit_profile(frame, name="demo", source="example")
>>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.profile.toml"
>>> save_profile(profile, path).name
'demo.profile.npz'
>>> equal(load_profile(path), profile)
True
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, get_args, get_type_hints

import msgspec
import numpy as np

from bioreactor.contract import Reading, field_units
from bioreactor.files import write_atomically
from monitor.envelope import Envelope
from monitor.profile.evolution import BatchEvolutionModel
from monitor.profile.model import FeedBehaviour, ProcessProfile, ProfileCard, SetpointSchedule
from monitor.profile.quantiles import Quantiles
from monitor.profile.reference import ProfileError
from monitor.profile.tomlwrite import TomlDocument

FORMAT = "bioreactor-process-profile"
FORMAT_VERSION = 1
#: The arrays of the model file, besides ``metadata``.
ENVELOPE_ARRAYS = ("low", "median", "high")
EVOLUTION_ARRAYS = ("means", "scales", "axes", "eigenvalues")

_UNITS = field_units(Reading)


def model_path(path: Path) -> Path:
    """The model file next to the profile ``path``: ``plant.profile.toml`` -> ``plant.profile.npz``.

    >>> model_path(Path("runs/plant.profile.toml")).as_posix()
    'runs/plant.profile.npz'
    """
    return path.with_name(path.name.removesuffix(".toml") + ".npz")


def _metadata(profile: ProcessProfile) -> dict[str, Any]:
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "card": msgspec.to_builtins(profile.card)}


def save_profile(profile: ProcessProfile, path: Path) -> Path:
    """Write ``profile`` to ``path`` (TOML) and its model file next to it; return the model file's path."""
    arrays = {f"envelope_{name}": getattr(profile.envelope, name) for name in ENVELOPE_ARRAYS}
    if profile.evolution is not None:
        arrays |= {f"evolution_{name}": getattr(profile.evolution, name) for name in EVOLUTION_ARRAYS}
    buffer = io.BytesIO()
    np.savez(buffer, metadata=np.array(json.dumps(_metadata(profile))), **arrays)
    model = model_path(path)
    write_atomically(model, buffer.getvalue())
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    write_atomically(path, _document(profile, model.name, digest).encode("utf-8"))
    return model


def _unit(variable: str) -> str:
    return _UNITS.get(variable, "")


def _builtins(item: object) -> Any:
    return msgspec.to_builtins(item, builtin_types=(datetime,))


def _document(profile: ProcessProfile, model_file: str, digest: str) -> str:
    """The TOML text of ``profile`` (all but its arrays), with comments."""
    card = profile.card
    doc = TomlDocument(
        f'Process profile "{card.name}": normal operation learnt by `bioreactor profile fit` from\n'
        f"{len(card.batches)} good batches of {card.source}. `bioreactor profile show` explains it in words.\n"
        "Units are the contract's (bioreactor.contract.Reading): culture hours, % air saturation, g/L, mL/h...\n"
        "The arrays (envelope bands, batch-evolution model) are in the model file named under [model]:\n"
        "this file may be edited, the model file may not (its SHA-256 is checked on loading)."
    )
    doc.set("format", FORMAT)
    doc.set("format_version", FORMAT_VERSION)
    doc.set("sampling_minutes", profile.sampling_minutes, "median interval between readings of a batch")
    doc.set("variables", profile.variables, "measured in at least 1 % of the readings")
    if profile.oxygen_balance_spread is not None:
        doc.set(
            "oxygen_balance_spread", profile.oxygen_balance_spread,
            "99.9 % quantile of the oxygen balance's gap in the reference batches (natural log)",
        )

    doc.table("card", "where this profile comes from")
    for name, item in _builtins(card).items():
        doc.set(name, item)

    doc.table("model", "the model file: arrays and the card, checked by this hash")
    doc.set("file", model_file)
    doc.set("sha256", digest)

    doc.table("coverage", "share of the readings in which each variable is measured")
    for variable, share in profile.coverage.items():
        doc.set(variable, share)

    for variable, schedule in profile.setpoints.items():
        origin = "from set-point columns" if schedule.from_columns else "learnt from the signal"
        doc.table(f"setpoints.{variable}", f"{_unit(variable)}, {origin}")
        doc.set("variable", variable)
        doc.set("levels", schedule.levels, "in the order a batch uses them")
        doc.set("change_h", schedule.change_h, "culture-hour window of the level changes (first reading after)")
        doc.set("change_share", schedule.change_share, "share of the batches that changed level")
        doc.set("from_columns", schedule.from_columns)
        doc.set("deadband", schedule.deadband, "half-width of the band the loop lets the variable move in")
        doc.set("held_from_h", schedule.held_from_h, "culture-hour window from which the loop holds the variable")

    for section, comment, table in (
        (
            "instruments",
            "[low, high] an instrument can report: outside is a bad value, not a process state",
            profile.instruments,
        ),
        ("noise", "1-sigma measurement noise", profile.noise),
        ("actuators", "[min, max] as operated: 0.5 and 99.5 % quantiles", profile.actuators),
        ("values", "spread of the readings: 0.1, 1, 50, 99, 99.9 % quantiles", profile.values),
        ("deviations", "reading - set point while the loop holds it: quantiles as [values]", profile.deviations),
    ):
        doc.table(section, comment)
        for variable, item in table.items():
            doc.set(variable, _builtins(item), _unit(variable))

    doc.table("feed", "how the reference batches were fed")
    doc.set("start_h", profile.feed.start_h, "culture hour the feed starts (median); absent: never fed")
    doc.set("continuous", profile.feed.continuous, "fed on most readings after the start (else boluses)")
    doc.set("due_glucose", profile.feed.due_glucose, "g/L: glucose below which the operator feeds")
    doc.set("latest_start_h", profile.feed.latest_start_h, "culture hour by which every batch was fed")

    doc.table("envelope", "per-maturity bands, 1-99 % of the batches' bin means; arrays in the model file")
    doc.set("bin_h", profile.envelope.bin_h, "h")
    doc.set("variables", profile.envelope.variables)

    evolution = profile.evolution
    if evolution is not None:
        doc.table("evolution", "batch-evolution PCA by maturity; arrays in the model file")
        doc.set("bin_h", evolution.bin_h, "h")
        doc.set("variables", evolution.variables)
        doc.set("components", evolution.axes.shape[1])
        doc.set("explained", evolution.explained, "share of the standardised variance")
        doc.set("t2", _builtins(evolution.t2), "Hotelling T², leave-one-batch-out")
        doc.set("spe", _builtins(evolution.spe), "squared prediction error, leave-one-batch-out")
        doc.set("unusual_batches", evolution.unusual_batches, "most readings beyond the other batches' 99 %")
    return doc.text()


def _convert(data: object, kind: Any, where: str) -> Any:
    """``data`` as ``kind``; :class:`ProfileError` naming the section and field when it does not fit."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as err:
        raise ProfileError(f"[{where}] {err}") from None


def _with_nones(data: object, kind: type[Any]) -> object:
    """``data`` with the keys TOML leaves out (``None`` values of ``kind``'s optional fields) put back."""
    if not isinstance(data, Mapping):
        return data
    hints = get_type_hints(kind)
    nullable = [f.name for f in fields(kind) if type(None) in get_args(hints[f.name])]
    return dict.fromkeys(nullable) | dict(data)


def _section(document: Mapping[str, Any], name: str) -> Any:
    if name not in document:
        raise ProfileError(f"[{name}] is missing")
    return document[name]


def _read_model(path: Path, document: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The model file's arrays, after checking its name and hash against the profile's."""
    model: dict[str, str] = _convert(_section(document, "model"), dict[str, str], "model")
    name = model.get("file", "")
    if not name or Path(name).name != name:
        raise ProfileError(f"[model] file must name a file next to the profile, got {name!r}")
    location = path.parent / name
    try:
        data = location.read_bytes()
    except OSError as err:
        raise ProfileError(f"cannot read the model file {location}: {err.strerror}; fit the profile again") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.get("sha256"):
        raise ProfileError(
            f"the model file {location} does not match the profile (SHA-256 {digest[:12]}..., the profile names "
            f"{str(model.get('sha256'))[:12]}...): it was changed or comes from another fit; fit the profile again"
        )
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (ValueError, OSError) as err:
        raise ProfileError(f"{location} is not a readable model file: {err}") from None


def _array(arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """A float array of the model file, checked against the shape the TOML implies (None: any)."""
    array = arrays.get(name)
    fits = array is not None and array.ndim == len(shape)
    if array is None or not fits or any(s not in (None, a) for s, a in zip(shape, array.shape, strict=True)):
        found = "missing" if array is None else f"shape {array.shape}"
        raise ProfileError(f"the model file's {name} does not fit the profile ({found}, expected {shape})")
    return array.astype(np.float64)


def load_profile(path: Path) -> ProcessProfile:
    """Read a profile written by :func:`save_profile`.

    Raises
    ------
    ProfileError
        Unreadable or invalid TOML, another format, a missing, changed or mismatched
        model file, or a value of the wrong type (the message names the section).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ProfileError(f"cannot read the profile {path}: {err.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ProfileError(f"{path} is not valid TOML: {err}") from None
    if document.get("format") != FORMAT:
        raise ProfileError(f"{path} is not a process profile (it has no format = {FORMAT!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise ProfileError(
            f"{path} has profile format {document.get('format_version')!r}, this version reads "
            f"{FORMAT_VERSION}; fit the profile again"
        )
    try:
        return _profile(path, document)
    except ProfileError as err:
        raise ProfileError(f"{path}: {err}") from None


def _profile(path: Path, document: Mapping[str, Any]) -> ProcessProfile:
    arrays = _read_model(path, document)
    card: ProfileCard = _convert(_section(document, "card"), ProfileCard, "card")
    stored = json.loads(str(arrays.get("metadata", "{}")))
    if _convert(stored.get("card"), ProfileCard, "model file card") != card:
        raise ProfileError("the model file's card (data hash, batches, date) differs from [card]: fit again")
    envelope: dict[str, Any] = _convert(_section(document, "envelope"), dict[str, Any], "envelope")
    envelope_variables: tuple[str, ...] = _convert(envelope.get("variables"), tuple[str, ...], "envelope")
    shape = (None, len(envelope_variables))
    bands = [_array(arrays, f"envelope_{name}", shape) for name in ENVELOPE_ARRAYS]
    schedules = {
        variable: _with_nones(item, SetpointSchedule) for variable, item in document.get("setpoints", {}).items()
    }
    return ProcessProfile(
        card=card,
        sampling_minutes=_convert(document.get("sampling_minutes"), float, "sampling_minutes"),
        variables=_convert(document.get("variables"), tuple[str, ...], "variables"),
        coverage=_convert(_section(document, "coverage"), dict[str, float], "coverage"),
        setpoints=_convert(schedules, dict[str, SetpointSchedule], "setpoints"),
        instruments=_convert(_section(document, "instruments"), dict[str, tuple[float, float]], "instruments"),
        noise=_convert(_section(document, "noise"), dict[str, float], "noise"),
        actuators=_convert(document.get("actuators", {}), dict[str, tuple[float, float]], "actuators"),
        values=_convert(_section(document, "values"), dict[str, Quantiles], "values"),
        deviations=_convert(document.get("deviations", {}), dict[str, Quantiles], "deviations"),
        feed=_convert(_with_nones(_section(document, "feed"), FeedBehaviour), FeedBehaviour, "feed"),
        envelope=Envelope(_convert(envelope.get("bin_h"), float, "envelope"), envelope_variables, *bands),
        evolution=_evolution(document.get("evolution"), arrays),
        oxygen_balance_spread=_convert(document.get("oxygen_balance_spread"), float | None, "oxygen_balance_spread"),
    )


def _evolution(section: object, arrays: Mapping[str, np.ndarray]) -> BatchEvolutionModel | None:
    if section is None:
        return None
    table: dict[str, Any] = _convert(section, dict[str, Any], "evolution")
    variables: tuple[str, ...] = _convert(table.get("variables"), tuple[str, ...], "evolution")
    components: int = _convert(table.get("components"), int, "evolution")
    v = len(variables)
    return BatchEvolutionModel(
        bin_h=_convert(table.get("bin_h"), float, "evolution"),
        variables=variables,
        means=_array(arrays, "evolution_means", (None, v)),
        scales=_array(arrays, "evolution_scales", (None, v)),
        axes=_array(arrays, "evolution_axes", (v, components)),
        eigenvalues=_array(arrays, "evolution_eigenvalues", (components,)),
        t2=_convert(table.get("t2"), Quantiles, "evolution"),
        spe=_convert(table.get("spe"), Quantiles, "evolution"),
        explained=_convert(table.get("explained"), float, "evolution"),
        unusual_batches=_convert(table.get("unusual_batches", ()), tuple[str, ...], "evolution"),
    )
