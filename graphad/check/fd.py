"""Numerical witnesses for :mod:`graphad.check.gradcheck`: finite differences, per-node checks.

:func:`fd_derivative` differentiates a function of one real ``t`` at 0 with
central differences at the steps ``2h, h, h/2`` combined by Richardson
extrapolation; the spread of the two extrapolations plus a rounding bound is
its error estimate.  One-sided differences at the same points classify each
element as smooth, a kink (the jump between left and right slopes does not
shrink with the step) or a discontinuity, and give the subgradient interval.

:func:`localize` checks each op node's own VJP rule at the values it saw,
with the inner-product identity ``<u, J v> = <VJP(u), v>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.interp import evaluate, run_node
from ..core.expr import Expr
from ..core.graph import Graph, topo_order
from ..ops import OPS, apply
from .report import NodeCheck
from .rounding import subnormal_spacing

__all__ = ["FDEstimate", "fd_derivative", "fd_sweep", "localize"]


# -- finite differences ---------------------------------------------------------------------


@dataclass
class FDEstimate:
    """Finite-difference derivative(s) of ``phi`` at 0, elementwise over phi's output."""

    value: np.ndarray
    err: np.ndarray
    kind: np.ndarray  # "smooth", "kink", "jump" or "nonfinite" per element
    lo: np.ndarray  # subgradient interval from one-sided differences (kinks)
    hi: np.ndarray
    step: float


def fd_derivative(
    phi: Callable[[float], np.ndarray],
    h: float,
    eps: float,
    rtol: float,
    atol: float | np.ndarray,
    delta: Any = None,
) -> FDEstimate:
    """Differentiate ``phi`` (t -> float64 array) at 0 with steps 2h, h, h/2.

    The error estimate is the truncation error, estimated by the difference of the two
    Richardson extrapolations (a higher-order difference: the step-``h`` one's error is
    about 16 times the returned one's), plus the rounding error ``3 * delta / h`` of
    the combination, where ``delta`` bounds the rounding error of one value of ``phi``
    (default ``4 * eps * |phi|``; given, e.g. from :func:`.rounding.graph_bounds`, one
    ulp of ``|phi|`` at the stencil's points is added).

    Examples
    --------
    >>> import numpy as np
    >>> est = fd_derivative(lambda t: np.sin(1.0 + t), 6e-6, 2.2e-16, 1e-6, 1e-9)
    >>> bool(abs(float(est.value) - np.cos(1.0)) < 1e-9), str(est.kind)
    (True, 'smooth')
    """
    steps = (2 * h, h, h / 2)
    with np.errstate(all="ignore"):  # NaN/inf near a singularity are classified, not warned
        many = getattr(phi, "many", None)
        if many is not None:  # the seven points in one vectorized evaluation
            ts = np.array([0.0, *steps, *(-s for s in steps)])
            got = np.asarray(many(ts), dtype=np.float64)
            f0, plus, minus = got[0], list(got[1:4]), list(got[4:7])
        else:
            f0 = np.asarray(phi(0.0), dtype=np.float64)
            plus = [np.asarray(phi(s), dtype=np.float64) for s in steps]
            minus = [np.asarray(phi(-s), dtype=np.float64) for s in steps]
        d = [(p - m) / (2 * s) for p, m, s in zip(plus, minus, steps, strict=True)]
        r1 = (4 * d[1] - d[0]) / 3
        r2 = (4 * d[2] - d[1]) / 3
        mag = np.maximum.reduce([np.abs(f0), *map(np.abs, plus), *map(np.abs, minus)])
        given = delta is not None
        # rounding error of one evaluation: the propagated bound, or a few ulps; never
        # below the spacing of the subnormal range, where rounding is absolute, not relative
        floor = subnormal_spacing(eps)
        delta = np.asarray(delta) + eps * mag if given else 4 * eps * mag
        delta = np.maximum(delta, floor)
        err = np.abs(r2 - r1) + 3 * delta / h
        # a term that no step moved by a single bit does not depend on t: no rounding error
        # (with a propagated bound, a scalar that did not move may still have a derivative
        # below its rounding: its bound stays; so does a value at or below the subnormal
        # range, where a derivative up to a spacing over h moves nothing)
        if not (given and np.ndim(f0) == 0):
            unchanged = np.all([(v == f0) for v in (*plus, *minus)], axis=0)
            err = np.where(unchanged & (mag >= floor / eps), 0.0, err)
        jumps = [(p - 2 * f0 + m) / s for p, m, s in zip(plus, minus, steps, strict=True)]
        tol = atol + rtol * np.abs(r2)
        j_small = np.abs(jumps[2])
        # smooth: J(s) ~ s*phi'' shrinks 4x from 2h to h/2; a kink keeps it; a jump grows it
        nonsmooth = (j_small > tol + 24 * delta / h) & (j_small > 0.5 * np.abs(jumps[0]))
        dp = [(p - f0) / s for p, s in zip(plus, steps, strict=True)]
        dm = [(f0 - m) / s for m, s in zip(minus, steps, strict=True)]
        # a jump: J grows as the step shrinks, or a one-sided slope grows like 1/s
        # (a symmetric jump such as sign(x) at 0 has J = 0)
        grow = tol + 8 * delta / h
        jump = (nonsmooth & (j_small > 1.5 * np.abs(jumps[1]))) | np.any(
            [
                (np.abs(d2 - d1) > grow) & (np.abs(d2) > 1.5 * np.abs(d1))
                for d1, d2 in ((dp[1], dp[2]), (dm[1], dm[2]))
            ],
            axis=0,
        )
        nonsmooth |= jump
        widen = np.abs(dp[2] - dp[1]) + np.abs(dm[2] - dm[1]) + 4 * delta / h
        lo = np.minimum(dp[2], dm[2]) - widen
        hi = np.maximum(dp[2], dm[2]) + widen
    finite = np.isfinite(f0) & np.all([np.isfinite(v) for v in (*plus, *minus)], axis=0)
    kind = np.where(
        ~finite, "nonfinite", np.where(jump, "jump", np.where(nonsmooth, "kink", "smooth"))
    )
    return FDEstimate(r2, err, kind, lo, hi, h)


