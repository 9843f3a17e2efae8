"""Gradient-checker benchmark (issue 15): graphad's ``check_grad`` against
``torch.autograd.gradcheck``/``gradgradcheck`` and ``jax.test_util.check_grads``.

Every case is written once against a small array namespace (``sin``, ``exp``,
``where`` ...) that each system implements, so the three checkers see the same
function at the same point.  A planted bug is a custom op whose derivative rule is
wrong in a known way (``ga.defop``, a ``torch.autograd.Function``, a
``jax.custom_vjp``); a correct case uses built-in ops only.

Counted per system: planted bugs detected, culprits named (graphad names the
op; the peers name none), false alarms on correct functions, inconclusive
verdicts, and the median wall time of one check.

Run with an interpreter that has torch and jax (the peers environment), with this
checkout first on the path::

    PYTHONPATH=. benchmarks/.peers-venv/bin/python -m benchmarks.checker
    PYTHONPATH=. python -m benchmarks.checker --systems graphad   # graphad alone
    PYTHONPATH=. python -m benchmarks.checker --no-sympy   # graphad without SymPy

It prints a Markdown table and writes ``benchmarks/results/checker.json``.

The systems run interleaved, case by case, so that the load of a shared machine
reaches all of them alike.  Times are wall time per check and, beside it, the CPU
time of this process (``time.process_time``: all its threads, so torch's intra-op
threads count), which
moves less than wall time when other work shares the machine.  graphad's SymPy
witness runs in this process except for graphs SymPy must differentiate
symbolically (none of these cases), whose child process is not counted.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# -- array namespaces: one per system ---------------------------------------------------------


class _GA:
    """graphad's ops, by the names the cases use."""

    def __init__(self) -> None:
        import graphad as ga

        self.ga = ga

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ga, name)

    def const(self, v: Any) -> Any:
        return self.ga.constant(np.asarray(v, dtype=np.float64))

    def relu(self, x: Any) -> Any:
        return self.ga.relu(x)


