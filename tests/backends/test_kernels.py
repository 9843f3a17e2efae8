"""The Numba backend (graphad.backends.kernels): same results as the NumPy backend.

Every behavioural test runs once per backend (the ``backend`` fixture); the "numba" run
is skipped, and counted as skipped, only where Numba is not installed.  The references
are NumPy evaluated directly on the same values, never the backend under test.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

import graphad as ga
from graphad.backends import kernels

HAVE_NUMBA = kernels.available()


@pytest.fixture(params=["numpy", "numba"])
def backend(request):
    if request.param == "numba" and not HAVE_NUMBA:
        pytest.skip("numba not installed")
    return request.param


SPECIAL = [0.0, -0.0, 1.5, -2.25, math.inf, -math.inf, math.nan, 1e308, 5e-324]


def _bits(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).view(np.int64)


def _same_bits(a, b) -> bool:
    """Equal bit patterns, except that any NaN equals any NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(np.all(both_nan | (_bits(a) == _bits(b))))


# ops whose results are exact IEEE operations: bit-for-bit with NumPy
EXACT = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "max": ga.maximum,
    "min": ga.minimum,
    "lt": lambda a, b: ga.where(a < b, a, b),
    "ge": lambda a, b: ga.where(a >= b, 1.0, 2.0),
    "eq": lambda a, b: ga.where(ga.equal(a, b), a - b, b),
    "sqrt_abs": lambda a, b: ga.sqrt(a) + ga.abs(b),
    "sign_neg": lambda a, b: ga.sign(a) - b,
    "square": lambda a, b: a**2 + b,
    "clip": lambda a, b: ga.clip(a, -1.0, b),
    "relu": lambda a, b: ga.relu(a) * b,
}
NUMPY_REF = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "max": np.maximum,
    "min": np.minimum,
    "lt": lambda a, b: np.where(a < b, a, b),
    "ge": lambda a, b: np.where(a >= b, 1.0, 2.0),
    "eq": lambda a, b: np.where(a == b, a - b, b),
    "sqrt_abs": lambda a, b: np.sqrt(a) + np.abs(b),
    "sign_neg": lambda a, b: np.sign(a) - b,
    "square": lambda a, b: a * a + b,
    "clip": lambda a, b: np.clip(a, -1.0, b),
    "relu": lambda a, b: np.maximum(a, 0.0) * b,
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_ops_bit_for_bit_on_special_values(backend, name):
    with ga.Graph():
        a, b = ga.symbols("a b")
        f = ga.compile(EXACT[name](a, b), inputs=[a, b], backend=backend)
        A = np.array([x for x in SPECIAL for _ in SPECIAL])
        B = np.array([y for _ in SPECIAL for y in SPECIAL])
        with np.errstate(all="ignore"):  # NumPy on 0-d values, as the graphs get them
            want = np.array(
                [NUMPY_REF[name](np.float64(x), np.float64(y)) for x, y in zip(A, B, strict=True)]
            )
        got = [f(float(x), float(y)) for x, y in zip(A, B, strict=True)]
        assert f.backend == backend
    assert all(type(g) is np.float64 for g in got)
    assert _same_bits(np.array(got), want), name


TRANSCENDENTAL = ["sin", "cos", "tan", "exp", "expm1", "log", "log1p", "log2", "log10"]
TRANSCENDENTAL += ["sinh", "cosh", "tanh", "arctan", "arcsin", "arccos"]


@pytest.mark.parametrize("name", TRANSCENDENTAL)
def test_transcendental_within_two_ulp_and_special_values_exact(backend, name):
    # libm (Numba) and NumPy's own SIMD code may differ in the last bits: stated in kernels.py
    rng = np.random.default_rng(7)
    pts = np.concatenate([rng.uniform(-0.99, 0.99, 40), [0.0, -0.0, math.inf, -math.inf]])
    pts = np.append(pts, math.nan)
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile(getattr(ga, name)(x), backend=backend)
        got = np.array([f(float(v)) for v in pts])
    with np.errstate(all="ignore"):
        want = getattr(np, name)(pts)
    finite = np.isfinite(want)
    assert _same_bits(got[~finite], want[~finite])  # inf, nan: the same special values
    ulp = np.spacing(np.abs(want[finite]))
    assert np.all(np.abs(got[finite] - want[finite]) <= 2 * ulp)
    assert _same_bits(got[pts == 0], want[pts == 0])  # signed zeros kept (sin(-0.0) = -0.0)


