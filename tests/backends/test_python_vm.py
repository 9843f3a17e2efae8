"""The Python VM (graphad.backends._python_vm) and the tiers of backend="auto" (issue 19).

A backend="auto" scalar kernel runs in the Python interpreter until the process has spent
``kernels.TIER_UP_SECONDS`` there, then on Numba's VM.  The two VMs run the same
instructions; these tests hold the Python VM to IEEE/NumPy values at special inputs, to
Numba's VM bit for bit, and check the move between them in fresh processes (where Numba
is not loaded yet: the test session itself loads it at collection).
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphad as ga
from graphad.backends import _python_vm, kernels
from graphad.backends.kernels import _NAMES, OPCODES

HAVE_NUMBA = kernels.available()

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-320, 1e308, -1e308, 710.0, -745.5]
SPECIAL += [math.inf, -math.inf, math.nan]

# op -> what NumPy computes for it on float64 (the reference: the VM follows NumPy's IEEE
# semantics; transcendental functions within a few ulp, libm vs NumPy's own code)
_REF = {
    "copy": lambda x: x,
    # np.float64's ``**`` (C's pow), what the NumPy backend's code runs on 0-d values; the
    # ufunc np.power by a scalar 0.5 is NumPy's sqrt instead (-0.0 at -0.0, nan at -inf)
    "power": lambda x, y: x**y,
    "square": lambda x: x * x,
    "relu": lambda x, y: np.maximum(x, y),
    "where": lambda c, a, b: np.where(c != 0.0, a, b),
    "clip": np.clip,
    "abs": np.abs,
    "less": lambda a, b: np.float64(a < b),
    "less_equal": lambda a, b: np.float64(a <= b),
    "greater": lambda a, b: np.float64(a > b),
    "greater_equal": lambda a, b: np.float64(a >= b),
    "equal": lambda a, b: np.float64(a == b),
    "not_equal": lambda a, b: np.float64(a != b),
}
EXACT = {"copy", "add", "subtract", "multiply", "divide", "negative", "square", "sqrt", "abs"}
EXACT |= {"sign", "maximum", "minimum", "relu", "where", "clip"}
EXACT |= {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}


def _arity(name: str) -> int:
    return 2 if name == "relu" else OPCODES[name][1]


def _run_python(name: str, args: tuple[float, ...]) -> float:
    """One instruction ``r{n} = name r0 r1 r2`` in the Python VM."""
    nargs = len(args)
    code = np.array([[OPCODES[name][0], nargs, 0, 1 % nargs, 2 % nargs]], dtype=np.int32)
    prog = _python_vm.prepare(code, _NAMES)
    (out,) = _python_vm.run(prog, [0.0] * (nargs + 1), list(args), 0, [nargs])
    return out


def _cases(name: str) -> list[tuple[float, ...]]:
    k = _arity(name)
    if k == 1:
        return [(v,) for v in SPECIAL]
    if k == 2:
        return [(a, b) for a in SPECIAL for b in SPECIAL]
    grid = [0.0, -0.0, 1.0, -2.5, math.inf, math.nan]
    return [(a, b, c) for a in grid for b in grid for c in grid]


@pytest.mark.parametrize("name", sorted(OPCODES))
def test_every_op_gives_numpys_ieee_value_at_special_inputs(name):
    ref = _REF.get(name) or getattr(np, name)
    with np.errstate(all="ignore"):
        for args in _cases(name):
            got = _run_python(name, args)
            want = float(ref(*map(np.float64, args)))
            assert type(got) is float, (name, args)
            if math.isnan(want):
                assert math.isnan(got), (name, args, got)
            elif name in EXACT or math.isinf(want) or want == 0.0:
                # the same value, and for zeros the same sign (-0.0 stays -0.0)
                assert got == want and math.copysign(1, got) == math.copysign(1, want), (
                    name,
                    args,
                    got,
                    want,
                )
            else:
                assert math.isclose(got, want, rel_tol=4e-16 * 8), (name, args, got, want)


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed: `make test` installs it")
@pytest.mark.parametrize("name", sorted(OPCODES))
def test_the_python_vm_is_numbas_bit_for_bit(name):
    vm_scalar = kernels._STATE["vm"][0]
    for args in _cases(name):
        nargs = len(args)
        code = np.array([[OPCODES[name][0], nargs, 0, 1 % nargs, 2 % nargs]], dtype=np.int32)
        res = np.empty(1)
        vm_scalar(code, np.array(args), np.zeros(0), nargs + 1, np.array([nargs], np.int32), res)
        got = _run_python(name, args)
        # NaN payloads aside, the same bits (both call the C library's functions)
        if math.isnan(res[0]):
            assert math.isnan(got), (name, args)
        else:
            assert np.float64(got).tobytes() == res[0].tobytes(), (name, args, got, res[0])


def test_a_raising_instruction_is_redone_and_the_program_goes_on(monkeypatch):
    # log(0) raises in Python: -inf, then exp(-inf) = 0 and 1/0 = inf further on; the
    # values are NumPy's (hand: log(0) = -inf, exp(-inf) = 0, 0 * y + 1/0 = inf)
    monkeypatch.setattr(kernels, "_STATE", {})  # Numba's VM "not loaded" for these kernels
    monkeypatch.setattr(kernels, "TIER_UP_SECONDS", math.inf)
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.exp(ga.log(x)) * y + 1.0 / x
        for _ in range(40):  # past _SCALAR_VM_MIN_INSTRUCTIONS: the VM's program runs it
            e = e + ga.tanh(y) * x
        f = ga.compile([e, ga.log(x) * y, ga.sqrt(x - 1.0)])
        got = f(0.0, 2.0)
        assert f.backend == "vm"
        assert got[0] == math.inf and got[1] == -math.inf and math.isnan(got[2])
        # at a regular point, the NumPy backend's values
        want = ga.compile([e, ga.log(x) * y, ga.sqrt(x - 1.0)], backend="numpy")(2.0, 0.3)
        np.testing.assert_allclose(f(2.0, 0.3), want, rtol=1e-13)


def test_gradients_in_the_python_vm_match_the_numpy_backend(monkeypatch):
    monkeypatch.setattr(kernels, "_STATE", {})
    monkeypatch.setattr(kernels, "TIER_UP_SECONDS", math.inf)
    rng = np.random.default_rng(7)
    with ga.Graph():
        xs = ga.symbols("a b c")
        a, b, c = xs
        f = (
            ga.sin(a * b) / (1 + c**2)
            + ga.log1p(ga.exp(-a)) * ga.tanh(c)
            + ga.arctan(b / (a + 3.0)) * ga.sqrt(c * c + 1)
            + ga.maximum(a, b) * ga.where(c > 0.5, a, -b)
            + ga.abs(a - c) ** 1.5
            + ga.cosh(b / 4) / (1.0 + ga.exp(-a * c))
        )
        outs = [f, *ga.grad(f, xs)]
        vm = ga.compile(outs)
        ref = ga.compile(outs, backend="numpy")
        for _ in range(30):
            p = rng.normal(size=3).tolist()
            np.testing.assert_allclose(vm(*p), ref(*p), rtol=1e-12, atol=1e-300)
        assert vm.backend == "vm" and vm.kernels is not None  # the program, listed


def _fresh(code: str) -> str:
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=240
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


_GRADIENT = """
    import math, sys
    import numpy as np
    import graphad as ga
    from graphad.backends import kernels
    xs = ga.symbols(" ".join(f"x{i}" for i in range(60)))
    f = sum(100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2 for i in range(59))
    g = ga.compile(ga.grad(f, xs), inputs=xs)
    p = [0.1 * ((i % 7) - 3) for i in range(60)]
    # the gradient by hand: d/dx_i of the Rosenbrock sum
    want = [0.0] * 60
    for i in range(59):
        want[i] += -400.0 * p[i] * (p[i + 1] - p[i] ** 2) - 2.0 * (1.0 - p[i])
        want[i + 1] += 200.0 * (p[i + 1] - p[i] ** 2)
