"""Op-table-driven sweep: every public op is tested the moment it is declared.

For each op and each case: NumPy value vs SymPy (scalars), VJP vs central
finite differences along random directions, JVP vs VJP by the inner-product
identity, the static shape rule vs NumPy's actual shape, and the same
gradient with shapes unknown at build time (dynamic ``sum_to``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphad as ga
from graphad.ops import OPS

# zeros_like/ones_like are public but constant in their input: nothing to sweep
FILLS = {"zeros_like", "ones_like"}
NOT_DIFFERENTIABLE = {
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "equal",
    "not_equal",
    "sign",
    "stop_gradient",
}

ELEMENTWISE_SHAPES = {
    1: [[()], [(3, 1)], [(2, 3, 4)]],
    2: [[(), ()], [(3, 1), (1, 4)], [(2, 3, 4), (3, 4)], [(), (2, 3)]],
    3: [[(), (), ()], [(3, 1), (1, 4), ()], [(2, 3, 4), (3, 4), (4,)]],
}
# ops whose arguments are not interchangeable shapes: explicit cases (shapes, params)
CASES: dict[str, list[tuple[list, dict]]] = {
    "matmul": [
        ([(3, 4), (4, 2)], {}),
        ([(4,), (4, 2)], {}),
        ([(3, 4), (4,)], {}),
        ([(4,), (4,)], {}),
        ([(2, 3, 4), (4, 5)], {}),
        ([(2, 1, 3, 4), (5, 4, 2)], {}),
    ],
    "dot": [
        ([(2, 3, 4), (5, 4, 2)], {}),
        ([(2, 3, 4), (4,)], {}),
        ([(3,), (2, 3, 4)], {}),
        ([(), (2, 3)], {}),
    ],
    "transpose": [
        ([(2, 3, 4)], {"axes": None}),
        ([(2, 3, 4)], {"axes": (1, 0, 2)}),
        ([(3, 2)], {"axes": None}),
    ],
    "reshape": [
        ([(2, 3, 4)], {"shape": (-1,)}),
        ([(2, 3, 4)], {"shape": (4, 6)}),
        ([(6,)], {"shape": (2, 1, 3)}),
    ],
    "broadcast_to": [([(3, 1)], {"shape": (2, 3, 4)}), ([()], {"shape": (2,)})],
    "concatenate": [
        ([(2, 3), (4, 3)], {"axis": 0}),
        ([(2, 3), (2, 1), (2, 2)], {"axis": 1}),
        ([(3,), (2,)], {"axis": -1}),
    ],
    "stack": [([(2, 3), (2, 3)], {"axis": 0}), ([(2, 3), (2, 3), (2, 3)], {"axis": -1})],
    "getitem": [
        ([(5,)], {"index": (("slice", 1, None, None),)}),
        ([(3, 4)], {"index": (("slice", None, None, None), 2)}),
        ([(3, 4)], {"index": (1, ("slice", None, None, -2))}),
    ],
    "softmax": [([(5,)], {"axis": -1}), ([(2, 3, 4)], {"axis": 0}), ([(2, 3)], {"axis": -1})],
    "log_softmax": [([(5,)], {"axis": -1}), ([(2, 3, 4)], {"axis": 1})],
}
for _r in ("sum", "mean", "prod", "max", "min", "logsumexp"):
    CASES[_r] = [
        ([()], {}),
        ([(5,)], {}),
        ([(2, 3, 4)], {"axis": -1}),
        ([(2, 3, 4)], {"axis": 0, "keepdims": True}),
        ([(2, 3, 4)], {"axis": (0, 2)}),
    ]
_FUNCS = {"concatenate": ga.concatenate, "stack": ga.stack}


def _cases():
    for name in sorted(OPS):
        op = OPS[name]
        if op.internal or op.custom or name in FILLS:
            continue
        if name in CASES:
            for i, (shapes, params) in enumerate(CASES[name]):
                yield pytest.param(name, shapes, params, id=f"{name}-{i}")
        else:
            assert op.elementwise, f"op {name} needs explicit test cases"
            for i, shapes in enumerate(ELEMENTWISE_SHAPES[op.nargs]):
                yield pytest.param(name, shapes, {}, id=f"{name}-{i}")


def _sample(op, shapes, rng):
    domain = op.domain or [(-2.0, 2.0)] * len(shapes)
    if len(domain) < len(shapes):  # variadic ops share the first interval
        domain = [domain[0]] * len(shapes)
    out = []
    for (lo, hi), s in zip(domain, shapes, strict=True):
        out.append(rng.uniform(lo, hi, size=s).astype(np.float64))
    if op.name == "clip":  # keep x away from the bounds: the kinks are tested separately
        centers = rng.choice([-1.8, -0.6, 0.0, 0.6, 1.8], size=shapes[0])
        out[0] = centers + rng.uniform(-0.15, 0.15, size=shapes[0])
        out[1] = rng.uniform(-1.5, -1.3, size=shapes[1])
        out[2] = rng.uniform(1.3, 1.5, size=shapes[2])
    return out


def _build(name, syms, params):
    if OPS[name].nargs is None:
        return _FUNCS[name](list(syms), **params)
    fn = getattr(ga, name)
    return fn(*syms, **params)


def _numpy(name, values, params):
    op = OPS[name]
    if name in ("sum", "mean", "prod", "max", "min", "logsumexp"):
        params = {"axis": None, "keepdims": False, **params}
    return np.asarray(op.impl(*values, **params), dtype=np.float64)


def _fd_directional(name, values, params, v, u, h=1e-6):
    plus = [a + h * d for a, d in zip(values, v, strict=True)]
    minus = [a - h * d for a, d in zip(values, v, strict=True)]
    fp = np.sum(u * _numpy(name, plus, params))
    fm = np.sum(u * _numpy(name, minus, params))
    return (fp - fm) / (2 * h)


@pytest.mark.parametrize(("name", "shapes", "params"), list(_cases()))
@pytest.mark.parametrize("static", [True, False], ids=["static", "dynamic"])
def test_op_table(name, shapes, params, static):
    op = OPS[name]
    rng = np.random.default_rng(abs(hash((name, str(shapes), str(params)))) % 2**32)
    values = _sample(op, shapes, rng)
    with ga.Graph():
        syms = [ga.symbol(f"a{i}", shape=s if static else None) for i, s in enumerate(shapes)]
        out = _build(name, syms, params)
        feed = {f"a{i}": v for i, v in enumerate(values)}
        got = out.eval(feed)
        want = _numpy(name, values, params)
        # value and shape rule vs NumPy
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=1e-12)
        if static:
            assert out.shape == want.shape, f"{name}: static shape {out.shape} != {want.shape}"
        if name in NOT_DIFFERENTIABLE:
            for gr in ga.grad(ga.sum(out), syms):
                assert np.all(np.asarray(gr.eval(feed)) == 0)
            return
        # VJP vs central finite differences along a random direction
        u = rng.standard_normal(want.shape)
        v = [rng.standard_normal(s) for s in shapes]
        cots = ga.vjp(out, syms, [u])
        vjp_vals = [np.asarray(c.eval(feed)) for c in cots]
        for c, s in zip(vjp_vals, shapes, strict=True):
            assert c.shape == s, f"{name}: cotangent shape {c.shape} != input shape {s}"
        lhs = sum(float(np.sum(c * d)) for c, d in zip(vjp_vals, v, strict=True))
        fd = _fd_directional(name, values, params, v, u)
        assert lhs == pytest.approx(fd, rel=1e-5, abs=1e-6), f"{name}: VJP {lhs} vs FD {fd}"
        # JVP vs VJP: <u, J v> == <J^T u, v>
        t = ga.jvp(out, {s: d for s, d in zip(syms, v, strict=True)})
        jv = np.asarray(t.eval(feed))
        assert np.shape(jv) == want.shape
        assert float(np.sum(u * jv)) == pytest.approx(lhs, rel=1e-9, abs=1e-10)


def _sympy_cases():
    for name in sorted(OPS):
        op = OPS[name]
        if op.internal or op.custom or name in FILLS or op.sympy is None or name in CASES:
            continue
        if op.elementwise:
            yield name


@pytest.mark.parametrize("name", list(_sympy_cases()))
def test_value_and_derivatives_match_sympy(name):
    sympy = pytest.importorskip("sympy")
    op = OPS[name]
    rng = np.random.default_rng(7)
    values = [float(v) for v in _sample(op, [()] * op.nargs, rng)]
    with ga.Graph():
        syms = [ga.symbol(f"a{i}") for i in range(op.nargs)]
        out = _build(name, syms, {})
        sp_syms = [sympy.Symbol(f"a{i}", real=True) for i in range(op.nargs)]
        sp_expr = op.sympy(sympy, *sp_syms)
        subs = dict(zip(sp_syms, values, strict=True))
        feed = {f"a{i}": v for i, v in enumerate(values)}
        assert float(out.eval(feed)) == pytest.approx(float(sp_expr.subs(subs)), rel=1e-12)
        if name in NOT_DIFFERENTIABLE:
            return
        grads = ga.grad(out, syms)
        for s, sp_s, g in zip(syms, sp_syms, grads, strict=True):
            want = float(sympy.diff(sp_expr, sp_s).subs(subs))
            assert float(g.eval(feed)) == pytest.approx(want, rel=1e-10, abs=1e-12), s.name
            # second derivatives: rules' own gradients (grad of grad)
            g2 = ga.grad(g, s)
            want2 = float(sympy.diff(sp_expr, sp_s, 2).subs(subs))
            assert float(g2.eval(feed)) == pytest.approx(want2, rel=1e-9, abs=1e-10), s.name


def test_every_public_op_has_a_test_case():
    covered = set(CASES) | {n for n in OPS if OPS[n].elementwise}
    public = {n for n in OPS if not OPS[n].internal and not OPS[n].custom} - FILLS
    assert public <= covered


@pytest.mark.parametrize(
    "name", ["matmul", "max", "logsumexp", "softmax", "concatenate", "stack", "prod", "transpose"]
)
def test_second_order_through_structured_ops(name):
    """Hessian-vector products through rules whose VJPs are themselves ops."""
    rng = np.random.default_rng(3)
    shapes, params = CASES[name][1]
    values = _sample(OPS[name], shapes, rng)
    with ga.Graph():
        syms = [ga.symbol(f"a{i}", shape=s) for i, s in enumerate(shapes)]
        out = _build(name, syms, params)
        f = ga.sum(ga.sin(out) * out)  # non-linear on top so second derivatives are non-zero
        feed = {f"a{i}": v for i, v in enumerate(values)}
        grads = ga.grad(f, syms)
        v = [rng.standard_normal(s) for s in shapes]
        # H v by reverse-over-reverse, compared with finite differences of the gradient
        gv = sum(ga.sum(g * d) for g, d in zip(grads, v, strict=True))
        hv = [np.asarray(x.eval(feed)) for x in ga.grad(gv, syms)]
        h = 1e-6

        def grad_at(vals):
            fd = {f"a{i}": a for i, a in enumerate(vals)}
            return [np.asarray(g.eval(fd)) for g in grads]

        plus = grad_at([a + h * d for a, d in zip(values, v, strict=True)])
        minus = grad_at([a - h * d for a, d in zip(values, v, strict=True)])
        for got, p, m in zip(hv, plus, minus, strict=True):
            np.testing.assert_allclose(got, (p - m) / (2 * h), rtol=1e-5, atol=1e-6)


def test_domains_are_valid():
    for name, op in OPS.items():
        if op.domain is None:
            continue
        for lo, hi in op.domain:
            assert lo < hi and math.isfinite(lo) and math.isfinite(hi), name
