"""Generated code: equal to the interpreter on every op and on random expressions; the
Function API; export as a standalone module; memory; names that cannot inject code."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import textwrap
import traceback
import tracemalloc

import numpy as np
import pytest

import graphad as ga
from graphad.backends.interp import evaluate
from graphad.ops import OPS

# -- the op table -----------------------------------------------------------------------------


def _op_cases():
    """Every op of the table, public and internal, with the cases it declares."""
    for name in sorted(OPS):
        op = OPS[name]
        if op.custom:
            continue
        for i, (shapes, params) in enumerate(op.test_cases()):
            yield pytest.param(name, shapes, params, id=f"{name}-{i}")


def _sample(op, shapes, rng):
    if op.sample is not None:  # matrices: well conditioned, symmetric, SPD ...
        return list(op.sample(rng, shapes))
    domain = list(op.domain or [(-2.0, 2.0)])
    domain += [domain[-1]] * (len(shapes) - len(domain))
    return [rng.uniform(lo, hi, size=s) for (lo, hi), s in zip(domain, shapes, strict=False)]


def _build(name, syms, params):
    op = OPS[name]
    if op.public:  # the public function fills in default params (axis=None ...)
        fn = getattr(ga.ops, name)
        return fn(list(syms), **params) if op.nargs is None else fn(*syms, **params)
    if op.nargs is None:
        return ga.ops.apply(name, list(syms), **params)
    return ga.ops.apply(name, *syms, **params)


def _check_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(w) or (np.ndim(g) == 0 and np.ndim(w) == 0)
        assert np.shape(g) == np.shape(w)
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13, equal_nan=True)


def _check_bits(got, want):
    """Equal to the bit: type, shape, dtype and every value (NaN where NaN, -0.0 where -0.0)."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert type(g) is type(w) or (np.ndim(g) == 0 and np.ndim(w) == 0)
        assert np.shape(g) == np.shape(w)
        assert np.asarray(g).dtype == np.asarray(w).dtype
        assert np.asarray(g).tobytes() == np.asarray(w).tobytes()


def _run_case(name, shapes, params, values, declared):
    op = OPS[name]
    with ga.Graph() as g:
        syms = [
            ga.symbol(f"a{i}", shape=s if declared else None, dtype="float64" if declared else None)
            for i, s in enumerate(shapes)
        ]
        e = _build(name, syms, params)
        outs = [e]
        if op.differentiable and name not in ("numel", "zeros_like", "ones_like"):
            outs += ga.grad(e, syms)
        f = ga.compile(outs, inputs=syms)
        feed = {s.name: v for s, v in zip(syms, values, strict=True)}
        interpreted = evaluate(g, [o.id for o in outs], feed)
        return f(*values), interpreted, f


@pytest.mark.parametrize(("name", "shapes", "params"), list(_op_cases()))
def test_compiled_equals_interpreter_on_every_op(name, shapes, params):
    """Every op and its gradients, built from declared and from undeclared inputs: the
    compiled code and the interpreter of both agree to the bit (the graph specialized to
    the values' types is the graph the declared shapes build)."""
    op = OPS[name]
    rng = np.random.default_rng(7)
    values = _sample(op, shapes, rng)
    declared, declared_ref, _ = _run_case(name, shapes, params, values, declared=True)
    default, default_ref, f = _run_case(name, shapes, params, values, declared=False)
    _check_same(declared, declared_ref)  # numexpr/BLAS may round differently from NumPy
    _check_bits(default, declared)
    _check_bits(default_ref, declared_ref)
    plumbing = ("_ga_sum_to(", "_ga_unreduce(", "_ga_ones_like(", "_ga_zeros_like(", "_ga_numel(",
                "_ga_matmul_grad_a(", "_ga_matmul_grad_b(")  # fmt: skip
    assert not [p for p in plumbing if p in f.source]  # shape helpers lowered or gone


# -- random expressions --------------------------------------------------------------------------

