"""Compiler scaling: gradient node-count ratios, compile times, generated-code speed.

Run from the repository root::

    python3 -m benchmarks.compile_scaling            # everything
    python3 -m benchmarks.compile_scaling --quick    # smaller sizes

Prints three tables, each for graphad's two paths: the **default** path (inputs are
``ga.symbol(name)`` with no shape or dtype, as a user writes them) and the **declared**
path (every input's shape and dtype declared, e.g. ``shape=(), dtype="float64"``):

1. node counts: forward graph vs the optimized gradient graph (targets: <= ~3x);
2. compile time (grad + rewrite + codegen) for 10^3 / 10^4 / 10^5 / 10^6-node forward
   graphs, with the graph's bytes per node and the process's peak RSS (target: linear
   growth; issue 19: 10^6 nodes build, differentiate and compile; ``--quick`` stops at
   10^4, ``--max-nodes`` sets the largest);
3. evaluation speed of the gradient of a 1,000-variable scalar Rosenbrock:
   generated code vs the interpreter (target >= 10x) and t(gradient) / t(function)
   (target <= 3);
4. build: "build + grad + compile" (the first call included) of the sin chain, the
   product and the scalar Rosenbrock at n=1000, CPU time, best of five, beside CasADi (SX
   symbols, ``ca.gradient``, ``ca.Function`` and its first call) when ``casadi`` is
   importable (issue 19's target: <= 2x CasADi; ``make bench`` runs the peers' venv);
5. memory: bytes per node of a 10^5-node scalar graph (tracemalloc) and the peak RSS of
   the scalar Rosenbrock at n=1000 (build, grad, compile, call) in a fresh process.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time

import numpy as np

import graphad as ga
from graphad.backends.interp import evaluate
from graphad.core.graph import ancestors
from graphad.transforms.rewrite import optimize

PATHS = ("default", "declared")


def scalar(name: str, path: str) -> ga.Expr:
    """One scalar input: ``ga.symbol(name)`` (default path) or declared float64 of shape ()."""
    if path == "default":
        return ga.symbol(name)
    return ga.symbol(name, shape=(), dtype="float64")


def rosenbrock(n: int, path: str = "declared") -> tuple[ga.Expr, list[ga.Expr]]:
    """Scalar-form Rosenbrock over inputs x0..x{n-1}."""
    xs = [scalar(f"x{i}", path) for i in range(n)]
    f = None
    for i in range(n - 1):
        term = 100.0 * (xs[i + 1] - xs[i] ** 2) ** 2 + (1.0 - xs[i]) ** 2
        f = term if f is None else f + term
    return f, xs


def product(n: int, path: str = "declared") -> tuple[ga.Expr, list[ga.Expr]]:
    xs = [scalar(f"x{i}", path) for i in range(n)]
    f = xs[0]
    for x in xs[1:]:
        f = f * x
    return f, xs


def sin_chain(depth: int, path: str = "declared") -> tuple[ga.Expr, list[ga.Expr]]:
    x = scalar("x", path)
    f = x
    for _ in range(depth):
        f = ga.sin(f)
    return f, [x]


def mlp(
    layers: int = 4, width: int = 64, batch: int = 32, path: str = "declared"
) -> tuple[ga.Expr, list[ga.Expr]]:
    def sym(name, shape):
        return ga.symbol(name) if path == "default" else ga.symbol(name, shape=shape)

    X = sym("X", (batch, width))
    t = sym("t", (batch, 10))
    params = []
    h = X
    for k in range(layers):
        W = sym(f"W{k}", (width, width))
        b = sym(f"b{k}", (width,))
        params += [W, b]
        h = ga.relu(h @ W + b)
    Wo = sym("Wo", (width, 10))
    params.append(Wo)
    loss = -ga.mean(ga.sum(ga.log_softmax(h @ Wo) * t, axis=-1))
    return loss, params


def node_counts() -> None:
    print("== 1. gradient graph size (optimized) / forward graph size ==")
    print("   python3 -m benchmarks.compile_scaling  (section 1)")
    cases = [
        (f"{title}, {path}", lambda build=build, path=path: build(path=path))
        for title, build in (
            ("rosenbrock n=1000", lambda path: rosenbrock(1000, path)),
            ("x1*...*xn n=1000", lambda path: product(1000, path)),
            ("sin(sin(...x)) depth 1000", lambda path: sin_chain(1000, path)),
            ("MLP 4 hidden layers", lambda path: mlp(path=path)),
        )
        for path in PATHS
    ]
    print(f"{'graph':38s} {'forward':>8s} {'grad':>8s} {'ratio':>6s} {'f+grad':>8s} {'ratio':>6s}")
    for name, build in cases:
        with ga.Graph():
            f, xs = build()
            fwd = len(ancestors(f.graph, [f.id]))
            grads = ga.grad(f, xs)
            g_only, _ = optimize(grads)
            both, _ = optimize([f, *grads])
        print(
            f"{name:38s} {fwd:8d} {len(g_only):8d} {len(g_only) / fwd:6.2f} "
            f"{len(both):8d} {len(both) / fwd:6.2f}"
        )


def compile_times(sizes: list[int]) -> None:
    print("\n== 2. compile time: grad + rewrite + codegen (scalar Rosenbrock) ==")
    print(
        f"{'path':>9s} {'forward nodes':>14s} {'grad s':>8s} {'compile s':>10s} {'total s':>8s} "
        f"{'us/node':>8s} {'B/node':>7s} {'peak RSS MB':>12s}"
    )
    for target, path in ((t, p) for t in sizes for p in PATHS):
        n = max(2, target // 8)
        with ga.Graph() as g:
            f, xs = rosenbrock(n, path)
            fwd = len(ancestors(f.graph, [f.id]))
            per_node = g.stats()["bytes"] / len(g)  # the graph's own records, keys, tables
            gc.collect()
            t0 = time.perf_counter()
            grads = ga.grad(f, xs)
            t1 = time.perf_counter()
            fn = ga.compile([f, *grads], inputs=xs)
            fn(*[0.5] * len(xs))  # the first call specializes and compiles
            t2 = time.perf_counter()
        total = t2 - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # so far, this process
        print(
            f"{path:>9s} {fwd:14d} {t1 - t0:8.3f} {t2 - t1:10.3f} {total:8.3f} "
            f"{1e6 * total / fwd:8.1f} {per_node:7.0f} {rss:12.0f}"
        )
        del f, xs, grads, fn
        gc.collect()


def _best(fn, repeat: int, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def speed(n: int = 1000, repeat: int = 20) -> None:
    print(f"\n== 3. gradient of the {n}-variable scalar Rosenbrock: evaluation time ==")
    rng = np.random.default_rng(0)
    values = [float(v) for v in rng.uniform(-1, 1, n)]
    for path in PATHS:
        with ga.Graph() as g:
            f, xs = rosenbrock(n, path)
            grads = ga.grad(f, xs)
            fn_f = ga.compile([f], inputs=xs)
            fn_g = ga.compile(grads, inputs=xs)
            by_name = {x.name: v for x, v in zip(xs, values, strict=True)}
            ids = [e.id for e in grads]
            t_interp = _best(lambda: evaluate(g, ids, by_name), max(3, repeat // 5))  # noqa: B023
            t_grad = _best(lambda: fn_g(*values), repeat)  # noqa: B023
            t_func = _best(lambda: fn_f(*values), repeat)  # noqa: B023
            # the generated straight-line body alone, inputs already converted (when the
            # Function has one body: a Function specialized per signature may not)
            scalars = [np.float64(v) for v in values]
            body = getattr(getattr(fn_g, "_fn", None), "__globals__", {}).get("_graphad_body")
            t_raw = _best(lambda: body(*scalars), repeat) if body else None  # noqa: B023
        raw = f"{1e3 * t_raw:.3f} ms" if t_raw is not None else "n/a"
        print(f"-- {path} path")
        print(f"interpreter gradient     {1e3 * t_interp:9.3f} ms")
        print(f"compiled gradient        {1e3 * t_grad:9.3f} ms   (generated body only: {raw})")
        print(f"compiled function        {1e3 * t_func:9.3f} ms")
        print(f"speed-up vs interpreter  {t_interp / t_grad:9.1f} x   (target >= 10)")
        print(f"t(gradient) / t(function) {t_grad / t_func:8.2f}     (target <= 3)")


BUILD_N = 1000


def _casadi_build(family: str, n: int):
    """CasADi's side of section 4: SX symbols, gradient, Function, first call."""
    import casadi as ca

    if family == "sin_chain":
        x = ca.SX.sym("x")
        f = x
        for _ in range(n):
            f = ca.sin(f)
    else:
        x = ca.SX.sym("x", n)
        if family == "product":
            f = x[0]
            for i in range(1, n):
                f = f * x[i]
        else:
            f = 0
            for i in range(n - 1):
                f = f + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    gfn = ca.Function("g", [x], [ca.gradient(f, x)])
    gfn(np.full(x.shape[0], 0.5))


