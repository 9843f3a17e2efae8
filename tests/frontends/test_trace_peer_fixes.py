"""Regressions the peer suite (benchmarks/peer_suite) found in the function transformations."""

import numpy as np
import pytest

import graphad as ga


def test_jvp_keeps_python_float_tangents_float64():
    # NumPy 2 types result_type(0.3, float16) as float16: the tangent was rounded to 3 digits
    with ga.Graph():
        y, t = ga.jvp(lambda x: 3.0 * ga.sin(x), (0.7,), (0.3,))
    assert float(y) == 3.0 * np.sin(0.7)
    assert np.asarray(t).dtype == np.float64
    assert abs(float(t) - 3.0 * np.cos(0.7) * 0.3) < 1e-15
    with ga.Graph():
        _, t = ga.jvp(lambda x: -x, (0.7,), (0.3,))
    assert np.asarray(t).dtype == np.float64 and float(t) == -0.3


def test_jvp_float32_and_int_tangents():
    with ga.Graph():
        _, t32 = ga.jvp(lambda x: x * 2.0, (np.float32(1.5),), (np.float32(0.1),))
        _, ti = ga.jvp(lambda x: x * 2.0, (1.5,), (1,))
    assert np.asarray(t32).dtype == np.float32 and float(t32) == np.float32(0.1) * 2
    assert np.asarray(ti).dtype == np.float64 and float(ti) == 2.0


def test_transformation_called_on_constants_inside_a_trace_sees_the_closure():
    # autograd's test_enclosing_scope_ref: d/dx [x * d/dy (x y)] at y = 2 is 2x
    with ga.Graph():
        assert ga.grad(lambda x: x * ga.grad(lambda y: x * y)(2.0))(1.0) == 2.0
        assert ga.grad(lambda x: x * ga.grad(lambda y: y * x)(2.0))(3.0) == 6.0
        # a constant-only inner transformation still computes its value
        assert ga.jit(lambda x: x + ga.grad(lambda y: y**2)(3.0))(1.0) == 7.0
        # and the old behaviour outside any trace is unchanged
        assert ga.grad(lambda y: y**3)(2.0) == 12.0


def test_complex_arguments_are_refused_by_name():
    with ga.Graph():
        f = ga.grad(lambda x: ga.sum(ga.sin(x)))
        with pytest.raises(ga.DTypeError, match="complex numbers are not supported"):
            f(np.array([1.0 + 2.0j]))
        with pytest.raises(ga.DTypeError, match="argument 0: complex numbers"):
            ga.jit(lambda x: x * 2.0)(np.array([1j]))
        with pytest.raises(ga.GraphadError, match="type complex"):  # a Python complex
            ga.jit(lambda x: x * 2.0)(1j)