UNARY = [
    ga.sin,
    ga.cos,
    ga.tanh,
    ga.sigmoid,
    ga.square,
    ga.abs,
    ga.relu,
    ga.negative,
    ga.softplus,
    ga.arctan,
    lambda a: ga.exp(ga.tanh(a)),
    lambda a: ga.log(ga.abs(a) + 0.5),
    lambda a: ga.sqrt(ga.square(a) + 0.1),
    lambda a: ga.exp(ga.log(ga.exp(a * 0.1))),
]
BINARY = [
    ga.add,
    ga.subtract,
    ga.multiply,
    ga.maximum,
    ga.minimum,
    lambda a, b: a / (ga.square(b) + 0.5),
    lambda a, b: (ga.abs(a) + 0.5) ** ga.tanh(b),
    lambda a, b: ga.where(a > b, a, b * 2.0),
]
CONSTANTS = [0, 1, -1, 0.0, 1.0, -1.0, 2.5, -0.5, np.float64(1.5), np.float64(0.0),
             np.array([0.5, -1.0, 2.0])]  # fmt: skip


def _random_expr(rng, leaves, depth):
    """A random expression, built bottom-up with an explicit work list (no recursion)."""
    pool = list(leaves)
    for _ in range(depth):
        kind = rng.integers(0, 3)
        if kind == 0:
            pool.append(UNARY[rng.integers(len(UNARY))](pool[rng.integers(len(pool))]))
        else:
            a = pool[rng.integers(len(pool))]
            if rng.random() < 0.35:
                b = CONSTANTS[rng.integers(len(CONSTANTS))]
                if rng.random() < 0.5:
                    a, b = b, a
            else:
                b = pool[rng.integers(len(pool))]
            if not isinstance(a, ga.Expr) and not isinstance(b, ga.Expr):
                continue
            pool.append(BINARY[rng.integers(len(BINARY))](a, b))
    return pool[-1] if isinstance(pool[-1], ga.Expr) else pool[0]


