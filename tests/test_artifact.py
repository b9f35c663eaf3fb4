"""The model file: round trip, metadata, signature, and refusal of what cannot be trusted.

Every test here signs with a key file of this module's own (``BIOREACTOR_MODEL_KEY_FILE``
set for the module), so none reads or creates the user's key.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import sklearn

from models import signing
from models.artifact import (
    FORMAT,
    MAGIC,
    IncompatibleModelError,
    frame_hash,
    library_versions,
    load_model,
    save_model,
)
from models.ensure import ensure_model
from models.features import FEATURE_NAMES, build_features
from tests.model_helpers import small_frame, tiny_model, tiny_report


class _Touch:
    """Unpickling this creates ``marker``: a stand-in for any code a crafted pickle could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module", autouse=True)
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This module's signing key file (created by the first save), named by the environment."""
    key = tmp_path_factory.mktemp("signing") / "model-signing.key"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(signing.KEY_ENV, str(key))
        yield key


@pytest.fixture(scope="module")
def saved(signing_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved with this module's key (do not modify the file)."""
    return save_model(tiny_model(), tmp_path_factory.mktemp("model") / "feed_model.joblib")


def _pickled(obj: object) -> bytes:
    blob = io.BytesIO()
    joblib.dump(obj, blob)
    return blob.getvalue()


def _split(data: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    """Header, body and signature of a signed file, read without checking anything."""
    end = data.index(b"\n", len(MAGIC))
    return (
        json.loads(data[len(MAGIC) : end]),
        data[end + 1 : -signing.SIGNATURE_BYTES],
        data[-signing.SIGNATURE_BYTES :],
    )


def _join(header: dict[str, Any], body: bytes, signature: bytes) -> bytes:
    return MAGIC + json.dumps(header).encode() + b"\n" + body + signature


def _resign(source: Path, target: Path, change: dict[str, Any], card: dict[str, Any] | None = None) -> Path:
    """``source`` with header fields and card fields changed, signed again with this module's key."""
    header, body, _ = _split(source.read_bytes())
    header = {k: v for k, v in header.items() if k not in ("body_size", "body_sha256", "key_id")}
    header = {**header, **change, "card": {**header["card"], **(card or {})}}
    target.write_bytes(signing.seal(MAGIC, header, body, signing.key_file()))
    return target


def test_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    X = build_features(small_frame()).iloc[:200]
    path = save_model(tiny_model(), tmp_path / "sub" / "m.joblib")
    loaded = load_model(path)
    before, after = tiny_model().predict(X), loaded.predict(X)
    np.testing.assert_array_equal(before.value, after.value)
    np.testing.assert_array_equal(before.low, after.low)
    assert loaded.card == tiny_model().card
    assert [p.name for p in path.parent.iterdir()] == ["m.joblib"]  # no temporary file left behind


def test_header_is_plain_json_readable_without_unpickling(saved: Path, signing_key: Path) -> None:
    data = saved.read_bytes()
    assert data.startswith(b"bioreactor-feed-model\n")
    header, body, signature = _split(data)
    assert header["format"] == FORMAT and header["format_version"] == 2
    assert header["card"] == json.loads(json.dumps(asdict(tiny_model().card)))
    assert header["pickled_with"] == library_versions()
    assert header["body_size"] == len(body) and len(signature) == 32
    assert header["key_id"] == signing.key_id(signing_key.read_bytes())


def test_card_records_provenance() -> None:
    card = tiny_model().card
    assert card.features == FEATURE_NAMES
    assert card.units["glucose"] == "g/L" and card.units["ivc"] == "1e6 cells·h/mL"
    assert card.sources["glucose_uptake_rate"] == "glucose"
    assert card.data_hash == frame_hash(small_frame())
    assert card.versions["scikit-learn"] == sklearn.__version__
    assert {"python", "numpy"} <= set(card.versions)
    assert card.metrics == tiny_report().metrics
    assert card.trained_at[:4].isdigit() and card.version.startswith("rf-")


def test_interval_brackets_the_prediction() -> None:
    prediction = tiny_model().predict(build_features(small_frame()))
    assert np.all(prediction.low <= prediction.value + 1e-12)
    assert np.all(prediction.value <= prediction.high + 1e-12)


def test_crafted_pickle_runs_code_when_unpickled(tmp_path: Path) -> None:
    """The attack the other tests guard against is real: joblib.load runs the file's code."""
    joblib.dump(_Touch(tmp_path / "marker"), tmp_path / "evil.joblib")
    joblib.load(tmp_path / "evil.joblib")
    assert (tmp_path / "marker").exists()


@pytest.mark.parametrize("compress", [0, 3])
def test_old_style_unsigned_pickle_is_refused_unread(tmp_path: Path, compress: int) -> None:
    marker = tmp_path / "marker"
    payload = {"format": FORMAT, "format_version": 1, "card": {}, "pipeline": _Touch(marker)}
    joblib.dump(payload, tmp_path / "m.joblib", compress=compress)
    with pytest.raises(IncompatibleModelError, match=r"is an unsigned pickle.*it was not loaded") as error:
        load_model(tmp_path / "m.joblib")
    assert "retrain" in str(error.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("random", "has been modified since it was saved: its signature does not match"),
        ("original", "has been modified since it was saved: its signature does not match"),
        ("missing", "is unsigned: there is no signature after its body"),
    ],
)
def test_crafted_body_without_a_valid_signature_is_refused_unread(
    saved: Path, tmp_path: Path, signature: str, message: str
) -> None:
    """A malicious body in a well-formed header (right key id, matching SHA-256), badly signed."""
    marker = tmp_path / "marker"
    header, _, original = _split(saved.read_bytes())
    evil = _pickled(_Touch(marker))
    header = {**header, "body_size": len(evil), "body_sha256": hashlib.sha256(evil).hexdigest()}
    mac = {"random": os.urandom(32), "original": original, "missing": b""}[signature]
    (tmp_path / "m.joblib").write_bytes(_join(header, evil, mac))
    with pytest.raises(IncompatibleModelError, match=f"{message}; it was not loaded"):
        load_model(tmp_path / "m.joblib")
    assert not marker.exists()


def test_file_signed_with_another_key_is_refused(tmp_path: Path, signing_key: Path) -> None:
    other = tmp_path / "other.key"
    path = save_model(tiny_model(), tmp_path / "m.joblib", key_path=other)
    expected = rf"signed with another installation's key.*{re.escape(str(signing_key))}.*BIOREACTOR_MODEL_KEY_FILE"
    with pytest.raises(IncompatibleModelError, match=expected):
        load_model(path)
    assert load_model(path, key_path=other).card == tiny_model().card  # the right key opens it


def test_crafted_body_signed_with_another_key_is_refused_unread(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    header = {"format": FORMAT, "format_version": 2, "card": asdict(tiny_model().card)}
    sealed = signing.seal(MAGIC, header, _pickled(_Touch(marker)), tmp_path / "attacker.key")
    (tmp_path / "m.joblib").write_bytes(sealed)
    with pytest.raises(IncompatibleModelError, match="signed with another installation's key"):
        load_model(tmp_path / "m.joblib")
    assert not marker.exists()


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("body", "modified or damaged since it was saved: its body does not match its header's SHA-256"),
        ("header", "has been modified since it was saved: its signature does not match"),
        ("signature", "has been modified since it was saved: its signature does not match"),
    ],
)
def test_flipped_byte_is_refused(saved: Path, tmp_path: Path, where: str, message: str) -> None:
    data = bytearray(saved.read_bytes())
    header_end = data.index(b"\n", len(MAGIC))
    if where == "header":  # still valid JSON, with a better score
        at = data.index(b'"r2_test":', len(MAGIC)) + len(b'"r2_test":')
        data[at : at + 1] = b"9" if data[at : at + 1] != b"9" else b"8"
    else:
        at = (header_end + len(data)) // 2 if where == "body" else len(data) - 5
        data[at] ^= 0x01
    (tmp_path / "m.joblib").write_bytes(bytes(data))
    with pytest.raises(IncompatibleModelError, match=f"{message}; it was not loaded"):
        load_model(tmp_path / "m.joblib")


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (lambda n: 10, "is truncated: it ends after 10 bytes, inside the format line"),
        (lambda n: 200, "is truncated: it ends after 200 bytes, inside the header"),
        (lambda n: n // 2, r"is truncated: it has \d+ bytes, its header announces \d+"),
        (lambda n: n - 1, r"is truncated: it has \d+ bytes, its header announces \d+"),
        (lambda n: n - 32, "is unsigned: there is no signature after its body"),
    ],
    ids=["format line", "header", "body", "signature", "whole signature"],
)
def test_truncated_file_is_refused(saved: Path, tmp_path: Path, keep: Any, message: str) -> None:
    data = saved.read_bytes()
    (tmp_path / "m.joblib").write_bytes(data[: keep(len(data))])
    with pytest.raises(IncompatibleModelError, match=message):
        load_model(tmp_path / "m.joblib")