def _graphad_build(family: str, n: int, path: str) -> None:
    builders = {"sin_chain": sin_chain, "product": product, "rosen_scalar": rosenbrock}
    with ga.Graph():
        f, xs = builders[family](n, path)
        fn = ga.compile(ga.grad(f, xs), inputs=xs)
    fn(*[0.5] * len(xs))


def build_times(repeat: int = 5) -> None:
    # CPU time of this process (the machine is shared: wall time swings with its load)
    print(
        f"\n== 4. build + grad + compile (first call included), n={BUILD_N}, "
        f"CPU time, best of {repeat} =="
    )
    try:
        import casadi  # noqa: F401

        peer = True
    except ImportError:
        peer = False
        print("(casadi not importable here: graphad only; the peers' venv has it)")
    head = ("workload", "default ms", "declared ms", "casadi ms", "default/casadi")
    print(f"{head[0]:14s} {head[1]:>11s} {head[2]:>12s} {head[3]:>10s} {head[4]:>15s}")
    for family in ("sin_chain", "product", "rosen_scalar"):
        for path in PATHS:  # untimed warm-up: lazy imports are not a graph's build time
            _graphad_build(family, 2, path)
        cpu = time.process_time
        t = {
            p: _best(lambda fam=family, p=p: _graphad_build(fam, BUILD_N, p), repeat, cpu)
            for p in PATHS
        }
        cas = _best(lambda fam=family: _casadi_build(fam, BUILD_N), repeat, cpu) if peer else None
        ratio = f"{t['default'] / cas:15.1f}" if cas else f"{'n/a':>15s}"
        cas_ms = f"{1e3 * cas:10.1f}" if cas else f"{'n/a':>10s}"
        ms = f"{1e3 * t['default']:11.1f} {1e3 * t['declared']:12.1f}"
        print(f"{family:14s} {ms} {cas_ms} {ratio}")