@pytest.mark.parametrize("seed", range(6))
def test_random_expressions_match_the_interpreter(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        with ga.Graph() as g:
            shape = [(), (3,), None][rng.integers(3)]
            x = ga.symbol("x", shape=shape)
            y = ga.symbol("y", shape=() if shape == () else None)
            e = _random_expr(rng, [x, y], int(rng.integers(2, 9)))
            outs = [e, *ga.grad(e, [x, y])]
            vals = {"x": rng.uniform(-2, 2, size=(3,) if shape != () else ()),
                    "y": rng.uniform(-2, 2)}  # fmt: skip
            want = evaluate(g, [o.id for o in outs], vals)
            for optimize in (True, False):
                f = ga.compile(outs, inputs=[x, y], optimize=optimize)
                got = f(vals["x"], vals["y"])
                for gv, wv in zip(got, want, strict=True):
                    assert np.shape(gv) == np.shape(wv), str(e)
                    assert np.asarray(gv).dtype == np.asarray(wv).dtype, str(e)
                    np.testing.assert_allclose(gv, wv, rtol=1e-9, atol=1e-12, equal_nan=True,
                                               err_msg=str(e))  # fmt: skip


# -- the Function -----------------------------------------------------------------------------


def test_positional_named_and_result_types():
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = x**2 + ga.sin(x * y) - 1
        f = ga.compile([e, ga.grad(e, x)], inputs=[x, y])
        a = f(3.0, 2.0)
        b = f(x=3.0, y=2.0)
        c = f(3.0, y=2.0)
        single = ga.compile(e)
    assert isinstance(a, tuple) and len(a) == 2
    assert type(a[0]) is np.float64 and type(a[1]) is np.float64
    assert a == b == c
    assert a[0] == pytest.approx(9 + np.sin(6) - 1)
    assert a[1] == pytest.approx(6 + 2 * np.cos(6))
    assert single(x=3.0, y=2.0) == pytest.approx(a[0])
    assert f.input_names == ("x", "y") and len(f.output_names) == 2
    assert "graphad.Function (x, y) -> 2 output(s)" in repr(f)


def test_inputs_default_sorted_and_unused_inputs_allowed():
    with ga.Graph():
        b, a, z, _ = ga.symbols("b a z never_used")
        f = ga.compile(a * b)
        assert f.input_names == ("a", "b")
        g = ga.compile([a * 2.0], inputs=["a", z, "never_used"])
        # a name the graph has never seen is a typo: an error, and no new input
        with pytest.raises(ga.UnknownNameError, match="typo"):
            ga.compile([a * 2.0], inputs=["a", "typo"])
        assert ga.get_default_graph().input_id("typo") is None
    assert g.input_names == ("a", "z", "never_used")
    assert g(1.5, np.zeros(4), 7) == (3.0,)


def test_bad_calls_raise_clear_errors():
    with ga.Graph():
        x = ga.symbol("x", shape=(2,), dtype="float32")
        y = ga.symbols("y")
        f = ga.compile(x * y, inputs=[x, y])
        with pytest.raises(ga.MissingInputError, match="'y'"):
            f(np.ones(2, np.float32))
        with pytest.raises(ga.UnknownNameError, match="'w'"):
            f(np.ones(2, np.float32), 1.0, w=2.0)
        with pytest.raises(ga.ShapeError, match="'x'"):
            f(np.ones(3, np.float32), 1.0)
        with pytest.raises(ga.DTypeError, match="'y'"):
            f(np.ones(2, np.float32), "text")
        with pytest.raises(ga.MissingInputError, match="'y'"):
            ga.compile(x * y, inputs=[x])
        r = f(np.ones(2), 2.0)  # same-kind casts are accepted, as the interpreter does
    assert r.dtype == np.float64 and r.tolist() == [2.0, 2.0]


def test_dynamic_shape_errors_become_shape_errors():
    with ga.Graph():
        x, y = ga.symbols("x y")
        f = ga.compile(x + y)
    with pytest.raises(ga.ShapeError, match="shapes"):
        f(np.ones(3), np.ones(4))


def test_float32_stays_float32():
    with ga.Graph():
        x = ga.symbol("x", shape=(3,), dtype="float32")
        e = ga.sum(ga.sin(x) * 2.0 + 1.0)
        f = ga.compile([e, ga.grad(e, x)])
    v, g = f(np.ones(3, np.float32))
    assert v.dtype == np.float32 and g.dtype == np.float32


def test_source_runs_without_graphad():
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.logsumexp(ga.stack([x, y * 2.0])) + ga.constant(np.array([1.0, -2.0]))
        f = ga.compile([e, *ga.grad(e, [x, y])])
    assert "import graphad" not in f.source and "ga." not in f.source
    ns: dict = {}
    exec(compile(f.source, "<test>", "exec"), ns)
    got = ns["graphad_function"](np.asarray(0.5), np.asarray(-1.0))
    _check_same(got, f(0.5, -1.0))


def test_intermediates_are_deleted_after_last_use():
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile(ga.exp(ga.sin(ga.cos(x))))
    source = f.source_for(np.zeros(3))  # arrays: 0-d values are left to the function's end
    body = source[source.index("def graphad_function") :].splitlines()
    first = next(i for i, ln in enumerate(body) if "np.cos(" in ln)
    assert body[first + 1].strip().startswith("del ")


def test_shared_forward_values_are_computed_once():
    calls = []

    def impl(a):
        calls.append(1)
        return np.sin(a)

    counted = ga.defop("counted_sin_cg", impl, vjp=lambda g, x: [g * ga.cos(x)])
    with ga.Graph():
        x = ga.symbols("x")
        f = counted(x) * counted(x) + counted(x)  # one node, used three times
        vg = ga.compile([f, ga.grad(f, x)])
    calls.clear()
    value, slope = vg(0.3)
    assert len(calls) == 1
    assert value == pytest.approx(np.sin(0.3) ** 2 + np.sin(0.3))
    assert slope == pytest.approx(2 * np.sin(0.3) * np.cos(0.3) + np.cos(0.3))


def test_traceback_shows_the_generated_line():
    def boom(a):
        raise RuntimeError("boom")

    bad = ga.defop("boom_cg", boom, vjp=lambda g, x: [g])
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile(ga.sin(bad(x * 2.0)))
    with pytest.raises(RuntimeError) as info:
        f(1.0)
    text = "".join(traceback.format_exception(info.value))
    assert "<graphad-compiled-" in text
    assert "= f0(v" in text  # the generated line itself is shown


# -- names never reach the source -------------------------------------------------------------

CRAFTED = ["x", "a'b\"c", "line\nbreak", "__import__('os').system('echo pwned')", "x0",
           "\u0445", "del v1", "#", "v1"]  # fmt: skip


def test_crafted_names_cannot_change_the_source():
    sources = set()
    for name in CRAFTED:
        with ga.Graph():
            x = ga.symbol(name)
            y = ga.symbol(name + "_y")
            e = x * ga.sin(y) + 1.0
            f = ga.compile([e, *ga.grad(e, [x, y])], inputs=[x, y])
            sources.add(f.source)
            assert f(2.0, **{name + "_y": 0.0})[0] == 1.0
    assert len(sources) == 1
    (source,) = sources
    for name in CRAFTED[1:4]:
        assert name not in source


# -- export -------------------------------------------------------------------------------------


def _run_isolated(code: str, cwd) -> str:
    """Run code in a fresh interpreter that cannot import graphad (only NumPy).

    graphad may be installed (``make test`` installs it), so it is blocked
    outright: a ``None`` entry in ``sys.modules`` makes every import of it fail.
    """
    prelude = textwrap.dedent("""
        import importlib.util, sys
        for name in ("graphad", "sympy", "networkx"):
            sys.modules[name] = None
        try:
            import graphad
        except ImportError:
            pass
        else:
            raise SystemExit("graphad is importable in the isolated interpreter")
        def load(path):
            spec = importlib.util.spec_from_file_location("exported", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            return mod
    """)
    res = subprocess.run([sys.executable, "-I", "-c", prelude + textwrap.dedent(code)],
                         cwd=cwd, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 0, res.stderr + res.stdout
    return res.stdout


def test_export_runs_with_only_numpy(tmp_path):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 30))  # large: goes into the .npz
    b = np.array([0.5, -0.25, 1.0])  # small: written as a literal
    with ga.Graph():
        x = ga.symbol("x", shape=(30,))
        e = ga.sum(ga.tanh(ga.constant(W) @ x)) + ga.sum(ga.constant(b) * 2.0)
        f = ga.compile([e, ga.grad(e, x)])
    path = tmp_path / "model.py"
    ga.export(f, path)
    assert (tmp_path / "model.npz").exists()
    xv = rng.normal(size=30)
    np.save(tmp_path / "x.npy", xv)
    out = _run_isolated(
        """
        import numpy as np
        mod = load("model.py")
        v, g = mod.graphad_function(np.load("x.npy"))
        np.save("v.npy", v); np.save("g.npy", g)
        print("ok")
        """,
        tmp_path,
    )
    assert out.strip() == "ok"
    want = f(xv)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), want[0])
    np.testing.assert_array_equal(np.load(tmp_path / "g.npy"), want[1])
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_export_of_a_custom_op_is_refused(tmp_path):
    mycos = ga.defop("mycos_cg", np.cos, vjp=lambda g, x: [-g * ga.sin(x)])
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile(mycos(x))
    with pytest.raises(ga.GraphadError, match="custom op"):
        ga.export(f, tmp_path / "m.py")
    assert not (tmp_path / "m.py").exists()