class _NP:
    """NumPy, for graphad's op implementations."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    def const(self, v: Any) -> Any:
        return np.asarray(v, dtype=np.float64)

    def sigmoid(self, x: Any) -> Any:
        return 1 / (1 + np.exp(-x))

    def relu(self, x: Any) -> Any:
        return np.maximum(x, 0.0)


class _Torch:
    def __init__(self) -> None:
        import torch

        self.t = torch

    def __getattr__(self, name: str) -> Any:
        return getattr(self.t, name)

    def const(self, v: Any) -> Any:
        return self.t.as_tensor(np.asarray(v, dtype=np.float64))

    def maximum(self, a: Any, b: Any) -> Any:
        return self.t.maximum(self._t(a), self._t(b))

    def minimum(self, a: Any, b: Any) -> Any:
        return self.t.minimum(self._t(a), self._t(b))

    def where(self, c: Any, a: Any, b: Any) -> Any:
        return self.t.where(c, self._t(a), self._t(b))

    def _t(self, v: Any) -> Any:
        return v if self.t.is_tensor(v) else self.t.tensor(float(v), dtype=self.t.float64)

    def square(self, x: Any) -> Any:
        return x * x

    def log1p(self, x: Any) -> Any:
        return self.t.log1p(x)


class _Jax:
    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp

    def __getattr__(self, name: str) -> Any:
        return getattr(self.jnp, name)

    def const(self, v: Any) -> Any:
        return self.jnp.asarray(np.asarray(v, dtype=np.float64))

    def sigmoid(self, x: Any) -> Any:
        return self.jax.nn.sigmoid(x)

    def relu(self, x: Any) -> Any:
        return self.jax.nn.relu(x)


# -- cases ------------------------------------------------------------------------------------

Rule = Callable[[Any, Any, Any], Any]  # (xp, g, x) -> cotangent


@dataclass
class Op:
    """A custom unary op: forward and its (possibly wrong) derivative rule.  ``inner``
    is another Op the rule uses (for bugs only second derivatives see)."""

    name: str
    fwd: Callable[[Any, Any], Any]
    bwd: Callable[..., Any]  # (xp, g, x, inner) -> cotangent
    inner: Op | None = None


@dataclass
class Case:
    name: str
    kind: str  # "bug" or "correct"
    cls: str  # bug class or correct family
    fn: Callable[..., Any]  # (xp, ops..., x) -> scalar or array
    at: np.ndarray
    ops: list[Op] = field(default_factory=list)
    order: int = 1
    culprit: str | None = None  # the op whose rule is wrong
    dtype: str = "float64"  # the point's dtype (float32 cases run every system in float32)


def _unary(name: str, fwd, bwd, inner: Op | None = None) -> Op:
    return Op(name, fwd, bwd, inner)


def _right(kind: str) -> Callable:
    """A correct rule for a few named functions."""
    rules = {
        "sin": lambda xp, g, x, i: g * xp.cos(x),
        "exp": lambda xp, g, x, i: g * xp.exp(x),
        "log": lambda xp, g, x, i: g / x,
        "tanh": lambda xp, g, x, i: g * (1 - xp.tanh(x) ** 2),
        "square": lambda xp, g, x, i: g * 2 * x,
    }
    return rules[kind]


_FWD = {
    "sin": lambda xp, x: xp.sin(x),
    "exp": lambda xp, x: xp.exp(x),
    "log": lambda xp, x: xp.log(x),
    "tanh": lambda xp, x: xp.tanh(x),
    "square": lambda xp, x: x * x,
}


def planted_bugs() -> list[Case]:
    out: list[Case] = []

    def bug(cls, fname, bwd, fn, at, order=1, inner=None, tag="", dtype="float64"):
        k = len(out)
        op = _unary(f"cb{k}_{fname}", _FWD[fname], bwd, inner)
        out.append(
            Case(f"{cls}/{fname}{tag}", "bug", cls, fn, np.asarray(at, dtype), [op], order,
                 op.name, dtype)
        )  # fmt: skip

    # 1. a wrong factor of 10% (and 1%) at ordinary points
    for fname, x in (("sin", 0.4), ("exp", -0.3), ("tanh", 0.8), ("log", 1.7), ("square", 1.2)):
        right = _right(fname)
        bug("factor", fname, lambda xp, g, x, i, r=right: 1.1 * r(xp, g, x, i),
            lambda xp, op, x: xp.sin(op(x * 1.5)) + x, x)  # fmt: skip
        bug("factor", fname, lambda xp, g, x, i, r=right: 1.01 * r(xp, g, x, i),
            lambda xp, op, x: xp.sum(op(x) * xp.const([1.0, -2.0, 0.5])), [x, x + 0.1, x + 0.2],
            tag="-1pct")  # fmt: skip
    # 2. a wrong sign
    for fname, x in (("sin", 0.9), ("tanh", -0.4), ("exp", 0.2), ("square", -1.1)):
        right = _right(fname)
        bug("sign", fname, lambda xp, g, x, i, r=right: -r(xp, g, x, i),
            lambda xp, op, x: op(x) * 2.0, x)  # fmt: skip
    # 3. (b) small but smooth arguments: log at sigmoid(-20) etc.
    for x in (-20.0, -15.0, -25.0):
        bug("tiny-argument", "log", lambda xp, g, x, i: 1.1 * g / x,
            lambda xp, op, x: op(xp.sigmoid(x)), x, tag=f"@{x:g}")  # fmt: skip
    # 4. (c) the rule ignores its cotangent, at a scalar output and inside a graph
    for fname, x in (("sin", 0.3), ("exp", 0.5), ("tanh", 1.1)):
        right = _right(fname)
        bug("ignores-cotangent", fname, lambda xp, g, x, i, r=right: r(xp, 1.0, x, i),
            lambda xp, op, x: op(x), x, tag="-scalar-out")  # fmt: skip
    for fname, x in (("sin", 0.3), ("tanh", -0.7)):
        right = _right(fname)
        bug("ignores-cotangent", fname, lambda xp, g, x, i, r=right: r(xp, 1.0, x, i),
            lambda xp, op, x: xp.exp(op(x * 2.0)) * 3.0, x, tag="-inner")  # fmt: skip
    # 5. (d) 10% error in a small element next to one of 1e6
    for small in (1e-3, 1e-2, 3e-3):
        mask = [1.0, 1.0, 1.1]
        bug("small-element", "square",
            lambda xp, g, x, i, m=mask: g * 2 * x * xp.const(m),
            lambda xp, op, x: op(x), [5e5, 1.0, small], tag=f"-{small:g}")  # fmt: skip
    # 6. (e) one wrong element of a large tensor
    for n, j in ((2000, 1234), (3000, 7)):
        m = np.ones(n)
        m[j] = 1.5
        bug("one-element", "sin", lambda xp, g, x, i, m=m: g * xp.cos(x) * xp.const(m),
            lambda xp, op, x: xp.sum(op(x) * 2.0), np.linspace(0.0, 1.0, n),
            tag=f"-{n}")  # fmt: skip
    # 7. tiny relative errors in float64 rules (1e-4, 1e-5)
    for fname, x, f in (("sin", 0.7, 1e-4), ("exp", 0.3, 1e-4), ("tanh", 0.2, 1e-5),
                        ("log", 2.5, 1e-5)):  # fmt: skip
        right = _right(fname)
        bug("tiny-error", fname, lambda xp, g, x, i, r=right, f=f: (1 + f) * r(xp, g, x, i),
            lambda xp, op, x: op(x) + x * x, x, tag=f"-{f:g}")  # fmt: skip
    # 7b. a 1e-4 relative error in float32 rules (the point, the rules and AD in float32)
    for fname, x in (("sin", 0.7), ("exp", 0.3), ("tanh", 0.2), ("log", 2.5), ("square", 1.3)):
        right = _right(fname)
        bug("float32-1e-4", fname, lambda xp, g, x, i, r=right: (1 + 1e-4) * r(xp, g, x, i),
            lambda xp, op, x: op(x) * 2.0 + x, x, dtype="float32")  # fmt: skip
    # 8. wrong only for x > 2
    for x in (2.5, 3.1):
        bug("region", "sin",
            lambda xp, g, x, i: g * xp.cos(x) * xp.where(x > 2.0, 1.2, 1.0),
            lambda xp, op, x: op(x) * x, x, tag=f"@{x:g}")  # fmt: skip
    # 9. more wrong factors, on vector outputs (a random cotangent) and in deeper graphs
    for fname, x in (("sin", [0.1, 0.7]), ("exp", [-1.0, 0.4]), ("tanh", [0.3, -1.2])):
        right = _right(fname)
        bug("vector-output", fname, lambda xp, g, x, i, r=right: 1.05 * r(xp, g, x, i),
            lambda xp, op, x: op(x * 0.5) * xp.const([2.0, -1.0]), x)  # fmt: skip
    for fname, x in (("log", 0.8), ("square", 0.6), ("sin", -2.2)):
        right = _right(fname)
        bug("deep", fname, lambda xp, g, x, i, r=right: 0.9 * r(xp, g, x, i),
            lambda xp, op, x: xp.tanh(xp.exp(op(x)) * 0.3) + xp.sin(x), x)  # fmt: skip
    # 10. (g) second order: the rule is right, the rule's own op has a wrong rule
    for x, wrong in ((0.4, lambda xp, g, x, i: g * xp.sin(x)),
                     (1.2, lambda xp, g, x, i: -1.1 * g * xp.sin(x)),
                     (-0.6, lambda xp, g, x, i: g * xp.cos(x))):  # fmt: skip
        k = len(out)
        cos_op = _unary(f"cb{k}_cosin", lambda xp, x: xp.cos(x), wrong)
        sin_op = _unary(f"cb{k}_sin2", _FWD["sin"], lambda xp, g, x, i: g * i(x), inner=cos_op)
        out.append(
            Case(f"order2/sin@{x:g}", "bug", "second-order",
                 lambda xp, op, x: op(x) * x, np.asarray(x), [sin_op], 2, cos_op.name)
        )  # fmt: skip
    return out


def _random_tree(rng: np.random.Generator, depth: int) -> Callable[[Any, Any], Any]:
    unary = [
        lambda xp, a: xp.sin(a),
        lambda xp, a: xp.cos(a),
        lambda xp, a: xp.tanh(a),
        lambda xp, a: xp.exp(xp.tanh(a)),
        lambda xp, a: xp.log(1 + a * a),
        lambda xp, a: xp.sqrt(1 + a * a),
        lambda xp, a: xp.sigmoid(a),
        lambda xp, a: a * a,
        lambda xp, a: -a,
    ]
    binary = [
        lambda xp, a, b: a + b,
        lambda xp, a, b: a - b,
        lambda xp, a, b: a * b,
        lambda xp, a, b: a / (1 + b * b),
    ]
    if depth == 0 or rng.random() < 0.2:
        c = float(rng.uniform(-2, 2))
        return (lambda xp, x: x) if rng.random() < 0.85 else (lambda xp, x, c=c: x * 0 + c)
    if rng.random() < 0.5:
        u, a = unary[rng.integers(len(unary))], _random_tree(rng, depth - 1)
        return lambda xp, x: u(xp, a(xp, x))
    f, a, b = (
        binary[rng.integers(len(binary))],
        _random_tree(rng, depth - 1),
        _random_tree(rng, depth - 1),
    )
    return lambda xp, x: f(xp, a(xp, x), b(xp, x))


def correct_cases(n_random: int = 180) -> list[Case]:
    out: list[Case] = []
    rng = np.random.default_rng(15)
    for k in range(n_random):
        tree = _random_tree(rng, 4)
        vector = rng.random() < 0.3
        at = rng.uniform(-2, 2, size=(3,) if vector else ())
        fn = (lambda xp, x, t=tree: xp.sum(t(xp, x) * x)) if vector else (
            lambda xp, x, t=tree: t(xp, x) + 0.5 * x
        )  # fmt: skip
        out.append(Case(f"random/{k}", "correct", "random", fn, at))
    hard = [
        ("kink", lambda xp, x: xp.relu(x) * 2.0, 0.0),
        ("kink", lambda xp, x: xp.abs(x) + x, 0.0),
        ("kink", lambda xp, x: xp.maximum(x, 1.0) * x, 1.0),
        ("kink", lambda xp, x: xp.minimum(x * x, 4.0), 2.0),
        ("kink", lambda xp, x: xp.abs(x - 0.5) * xp.sin(x), 0.5),
        ("kink", lambda xp, x: xp.relu(x * x - 1.0), 1.0),
        ("kink", lambda xp, x: xp.relu(x) + xp.relu(-x), 0.0),
        ("kink", lambda xp, x: xp.abs(xp.sin(x)), 0.0),
        ("large", lambda xp, x: x * x, 1e8),
        ("large", lambda xp, x: xp.sin(x * 1e-8) * 1e8, 3e8),
        ("large", lambda xp, x: x * x * x, 1e5),
        ("large", lambda xp, x: xp.log(x), 1e8),
        ("large", lambda xp, x: xp.sqrt(x), 1e12),
        ("small", lambda xp, x: x * x, 1e-8),
        ("small", lambda xp, x: xp.sin(x) * 1e-8, 0.3),
        ("small", lambda xp, x: xp.exp(x) * 1e-10, 1.0),
        ("small", lambda xp, x: x * x * 1e8, 1e-8),
        ("near-singular", lambda xp, x: xp.log(x), 1e-8),
        ("near-singular", lambda xp, x: xp.sqrt(x), 1e-9),
        ("near-singular", lambda xp, x: xp.log(xp.sigmoid(x)), -20.0),
        ("near-singular", lambda xp, x: 1.0 / x, 1e-5),
        ("near-singular", lambda xp, x: xp.log(x * x), 1e-6),
        ("ill-conditioned", lambda xp, x: (x - 1.0) ** 2 * 1e6, 1.0 + 1e-7),
        ("ill-conditioned", lambda xp, x: xp.exp(x * 20.0), 1.5),
        ("ill-conditioned", lambda xp, x: xp.tanh(x * 50.0), 0.1),
        ("ill-conditioned", lambda xp, x: xp.sin(x * 100.0) / 100.0, 0.3),
        ("ill-conditioned", lambda xp, x: xp.exp(x) - 1.0 - x, 1e-6),
        ("ill-conditioned", lambda xp, x: xp.cos(x) - 1.0, 1e-4),
    ]
    # the random functions again in float32 (the point and AD in float32)
    for k in range(40):
        tree = _random_tree(rng, 4)
        vector = rng.random() < 0.3
        at = rng.uniform(-2, 2, size=(3,) if vector else ()).astype(np.float32)
        fn = (lambda xp, x, t=tree: xp.sum(t(xp, x) * x)) if vector else (
            lambda xp, x, t=tree: t(xp, x) + 0.5 * x
        )  # fmt: skip
        out.append(Case(f"float32/{k}", "correct", "float32", fn, at, dtype="float32"))
    for k, (cls, fn, at) in enumerate(hard):
        out.append(Case(f"{cls}/{k}", "correct", cls, fn, np.asarray(at, dtype=float)))
    # second order on correct functions
    for k in range(12):
        tree = _random_tree(rng, 3)
        at = np.asarray(rng.uniform(-1.5, 1.5))
        out.append(
            Case(f"order2/{k}", "correct", "second-order", lambda xp, x, t=tree: t(xp, x) * x,
                 at, order=2)
        )  # fmt: skip
    return out


# -- systems ------------------------------------------------------------------------------------


class GraphadRunner:
    name = "graphad"

    def __init__(self) -> None:
        import graphad as ga

        self.ga = ga
        self.xp = _GA()
        self.np = _NP()
        self.made: dict[str, Any] = {}
        self.sympy = True

    def op(self, op: Op) -> Any:
        if op.name not in self.made:
            inner = None if op.inner is None else self.op(op.inner)
            self.made[op.name] = self.ga.defop(
                op.name,
                lambda x, f=op.fwd: f(self.np, x),
                vjp=lambda g, x, b=op.bwd, i=inner: [b(self.xp, g, x, i)],
            )
        return self.made[op.name]

    def check(self, case: Case) -> tuple[str, str | None]:
        ops = [self.op(o) for o in case.ops]

        def f(x):
            return case.fn(self.xp, *ops, x)

        r = self.ga.check_grad(f, at=(case.at,), order=case.order, sympy=self.sympy)
        culprit = r.culprit_check.op if r.culprit_check is not None else None
        return r.verdict, culprit


class TorchRunner:
    name = "torch"

    def __init__(self) -> None:
        import torch

        # one intra-op thread: these tensors are tiny, and idle worker threads woken
        # between interleaved checks only cost torch time (its fastest setting here)
        torch.set_num_threads(1)
        self.torch = torch
        self.xp = _Torch()
        self.made: dict[str, Any] = {}

    def op(self, op: Op) -> Any:
        if op.name in self.made:
            return self.made[op.name]
        torch, xp = self.torch, self.xp
        inner = None if op.inner is None else self.op(op.inner)

        class F(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return op.fwd(xp, x)

            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return op.bwd(xp, g, x, inner)

        self.made[op.name] = F.apply
        return F.apply

    def check(self, case: Case) -> tuple[str, str | None]:
        torch = self.torch
        ops = [self.op(o) for o in case.ops]
        dtype = torch.float32 if case.dtype == "float32" else torch.float64
        x = torch.tensor(case.at, dtype=dtype, requires_grad=True)

        def f(x):
            return case.fn(self.xp, *ops, x)

        check = torch.autograd.gradgradcheck if case.order == 2 else torch.autograd.gradcheck
        try:
            ok = check(f, (x,), raise_exception=False)
        except Exception:  # torch refuses (a shape error, say): counted as a detection
            return "fail", None
        return ("pass" if ok else "fail"), None


class JaxRunner:
    name = "jax"

    def __init__(self) -> None:
        import os

        # one XLA CPU thread, like torch's: tiny arrays, and idle pool threads that spin
        # after a call would take the cores from the next system's check
        flags = os.environ.get("XLA_FLAGS", "")
        if "multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = (
                flags + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            ).strip()
        import jax

        jax.config.update("jax_enable_x64", True)
        from jax.test_util import check_grads

        self.jax, self.check_grads = jax, check_grads
        self.xp = _Jax()
        self.made: dict[str, Any] = {}

    def op(self, op: Op) -> Any:
        if op.name in self.made:
            return self.made[op.name]
        jax, xp = self.jax, self.xp
        inner = None if op.inner is None else self.op(op.inner)

        @jax.custom_vjp
        def f(x):
            return op.fwd(xp, x)

        f.defvjp(lambda x: (op.fwd(xp, x), x), lambda x, g: (op.bwd(xp, g, x, inner),))
        self.made[op.name] = f
        return f

    def check(self, case: Case) -> tuple[str, str | None]:
        ops = [self.op(o) for o in case.ops]

        def f(x):
            return case.fn(self.xp, *ops, x)

        x = self.jax.numpy.asarray(case.at)
        try:
            self.check_grads(f, (x,), order=case.order, modes=["rev"])
        except AssertionError:
            return "fail", None
        except Exception:
            return "fail", None
        return "pass", None


RUNNERS = {"graphad": GraphadRunner, "torch": TorchRunner, "jax": JaxRunner}


# -- the run ------------------------------------------------------------------------------------


def run(systems: list[str], sympy: bool = True, sequential: bool = False) -> dict[str, Any]:
    """Every case through every system, interleaved: case by case, each system in turn
    (so a change of machine load during the run reaches every system alike); with
    ``sequential``, each system over all cases before the next (as earlier runs did)."""
    bugs, correct = planted_bugs(), correct_cases()
    cases = [*bugs, *correct]
    results: dict[str, Any] = {"cases": {"bugs": len(bugs), "correct": len(correct)}}
    per_case: dict[str, dict[str, Any]] = {}
    runners = {}
    for sysname in systems:
        runner = RUNNERS[sysname]()
        if sysname == "graphad":
            runner.sympy = sympy
        runners[sysname] = runner
    times: dict[str, list[float]] = {s: [] for s in systems}
    cpu: dict[str, list[float]] = {s: [] for s in systems}
    rows = {
        s: {"detected": 0, "culprits": 0, "false_alarms": 0, "inconclusive": 0} for s in systems
    }
    missed: dict[str, list[str]] = {s: [] for s in systems}
    alarms: dict[str, list[str]] = {s: [] for s in systems}
    # interleaved: the systems' order rotates from case to case, so that each follows
    # each other equally often (a system whose pool threads stay busy after a call
    # slows whichever runs next)
    order = (
        [(case, s) for s in systems for case in cases]
        if sequential
        else [
            (case, systems[(k + j) % len(systems)])
            for k, case in enumerate(cases)
            for j in range(len(systems))
        ]
    )
    for case, sysname in order:
        runner, row = runners[sysname], rows[sysname]
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            verdict, culprit = runner.check(case)
        except Exception as exc:  # the checker itself crashed
            verdict, culprit = f"error: {type(exc).__name__}: {exc}"[:120], None
        times[sysname].append(time.perf_counter() - t0)
        cpu[sysname].append(time.process_time() - c0)
        per_case.setdefault(case.name, {})[sysname] = verdict
        if verdict == "inconclusive":
            row["inconclusive"] += 1
        if case.kind == "bug":
            if verdict == "fail":
                row["detected"] += 1
                row["culprits"] += int(culprit is not None and culprit == case.culprit)
            else:
                missed[sysname].append(case.name)
        elif verdict != "pass" and verdict != "inconclusive":
            row["false_alarms"] += 1
            alarms[sysname].append(case.name)
    for sysname in systems:
        row = rows[sysname]
        row["median_ms"] = 1000 * statistics.median(times[sysname])
        row["median_cpu_ms"] = 1000 * statistics.median(cpu[sysname])
        row["missed"] = missed[sysname]
        row["alarm_cases"] = alarms[sysname]
        results[sysname] = row
    if "graphad" in systems and "torch" in systems:  # per case, the same moment
        ratios = [g / t for g, t in zip(times["graphad"], times["torch"], strict=True) if t > 0]
        results["graphad_over_torch_median_ratio"] = statistics.median(ratios)
        results["graphad_over_torch_ratio_of_medians"] = (
            rows["graphad"]["median_ms"] / rows["torch"]["median_ms"]
        )
    results["per_case"] = per_case
    return results


def table(results: dict[str, Any], systems: list[str]) -> str:
    nb, nc = results["cases"]["bugs"], results["cases"]["correct"]
    lines = [
        f"| checker | bugs detected (of {nb}) | culprits named | false alarms (of {nc}) "
        f"| inconclusive | median time per check | median CPU time per check |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {
        "graphad": "graphad `check_grad`",
        "torch": "torch `gradcheck`/`gradgradcheck`",
        "jax": "jax `check_grads`",
    }
    for s in systems:
        r = results[s]
        culprits = str(r["culprits"]) if s == "graphad" else "— (names none)"
        lines.append(
            f"| {labels[s]} | {r['detected']} | {culprits} | {r['false_alarms']} "
            f"| {r['inconclusive']} | {r['median_ms']:.1f} ms | {r['median_cpu_ms']:.1f} ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "checker.json"))
    parser.add_argument("--no-sympy", action="store_true", help="graphad without its SymPy witness")
    parser.add_argument(
        "--sequential", action="store_true", help="each system over all cases in turn"
    )
    args = parser.parse_args(argv)
    results = run(args.systems, sympy=not args.no_sympy, sequential=args.sequential)
    results["order"] = "sequential" if args.sequential else "interleaved"
    results["graphad_sympy"] = not args.no_sympy
    text = table(results, args.systems)
    print(text)
    if "graphad_over_torch_ratio_of_medians" in results:
        print(
            "graphad / torch: ratio of median times "
            f"{results['graphad_over_torch_ratio_of_medians']:.2f}; median of per-case "
            f"ratios {results['graphad_over_torch_median_ratio']:.2f}"
        )
    for s in args.systems:
        if results[s]["missed"]:
            print(f"{s} missed: {', '.join(results[s]['missed'])}")
        if results[s]["alarm_cases"]:
            print(f"{s} false alarms: {', '.join(results[s]['alarm_cases'])}")
    Path(args.out).write_text(
        json.dumps({**results, "table": text}, indent=1, default=_jsonable), encoding="utf-8"
    )
    return 0


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return str(v)


if __name__ == "__main__":
    raise SystemExit(main())