def test_power_matches_numpy_to_rounding(backend):
    with ga.Graph():
        a, b = ga.symbols("a b")
        f = ga.compile(a**b, backend=backend)
        vals = [(2.0, 0.5), (0.0, -1.0), (-8.0, 1 / 3), (1.5, 10.0), (0.0, 0.0), (-2.0, 3.0)]
        got = np.array([f(x, y) for x, y in vals])
    with np.errstate(all="ignore"):
        want = np.array([np.power(x, y) for x, y in vals])
    assert np.allclose(got, want, rtol=4e-16, atol=0, equal_nan=True)
    assert math.isinf(got[1]) and math.isnan(got[2])


def test_gradients_match_numpy_backend(backend):
    rng = np.random.default_rng(3)
    with ga.Graph():
        xs = ga.symbols("x0 x1 x2 x3")
        e = 0.0
        for i in range(3):
            e = e + 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
        e = e + ga.exp(ga.sin(xs[0]) * xs[3]) / (1.0 + ga.abs(xs[2]))
        gs = ga.grad(e, list(xs))
        f = ga.compile([e, *gs], inputs=list(xs), backend=backend)
        ref = ga.compile([e, *gs], inputs=list(xs), backend="numpy")
        for _ in range(5):
            v = [float(t) for t in rng.normal(size=4)]
            got, want = f(*v), ref(*v)
            assert np.allclose(got, want, rtol=1e-14, atol=0)
        # hand-computed: d/dx1 at (1,1,1,1) of the Rosenbrock part is 0; the rest by FD
        x = np.array([0.3, -0.2, 0.5, 0.7])
        h = 1e-6
        num = [
            (ref(*(x + h * np.eye(4)[k]))[0] - ref(*(x - h * np.eye(4)[k]))[0]) / (2 * h)
            for k in range(4)
        ]
        assert np.allclose(f(*x)[1:], num, rtol=1e-6)


def test_numba_backend_reports_itself_and_shows_kernels():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    with ga.Graph():
        x, y = ga.symbols("x y")
        f = ga.compile([x * y + ga.sin(x)], inputs=[x, y], backend="numba")
        assert f(0.5, 2.0)[0] == 0.5 * 2.0 + math.sin(0.5)
        assert f.backend == "numba"
        text = f.kernels
        assert "register VM" in text and "multiply" in text and "sin" in text
        assert "def graphad_function" in f.source  # the NumPy source is still what source shows
        g = ga.compile([x * y], inputs=[x, y], backend="numpy")
        g(1.0, 2.0)
        assert g.backend == "numpy" and g.kernels is None


def test_unsupported_graphs_fall_back_to_numpy(backend):
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile(ga.sum(ga.sin(x)), backend=backend)  # a reduction
        v = np.linspace(-1, 1, 7)
        # not the VM's: NumPy runs it, or with Numba a fused array loop (backends/fused.py),
        # whose sum and libm sin agree to rounding
        assert abs(f(v) - np.sum(np.sin(v))) <= 1e-15
        assert "register VM" not in (f.kernels or "")
        g = ga.compile(ga.sin(x) * 2.0, backend=backend)
        v32 = np.linspace(-1, 1, 5, dtype=np.float32)  # float32 stays float32
        out = g(v32)
        assert out.dtype == np.float32
        np.testing.assert_array_max_ulp(out, np.sin(v32) * np.float32(2.0), maxulp=2)
        assert "register VM" not in (g.kernels or "")
        n = ga.compile(x * x + 1, backend=backend)
        big = np.int8(100)
        with np.errstate(over="ignore"):
            want = np.int8(100) * np.int8(100) + np.int8(1)
        assert n(big) == want and n(big).dtype == np.int8  # integer wrap-around, as NumPy
        assert n.backend == "numpy"


def test_points_mode_is_elementwise_over_arrays(backend):
    rng = np.random.default_rng(11)
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.sin(x) * ga.exp(-y * y) + x**2 * y
        gx, gy = ga.grad(e, [x, y])
        f = ga.compile([gx, gy], inputs=[x, y], backend=backend)
        X = rng.uniform(-2, 2, size=(37, 29))  # not a multiple of the VM's block
        Y = rng.uniform(-2, 2, size=(37, 29))
        got = f(X, Y)
        assert f.backend == backend
        want_x = np.cos(X) * np.exp(-Y * Y) + 2 * X * Y
        want_y = np.sin(X) * np.exp(-Y * Y) * (-2 * Y) + X * X
        assert got[0].shape == X.shape and got[0].dtype == np.float64
        assert np.allclose(got[0], want_x, rtol=1e-13) and np.allclose(got[1], want_y, rtol=1e-13)
        # a 0-d input beside arrays broadcasts over the points
        got2 = f(X, 0.5)
        assert np.allclose(got2[0], np.cos(X) * np.exp(-0.25) + X, rtol=1e-13)


