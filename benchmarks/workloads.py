"""The workloads: inputs (seeded, identical for every system) and NumPy reference values.

Every system module implements a builder per *family*; a workload is a family
at one size.  Kinds:

``run``
    build once, check the values, then time repeated calls (the gradient,
    and where it exists the function, so t(gradient) / t(function) follows);
``build``
    time "gradient build + compile" in a fresh process, check the values,
    record the operation counts of the compiled gradient and function;
``startup``
    time a fresh interpreter doing one thing (``graphad --help``, ``import X``).

The Rosenbrock function here is the chained form used by most AD papers and
benchmark suites, ``sum_{i<n-1} 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MLP_BATCH = 128
MLP_LR = 0.01


@dataclass(frozen=True)
class Workload:
    name: str
    family: str
    kind: str  # "run" | "build" | "startup"
    size: Any
    title: str
    systems: tuple[str, ...]
    rtol: float = 1e-9
    atol: float = 1e-9
    quick: bool = False
    # peers a quick run still starts after its time budget is spent (a target needs them)
    quick_peers: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


# graphad runs twice on every workload: "graphad" is its default path (inputs are plain
# ``ga.symbol("x")``, no shape or dtype), "graphad-declared" declares every input's shape and dtype;
# "graphad-numba" is the default path on the Numba backend (the other two run NumPy code)
GA = ("graphad", "graphad-declared", "graphad-numba")
# the array workloads also run the Numba backend with declared shapes, and with threads
# (fused loops with Numba's parallel=True: the one multi-threaded row of issue 18)
GA_ARRAYS = (*GA, "graphad-numba-declared", "graphad-numba-mt")
MLP_SYSTEMS = ("numpy", *GA_ARRAYS, "autograd", "torch", "jax", "pytensor")
BUILD_SYSTEMS = (*GA, "casadi", "jax", "sympy", "sympy-cse", "pytensor")
VECTOR_SYSTEMS = ("numpy", *GA_ARRAYS, "autograd", "torch", "jax", "pytensor", "casadi")

WORKLOADS: list[Workload] = [
    Workload(
        "mlp_step",
        "mlp",
        "run",
        (784, 256, 128, 10),
        "MLP step 784-256-128-10, batch 128, float32",
        MLP_SYSTEMS,
        rtol=2e-4,
        atol=2e-5,
        quick=True,
    ),
    Workload(
        "mlp512_step",
        "mlp",
        "run",
        (784, 512, 10),
        "MLP step 784-512-10 (the notebook's), batch 128, float32",
        MLP_SYSTEMS,
        rtol=2e-4,
        atol=2e-5,
    ),
    Workload(
        "rosen_scalar_100",
        "rosen_scalar",
        "build",
        100,
        "Rosenbrock scalar form n=100: gradient build + compile",
        BUILD_SYSTEMS,
        quick=True,
    ),
    Workload(
        "rosen_scalar_1000",
        "rosen_scalar",
        "build",
        1000,
        "Rosenbrock scalar form n=1000 (~10^4 nodes): build + compile / one gradient",
        BUILD_SYSTEMS,
        quick=True,  # issue 12's target is a ratio to CasADi's gradient
        quick_peers=("casadi",),
    ),
    Workload(
        "product_100",
        "product",
        "build",
        100,
        "x1*...*xn, n=100: build + compile, gradient size / function size",
        BUILD_SYSTEMS,
        rtol=1e-8,
    ),
    Workload(
        "product_1000",
        "product",
        "build",
        1000,
        "x1*...*xn, n=1000: build + compile, gradient size / function size",
        BUILD_SYSTEMS,
        rtol=1e-8,
        quick=True,
    ),
    Workload(
        "sin_chain_100",
        "sin_chain",
        "build",
        100,
        "sin(sin(...x)) depth 100: build + compile, size ratio",
        BUILD_SYSTEMS,
    ),
    Workload(
        "sin_chain_1000",
        "sin_chain",
        "build",
        1000,
        "sin(sin(...x)) depth 1000: build + compile, size ratio",
        BUILD_SYSTEMS,
        quick=True,
    ),
    Workload(
        "rosen_vector_1000",
        "rosen_vector",
        "run",
        1000,
        "Rosenbrock vector form n=1000: gradient time",
        VECTOR_SYSTEMS,
        quick=True,
    ),
    Workload(
        "rosen_vector_1000000",
        "rosen_vector",
        "run",
        1_000_000,
        "Rosenbrock vector form n=10^6: gradient time",
        VECTOR_SYSTEMS,
        rtol=1e-7,
        quick=True,
    ),
    *[
        Workload(
            f"scaling_{nodes}",
            "rosen_scalar",
            "build",
            n,
            f"compile-time scaling: scalar Rosenbrock of ~{nodes} nodes",
            (*GA, "casadi"),
            quick=nodes <= 10_000,
            extra={"nodes": nodes},
        )
        for nodes, n in ((100, 13), (1_000, 125), (10_000, 1250), (100_000, 12500))
    ],
    Workload(
        "startup",
        "startup",
        "startup",
        None,
        "start-up: `graphad --help` vs importing a peer",
        ("graphad", "sympy", "torch", "jax", "pytensor", "casadi", "autograd"),
        quick=True,
    ),
]

BY_NAME = {w.name: w for w in WORKLOADS}


# -- inputs ----------------------------------------------------------------------------------


def inputs(w: Workload) -> dict[str, Any]:
    """The workload's inputs, from a fixed seed (every system sees the same numbers)."""
    rng = np.random.default_rng(20240611)
    if w.family == "mlp":
        sizes = w.size
        data: dict[str, Any] = {
            "X": rng.random((MLP_BATCH, sizes[0]), dtype=np.float32),
            "labels": rng.integers(0, sizes[-1], MLP_BATCH),
        }
        data["Y"] = np.eye(sizes[-1], dtype=np.float32)[data["labels"]]
        params = []
        for fan_in, fan_out in itertools.pairwise(sizes):
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            params.append(rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32))
            params.append(rng.uniform(-0.1, 0.1, fan_out).astype(np.float32))
        data["params"] = params
        data["lr"] = MLP_LR
        return data
    if w.family in ("rosen_scalar", "rosen_vector"):
        return {"x": rng.uniform(-1.0, 1.0, w.size)}
    if w.family == "product":
        return {"x": rng.uniform(0.9, 1.1, w.size)}
    if w.family == "sin_chain":
        return {"x": np.array(0.7)}
    return {}