def fd_sweep(
    phi: Callable[[float], np.ndarray],
    h: float,
    eps: float,
    rtol: float,
    atol: float,
    terms: bool = False,
    delta: Any = None,
) -> FDEstimate:
    """:func:`fd_derivative`, retried at steps h/32, 32h and 1024h when noise exceeds the
    tolerance at ``h``; the smooth estimate with the smallest error wins.

    With ``terms``, ``phi`` returns the terms of a sum (``w * f`` of a non-scalar
    output): each term is differenced on its own, so its rounding error scales with
    that term and not with the largest one, and the estimates are summed
    (:func:`sum_terms`).  Otherwise ``phi`` must be scalar for the retries.
    """

    def run(step: float) -> FDEstimate:
        est = fd_derivative(phi, step, eps, rtol, atol, delta)
        return sum_terms(est) if terms else est

    best = run(h)
    if best.kind.ndim:
        return best
    if str(best.kind) == "nonfinite":  # a singularity within the step: shrink it
        for factor in (1 / 32, 1 / 1024, 2.0**-15, 2.0**-20, 2.0**-25):
            trial = run(h * factor)
            if str(trial.kind) != "nonfinite":
                return trial
        return best
    if str(best.kind) != "smooth":
        # a kink or jump within the step need not be at the point: where a smaller step
        # sees the function smooth, the derivative there is what AD must give
        for factor in (1 / 32, 1 / 1024, 2.0**-15):
            trial = run(h * factor)
            if str(trial.kind) == "smooth" and float(trial.err) <= atol + rtol * abs(
                float(trial.value)
            ):
                return trial
        return best
    for factor in (1 / 32, 32.0, 1024.0):
        if float(best.err) <= atol + rtol * abs(float(best.value)):
            break
        trial = run(h * factor)
        if str(trial.kind) == "smooth" and float(trial.err) < float(best.err):
            best = trial
    return best


