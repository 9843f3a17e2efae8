"""The checker in the subnormal range: rounding there is absolute (one spacing of
``smallest_subnormal``), not relative, so a correct gradient whose values are subnormal
must not be reported as wrong.  Finite differences of such a function underflow to 0;
the AD gradient is exact (hand computed below) and the verdict must be PASS."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga


@pytest.mark.parametrize(
    ("dtype", "scale"), [(np.float64, 1e-160), (np.float32, np.float32(1e-21))]
)
def test_correct_gradient_with_subnormal_values_passes(dtype, scale):
    rng = np.random.default_rng(0)
    xv = rng.uniform(1, 2, size=50).astype(dtype)
    yv = rng.uniform(1, 2, size=50).astype(dtype)
    with ga.Graph():
        x = ga.symbol("x", dtype=np.dtype(dtype).name)
        y = ga.symbol("y", dtype=np.dtype(dtype).name)
        f = ga.sum((x * scale) * (y * scale))
        gx = ga.grad(f, x).eval(x=xv, y=yv)
        # hand computed: d/dx sum(s*x * s*y) = s*s*y, subnormal for both dtypes
        expected = (yv * scale) * scale
        assert np.all(np.abs(expected) < np.finfo(dtype).tiny) and np.all(expected != 0)
        np.testing.assert_allclose(
            gx, expected, rtol=0, atol=4 * np.finfo(dtype).smallest_subnormal
        )
        report = ga.check_grad(f, {"x": xv, "y": yv})
    assert report.ok, str(report)


def test_a_wrong_gradient_at_normal_scale_still_fails():
    # the subnormal floor is absolute and tiny: it must not hide an error at normal scale
    rng = np.random.default_rng(1)
    xv = rng.uniform(1, 2, size=20)

    def wrong_vjp(g, a):
        return [g * 1.01 * ga.cos(a)]

    op = ga.defop("subnormal_test_sin", np.sin, vjp=wrong_vjp)
    with ga.Graph():
        x = ga.symbol("x")
        report = ga.check_grad(ga.sum(op(x) * 1e-200), {"x": xv})
    assert not report.ok
