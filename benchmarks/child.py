"""One (system, workload) measurement in a fresh process: ``python -m benchmarks.child SYS WL``.

The runner starts one of these per round.  It pins every thread pool to one
thread before anything numeric is imported, builds (timed), checks the values
against the NumPy reference (a wrong system is reported, not timed), times the
calls, and prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import os

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "NUMEXPR_MAX_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
    "PYTENSOR_FLAGS": "openmp=False",
}
for _k, _v in THREAD_ENV.items():
    os.environ.setdefault(_k, _v)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import numpy as np  # noqa: E402

from .systems import MODULES, VARIANTS, NotSupported  # noqa: E402
from .workloads import BY_NAME, function_reference, inputs, reference  # noqa: E402


def _pin_torch() -> None:
    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(1)
        with contextlib.suppress(RuntimeError):  # already set
            torch.set_num_interop_threads(1)


def _compare(got: list, want: list, rtol: float, atol: float) -> str | None:
    """None if equal within tolerance, else a description of the worst mismatch."""
    if len(got) != len(want):
        return f"{len(got)} outputs, expected {len(want)}"
    for k, (g, r) in enumerate(zip(got, want, strict=True)):
        g = np.asarray(g, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            return f"output {k}: shape {g.shape}, expected {r.shape}"
        if not np.allclose(g, r, rtol=rtol, atol=atol * max(1.0, float(np.max(np.abs(r))))):
            err = np.max(np.abs(g - r))
            return f"output {k}: max abs error {err:.3g} (reference max {np.max(np.abs(r)):.3g})"
    return None


def _time_calls(fn, target: float, samples: int, budget: float) -> list[float]:
    """Per-call seconds, one per sample; each sample loops long enough to be measurable."""
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    loops = max(1, int(target / one))
    out: list[float] = []
    start = time.perf_counter()
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(loops):
            fn()
        out.append((time.perf_counter() - t) / loops)
        if time.perf_counter() - start > budget:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("system")
    parser.add_argument("workload")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    w = BY_NAME[args.workload]
    res: dict = {"system": args.system, "workload": w.name}
    try:
        t = time.perf_counter()
        mod = importlib.import_module(f"benchmarks.systems.{MODULES[args.system]}")
        if args.system in VARIANTS:  # e.g. sympy-cse, graphad-declared: one flag of a module
            for flag, value in VARIANTS[args.system]:
                setattr(mod, flag, value)
        res["version"] = mod.version()
        _pin_torch()
        res["import_s"] = time.perf_counter() - t
        if w.kind == "build":
            # one-time costs (lazy imports, a JIT backend's start) are not a graph's build
            # time: every system first builds the same workload at size 2, untimed
            small = dataclasses.replace(w, size=2)
            mod.build(small, inputs(small))
        data = inputs(w)
        want = reference(w, data)
        t = time.perf_counter()
        built = mod.build(w, data)
        res["build_s"] = time.perf_counter() - t
        _pin_torch()
        got = built.convert(built.grad())
        bad = _compare(got, want, w.rtol, w.atol)
        fref = function_reference(w, data)
        if bad is None and built.fun is not None and fref is not None:
            bad = _compare([built.fun_convert(built.fun())], [fref], w.rtol, w.atol)
            bad = None if bad is None else "function " + bad
        if bad is not None:
            res.update(status="wrong", error=bad)
        else:
            target, samples, budget = (0.005, 3, 1.0) if args.quick else (0.02, 7, 4.0)
            res["grad_s"] = _time_calls(built.grad, target, samples, budget)
            if built.fun is not None:
                res["fun_s"] = _time_calls(built.fun, target, samples, budget)
            if built.sizes is not None and w.kind == "build":
                res["sizes"] = built.sizes()
            res["status"] = "ok"
    except NotSupported as exc:
        res.update(status="n/a", error=str(exc))
    except Exception as exc:  # reported per system; one failing peer must not stop the suite
        res.update(status="error", error=f"{type(exc).__name__}: {exc}"[:500])
        traceback.print_exc()
    res["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "grad_s" in res:
        res["grad_med"] = statistics.median(res["grad_s"])
    print("RESULT " + json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