def test_points_mode_half_power_is_numpys_array_sqrt(backend):
    # an array's ``x ** 0.5`` is NumPy's sqrt: nan at -inf and -0.0 at -0.0, where C's
    # pow gives inf and 0.0; over points the VM must give NumPy's array bits
    X = np.array([-math.inf, -0.0, 0.0, 4.0, math.nan, 0.25, -1.0, math.inf])
    with ga.Graph():
        x = ga.symbol("x")
        f = ga.compile([x**0.5, ga.cos(x) ** 0.5], inputs=[x], backend=backend)
        with np.errstate(all="ignore"):
            want = [X**0.5, np.cos(X) ** 0.5]
            got = f(X)
    assert f.backend == backend
    assert _same_bits(got[0], want[0]) and _same_bits(got[1], want[1])
    assert np.isnan(got[0][0]) and np.signbit(got[0][1])  # by hand: sqrt(-inf), sqrt(-0.0)


def test_points_mode_half_power_of_a_broadcast_scalar_is_numpys(backend):
    # regression: the VM looked through ``broadcast_to`` to the 0-d input and used pow
    # (inf at -inf, 0.0 at -0.0), where NumPy's code raises an array to 0.5, i.e. sqrt
    X = np.array([-math.inf, -0.0, 4.0, math.nan])
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.broadcast_to(x, (3,)) ** 0.5 + y
        f = ga.compile(e, inputs=[x, y], backend=backend)
        for v in X:
            got = f(float(v), np.zeros(3))
            assert f.backend == backend
            with np.errstate(all="ignore"):
                want = np.sqrt(np.full(3, v)) + 0.0  # by hand: NumPy's array ** 0.5
            assert _same_bits(got, want), (v, got, want)
        got = f(-math.inf, np.zeros(3))
        assert np.isnan(got).all()  # sqrt(-inf), not pow's inf
        # a 0-d base that stays 0-d keeps pow's values, as NumPy's scalar power does
        g = ga.compile((x * 1.0) ** 0.5 + y, inputs=[x, y], backend=backend)
        assert np.array_equal(g(-math.inf, np.zeros(3)), np.full(3, math.inf))


def test_fast_path_hands_other_inputs_to_the_checked_caller(backend):
    with ga.Graph():
        x = ga.symbol("x", shape=(), dtype="float64")
        y = ga.symbols("y")
        f = ga.compile(x * y, inputs=[x, y], backend=backend)
        assert f(1.5, 2.0) == 3.0
        with pytest.raises(ga.GraphadError):
            f("1.5", 2.0)  # a string is refused, never parsed as a number
        with pytest.raises(ga.ShapeError):
            f(np.ones(3), 2.0)  # x is declared 0-d
        assert f(np.float64(2.0), 0.25) == 0.5
        assert f(3, 2.0) == 6.0  # an int for a declared float64 input is cast, as NumPy does


def test_bad_backend_is_refused_and_names_the_argument():
    with ga.Graph():
        x = ga.symbols("x")
        with pytest.raises(ga.GraphadError, match="backend="):
            ga.compile(x * x, backend="llvm")


def test_without_numba_auto_runs_numpy_and_numba_is_refused(monkeypatch):
    # simulate an environment without Numba: its import fails, nothing is cached yet
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setattr(kernels, "_STATE", {})
    assert not kernels.available()
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile(ga.sin(x) * x, backend="auto")
        assert f(0.5) == np.sin(0.5) * 0.5
        assert f.backend == "numpy" and f.kernels is None
        with pytest.raises(ga.GraphadError, match=r"graphad\[fast\]"):
            ga.compile(x * x, backend="numba")


def test_register_reuse_keeps_long_chains_small():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    with ga.Graph():
        x = ga.symbols("x")
        e = x
        for _ in range(300):
            e = ga.sin(e)
        f = ga.compile([e, ga.grad(e, x)], backend="numba")
        v = 0.7
        got = f(v)
        assert f.backend == "numba"
        # reference: the chain rule by hand in NumPy
        vals = [v]
        for _ in range(300):
            vals.append(np.sin(vals[-1]))
        assert math.isclose(got[0], vals[-1], rel_tol=1e-12)
        assert math.isclose(got[1], np.prod(np.cos(vals[:-1])), rel_tol=1e-12)
        fwd = ga.compile(e, backend="numba")
        assert math.isclose(fwd(v), vals[-1], rel_tol=1e-12)
        header = fwd.kernels.splitlines()[1]
        nreg = int(header.split(",")[1].split()[0])
        assert nreg < 5  # a value's register is reused after its last use


