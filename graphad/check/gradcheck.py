"""Gradient checking: graphad's AD against finite differences and SymPy, with a verdict.

Three witnesses are compared for every input element (or, for large tensors,
along random directions):

* **AD**: ``ga.vjp`` of the expression, built on a private copy of the graph
  (the user's graph gains no nodes) and evaluated in the expression's own dtype.
* **Finite differences**: central differences at the steps ``2h, h, h/2`` with
  ``h = cbrt(eps) * max(1, |x|)``, combined by Richardson extrapolation; the
  spread between the two extrapolations plus a rounding bound is the error
  estimate.  The perturbed inputs are fed as float64 values that bypass the
  cast of declared float32 inputs (as ``evaluate(known=...)`` does), so
  float32 graphs are differenced in float64.  One-sided differences at the same points detect
  kinks (a jump between the slopes that does not shrink with the step) and
  give the subgradient interval there.
* **SymPy**: the symbolic derivative of scalar graphs (time-limited, never
  expanded); "n/a" where the graph does not convert, never a failure.

The tolerance of each element comes from rounding-error analysis: AD's rounding
bound, propagated through the gradient graph, plus the differences' error bound
(:mod:`graphad.check.rounding`); fixed ``rtol``/``atol`` only when given.

The verdict is three-valued: ``pass``, ``fail``, or ``inconclusive`` (the
finite-difference noise exceeds the tolerance, the function is not finite
nearby, or the point sits on a kink).  On a failure every op node's own VJP
rule is checked at the values it saw (:func:`localize`), and the earliest
node whose rule disagrees with its numerical derivative is named.

One module, though past 600 lines: the three witnesses, the per-element verdict and
the localization read the same prepared program and tolerances; the report's text,
the problem set-up, finite differences and rounding bounds live in their own
modules beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backends.interp import evaluate
from ..core.errors import GradientCheckError, GraphadError
from ..core.expr import Expr
from ..ops import apply
from .fd import FDEstimate, fd_derivative, fd_sweep, localize
from .problem import (
    _ad_gradients,
    _least_precise,
    _prepare,
    _Problem,
    replay,
)
from .report import ElementCheck, GradCheckReport, InputCheck
from .sympy_witness import _SympyWitness

__all__ = [
    "GradCheckReport",
    "assert_grad",
    "check_grad",
    "default_tolerances",
    "fd_derivative",
    "localize",
]

# (rtol, atol base) by the dtype the AD result is computed in: used only when the user
# passes rtol or atol (then atol is per element, atol_base * max(1, |fd|) of that element
# plus AD's propagated rounding bound there), and inside the finite differences' own
# smoothness and step tests.  By default the verdict's tolerance comes from rounding-error
# analysis (_element_atol), where these values cap only how much of the differences' own
# error may count towards a pass.
_TOLERANCES = {"float16": (3e-2, 1e-2), "float32": (2e-5, 2e-6), "float64": (1e-6, 1e-9)}


def default_tolerances(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol_base)`` used for gradients computed in ``dtype``.

    Examples
    --------
    >>> from graphad.check.gradcheck import default_tolerances
    >>> default_tolerances("float32")
    (2e-05, 2e-06)
    """
    dt = np.dtype(dtype)
    if dt.kind != "f" or dt.itemsize >= 8:
        return _TOLERANCES["float64"]
    return _TOLERANCES["float16" if dt.itemsize <= 2 else "float32"]


# -- decisions ----------------------------------------------------------------------------------


