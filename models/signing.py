"""Signed model files: a plain header and a pickled body, authenticated by a per-installation key.

Unpickling runs whatever code the file names, so a pickle must be known to come
from a trusted writer *before* it is loaded. A signed file is::

    MAGIC                           one line naming the format, e.g. b"bioreactor-feed-model\\n"
    header                          one line of JSON (UTF-8): the caller's metadata plus
                                    body_size, body_sha256 and key_id
    body                            body_size bytes (the pickle)
    signature                       32 bytes: HMAC-SHA256 of everything above, keyed by the
                                    installation's signing key

:func:`unseal` checks the layout with nothing but byte slicing and :mod:`json`,
then the signature with :func:`hmac.compare_digest`, and only returns the body
once both pass; nothing in this module unpickles anything. The header stays
readable (``head -n 2 FILE``) so a file can be inspected without trusting it.

The key is a file of random bytes, created on the first save (mode 0600, in a
0700 folder) at :func:`key_file` (``$BIOREACTOR_MODEL_KEY_FILE``, else
``$XDG_CONFIG_HOME/bioreactor/model-signing.key``, else
``~/.config/bioreactor/model-signing.key``). Whoever can read it can sign
files this installation will load, so it must not be readable by other users.

>>> import tempfile, pathlib
>>> key = pathlib.Path(tempfile.mkdtemp()) / "signing.key"
>>> sealed = seal(b"demo\\n", {"note": "hi"}, b"body bytes", key)
>>> unseal(b"demo\\n", sealed, key)
({'note': 'hi', 'body_size': 10, 'body_sha256': '...', 'key_id': '...'}, b'body bytes')
>>> unseal(b"demo\\n", sealed[:-1] + b"?", key)
Traceback (most recent call last):
...
models.signing.UntrustedFileError: has been modified since it was saved: its signature does not match
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Environment variable naming the signing key file (overrides the default location).
KEY_ENV = "BIOREACTOR_MODEL_KEY_FILE"
#: Length of a newly created key; a shorter key file is refused.
KEY_BYTES = 32
SIGNATURE_BYTES = hashlib.sha256().digest_size
#: The header is a few kilobytes; the bound keeps a foreign file from being scanned to its end.
MAX_HEADER_BYTES = 1 << 20
#: Group or other permissions that would let someone else read the key, or replace it.
_UNSAFE_KEY_MODE = stat.S_IWGRP | stat.S_IRWXO
#: How pickles and joblib files (plain or compressed) start; named in the error so an old,
#: unsigned model is not reported as an unknown file.
_PICKLE_PREFIXES = (
    b"\x80",  # pickle protocol 2 and later
    b"\x78",  # zlib (joblib's default compression)
    b"\x1f\x8b",  # gzip
    b"BZh",  # bz2
    b"\xfd7zXZ",  # xz
    b"\x5d\x00\x00",  # lzma
    b"\x04\x22\x4d\x18",  # lz4
    b"ZF",  # joblib < 0.10 compressed files
)
_ENVELOPE_FIELDS = ("body_size", "body_sha256", "key_id")


class UntrustedFileError(ValueError):
    """A file that must not be unpickled; the message continues a sentence starting with its path."""


class SigningKeyError(UntrustedFileError):
    """The signing key is missing, too short or readable by others, so nothing can be verified."""


def key_file(explicit: Path | None = None) -> Path:
    """The signing key's path: ``explicit``, else ``$BIOREACTOR_MODEL_KEY_FILE``, else the user config folder.

    >>> key_file(Path("/tmp/k"))
    PosixPath('/tmp/k')
    """
    if explicit is not None:
        return explicit
    if named := os.environ.get(KEY_ENV):
        return Path(named).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "bioreactor" / "model-signing.key"


def read_key(path: Path) -> bytes:
    """The key stored at ``path``; :class:`SigningKeyError` if it is missing, short or exposed.

    Raises
    ------
    SigningKeyError
        If there is no key file, it holds fewer than :data:`KEY_BYTES` bytes, or
        other users could read it or the group could replace it (either would let
        them sign model files this installation loads).
    """
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            key = handle.read()
    except FileNotFoundError:
        raise SigningKeyError(
            f"cannot be verified: there is no model-signing key at {path} (it is created when this "
            f"installation first saves a model; set {KEY_ENV} to the key file of the installation "
            "that saved this one)"
        ) from None
    except OSError as error:
        raise SigningKeyError(f"cannot be verified: the model-signing key {path} is unreadable: {error}") from None
    if os.name == "posix" and mode & _UNSAFE_KEY_MODE:
        raise SigningKeyError(
            f"cannot be verified: the model-signing key {path} has mode {stat.S_IMODE(mode):04o}, so other "
            f"users could read or replace it and sign files; run `chmod 600 {path}`"
        )
    if len(key) < KEY_BYTES:
        raise SigningKeyError(
            f"cannot be verified: the model-signing key {path} holds {len(key)} bytes, fewer than "
            f"{KEY_BYTES}; delete it to have a new one created on the next save (models saved "
            "with the old key must then be retrained)"
        )
    return key


def ensure_key(path: Path) -> bytes:
    """The key at ``path``, first created there with :data:`KEY_BYTES` random bytes if absent.

    A new key is written to a private temporary file and then hard-linked into
    place, so a concurrent save never sees a partly written key, and the first of
    two concurrent creators wins instead of one silently replacing the other's key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            # FileExistsError: another process created the key meanwhile, so use theirs
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
    return read_key(path)