def test_auto_takes_the_backend_measured_faster():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    with ga.Graph():
        x, y = ga.symbols("x y")
        tiny = ga.compile(x * y)  # one operation: NumPy's one line is faster
        assert tiny(2.0, 3.0) == 6.0 and tiny.backend == "numpy"
        e = x
        for _ in range(kernels.AUTO_MIN_INSTRUCTIONS):
            e = ga.sin(e) * y
        big = ga.compile(e)  # a scalar graph over the threshold: the VM
        want = 0.5
        for _ in range(kernels.AUTO_MIN_INSTRUCTIONS):
            want = math.sin(want) * 0.75
        assert math.isclose(big(0.5, 0.75), want, rel_tol=1e-14) and big.backend == "numba"
        pts = ga.compile(e)  # the same graph over arrays: points mode only when asked for
        v = np.array([0.5, 0.25])
        assert np.allclose(pts(v, 0.75), [big(0.5, 0.75), big(0.25, 0.75)], rtol=1e-14)
        assert pts.backend == "numpy"
        asked = ga.compile(e, backend="numba")
        assert np.allclose(asked(v, 0.75), pts(v, 0.75), rtol=1e-14)
        assert asked.backend == "numba"


def test_declared_inputs_keep_other_libraries_arrays_lazy(backend):
    da = pytest.importorskip("dask.array")
    with ga.Graph():
        x = ga.symbol("x", shape=(), dtype="float64")
        e = x
        for _ in range(10):
            e = ga.sin(e) * x
        f = ga.compile(e, backend=backend)
        lazy = da.from_array(np.array(0.5))
        out = f(lazy)
        assert hasattr(out, "dask")  # still lazy: never packed into a NumPy array
        want = 0.5
        for _ in range(10):
            want = math.sin(want) * 0.5
        assert math.isclose(float(out.compute()), want, rel_tol=1e-14)
        assert math.isclose(f(0.5), want, rel_tol=1e-14)


def test_import_graphad_and_a_small_compile_do_not_import_numba():
    # Numba loads on the first graph the VM may run, never on import or for NumPy-only work
    code = (
        "import sys, graphad as ga\n"
        "x = ga.symbols('x')\n"
        "first = 'numba' in sys.modules\n"
        "f = ga.compile(x * x, backend='numpy'); f(2.0)\n"
        "print(first, 'numba' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "False False", r.stderr


def test_the_vm_is_cached_on_disk():
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    vm_scalar, _ = kernels._STATE["vm"]
    # cache=True: Numba keeps the machine code in an index file beside its cache path
    assert vm_scalar._cache.cache_path
    assert any(
        name.startswith("_kernels_vm.vm_scalar") and name.endswith(".nbi")
        for name in os.listdir(vm_scalar._cache.cache_path)
    )


def test_vm_makes_the_numpy_source_only_when_read():
    """Where the VM runs a specialization its NumPy source is generated on first read
    (or first NumPy fallback): the text is then what backend="numpy" generates."""
    if not HAVE_NUMBA:
        pytest.skip("numba not installed")
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.sin(x) * y + x * x * y - ga.cos(y) / x
        outs = [e, *ga.grad(e, [x, y])]
        vm = ga.compile(outs, inputs=[x, y], backend="numba")
        ref = ga.compile(outs, inputs=[x, y], backend="numpy")
        got = vm(0.7, -1.3)
        compiled = vm._default()
        assert vm.backend == "numba" and compiled._source is None  # not made by the call
        want = ref(0.7, -1.3)
        # hand-computed values (libm vs NumPy may differ in the last bits: rtol)
        s, c = math.sin(0.7), math.cos(0.7)
        hand = [
            s * -1.3 + 0.49 * -1.3 - math.cos(-1.3) / 0.7,
            c * -1.3 + 2 * 0.7 * -1.3 + math.cos(-1.3) / 0.49,
            s + 0.49 + math.sin(-1.3) / 0.7,
        ]
        for a, b, h in zip(got, want, hand, strict=True):
            assert math.isclose(a, b, rel_tol=1e-14) and math.isclose(a, h, rel_tol=1e-12)
        assert vm.source == ref.source  # same text as the NumPy backend's, made now
        assert compiled._source is not None
        assert vm.source is vm.source  # made once
        body = compiled.fn.__globals__["_graphad_body"]
        assert [float(v) for v in body(np.float64(0.7), np.float64(-1.3))] == [
            float(v) for v in want
        ]