def _decide(
    ad: float, fd: FDEstimate, sym: float | None, rtol: float, atol: float
) -> tuple[str, str]:
    """Status of one element: pass / fail / noisy / kink / kink? / jump / nonfinite."""
    kind, val, err = str(fd.kind), float(fd.value), float(fd.err)
    if not np.isfinite(ad):
        if kind == "nonfinite" or not np.isfinite(val):
            return "nonfinite", "AD and the function are not finite here"
        return "fail", "AD is not finite but the finite difference is"
    if kind == "nonfinite" or not np.isfinite(val):
        return "nonfinite", "the function is not finite within the step"
    if kind == "kink":
        lo, hi = float(fd.lo), float(fd.hi)
        where = f"one-sided slopes give [{lo:.6g}, {hi:.6g}]"
        if lo - atol <= ad <= hi + atol:
            return "kink", f"kink: AD lies in the subgradient interval, {where}"
        return "kink?", f"kink: AD outside the subgradient interval, {where}"
    tol = atol + rtol * abs(val)
    diff = abs(ad - val)
    if diff <= tol:
        status, note = "pass", ""
    elif kind == "jump":
        status, note = "jump", "a discontinuity lies within the step"
    elif diff > tol + 2 * err:
        status, note = "fail", ""
    else:
        status, note = "noisy", f"finite-difference error {err:.2g} exceeds the tolerance"
    if sym is not None and np.isfinite(sym):
        agrees = abs(ad - sym) <= atol + rtol * abs(sym)
        if status in ("noisy", "jump"):
            status, note = ("pass" if agrees else "fail"), f"decided by SymPy ({note})"
        elif status == "fail" and agrees:
            status, note = "noisy", "finite differences disagree, SymPy agrees with AD"
        elif status == "pass" and not agrees and abs(val - sym) > atol + rtol * abs(sym):
            note = "SymPy disagrees with both AD and finite differences"
    return status, note


_VERDICT_OF = {"pass": "pass", "kink": "pass", "fail": "fail"}


def _combine(statuses: Sequence[str]) -> str:
    verdicts = {_VERDICT_OF.get(s, "inconclusive") for s in statuses}
    if "fail" in verdicts:
        return "fail"
    return "inconclusive" if "inconclusive" in verdicts else "pass"


