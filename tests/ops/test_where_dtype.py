"""``where``'s static dtype is NumPy's: the promotion of the two branches, Python scalars
weakly typed, the condition not taking part.  Before, a Python-scalar branch left the
dtype unknown, and every gradient of a ``where`` (which holds ``where(c, g, 0.0)``)
carried unknown dtypes downstream."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga

BRANCHES = [
    ("float64", 1.0),
    ("float32", 1.0),
    ("float32", 2),
    ("int32", 1.5),
    ("int32", 2),
    ("int64", True),
    ("float16", 0.5),
]


@pytest.mark.parametrize(("dtype", "scalar"), BRANCHES)
@pytest.mark.parametrize("scalar_first", [True, False])
def test_where_dtype_is_numpys(dtype, scalar, scalar_first):
    arr = np.ones(3, dtype=dtype)
    with ga.Graph():
        x = ga.symbol("x", shape=(3,), dtype=dtype)
        a, b = (scalar, x) if scalar_first else (x, scalar)
        e = ga.where(x > 0, a, b)
        na, nb = (scalar, arr) if scalar_first else (arr, scalar)
        want = np.where(arr > 0, na, nb).dtype
        assert e.dtype == want
        assert e.eval(x=arr).dtype == want


def test_where_gradient_has_static_dtypes():
    with ga.Graph():
        x = ga.symbol("x", shape=(), dtype="float32")
        g = ga.grad(ga.where(x > 0, x * x, 0.5), x)
        assert g.dtype == np.float32
        assert g.eval(x=np.float32(3.0)).dtype == np.float32