def sum_terms(est: FDEstimate) -> FDEstimate:
    """The estimate of a sum from the estimates of its terms: values and errors add, the
    subgradient interval is the sum of the terms' intervals (a smooth term's is its
    value), and the kind is the worst of the terms' kinds."""
    kinds = set(np.ravel(est.kind).tolist())
    kind = next((k for k in ("nonfinite", "jump", "kink") if k in kinds), "smooth")
    value = np.asarray(est.value, dtype=np.float64)
    smooth = np.asarray(est.kind) == "smooth"
    with np.errstate(all="ignore"):
        lo = float(np.sum(np.where(smooth, value, est.lo)))
        hi = float(np.sum(np.where(smooth, value, est.hi)))
        return FDEstimate(
            np.asarray(float(np.sum(value))),
            np.asarray(float(np.sum(est.err))),
            np.asarray(kind),
            np.asarray(lo),
            np.asarray(hi),
            est.step,
        )


# -- localization -------------------------------------------------------------------------------


def localize(
    graph: Graph,
    output: int,
    values: Mapping[str, Any],
    wrt: Sequence[int] | None = None,
    *,
    seed: int = 0,
    rtol: float = 1e-6,
    max_nodes: int = 20_000,
) -> list[NodeCheck]:
    """Check each op node's own VJP rule at the values it saw; failing nodes first-to-last.

    For a node ``y = op(a_0, ..., a_k)`` and each argument position ``i`` on a
    path from ``wrt`` (default: all inputs), a random ``u`` (output shape) and
    ``v`` (argument shape) give two numbers that must agree: ``<u, J_i v>``
    by central differences of the op's NumPy implementation, and
    ``<VJP_i(u), v>`` from the op's rule built on a small fresh graph.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> bad = ga.defop("bad_sin_doc", np.sin, vjp=lambda g, x: [-g * ga.cos(x)])
    >>> with ga.Graph() as g:
    ...     x = ga.symbols("x")
    ...     e = ga.exp(bad(x * 2.0))
    >>> [c.op for c in localize(g, e.id, {"x": 0.3}) if c.status == "fail"]
    ['bad_sin_doc']
    """
    rng = np.random.default_rng(seed)
    order = topo_order(graph, [output])
    nodes = graph.records()
    if wrt is None:
        wrt = [n for n in order if nodes[n]["op"] == "input"]
    on_path = set(wrt)
    for n in order:
        if any(a in on_path for a in nodes[n]["args"]):
            on_path.add(n)
    env = dict(zip(order, evaluate(graph, order, values), strict=True))
    results = []
    cache: dict[tuple, Any] = {}
    for n in order:
        if n not in on_path or nodes[n]["op"] in ("input", "constant") or len(results) > max_nodes:
            continue
        check = _check_node(graph, n, env, on_path, rng, rtol, cache)
        if check is not None:
            results.append(check)
    return results


def _check_node(
    graph: Graph,
    n: int,
    env: Mapping[int, Any],
    on_path: set[int],
    rng: np.random.Generator,
    rtol: float,
    cache: dict[tuple, Any],
) -> NodeCheck | None:
    node = graph.node(n)
    op = OPS.get(node["op"])
    if op is None or not op.differentiable:
        return None
    params = dict(node["params"])
    args = [np.asarray(env[a]) for a in node["args"]]
    positions = [
        i for i, a in enumerate(node["args"]) if a in on_path and args[i].dtype.kind == "f"
    ]
    if not positions:
        return None
    shapes = [tuple(np.shape(a)) for a in args]
    check = NodeCheck(n, node["op"], shapes, [], "pass", "")
    vals = [a.astype(np.float64) if i in positions else a for i, a in enumerate(args)]
    out = np.asarray(env[n])
    if not (all(np.all(np.isfinite(vals[i])) for i in positions) and np.all(np.isfinite(out))):
        check.status, check.note = "skipped", "non-finite values"
        return check
    u = rng.standard_normal(out.shape)
    vs = {i: rng.standard_normal(vals[i].shape) for i in positions}
    try:
        rule, linear = _rule_cotangents(graph, n, vals, positions, u, rng, cache)
    except Exception as exc:
        check.status, check.note = "fail", f"the VJP rule raised {type(exc).__name__}: {exc}"
        return check
    for i in positions:
        got = rule[i]
        if isinstance(got, str):
            status, note, entry = "fail", got, {"rule": None, "numerical": None, "err": 0.0}
        elif linear[i]:
            status, note = "fail", linear[i]
            entry = {"rule": None, "numerical": None, "err": 0.0}
        else:
            status, note, entry = _compare_position(node, params, vals, i, u, vs[i], got, rtol)
        check.positions.append({"position": i, **entry, "status": status, "note": note})
    statuses = {p["status"] for p in check.positions}
    check.status = (
        "fail"
        if "fail" in statuses
        else "kink"
        if "kink" in statuses
        else "skipped"
        if statuses == {"skipped"}
        else "pass"
    )
    return check