def key_id(key: bytes) -> str:
    """A short public identifier of ``key``, stored in headers to tell "another key" from "tampered".

    It is an HMAC of a fixed label, so it reveals nothing usable about the key.
    """
    return hmac.new(key, b"bioreactor model-signing key id", hashlib.sha256).hexdigest()[:16]


def _signature(key: bytes, signed: bytes | memoryview) -> bytes:
    return hmac.new(key, signed, hashlib.sha256).digest()


def seal(magic: bytes, header: Mapping[str, Any], body: bytes, key_path: Path) -> bytes:
    """The signed file holding ``body`` under ``header`` (plus size, SHA-256 and key id).

    The key at ``key_path`` is created on first use (:func:`ensure_key`).
    ``header`` must be JSON-serialisable; its keys must not be the envelope's
    own names (``body_size``, ``body_sha256``, ``key_id``).
    """
    if clash := sorted(set(header) & set(_ENVELOPE_FIELDS)):
        raise ValueError(f"header fields {clash} are reserved for the signed envelope")
    key = ensure_key(key_path)
    full = {
        **header,
        "body_size": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "key_id": key_id(key),
    }
    # ensure_ascii keeps the header one line of plain ASCII whatever the metadata holds
    line = json.dumps(full, ensure_ascii=True, separators=(",", ":")).encode("ascii") + b"\n"
    signed = magic + line + body
    return signed + _signature(key, signed)


def unseal(magic: bytes, data: bytes, key_path: Path) -> tuple[dict[str, Any], bytes]:
    """The header and body of the signed file ``data``, once its signature checks out.

    Parameters
    ----------
    magic
        The first line every file of this kind starts with.
    data
        The whole file.
    key_path
        The installation's signing key; it is read only after the layout checks,
        so a foreign or truncated file is reported as such even without a key.

    Raises
    ------
    UntrustedFileError
        If ``data`` is not a signed file (an unsigned pickle, any other file), is
        truncated, has no signature, was signed with another key, or was changed
        after signing. :class:`SigningKeyError` if the key cannot be used.
    """
    if not data.startswith(magic):
        if data.startswith(_PICKLE_PREFIXES):
            raise UntrustedFileError(
                "is an unsigned pickle, not a signed model file (a model saved before model files "
                "were signed, or a file from elsewhere)"
            )
        if magic.startswith(data):
            raise UntrustedFileError(f"is truncated: it ends after {len(data)} bytes, inside the format line")
        raise UntrustedFileError(f"is not a {_name(magic)} file: it does not start with the format line")
    start = len(magic)
    end = data.find(b"\n", start, start + MAX_HEADER_BYTES + 1)
    if end < 0:
        if len(data) - start <= MAX_HEADER_BYTES:
            raise UntrustedFileError(f"is truncated: it ends after {len(data)} bytes, inside the header")
        raise UntrustedFileError(f"is damaged: its header line is longer than {MAX_HEADER_BYTES} bytes")
    header = _header(data[start:end])
    body_start = end + 1
    expected = body_start + header["body_size"] + SIGNATURE_BYTES
    if len(data) == expected - SIGNATURE_BYTES:
        raise UntrustedFileError("is unsigned: there is no signature after its body")
    if len(data) < expected:
        raise UntrustedFileError(f"is truncated: it has {len(data)} bytes, its header announces {expected}")
    if len(data) > expected:
        raise UntrustedFileError(f"is damaged: {len(data) - expected} unexpected bytes follow its signature")
    key = read_key(key_path)
    view = memoryview(data)
    body = data[body_start:-SIGNATURE_BYTES]
    if not hmac.compare_digest(_signature(key, view[:-SIGNATURE_BYTES]), data[-SIGNATURE_BYTES:]):
        # the signature alone decides; the header only helps to say what went wrong
        raise UntrustedFileError(_mismatch(header, body, key, key_path))
    return header, body


def _name(magic: bytes) -> str:
    return magic.decode("ascii", errors="replace").strip()


def _header(line: bytes) -> dict[str, Any]:
    """The header line parsed as JSON, with the envelope fields' types checked."""
    try:
        header = json.loads(line)
    except ValueError:  # bad UTF-8 or JSON alike
        raise UntrustedFileError("is damaged: its header is not valid JSON") from None
    if not isinstance(header, dict):
        raise UntrustedFileError("is damaged: its header is not a JSON object")
    size, digest, signer = (header.get(name) for name in _ENVELOPE_FIELDS)
    if not (isinstance(size, int) and size >= 0 and isinstance(digest, str) and isinstance(signer, str)):
        raise UntrustedFileError(f"is damaged: its header lacks a valid {', '.join(_ENVELOPE_FIELDS)}")
    return header


def _mismatch(header: Mapping[str, Any], body: bytes, key: bytes, key_path: Path) -> str:
    """Why a signature failed to match, as far as the (untrusted) header can tell."""
    # plain comparisons: these only word the refusal, the signature check has already decided
    here = key_id(key)
    if header["key_id"] != here:
        return (
            f"was signed with another installation's key (key id {header['key_id']}; this installation's "
            f"key {key_path} has id {here}); set {KEY_ENV} to the key that signed it"
        )
    if header["body_sha256"] != hashlib.sha256(body).hexdigest():
        return "has been modified or damaged since it was saved: its body does not match its header's SHA-256"
    return "has been modified since it was saved: its signature does not match"
