"""A test-only NumPy array that counts the array operations done on it: every ufunc call (one pass over
memory: ``+``, ``*=``, ``np.sqrt``...) and every other NumPy function called on it.

``counted(array)`` views an array as one; views and results of counted arrays are counted arrays too, so an
optimizer step on counted parameters and gradients counts everything the step does to them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

OPERATIONS: Counter = Counter()  # operation name -> calls since the last ``OPERATIONS.clear()``


class CountedArray(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        OPERATIONS[ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"] += 1
        inputs = tuple(x.view(np.ndarray) if isinstance(x, CountedArray) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(x.view(np.ndarray) if isinstance(x, CountedArray) else x for x in kwargs["out"])
        result = getattr(ufunc, method)(*inputs, **kwargs)
        return result.view(CountedArray) if isinstance(result, np.ndarray) else result

    def __array_function__(self, func, types, args, kwargs):
        OPERATIONS[func.__name__] += 1
        return super().__array_function__(func, types, args, kwargs)


def counted(array: np.ndarray) -> CountedArray:
    return array.view(CountedArray)