_EPS64 = float(np.finfo(np.float64).eps)
# the cotangent combination of the linearity check: VJP(A*u1 + B*u2) = A*VJP(u1) + B*VJP(u2)
_LIN_A, _LIN_B = 1.75, -0.625


def _compare_position(
    node: Mapping[str, Any],
    params: dict[str, Any],
    vals: list[np.ndarray],
    i: int,
    u: np.ndarray,
    v: np.ndarray,
    cot: np.ndarray,
    rtol: float,
) -> tuple[str, str, dict[str, Any]]:
    """Status, note and numbers of one argument position: ``<cot, d>`` against
    ``<u, J_i d>`` by central differences along a direction ``d``.

    The step adapts to the argument's scale: first ``d = v`` with the step of the
    whole-graph check (``cbrt(eps) * max(1, max|x|)``); when that is not smooth or
    too noisy, ``d = v * |x|`` elementwise with relative steps, so ``log`` at
    ``2e-9`` is differenced at ``1e-14`` rather than across its singularity.  A
    position is a kink only when no step sees it smooth; a smooth point with a
    kink within the larger step is reported as a kink only if the rule agrees.
    """
    x = vals[i]
    h_abs = np.cbrt(_EPS64) * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    rel = np.where(x != 0, np.abs(x), 1.0)
    scaled = v * rel
    trials = [(v, h_abs), (scaled, np.cbrt(_EPS64)), (scaled, np.cbrt(_EPS64) / 64)]
    best, first_kinds, last_kinds = _best_fd(node, params, vals, i, u, trials, rtol)
    if best is None:
        entry = {"rule": None, "numerical": None, "err": 0.0}
        if last_kinds & {"kink", "jump"}:
            bad = ", ".join(sorted(last_kinds - {"smooth"}))
            return "kink", f"not smooth here at any step: {bad}", entry
        return "skipped", "not finite within any step", entry
    status, note, entry = _judge(node, params, vals, i, u, cot, best, rtol)
    if status == "pass" and x.size > 1:
        # the sum above is dominated by the largest terms: again for each decade of
        # |VJP(u) * x| alone, moving only those elements, so a 10% error in a small
        # element is seen next to one of 1e6 (for an elementwise op the other output
        # elements do not move at all, and add no rounding noise)
        weight = np.abs(cot * rel)
        with np.errstate(divide="ignore"):
            decade = np.floor(np.log10(np.where(weight > 0, weight, np.nan)))
        groups = np.unique(decade[np.isfinite(decade)])
        if groups.size > 1:
            for k in groups[-20:]:
                d = np.where(decade == k, scaled, 0.0)
                trials = [(d, np.cbrt(_EPS64)), (d, np.cbrt(_EPS64) / 64)]
                again = _best_fd(node, params, vals, i, u, trials, rtol)[0]
                if again is not None:
                    second = _judge(node, params, vals, i, u, cot, again, rtol)
                    if second[0] == "fail":
                        return second
    if status == "pass" and first_kinds & {"kink", "jump"}:
        h = entry["step"]
        return "kink", f"smooth at step {h:.3g}, but a kink lies within {h_abs:.3g}", entry
    return status, note, entry


