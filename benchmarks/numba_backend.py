"""Issue 18: the Numba backend beside the NumPy backend, hand NumPy, CasADi and JAX, paired.

One process times every system on a workload in interleaved rounds (each round times
each system once; the figure is the best round), so the ratios are paired within one
run even on a busy machine.  The graphad systems take the default path (symbols without
shapes); the declared-shape NumPy figure is shown beside it.  CasADi is timed when it
imports (``pip install casadi``), else its column says so.

Workloads: one gradient of sin^1000(x), of x1*...*x1000 and of the scalar Rosenbrock at
n=1000; a tiny compiled function (x*x) for the per-call overhead; the gradient of a
scalar graph at 10^5 points in one call; the gradient of the vector Rosenbrock function
at n=1000 and n=10^6 (fused array loops, part 2) beside hand-written NumPy and JAX, on
the default path and with declared shapes, plus one multi-threaded row (``parallel=True``,
Numba's threads; everything else runs on one thread).  First-call latency is build +
compile + first call; the Numba VM's import and load from its disk cache are reported
on their own (so a graph's first call shows what it costs once Numba is loaded).

Run: ``python -m benchmarks.numba_backend [--out FILE.json] [--only vector]``.
"""

from __future__ import annotations

import os

# one thread for every pool but Numba's own (the multi-threaded row uses it), set before
# NumPy, JAX or Numba are imported
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROUNDS = 7


def _best_us(fn, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=1)) / number * 1e6


def _graphad_scalar(name: str, backend: str, declared: bool):
    import graphad as ga

    def sym(s):
        return ga.symbol(s, shape=(), dtype="float64") if declared else ga.symbol(s)

    t = time.perf_counter()
    with ga.Graph():
        if name == "sin_chain_1000":
            xs = [sym("x")]
            e = xs[0]
            for _ in range(1000):
                e = ga.sin(e)
        elif name == "product_1000":
            xs = [sym(f"x{i}") for i in range(1000)]
            e = xs[0]
            for v in xs[1:]:
                e = e * v
        else:
            xs = [sym(f"x{i}") for i in range(1000)]
            e = None
            for i in range(999):
                term = 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
                e = term if e is None else e + term
        fn = ga.compile(ga.grad(e, xs), inputs=xs, backend=backend)
    vals = [0.3 + 0.001 * i for i in range(len(xs))]
    out = fn(*vals)
    first = time.perf_counter() - t
    return (lambda: fn(*vals)), np.array([float(v) for v in out]), first, fn.backend


def _casadi_scalar(name: str):
    import casadi as ca

    t = time.perf_counter()
    if name == "sin_chain_1000":
        x = ca.SX.sym("x")
        e = x
        for _ in range(1000):
            e = ca.sin(e)
        xv = 0.3
    else:
        x = ca.SX.sym("x", 1000)
        if name == "product_1000":
            e = x[0]
            for i in range(1, 1000):
                e = e * x[i]
        else:
            e = 0
            for i in range(999):
                e = e + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        xv = np.array([0.3 + 0.001 * i for i in range(1000)])
    g = ca.Function("g", [x], [ca.gradient(e, x)])
    out = np.ravel(np.asarray(g(xv), dtype=float))
    first = time.perf_counter() - t
    return (lambda: g(xv)), out, first, "casadi"


def _tiny(backend: str):
    import graphad as ga

    t = time.perf_counter()
    with ga.Graph():
        x = ga.symbols("x")
        fn = ga.compile(x * x, backend=backend)
    out = fn(0.5)
    return (lambda: fn(0.5)), np.array([out]), time.perf_counter() - t, fn.backend


def _casadi_tiny():
    import casadi as ca

    t = time.perf_counter()
    x = ca.SX.sym("x")
    fn = ca.Function("f", [x], [x * x])
    out = float(fn(0.5))
    return (lambda: fn(0.5)), np.array([out]), time.perf_counter() - t, "casadi"


def _points(backend: str):
    import graphad as ga

    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-2, 2, 10**5), rng.uniform(-2, 2, 10**5)
    t = time.perf_counter()
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.sin(x) * ga.exp(-y * y) + x**2 * y + ga.log1p(x * x + y * y)
        fn = ga.compile(ga.grad(e, [x, y]), inputs=[x, y], backend=backend)
    out = fn(X, Y)
    return (lambda: fn(X, Y)), np.concatenate(out), time.perf_counter() - t, fn.backend