def test_trailing_data_is_refused(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "m.joblib").write_bytes(saved.read_bytes() + b"\0\0\0")
    with pytest.raises(IncompatibleModelError, match="is damaged: 3 unexpected bytes follow its signature"):
        load_model(tmp_path / "m.joblib")


def test_missing_key_is_refused_and_not_created(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(IncompatibleModelError, match=r"no model-signing key at .*absent\.key"):
        load_model(saved, key_path=tmp_path / "absent.key")
    assert not (tmp_path / "absent.key").exists()


def test_key_is_created_private_on_first_save_and_reused(tmp_path: Path) -> None:
    key = tmp_path / "config" / "bioreactor" / "model-signing.key"
    first = save_model(tiny_model(), tmp_path / "a.joblib", key_path=key)
    assert len(key.read_bytes()) == signing.KEY_BYTES
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) & 0o077 == 0
    created = key.read_bytes()
    second = save_model(tiny_model(), tmp_path / "b.joblib", key_path=key)
    assert key.read_bytes() == created
    assert _split(first.read_bytes())[0]["key_id"] == _split(second.read_bytes())[0]["key_id"]
    assert [p.name for p in key.parent.iterdir()] == [key.name]


def test_key_readable_by_others_is_refused(saved: Path, tmp_path: Path, signing_key: Path) -> None:
    exposed = tmp_path / "exposed.key"
    exposed.write_bytes(signing_key.read_bytes())
    exposed.chmod(0o644)
    with pytest.raises(IncompatibleModelError, match=r"mode 0644.*chmod 600"):
        load_model(saved, key_path=exposed)
    exposed.chmod(0o640)  # a service group may read it
    assert load_model(saved, key_path=exposed).card == tiny_model().card