def _best_fd(
    node: Mapping[str, Any],
    params: dict[str, Any],
    vals: list[np.ndarray],
    i: int,
    u: np.ndarray,
    trials: list[tuple[np.ndarray, float]],
    rtol: float,
) -> tuple[tuple | None, set[str], set[str]]:
    """The least noisy smooth estimate of ``<u, J_i d>`` over the (direction, step) trials,
    stopping at the first within tolerance; and the kinds the first and last trial saw."""
    first_kinds: set[str] = set()
    last_kinds: set[str] = set()
    best = None
    for t, (d, h) in enumerate(trials):
        fd = _node_fd(node, params, vals, i, d, h, rtol)
        kinds = set(np.ravel(fd.kind).tolist())
        if t == 0:
            first_kinds = kinds
        last_kinds = kinds
        if kinds != {"smooth"}:
            continue
        num = float(np.sum(u * fd.value))
        scale = float(np.sum(np.abs(u) * np.abs(fd.value)))
        err = float(np.sum(np.abs(u) * fd.err))
        noise = err / (scale + 1e-300)
        if best is None or noise < best[0]:
            best = (noise, d, h, num, scale, err)
        if err <= rtol * scale:
            break
    return best, first_kinds, last_kinds


def _judge(
    node: Mapping[str, Any],
    params: dict[str, Any],
    vals: list[np.ndarray],
    i: int,
    u: np.ndarray,
    cot: np.ndarray,
    best: tuple,
    rtol: float,
) -> tuple[str, str, dict[str, Any]]:
    _, d, h, num, scale, err = best
    got = float(np.sum(cot * d))
    tol = rtol * scale + 2 * err + 1e-300
    entry = {"rule": got, "numerical": num, "err": err, "step": h}
    note = f"|rule - numerical| = {abs(got - num):.3g} vs tolerance {tol:.3g}"
    if abs(got - num) <= tol:
        return "pass", note, entry
    where = _bisect_element(node, params, vals, i, u, d, h, cot, rtol)
    if where is not None:
        entry["element"] = where
        note += f"; the mismatch is at argument element {list(where)}"
    return "fail", note, entry


def _node_fd(
    node: Mapping[str, Any],
    params: dict[str, Any],
    vals: list[np.ndarray],
    i: int,
    d: np.ndarray,
    h: float,
    rtol: float,
) -> FDEstimate:
    def phi(t: float) -> np.ndarray:
        moved = list(vals)
        moved[i] = vals[i] + t * d
        return np.asarray(run_node(node["op"], params, moved), dtype=np.float64)

    fd = fd_derivative(phi, h, _EPS64, rtol, 0.0)
    # an output element no step changed by a bit has a derivative below its rounding
    # (tanh saturated at 1), not exactly 0 -- unless the op is elementwise and that
    # element's own argument did not move
    exact = np.asarray(fd.err) == 0
    if np.any(exact):
        f0 = np.abs(phi(0.0))
        # elementwise as far as this step shows: every output that changed had its own
        # argument element moved
        still = np.zeros(np.shape(exact), dtype=bool)
        if np.shape(d) == np.shape(exact):
            unmoved = np.asarray(d) == 0
            if not np.any(unmoved & ~exact):
                still = unmoved
        with np.errstate(all="ignore"):
            floor = 2 * np.spacing(np.where(np.isfinite(f0), f0, 0.0)) / h
        fd.err = np.where(exact & ~still, floor, fd.err)
    return fd