def phases(repeat: int = 5) -> None:
    """Section 4 split by phase (default path, CPU ms, each phase's best of ``repeat``):
    building the expression, ``ga.grad``, ``ga.compile``, and the first call (which
    specializes, optimizes, builds the VM program or the NumPy code, and runs)."""
    print(f"\n== 4b. where section 4's time goes, default path, CPU ms, best of {repeat} ==")
    print(f"{'workload':14s} {'build':>7s} {'grad':>7s} {'compile':>8s} {'1st call':>9s}")
    builders = {"sin_chain": sin_chain, "product": product, "rosen_scalar": rosenbrock}
    clock = time.process_time
    for family, build in builders.items():
        _graphad_build(family, 2, "default")  # lazy imports, the VM's load
        best = [float("inf")] * 4
        for _ in range(repeat):
            with ga.Graph():
                t0 = clock()
                f, xs = build(BUILD_N, "default")
                t1 = clock()
                grads = ga.grad(f, xs)
                t2 = clock()
                fn = ga.compile(grads, inputs=xs)
                t3 = clock()
            fn(*[0.5] * len(xs))
            t4 = clock()
            times = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
            best = [min(b, t) for b, t in zip(best, times, strict=True)]
        print(f"{family:14s} " + " ".join(f"{1e3 * t:7.1f}" for t in best))