# -- memory and size ----------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [False, True], ids=["numpy", "fused"])
def test_peak_memory_of_a_long_elementwise_chain(fused, monkeypatch):
    from graphad.backends import fusion

    monkeypatch.setattr(fusion, "ENABLED", fused)
    n = 10**7
    with ga.Graph():
        x = ga.symbol("x")  # undeclared: specialized to the float64 array it is called with
        e = x
        for k in range(50):  # 50 elementwise ops, each one allocating a fresh array
            e = e * 1.5 if k % 2 else e + 0.25
        f = ga.compile(e)
    source = f.source_for(np.zeros(n))
    assert (source.count(" = ") >= 50) != (fused and fusion.numexpr_available())
    value = np.zeros(n)
    tracemalloc.start()
    try:
        out = f(value)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    array_bytes = value.nbytes
    assert out.shape == (n,)
    assert peak <= 3.5 * array_bytes, f"peak {peak / array_bytes:.1f} arrays"


def test_a_100k_node_chain_compiles():
    with ga.Graph():
        x = ga.symbol("x", shape=())
        e = x
        for k in range(100_000):
            e = e * 0.5 if k % 2 else e + 1.0
        f = ga.compile(e)
    assert f.source.count("\n") > 100_000
    assert f(0.0) == pytest.approx(1.0)  # e -> (e + 1) / 2 converges to 1
    assert f(1.0) == 1.0


# -- the command -----------------------------------------------------------------------------