# -- references --------------------------------------------------------------------------------


def rosen(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosen_grad(x: np.ndarray) -> np.ndarray:
    """Hand-written NumPy gradient (the "hand NumPy" baseline of the vector rows)."""
    a = x[1:] - x[:-1] ** 2
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * a - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * a
    return g


def product_grad(x: np.ndarray) -> np.ndarray:
    pre = np.concatenate(([1.0], np.cumprod(x[:-1])))
    post = np.concatenate((np.cumprod(x[::-1][:-1])[::-1], [1.0]))
    return pre * post


def sin_chain(x: float, depth: int) -> tuple[float, float]:
    v, d = float(x), 1.0
    for _ in range(depth):
        d *= np.cos(v)
        v = np.sin(v)
    return v, d


def reference(w: Workload, data: dict[str, Any]) -> list[np.ndarray]:
    """The values every system must reproduce (run kinds: the first call's outputs)."""
    if w.family == "mlp":
        from .systems.numpy_sys import mlp_step

        params = [p.copy() for p in data["params"]]
        loss = mlp_step(params, data["X"], data["Y"], data["lr"])
        return [np.asarray(loss), *params]
    x = data.get("x")
    if w.family in ("rosen_scalar", "rosen_vector"):
        return [rosen_grad(x)]
    if w.family == "product":
        return [product_grad(x)]
    if w.family == "sin_chain":
        return [np.asarray(sin_chain(float(x), w.size)[1])]
    return []


def function_reference(w: Workload, data: dict[str, Any]) -> np.ndarray | None:
    x = data.get("x")
    if w.family in ("rosen_scalar", "rosen_vector"):
        return np.asarray(rosen(x))
    if w.family == "product":
        return np.asarray(np.prod(x))
    if w.family == "sin_chain":
        return np.asarray(sin_chain(float(x), w.size)[0])
    return None