def _check_input(
    prob: _Problem,
    k: int,
    ad: np.ndarray,
    sym: Any,
    rtol: float,
    atol_base: float,
    atol: float | None,
    rng: np.random.Generator,
    max_full: int,
    projections: int,
    max_elements: int,
    noise: np.ndarray,
    bound: bool = False,
) -> InputCheck:
    """One input's rows.  Tolerances are per element: ``atol_base * max(1, |fd|)`` of
    that element (or the user's ``atol``), so a 10% error in a small element is seen
    next to an element of 1e6.  A large input is checked along random directions;
    when one fails, the failing element is found by bisection over the tensor
    (about ``2*log2(size)`` differences), falling back to a sample of elements only
    when the mismatch does not narrow to one element."""
    nid = prob.wrt[k]
    x = prob.base[nid]
    name = prob.names[k]
    eps_h = np.cbrt(prob.eps)
    dtype = str(np.asarray(prob.values[name]).dtype)
    delta = prob.delta() if bound else None
    vector = prob.w is not None
    fd_rtol = rtol
    if bound:  # the decision has no fixed relative part; the differences' own tests do
        fd_rtol, rtol = rtol, 0.0
    size = x.size
    scaled = atol is None
    atol_given = atol_base if atol is None else float(atol)
    if ad.shape != x.shape:
        note = f"AD returned shape {ad.shape} for an input of shape {x.shape}"
        return InputCheck(
            name, x.shape, dtype, "shape", rtol, atol_given, [], "fail", [note], scaled, ad.shape
        )
    rows: list[tuple[Any, float, FDEstimate, float]] = []
    mode = "full"
    flat: Any = np.arange(size)
    h_all = eps_h * max(1.0, float(np.max(np.abs(x), initial=0.0)))
    if size > max_full:
        mode = "projection"
        for p in range(projections):
            v = rng.standard_normal(x.shape)
            v /= np.max(np.abs(v))
            fd = fd_sweep(prob.along(k, v), h_all, prob.eps, fd_rtol, atol_base, vector, delta)
            extra = float(np.sum(np.abs(v) * noise)) + _unseen(prob, k, v, fd, bound)
            rows.append((f"proj{p}", float(np.sum(ad * v)), fd, extra))
        flat = None
        if _projections_fail(rows, rtol, atol_base, atol, bound, fd_rtol):
            found = _bisect_input(
                prob, k, ad, rtol, atol_base, atol, rng, h_all, noise, bound, fd_rtol, delta
            )
            if found is not None:
                mode, flat = "projection+bisection", [found]
            else:
                mode, flat = "projection+full", np.arange(size)
                if size > max_elements:
                    flat = np.sort(rng.choice(size, max_elements, replace=False))
    for j in [] if flat is None else flat:
        idx = np.unravel_index(int(j), x.shape)
        v = np.zeros_like(x)
        v[idx] = 1.0
        h = eps_h * max(1.0, abs(float(x[idx])))
        fd = fd_sweep(prob.along(k, v), h, prob.eps, fd_rtol, atol_base, vector, delta)
        extra = float(noise[idx]) + _unseen(prob, k, v, fd, bound)
        rows.append((tuple(int(i) for i in idx), float(ad[idx]), fd, extra))
    elements = []
    for index, a, fd, extra in rows:
        tol_abs = _element_atol(atol_base, atol, fd, extra, bound, fd_rtol)
        # a deferred SymPy witness (a callable) is asked only where it can change the status
        status, note = _decide(a, fd, None if callable(sym) else sym, rtol, tol_abs)
        if callable(sym) and status in ("noisy", "jump", "fail"):
            sym = sym()
            status, note = _decide(a, fd, sym, rtol, tol_abs)
        interval = (float(fd.lo), float(fd.hi)) if str(fd.kind) == "kink" else None
        elements.append(
            ElementCheck(
                index,
                a,
                float(fd.value),
                float(fd.err),
                sym,
                status,
                note,
                float(fd.step),
                interval,
                tol_abs,
            )
        )
    # after a projection failed, the elementwise rows decide, but a decisive projection
    # failure still counts (the elements may be a sample)
    checked = [
        e.status
        for e in elements
        if mode in ("full", "projection") or isinstance(e.index, tuple) or e.status == "fail"
    ]
    verdict = _combine(checked)
    return InputCheck(
        name, x.shape, dtype, mode, rtol, atol_given, elements, verdict, [], scaled, bounds=bound
    )


def _unseen(prob: _Problem, k: int, v: np.ndarray, fd: FDEstimate, bound: bool = False) -> float:
    """The smallest derivative finite differences could have seen along ``v``: a change
    below the rounding of the forward values the step reaches leaves no trace.  With
    the propagated rounding bound a scalar objective's error estimate already holds
    it; only the terms of a non-scalar output, whose unchanged terms count as exact,
    need it."""
    h = float(fd.step)
    if not h or str(fd.kind) == "nonfinite" or (bound and prob.w is None):
        return 0.0
    return 4 * prob.eps * prob.resolution(k, v, h) / h


def _element_atol(
    atol_base: float,
    atol: float | None,
    fd: FDEstimate,
    noise: float = 0.0,
    bound: bool = False,
    rtol_d: float = 0.0,
) -> float:
    """The absolute tolerance of one compared number.  By default (``bound``) it comes
    from rounding-error analysis alone: AD's propagated rounding bound in that number
    (``noise``) plus the differences' own error bound (truncation and rounding); a
    failure then needs twice the differences' error more (:func:`_decide`).  With a
    user's ``rtol``/``atol``: the user's atol, or the dtype's base scaled by that
    number's own magnitude (never by its neighbours') plus AD's rounding bound.

    Where the differences' error is larger than the dtype's fixed tolerance
    (``rtol_d*|fd| + atol_base*max(1, |fd|)``) only that much of it counts towards a
    pass, so a mismatch the differences cannot resolve is inconclusive, not a pass."""
    if bound:
        err, value = float(fd.err), float(fd.value)
        mag = abs(value) if np.isfinite(value) else 1.0
        cap = rtol_d * mag + atol_base * max(1.0, mag)
        return noise + (min(err, cap) if np.isfinite(err) else 0.0)
    if atol is not None:
        return float(atol)
    value = float(fd.value)
    return atol_base * max(1.0, abs(value) if np.isfinite(value) else 1.0) + noise