def _forward_bytes(n: int) -> float:
    """Bytes per node of a ``sin(f) * y`` chain of about ``n`` nodes (tracemalloc: the
    records, keys, tables and Expr handles the graph keeps)."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    with ga.Graph() as g:
        x, y = ga.symbol("x"), ga.symbol("y")
        f = x
        for _ in range(n // 2):
            f = ga.sin(f) * y
        used = tracemalloc.get_traced_memory()[0]
        nodes = len(g)
    tracemalloc.stop()
    return used / nodes


def _rss_mb() -> float:
    """Peak resident set size of this process so far, MB: VmHWM, not ru_maxrss, which
    Linux carries over from the parent a child was forked from."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_now_mb() -> float:
    """Resident set size now, MB (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _rosen_peak_child(mode: str = "default") -> None:  # run in a fresh process by memory()
    """Print two figures: the RSS (MB) once the runtime is loaded (``import graphad``,
    and the Numba VM when present, warmed on a small graph), then after the scalar
    Rosenbrock's build + grad + compile + call.  ``mode="no-numba"`` hides Numba first
    (the core install); ``mode="casadi"`` does CasADi's same work instead."""
    if mode == "no-numba":
        sys.modules["numba"] = None  # type: ignore[assignment]
    if mode == "casadi":
        import casadi  # noqa: F401

        base = _rss_now_mb()
        _casadi_build("rosen_scalar", BUILD_N)
        print(base, _rss_mb())
        return
    with ga.Graph():  # load the runtime: a graph big enough for the VM, when it exists
        f, xs = rosenbrock(20, "default")
        ga.compile(ga.grad(f, xs), inputs=xs)(*[0.5] * len(xs))
    gc.collect()
    base = _rss_now_mb()
    with ga.Graph():
        f, xs = rosenbrock(BUILD_N, "default")
        fn = ga.compile(ga.grad(f, xs), inputs=xs)
    fn(*[0.5] * len(xs))
    print(base, _rss_mb())


def memory() -> None:
    """Issue 19's memory targets: bytes per node of a 10^5-node scalar graph (<= 1.5 kB)
    and the peak RSS of the scalar Rosenbrock at n=1000, default path (<= 100 MB), each
    in a fresh process: with Numba when it is installed (its LLVM runtime is loaded
    before any graph exists), without it (the core install), and CasADi's own."""
    import subprocess

    print("\n== 5. memory ==")
    print(f"sin(f) * y chain, 10^5 nodes: {_forward_bytes(100_000):6.0f} bytes per node")
    print(f"scalar Rosenbrock n={BUILD_N}, build + grad + compile + call, fresh process:")
    print(f"{'':28}{'runtime loaded':>16}{'peak RSS':>10}{'graph work':>12}")
    modes = [("default", "graphad, default path"), ("no-numba", "graphad, without Numba")]
    try:
        import casadi  # noqa: F401

        modes.append(("casadi", "casadi"))
    except ImportError:
        pass
    for mode, label in modes:
        code = f"from benchmarks.compile_scaling import _rosen_peak_child as c; c({mode!r})"
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
        base, peak = float(out[-2]), float(out[-1])
        print(f"{label:28}{base:13.0f} MB{peak:7.0f} MB{peak - base:9.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument(
        "--only",
        choices=("counts", "compile", "speed", "build", "phases", "memory"),
        help="one section",
    )
    parser.add_argument(
        "--max-nodes", type=int, default=None, help="largest forward graph of section 2"
    )
    args = parser.parse_args(argv)
    sys.setrecursionlimit(1000)  # prove nothing recurses over the graph
    if args.only in (None, "counts"):
        node_counts()
    if args.only in (None, "compile"):
        top = args.max_nodes or (10_000 if args.quick else 1_000_000)
        compile_times([s for s in (1_000, 10_000, 100_000, 1_000_000) if s <= top])
    if args.only in (None, "speed"):
        speed(repeat=5 if args.quick else 20)
    if args.only in (None, "build"):
        build_times(repeat=1 if args.quick else 5)
    if args.only in (None, "phases"):
        phases(repeat=1 if args.quick else 5)
    if args.only in (None, "memory"):
        memory()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