def test_codegen_command_prints_value_and_gradient_source():
    from graphad.cli import codegen

    out = io.StringIO()
    args = argparse.Namespace(expr="x**2 + sin(x*y)", wrt="x,y", no_grad=False,
                              no_optimize=False, output=None)  # fmt: skip
    assert codegen.run(args, out) == 0
    text = out.getvalue()
    assert "def graphad_function(x0, x1):" in text
    assert "np.sin(" in text and "np.cos(" in text
    assert "# returns (value, d/d'x', d/d'y')" in text
    demo = io.StringIO()
    codegen.demo(demo)
    assert "graphad_function(3.0) = 7" in demo.getvalue()


def test_no_warnings_and_error_state_restored():
    import warnings

    with ga.Graph():
        x = ga.symbols("x")
        f = ga.compile([ga.log(x), 1.0 / x])
    before = np.geterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lg, inv = f(np.array([0.0, -1.0]))
        with np.errstate(divide="raise"):
            f(np.array([0.0]))  # NaN/inf are results here, as in the interpreter
    assert np.geterr() == before
    assert lg[0] == -np.inf and np.isnan(lg[1]) and inv[0] == np.inf
    with pytest.raises(ga.ShapeError):
        ga.compile(ga.symbols("x") + ga.symbols("y"))(np.ones(2), np.ones(3))
    assert np.geterr() == before


def test_many_input_caller_loop_matches_the_unrolled_checks(monkeypatch):
    """Past callers._UNROLL_MAX inputs the caller checks its arguments in a loop: values,
    types and errors are those of the unrolled checks (floats, NumPy scalars of other
    dtypes, ints, 0-d and 1-d arrays, a string)."""
    import graphad.backends.callers as cg

    def outcomes():
        with ga.Graph():
            xs = [ga.symbol(f"x{i}") for i in range(80)]
            f = xs[0]
            for x in xs[1:]:
                f = f * x + 0.5
            fn = ga.compile(ga.grad(f, xs), inputs=xs)
        rng = np.random.default_rng(3)
        kinds = [np.float64, np.float32, lambda v: int(v * 10), np.array, np.int8, str]
        out = []
        for trial in range(8):
            vals = [float(v) for v in rng.uniform(0.5, 1.5, 80)]
            if trial:
                for i in rng.integers(0, 80, 4):
                    vals[i] = kinds[trial % len(kinds)](vals[i])
            try:
                got = fn(*vals)
                out.append([(type(v), np.asarray(v).dtype, np.asarray(v).tobytes()) for v in got])
            except ga.GraphadError as exc:
                out.append((type(exc), str(exc)))
        return out

    looped = outcomes()
    monkeypatch.setattr(cg, "_UNROLL_MAX", 10**9)
    unrolled = outcomes()
    assert looped == unrolled
    assert sum(isinstance(o, list) for o in looped) >= 5  # mostly successful calls


@pytest.mark.parametrize("n", [2, 80], ids=["unrolled", "loop"])
def test_public_errstate_fallback_silences_like_the_private_path(n, monkeypatch):
    """Without NumPy's private error-state variable the caller wraps the body in the public
    np.errstate(all="ignore"): the same bits (inf, nan, -0.0), no warning, and the
    caller's error state unchanged afterwards."""
    import warnings

    import graphad.backends.callers as cg

    def results():
        with ga.Graph():
            xs = [ga.symbol(f"x{i}") for i in range(n)]
            e = xs[0] / xs[1] + ga.log(xs[1] - xs[0])
            for x in xs[2:]:
                e = e + x
            fn = ga.compile([e, *ga.grad(e, xs[:2])], inputs=xs, backend="numpy")
        vals = [np.float64(1.0), np.float64(0.0)] + [-0.0] * (n - 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a RuntimeWarning would fail the call
            with np.errstate(all="raise"):
                got = fn(*vals)
                assert np.geterr()["divide"] == "raise"  # the caller's state is back
        return [np.asarray(v).tobytes() for v in got]

    private = results()
    monkeypatch.setattr(cg, "_EXTOBJ", None)
    public = results()
    assert public == private
    # 1/0 + log(-1) is nan; d/dx0 = 1/x1 - 1/(x1-x0) = inf + 1 = inf
    value, d0 = (np.frombuffer(b, dtype=np.float64)[0] for b in private[:2])
    assert np.isnan(value) and d0 == np.inf
