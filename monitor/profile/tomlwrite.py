"""A small TOML writer with comments, for files people read: tables, keys, a comment after a value.

Python reads TOML (``tomllib``) but does not write it, and the writers on PyPI
do not write comments, which is what makes a profile readable ("% air sat.",
"learnt from the signal"). A profile holds only strings, numbers, booleans, a
date, lists and small tables, so a writer of those is a few lines (TOML 1.0,
https://toml.io/en/v1.0.0). ``None`` has no TOML form: a key whose value is
``None`` is left out, and the reader takes a missing key as ``None``.

>>> import tomllib
>>> doc = TomlDocument("A demo.")
>>> doc.set("name", 'Reactor "7"')
>>> doc.table("noise", "1-sigma measurement noise")
>>> doc.set("do", 0.7, "% air sat.")
>>> doc.set("spread", {"q01": float("nan"), "q99": 1e-05})
>>> doc.set("skipped", None)
>>> doc.set("batches", [f"S7-B{i:03d}" for i in range(12)])
>>> print(doc.text(), end="")
# A demo.
name = "Reactor \\"7\\""
<BLANKLINE>
[noise]  # 1-sigma measurement noise
do = 0.7  # % air sat.
spread = { q01 = nan, q99 = 1e-05 }
batches = [
    "S7-B000", "S7-B001", "S7-B002", "S7-B003", "S7-B004", "S7-B005", "S7-B006", "S7-B007", "S7-B008",
    "S7-B009", "S7-B010", "S7-B011",
]
>>> tomllib.loads(doc.text())["noise"]["do"]
0.7
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

#: A line longer than this puts a list's items on lines of their own.
LINE_LENGTH = 100

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# TOML basic strings may not hold control characters (other than tab) or DEL unescaped.
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def string(text: str) -> str:
    """``text`` as a TOML basic string.

    >>> print(string('a\\tb "c" \\x7f'))
    "a\\tb \\"c\\" \\u007F"
    """
    escaped = "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04X}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in text)
    return f'"{escaped}"'


def key(name: str) -> str:
    """A key, quoted unless it is bare (letters, digits, ``_`` and ``-``).

    >>> key("do"), key("S5-B001"), key("run 7")
    ('do', 'S5-B001', '"run 7"')
    """
    return name if _BARE_KEY.match(name) else string(name)


def value(item: object) -> str:
    """A value in TOML: bool, int, float (``nan`` and ``inf`` too), str, datetime, list, inline table."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        if math.isnan(item):
            return "nan"
        return repr(item) if math.isfinite(item) else ("inf" if item > 0 else "-inf")
    if isinstance(item, str):
        return string(item)
    if isinstance(item, datetime):
        return item.isoformat()
    if isinstance(item, Mapping):
        return "{ " + ", ".join(f"{key(k)} = {value(v)}" for k, v in item.items() if v is not None) + " }"
    if isinstance(item, Sequence):
        return "[" + ", ".join(value(v) for v in item) + "]"
    raise TypeError(f"no TOML form for {type(item).__name__}: {item!r}")


def _wrapped(words: list[str], indent: str = "    ") -> list[str]:
    """``words`` on lines of at most :data:`LINE_LENGTH` characters (a longer word alone)."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= LINE_LENGTH:
            lines[-1] += " " + word
        else:
            lines.append(indent + word)
    return lines


class TomlDocument:
    """A TOML text built table by table, each key with an optional trailing comment."""

    def __init__(self, header: str = "") -> None:
        self._lines = [f"# {line}".rstrip() for line in header.splitlines()]

    def table(self, name: str, comment: str = "") -> None:
        """Start table ``[name]`` (dotted for sub-tables: ``setpoints.do``)."""
        dotted = ".".join(key(part) for part in name.split("."))
        self._lines += ["", f"[{dotted}]" + (f"  # {comment}" if comment else "")]

    def set(self, name: str, item: object, comment: str = "") -> None:
        """Write ``name = item`` in the current table; nothing when ``item`` is None."""
        if item is None:
            return
        line = f"{key(name)} = {value(item)}"
        if len(line) > LINE_LENGTH and isinstance(item, Sequence) and not isinstance(item, str):
            line = f"{key(name)} = [\n" + "\n".join(_wrapped([value(v) + "," for v in item])) + "\n]"
        self._lines.append(line + (f"  # {comment}" if comment else ""))

    def text(self) -> str:
        """The document, ending with a newline."""
        return "\n".join(self._lines) + "\n"
