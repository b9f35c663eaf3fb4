"""Equality of records that hold numpy arrays, so a profile read back can be compared with the one saved.

A dataclass compares its fields with ``==``, which for arrays is element-wise and
has no truth value; and NaN (an unknown quantile, an empty envelope bin) is not
equal to itself. :func:`equal` compares arrays by shape and values, NaN equal to NaN.

>>> import numpy as np
>>> equal({"a": (np.array([1.0, np.nan]), float("nan"))}, {"a": (np.array([1.0, np.nan]), float("nan"))})
True
>>> equal(np.zeros(2), np.zeros(3)), equal([1.0], (1.0,))
(False, False)
"""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass

import numpy as np


def equal(a: object, b: object) -> bool:
    """Deep equality of dataclasses, dicts, tuples, lists, arrays and numbers (NaN equals NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.shape == b.shape
            and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
        )
    if is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(equal(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(equal, a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