def _rosen_hand(x: np.ndarray) -> np.ndarray:
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def _vector_data(n: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(-2.0, 2.0, n)


def _hand_vector(n: int):
    xv = _vector_data(n)
    t = time.perf_counter()
    out = _rosen_hand(xv)
    return (lambda: _rosen_hand(xv)), out, time.perf_counter() - t, "numpy"


def _graphad_vector(n: int, backend: str, declared: bool, parallel: bool = False):
    import graphad as ga

    xv = _vector_data(n)
    t = time.perf_counter()
    with ga.Graph():
        x = ga.symbol("x", shape=(n,), dtype="float64") if declared else ga.symbol("x")
        f = ga.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        fn = ga.compile(ga.grad(f, x), inputs=[x], backend=backend, parallel=parallel)
    out = fn(xv)
    return (lambda: fn(xv)), out, time.perf_counter() - t, fn.backend


def _jax_vector(n: int):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    xv = jnp.asarray(_vector_data(n))

    def f(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    t = time.perf_counter()
    g = jax.jit(jax.grad(f))
    out = np.asarray(g(xv).block_until_ready())
    return (lambda: g(xv).block_until_ready()), out, time.perf_counter() - t, "jax"


def _vector_cases(have_numba: bool, have_jax: bool) -> list:
    cases = []
    for n, number in ((1000, 200), (10**6, 3)):
        systems = {"numpy (hand)": lambda n=n: _hand_vector(n)}
        systems["graphad (numpy)"] = lambda n=n: _graphad_vector(n, "numpy", False)
        systems["graphad (numpy, declared)"] = lambda n=n: _graphad_vector(n, "numpy", True)
        if have_numba:
            systems["graphad (numba)"] = lambda n=n: _graphad_vector(n, "numba", False)
            systems["graphad (numba, declared)"] = lambda n=n: _graphad_vector(n, "numba", True)
            systems["graphad (numba, threads)"] = lambda n=n: _graphad_vector(
                n, "numba", False, parallel=True
            )
        if have_jax:
            systems["jax"] = lambda n=n: _jax_vector(n)
        cases.append((f"vector Rosenbrock n={n}: gradient", systems, number))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="JSON file to write (default: print only)")
    parser.add_argument("--only", choices=("scalar", "vector"), help="run one half (default: both)")
    args = parser.parse_args(argv)

    t = time.perf_counter()
    import graphad  # noqa: F401

    import_graphad = time.perf_counter() - t
    from graphad.backends import kernels

    t = time.perf_counter()
    have_numba = kernels.available()  # imports Numba, loads the VM (disk cache or JIT)
    vm_load = time.perf_counter() - t
    try:
        import casadi  # noqa: F401

        have_casadi = True
    except ImportError:
        have_casadi = False

    cases: list = []
    for name in ("sin_chain_1000", "product_1000", "rosen_scalar_1000"):
        systems = {
            "graphad (numba)": lambda n=name: _graphad_scalar(n, "numba", False),
            "graphad (numpy)": lambda n=name: _graphad_scalar(n, "numpy", False),
            "graphad (numpy, declared)": lambda n=name: _graphad_scalar(n, "numpy", True),
        }
        if have_casadi:
            systems["casadi"] = lambda n=name: _casadi_scalar(n)
        cases.append((f"{name}: one gradient", systems, 20))
    tiny = {"graphad (numba)": lambda: _tiny("numba"), "graphad (numpy)": lambda: _tiny("numpy")}
    if have_casadi:
        tiny["casadi"] = _casadi_tiny
    cases.append(("tiny x*x: one call", tiny, 2000))
    cases.append(
        (
            "gradient at 10^5 points, one call",
            {
                "graphad (numba)": lambda: _points("numba"),
                "graphad (numpy)": lambda: _points("numpy"),
            },
            3,
        )
    )
    if not have_numba:
        for _, systems, _ in cases:
            systems.pop("graphad (numba)", None)
    try:
        import jax  # noqa: F401

        have_jax = True
    except ImportError:
        have_jax = False
    if args.only == "vector":
        cases = []
    if args.only != "scalar":
        cases += _vector_cases(have_numba, have_jax)

    results = []
    for title, systems, number in cases:
        built = {}
        for sname, make in systems.items():
            call, out, first, ran = make()
            built[sname] = (call, out, first, ran)
        ref = next(iter(built.values()))[1]
        times: dict[str, float] = {s: float("inf") for s in built}
        for _ in range(ROUNDS):
            for sname, (call, *_rest) in built.items():
                times[sname] = min(times[sname], _best_us(call, number))
        base_name = "numpy (hand)" if "numpy (hand)" in times else "casadi"
        base = times.get(base_name)
        base_label = "hand NumPy" if base_name == "numpy (hand)" else "CasADi"
        row = {"workload": title, "baseline": base_name, "systems": {}}
        for sname, (_, out, first, ran) in built.items():
            agree = bool(np.allclose(out, ref, rtol=1e-10, atol=0))
            row["systems"][sname] = {
                "per_call_us": times[sname],
                "first_call_s": first,
                "ran_on": ran,
                "vs_baseline": None if base is None else times[sname] / base,
                "agrees": agree,
            }
        results.append(row)
        print(f"\n{title}")
        for sname, r in row["systems"].items():
            ratio = "" if r["vs_baseline"] is None else f"  {r['vs_baseline']:.2f}x {base_label}"
            print(
                f"  {sname:28s} {r['per_call_us']:10.1f} us/call{ratio}  "
                f"first call {r['first_call_s'] * 1e3:8.1f} ms  (ran on {r['ran_on']}"
                f"{'' if r['agrees'] else ', RESULTS DIFFER'})"
            )
    meta = {
        "import_graphad_s": import_graphad,
        "numba_import_and_vm_load_s": vm_load,
        "numba": have_numba,
        "casadi": have_casadi,
        "jax": have_jax,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rounds": ROUNDS,
    }
    print(f"\nimport graphad {import_graphad * 1e3:.0f} ms; Numba import + VM load {vm_load:.2f} s")
    if args.out:
        Path(args.out).write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