def _projections_fail(
    rows: list,
    rtol: float,
    atol_base: float,
    atol: float | None,
    bound: bool = False,
    rtol_d: float = 0.0,
) -> bool:
    return any(
        _decide(a, fd, None, rtol, _element_atol(atol_base, atol, fd, extra, bound, rtol_d))[0]
        not in ("pass", "kink")
        for _, a, fd, extra in rows
    )


def _bisect_input(
    prob: _Problem,
    k: int,
    ad: np.ndarray,
    rtol: float,
    atol_base: float,
    atol: float | None,
    rng: np.random.Generator,
    h: float,
    noise: np.ndarray,
    bound: bool = False,
    fd_rtol: float | None = None,
    delta: Any = None,
) -> int | None:
    """The flat index of an element where AD and the differences disagree, found by
    halving the set of moved elements along a random direction; None when no half
    fails decisively (noise, or errors that cancel between halves)."""
    x = prob.base[prob.wrt[k]]
    v = rng.standard_normal(x.shape)
    v /= np.max(np.abs(v))

    def fails(idx: np.ndarray) -> bool:
        mask = np.zeros(x.size)
        mask[idx] = 1.0
        d = v * mask.reshape(x.shape)
        fd = fd_sweep(
            prob.along(k, d), h, prob.eps, rtol if fd_rtol is None else fd_rtol, atol_base,
            prob.w is not None, delta,
        )  # fmt: skip
        return (
            _decide(
                float(np.sum(ad * d)),
                fd,
                None,
                rtol,
                _element_atol(
                    atol_base, atol, fd, float(np.sum(np.abs(d) * noise)), bound, fd_rtol or 0.0
                ),
            )[0]
            == "fail"
        )

    idx = np.arange(x.size)
    if not fails(idx):
        return None
    while idx.size > 1:
        half, rest = idx[: idx.size // 2], idx[idx.size // 2 :]
        if fails(half):
            idx = half
        elif fails(rest):
            idx = rest
        else:
            return None
    return int(idx[0])


# -- public API ------------------------------------------------------------------------------


def check_grad(
    f: Any,
    at: Any = None,
    *,
    wrt: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    sympy: bool = True,
    strict: bool = False,
    localize_on_fail: bool = True,
    max_full: int = 64,
    projections: int = 2,
    max_elements: int = 1024,
    sympy_timeout: float = 2.0,
    order: int = 1,
) -> GradCheckReport:
    """Check graphad's gradient of ``f`` against finite differences and SymPy.

    Parameters
    ----------
    f : Expr or callable
        An expression (``at`` maps input names, or input Exprs, to values) or
        a Python function of Exprs (``at`` is the tuple of its positional
        arguments; it is traced with inputs ``a0, a1, ...`` of their shapes and
        dtypes).  A non-scalar result is checked through ``<w, f>`` for a
        random ``w``.
    wrt : str, Expr, int or a list of them, optional
        Inputs to check (names/Exprs; argument positions for a callable).
        Default: every floating-point input.
    rtol, atol : float, optional
        Fixed tolerances: pass when ``|ad - fd| <= atol + rtol*|fd|`` (a missing
        one from :func:`default_tolerances` of the least precise float dtype,
        atol scaled by ``max(1, |fd|)`` of each element).  By default (both None)
        the tolerance of each element comes from rounding-error analysis: a bound
        on AD's rounding error propagated through the gradient graph
        (:mod:`graphad.check.rounding`) plus the finite differences' own error
        (Richardson truncation estimate and the forward's propagated rounding
        bound over the step); the report states each input's detection threshold.
    seed : int
        Seed of the random directions and cotangents (checks are reproducible).
    sympy : bool
        Use SymPy as a third witness for scalar graphs.  SymPy runs in a
        child process, stopped after ``sympy_timeout`` seconds (the column then
        says n/a); the first check of a session also waits about a second for
        that process to start and import SymPy.
    strict : bool
        Make ``report.ok`` False for an inconclusive verdict too.
    order : int
        1 checks the gradient; 2 checks Hessian-vector products: the gradient of
        ``s = sum_k <r_k, df/dx_k>`` for random ``r`` (built by differentiating
        graphad's own gradient graph) against finite differences of that gradient.
        On a failure the culprit is the node of the gradient graph whose own rule
        is wrong, i.e. the rule whose derivative is wrong.
    localize_on_fail : bool
        On a failure, check each node's own rule and name the culprit.
    max_full, projections, max_elements : int
        Inputs with at most ``max_full`` elements get a full Jacobian check;
        larger ones ``projections`` random directional checks, and on their
        failure an elementwise check of at most ``max_elements`` elements.

    Returns
    -------
    GradCheckReport

    Raises
    ------
    GraphadError
        If ``order`` is not 1 or 2, or the output is not floating (the point, ``wrt``
        and the tolerances are checked too, each naming the argument).

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> report = ga.check_grad(x**2 + ga.sin(x * y), at={"x": 3.0, "y": 2.0})
    >>> report.verdict, report.ok
    ('pass', True)
    >>> ga.check_grad(lambda a: ga.relu(a), at=(0.0,)).verdict
    'pass'
    """
    _check_arguments(
        rtol=rtol,
        atol=atol,
        seed=seed,
        max_full=max_full,
        projections=projections,
        max_elements=max_elements,
        sympy_timeout=sympy_timeout,
    )
    if isinstance(order, bool) or order not in (1, 2):
        raise GraphadError(f"check_grad: order must be 1 or 2, got {order!r}")
    prob = _prepare(f, at, wrt)
    if order == 2:
        return _check_second_order(
            prob,
            seed=seed,
            rtol=rtol,
            atol=atol,
            sympy=sympy,
            strict=strict,
            localize_on_fail=localize_on_fail,
            max_full=max_full,
            projections=projections,
            max_elements=max_elements,
            sympy_timeout=sympy_timeout,
        )
    rng = np.random.default_rng(seed)
    y = np.asarray(prob.values_at_point()[prob.out])
    if y.dtype.kind not in "f":
        raise GraphadError(f"check_grad: the output has dtype {y.dtype}; it must be floating")
    if y.ndim:
        prob.w = rng.standard_normal(y.shape)
        prob.w = np.asarray(prob.w.astype(y.dtype), dtype=np.float64)
    # SymPy works in its own process meanwhile: started first, collected last
    witness = _SympyWitness(prob, sympy_timeout, y.ndim == 0) if sympy else None
    try:
        return _check_first_order(
            prob, y, rng, witness, rtol, atol, seed, strict, localize_on_fail, max_full,
            projections, max_elements
        )  # fmt: skip
    finally:
        if witness is not None:
            witness.cancel()


def _check_first_order(
    prob: _Problem,
    y: np.ndarray,
    rng: np.random.Generator,
    witness: _SympyWitness | None,
    rtol: float | None,
    atol: float | None,
    seed: int,
    strict: bool,
    localize_on_fail: bool,
    max_full: int,
    projections: int,
    max_elements: int,
) -> GradCheckReport:
    ad, ad_noise, linearity_note = _ad_gradients(prob, y)
    ad_dtype = _least_precise([*ad, y, *prob.values.values()])
    rtol_d, atol_base = default_tolerances(ad_dtype)
    bound = rtol is None and atol is None  # tolerances from rounding-error analysis
    rtol = rtol_d if rtol is None else float(rtol)
    if not _evaluates_in_float64(prob):
        prob.eps = float(np.finfo(np.float32).eps)
    syms: list[Any] = [None] * len(prob.wrt)
    sym_note: Any = "not requested"
    if witness is not None and witness.deferred:
        # computed in this process when a status needs it or the report is read
        got: list = []

        def resolve() -> tuple[list, str]:
            if not got:
                got.append(witness.values())
            return got[0]

        syms = [lambda k=k: resolve()[0][k] for k in range(len(prob.wrt))]
        sym_note = lambda: resolve()[1]  # noqa: E731
    elif witness is not None:
        syms, sym_note = witness.values()
    inputs = [
        _check_input(
            prob,
            k,
            ad[k],
            syms[k],
            rtol,
            atol_base,
            atol,
            rng,
            max_full,
            projections,
            max_elements,
            ad_noise[k],
            bound,
        )
        for k in range(len(prob.wrt))
    ]
    verdict = _combine([i.verdict for i in inputs]) if inputs else "pass"
    report = GradCheckReport(
        verdict=verdict,
        inputs=inputs,
        graph=prob.graph,
        outputs=[prob.out],
        label=prob.label,
        point={n: np.asarray(v) for n, v in prob.values.items()},
        dtype=str(ad_dtype),
        sympy_status=sym_note,
        strict=strict,
        output_shape=tuple(y.shape),
    )
    if not np.all(np.isfinite(y)):
        report.notes.append("the function value is not finite at this point")
    if linearity_note:
        report.verdict = "fail"
        report.notes.append(linearity_note)
    if report.verdict == "fail" and localize_on_fail:
        _attach_culprit(report, prob, seed, rtol)
    return report


def _check_second_order(prob: _Problem, *, seed: int, **kwargs: Any) -> GradCheckReport:
    """``order=2``: the first-order check of ``s(x) = sum_k <r_k, grad_k f(x)>``, whose
    gradient is the Hessian-vector product ``H r``, on a private copy of the graph."""
    from ..transforms.autodiff import vjp

    rng = np.random.default_rng(seed + 1)
    copy, ids = replay(prob.graph, [prob.out])
    out = Expr(copy, ids[prob.out])
    wrt = [
        Expr(copy, ids[n] if n in ids else copy.input(prob.names[k]))
        for k, n in enumerate(prob.wrt)
    ]
    (y,) = evaluate(prob.graph, [prob.out], prob.values)
    y = np.asarray(y)
    if y.dtype.kind != "f":
        raise GraphadError(f"check_grad: the output has dtype {y.dtype}; it must be floating")
    with copy:  # the rules' own nodes belong to the copy
        cot = None
        if y.ndim:
            cot = [Expr(copy, copy.constant(rng.standard_normal(y.shape).astype(y.dtype)))]
        grads = vjp([out], wrt, cot)
        s = None
        for k, g in enumerate(grads):
            shape = np.shape(prob.values[prob.names[k]])
            dt = np.asarray(prob.values[prob.names[k]]).dtype
            r = Expr(copy, copy.constant(np.asarray(rng.standard_normal(shape), dtype=dt)))
            term = apply("sum", r * g, axis=None, keepdims=False) if shape else r * g
            s = term if s is None else s + term
    if s is None:
        raise GraphadError("check_grad: order=2 needs at least one input to differentiate")
    report = check_grad(s, at=dict(prob.values), wrt=list(prob.names), seed=seed, **kwargs)
    report.label = f"order 2 of {prob.label}"
    report.notes.insert(
        0,
        "order 2: checked the gradient of s = sum_k <r_k, df/dx_k> for random r (its "
        "gradient is the Hessian-vector product H r) against finite differences of "
        "graphad's gradient",
    )
    return report


def _check_arguments(**args: Any) -> None:
    """check_grad's numeric arguments, refused with an error naming the argument: a NaN or
    negative tolerance would silently turn every comparison into a failure (or a pass)."""
    import math

    def real(name: str) -> float:
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise GraphadError(f"check_grad: {name} must be a real number, got {value!r}")
        return float(value)

    for name in ("rtol", "atol"):
        if args[name] is not None:
            value = real(name)
            if not (math.isfinite(value) and value >= 0):
                raise GraphadError(
                    f"check_grad: {name} must be a finite number >= 0 (or None for the "
                    f"dtype's default), got {value!r}"
                )
    timeout = real("sympy_timeout")
    if not (math.isfinite(timeout) and timeout > 0):
        raise GraphadError(
            f"check_grad: sympy_timeout must be a finite number > 0, got {timeout!r}"
        )
    for name, least in (("seed", 0), ("max_full", 0), ("projections", 1), ("max_elements", 1)):
        value = args[name]
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise GraphadError(f"check_grad: {name} must be an integer >= {least}, got {value!r}")


def _evaluates_in_float64(prob: _Problem) -> bool:
    """False when a node that depends on the inputs computes in less than float64
    (e.g. a custom op's implementation), so the differences need a float32 step."""
    prob.objective(prob.base)
    assert prob.forward is not None
    if prob._base_env is None:  # resolution() reuses it
        prob._base_env = prob.forward(prob.base, keep=True)
    env = prob._base_env
    return all(
        np.asarray(env[n]).dtype.kind != "f" or np.asarray(env[n]).dtype.itemsize >= 8
        for n in prob.forward.moved
        if n in env
    )


def _attach_culprit(report: GradCheckReport, prob: _Problem, seed: int, rtol: float) -> None:
    checks = localize(prob.graph, prob.out, prob.values, prob.wrt, seed=seed, rtol=max(rtol, 1e-7))
    report.node_checks = [c for c in checks if c.status != "pass"]
    failing = [c for c in checks if c.status == "fail"]
    if failing:
        c = failing[0]
        report.culprit = c.node
        report.culprit_reason = c.short()
        return
    kinks = [c for c in checks if c.status == "kink"]
    if kinks:
        report.verdict = "inconclusive"
        where = ", ".join(f"v{c.node} {c.op}" for c in kinks[:5])
        for i in report.inputs:
            for e in i.elements:
                if e.status == "fail":
                    e.status, e.note = "kink?", f"the point sits on a kink of {where}"
            i.verdict = _combine([e.status for e in i.elements])
        report.notes.append(
            f"no node's own rule fails its check, and the point sits on a kink "
            f"of {where}: AD's convention there need not match the derivative "
            f"of the composition; verdict downgraded to inconclusive"
        )
    else:
        report.notes.append("no single node's rule fails its local check")


def assert_grad(f: Any, at: Any = None, **kwargs: Any) -> GradCheckReport:
    """:func:`check_grad`, raising :class:`GradientCheckError` when the verdict is "fail"
    (or, with ``strict=True``, inconclusive); returns the report otherwise.

    Parameters
    ----------
    f : Expr or callable
        What to check, as for :func:`check_grad`.
    at : dict or sequence, optional
        The point, as for :func:`check_grad`.
    **kwargs
        Every other :func:`check_grad` option (``wrt``, ``seed``, ``strict`` ...).

    Returns
    -------
    GradCheckReport
        The report, when the check did not fail.

    Raises
    ------
    GradientCheckError
        When the verdict is "fail" (or, with ``strict=True``, inconclusive).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbols("x")
    >>> ga.assert_grad(ga.tanh(x) * x, at={"x": 0.5}).verdict
    'pass'
    >>> bad = ga.defop("bad_exp_doc", np.exp, vjp=lambda g, x: [g * x])
    >>> ga.assert_grad(bad(x), at={"x": 0.5})
    Traceback (most recent call last):
    ...
    graphad.GradientCheckError: ...
    """
    report = check_grad(f, at, **kwargs)
    if not report.ok or report.verdict == "fail":
        raise GradientCheckError(report.summary(), report)
    return report