def test_short_key_is_refused(saved: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"secret")
    short.chmod(0o600)
    with pytest.raises(IncompatibleModelError, match="holds 6 bytes, fewer than 32"):
        load_model(saved, key_path=short)


def test_default_key_is_in_the_user_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(signing.KEY_ENV)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    save_model(tiny_model(), tmp_path / "m.joblib")
    assert (tmp_path / ".config" / "bioreactor" / "model-signing.key").is_file()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert signing.key_file() == tmp_path / "xdg" / "bioreactor" / "model-signing.key"


def test_other_format_version_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _resign(saved, tmp_path / "m.joblib", {"format_version": 3})
    with pytest.raises(IncompatibleModelError, match="has model format 3, this code reads 2; retrain"):
        load_model(path)


def test_other_feature_set_is_refused(saved: Path, tmp_path: Path) -> None:
    features = [*FEATURE_NAMES[:-1], "osmolality"]
    path = _resign(saved, tmp_path / "m.joblib", {}, {"features": features})
    with pytest.raises(IncompatibleModelError, match=r"different feature set.*osmolality"):
        load_model(path)


@pytest.mark.parametrize("version", ["0.24.2", "1.0.1", "2.9.0"])
def test_other_sklearn_minor_version_is_refused(saved: Path, tmp_path: Path, version: str) -> None:
    versions = {**tiny_model().card.versions, "scikit-learn": version}
    path = _resign(saved, tmp_path / "m.joblib", {}, {"versions": versions})
    with pytest.raises(IncompatibleModelError, match=f"scikit-learn {version}.*retrain"):
        load_model(path)


def test_body_pickled_with_other_sklearn_is_refused(saved: Path, tmp_path: Path) -> None:
    path = _resign(saved, tmp_path / "m.joblib", {"pickled_with": {**library_versions(), "scikit-learn": "1.0.1"}})
    with pytest.raises(IncompatibleModelError, match=r"saved with scikit-learn 1\.0\.1.*retrain"):
        load_model(path)


def test_same_minor_other_patch_is_accepted(saved: Path, tmp_path: Path) -> None:
    major, minor = sklearn.__version__.split(".")[:2]
    versions = {**tiny_model().card.versions, "scikit-learn": f"{major}.{minor}.99"}
    path = _resign(saved, tmp_path / "m.joblib", {}, {"versions": versions})
    assert load_model(path).card.versions["scikit-learn"].endswith(".99")


def test_foreign_and_missing_files_are_refused(tmp_path: Path) -> None:
    joblib.dump({"weights": [1, 2]}, tmp_path / "other.joblib")
    with pytest.raises(IncompatibleModelError, match="is an unsigned pickle, not a signed model file"):
        load_model(tmp_path / "other.joblib")
    (tmp_path / "text.joblib").write_text("hello")
    with pytest.raises(IncompatibleModelError, match="is not a bioreactor-feed-model file"):
        load_model(tmp_path / "text.joblib")
    (tmp_path / "empty.joblib").write_bytes(b"")
    with pytest.raises(IncompatibleModelError, match="is truncated: it ends after 0 bytes"):
        load_model(tmp_path / "empty.joblib")
    (tmp_path / "bad.joblib").write_bytes(MAGIC + b"{not json\n")
    with pytest.raises(IncompatibleModelError, match="is damaged: its header is not valid JSON"):
        load_model(tmp_path / "bad.joblib")
    with pytest.raises(IncompatibleModelError, match="no model file"):
        load_model(tmp_path / "absent.joblib")


def test_ensure_model_keeps_an_existing_file(tmp_path: Path) -> None:
    path = save_model(tiny_model(), tmp_path / "feed_model.joblib")
    before = path.stat().st_mtime_ns
    assert ensure_model(path) == path
    assert path.stat().st_mtime_ns == before