def _bisect_element(
    node: Mapping[str, Any],
    params: dict[str, Any],
    vals: list[np.ndarray],
    i: int,
    u: np.ndarray,
    d: np.ndarray,
    h: float,
    cot: np.ndarray,
    rtol: float,
) -> tuple[int, ...] | None:
    """The argument element where rule and differences disagree, found by halving the
    set of moved elements (about log2(size) difference quotients); None when the
    mismatch does not narrow to one element (errors that cancel between halves)."""
    x = vals[i]
    if x.ndim == 0:
        return None

    def mismatch(idx: np.ndarray) -> bool:
        mask = np.zeros(x.size)
        mask[idx] = 1.0
        dm = d * mask.reshape(x.shape)
        fd = _node_fd(node, params, vals, i, dm, h, rtol)
        num = float(np.sum(u * fd.value))
        scale = float(np.sum(np.abs(u) * np.abs(fd.value)))
        err = float(np.sum(np.abs(u) * fd.err))
        return abs(float(np.sum(cot * dm)) - num) > rtol * scale + 2 * err + 1e-300

    idx = np.arange(x.size)
    while idx.size > 1:
        half, rest = idx[: idx.size // 2], idx[idx.size // 2 :]
        if mismatch(half):
            idx = half
        elif mismatch(rest):
            idx = rest
        else:
            return None
    return tuple(int(k) for k in np.unravel_index(int(idx[0]), x.shape))


def _rule_cotangents(
    graph: Graph,
    n: int,
    vals: list[np.ndarray],
    positions: list[int],
    u: np.ndarray,
    rng: np.random.Generator,
    cache: dict[tuple, tuple[Graph, list[int], list[int]]],
) -> tuple[dict[int, np.ndarray | str], dict[int, str]]:
    """``VJP_i(u)`` per position from the op's rule on a small graph holding only this op,
    and per position a note when the rule is not linear in its cotangent.

    Its inputs are the cotangent ``u`` and the node's non-constant arguments;
    constant arguments stay constants (rules special-case them, e.g. ``x**2``),
    so the graph is built once per op signature and reused for every such node.
    Linearity is checked with a second random cotangent ``u2``: a rule must give
    ``VJP(A*u + B*u2) = A*VJP(u) + B*VJP(u2)`` -- one that ignores (or squares) its
    incoming cotangent fails, also at a scalar output.
    """
    node = graph.node(n)
    args = [graph.node(a) for a in node["args"]]
    sig = tuple(
        ("c", arg["key"]) if arg["op"] == "constant" else ("in", arg["shape"]) for arg in args
    )
    key = (node["op"], node["params"], tuple(positions), sig, node["shape"])
    if key not in cache:
        cache[key] = _build_rule_graph(node, args, positions)
    small, cot_ids, fed = cache[key]
    feed = {f"p{i}": vals[i] for i in fed}

    def run(cotangent: np.ndarray) -> list[np.ndarray]:
        feed["u"] = cotangent
        return [np.asarray(c, dtype=np.float64) for c in evaluate(small, cot_ids, feed)]

    u2 = rng.standard_normal(u.shape)
    got, got2, got3 = run(u), run(u2), run(_LIN_A * u + _LIN_B * u2)
    out: dict[int, np.ndarray | str] = {}
    linear: dict[int, str] = {}
    for i, c, c2, c3 in zip(positions, got, got2, got3, strict=True):
        linear[i] = ""
        if c.shape != vals[i].shape:
            out[i] = f"the rule returned shape {c.shape} for an argument of shape {vals[i].shape}"
            continue
        out[i] = c
        expect = _LIN_A * c + _LIN_B * c2
        with np.errstate(all="ignore"):
            gap = np.abs(c3 - expect)
            bound = 1e-6 * (np.abs(_LIN_A * c) + np.abs(_LIN_B * c2) + np.abs(c3)) + 1e-300
        finite = np.isfinite(c) & np.isfinite(c2) & np.isfinite(c3)
        if np.any(finite & (gap > bound)):
            linear[i] = (
                "the rule is not linear in its incoming cotangent: VJP(a*u1 + b*u2) != "
                "a*VJP(u1) + b*VJP(u2) (backward not multiplied by the incoming gradient g?)"
            )
    return out, linear


def _build_rule_graph(
    node: Mapping[str, Any], args: list[Mapping[str, Any]], positions: list[int]
) -> tuple[Graph, list[int], list[int]]:
    from ..transforms.autodiff import vjp

    small = Graph()
    ins = []
    fed = []
    for i, arg in enumerate(args):
        if arg["op"] == "constant":
            ins.append(Expr(small, small.constant(arg["value"])))
        else:
            ins.append(Expr(small, small.input(f"p{i}", arg["shape"], None)))
            fed.append(i)
    params = dict(node["params"])
    op = node["op"]
    with small:  # the rule's own nodes (ga.constant(...) in a custom VJP) belong here too
        y = apply(op, ins, **params) if OPS[op].nargs is None else apply(op, *ins, **params)
        u = Expr(small, small.input("u", node["shape"], None))
        cots = vjp([y], [ins[i] for i in positions], [u])
    return small, [c.id for c in cots], fed
