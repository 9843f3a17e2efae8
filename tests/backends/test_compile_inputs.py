"""Compiled Functions refuse values that are not real numbers with a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.backends import kernels

BACKENDS = ["auto", "numpy"] + (["numba"] if kernels.available() else [])
COMPLEX = [1j, np.complex128(2.0), np.array([1.0 + 1j]), np.array(1j), np.array(1.0, np.complex64)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("declared", [False, True])
@pytest.mark.parametrize("ops", [1, 20])  # 20 ops: the VM's fast callers (backend auto)
def test_complex_inputs_are_refused_by_name(backend, declared, ops):
    with ga.Graph():
        x = ga.symbol("x", shape=(), dtype="float64") if declared else ga.symbol("x")
        y = ga.symbol("y")
        e = x * y
        for k in range(1, ops):
            e = e + x * float(k)
        f = ga.compile(e, inputs=[x, y], backend=backend)
        assert float(f(2.0, 3.0)) == 6.0 + 2.0 * sum(range(1, ops))  # by hand
        for v in COMPLEX:
            with pytest.raises(ga.DTypeError, match=r"input 'x': complex numbers are not supp"):
                f(v, 3.0)
        # the failed calls changed nothing: real numbers still run, same signature list
        assert float(f(2.0, 3.0)) == 6.0 + 2.0 * sum(range(1, ops))
        with pytest.raises(ga.DTypeError, match=r"input 'y': expected numbers, got dtype <U1"):
            f(2.0, "a")