"""


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed: `make test` installs it")
def test_a_fresh_process_starts_in_the_python_vm_and_moves_to_numba():
    out = _fresh(
        _GRADIENT
        + """
    first = g(*p)
    before = (g.backend, "numba" in sys.modules)
    calls = 1
    while g.backend == "vm":
        got = g(*p)
        calls += 1
        assert calls < 10**6
    spent = kernels._SPENT[0]
    last = g(*p)
    ok = all(np.allclose(v, want, rtol=1e-12, atol=1e-12) for v in (first, last))
    print(before, g.backend, spent >= kernels.TIER_UP_SECONDS, calls > 2, ok)
    """
    )
    assert out == "('vm', False) numba True True True"


def test_without_numba_the_python_vm_runs_on():
    out = _fresh(
        """
    import sys
    sys.modules["numba"] = None  # as if Numba were not installed
    """
        + _GRADIENT
        + """
    kernels.TIER_UP_SECONDS = 0.02
    calls = 0  # past the point where it would move (by time spent, not a call count:
    while kernels._SPENT[0] <= 0.05 and calls < 10**6:  # 400 calls took 18-30 ms)
        got = g(*p)
        calls += 1
    print(g.backend, kernels._SPENT[0] > 0.02, "error" in kernels._STATE,
          bool(np.allclose(got, want, rtol=1e-12, atol=1e-12)))
    """
    )
    assert out == "vm True True True"


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed: `make test` installs it")
def test_a_kernel_too_long_to_interpret_once_goes_to_numba_at_once():
    # one run of 60,000 instructions at SECONDS_PER_INSTRUCTION would take longer than the
    # whole TIER_UP_SECONDS (lowered to 1 ms here): Numba's VM is loaded at the first call
    out = _fresh(
        """
    import sys
    import graphad as ga
    from graphad.backends import kernels
    kernels.TIER_UP_SECONDS = 1e-3
    x = ga.symbol("x")
    e = x
    for _ in range(20000):
        e = ga.sin(e)
    f = ga.compile(ga.grad(e, x))
    f(0.25)
    # a short one made afterwards starts on Numba's VM too: it is loaded
    g = ga.compile(ga.sin(x) * x + ga.cos(x) * x * x + ga.exp(x) / x + ga.tanh(x) * 3.0)
    print(f.backend, g.backend, "numba" in sys.modules)
    """
    )
    assert out == "numba numba True"
