"""Files written whole or not at all.

A monitor reloads its model when the file changes and a dashboard reads a profile
while it may be refitted: a reader must never see half a file. Data goes to a
temporary file beside the destination (same file system), which then replaces it.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "sub" / "a.txt"
>>> write_atomically(path, b"one"); write_atomically(path, b"two")
>>> path.read_bytes(), sorted(p.name for p in path.parent.iterdir())
(b'two', ['a.txt'])
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (parent folders created), replacing it in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer, so two processes saving at once do not share a temporary file.
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
