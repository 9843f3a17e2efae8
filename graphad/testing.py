"""Helpers for checking gradients in your own test suite (pytest, Hypothesis).

``check_op`` checks an expression-building function (or a custom op made with
``ga.defop``) at random points of its domain and raises
:class:`graphad.GradientCheckError` (an ``AssertionError``, so pytest shows it
as a test failure, with the full report) on a wrong gradient.  ``points`` and
``op_points`` are Hypothesis strategies for points inside a domain.
Hypothesis is imported only when a strategy is asked for.

Examples
--------
>>> import numpy as np, graphad as ga
>>> from graphad.testing import check_op
>>> mysin = ga.defop("mysin_testing_doc", np.sin, vjp=lambda g, x: [g * ga.cos(x)])
>>> reports = check_op(mysin, (-3, 3), n=3)
>>> [r.verdict for r in reports]
['pass', 'pass', 'pass']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .check.gradcheck import GradCheckReport, assert_grad, check_grad

__all__ = [
    "assert_grad",
    "check_grad",
    "check_op",
    "op_points",
    "points",
    "sample",
    "stratified",
]

Domain = tuple[float, float]


def _resolve(fn: Callable | str, params: dict[str, Any]) -> tuple[Callable, Any]:
    """The function of Exprs to check, and its op-table entry when it has one."""
    from .ops import OPS, apply

    if isinstance(fn, str):
        if fn not in OPS:
            from .core.errors import UnknownNameError

            raise UnknownNameError(f"check_op: no op named {fn!r}")
        op = OPS[fn]
        import graphad

        public = getattr(graphad, fn, None)

        def call(*xs: Any) -> Any:
            if public is not None and getattr(public, "op", None) is op:
                return public(list(xs), **params) if op.nargs is None else public(*xs, **params)
            return apply(fn, list(xs), **params) if op.nargs is None else apply(fn, *xs, **params)

        return call, op
    op = getattr(fn, "op", None)
    if params:
        return (lambda *xs: fn(*xs, **params)), op
    return fn, op


def sample(
    domains: Sequence[Domain],
    shapes: Sequence[tuple[int, ...]],
    rng: np.random.Generator,
    dtype: Any = np.float64,
) -> tuple[np.ndarray, ...]:
    """One random point: each argument uniform in the middle 90% of its domain.

    Parameters
    ----------
    domains : sequence of (lo, hi)
        One interval per argument.
    shapes : sequence of tuple of int
        One shape per argument.
    rng : numpy.random.Generator
        The source of randomness (seeded by the caller).
    dtype : numpy dtype
        Of the values.

    Returns
    -------
    tuple of ndarray
        One array per argument.

    Examples
    --------
    >>> import numpy as np
    >>> x, = sample([(0.5, 2.0)], [(3,)], np.random.default_rng(0))
    >>> bool(np.all((x > 0.5) & (x < 2.0))), x.shape
    (True, (3,))
    """
    out = []
    for (lo, hi), shape in zip(domains, shapes, strict=True):
        pad = 0.05 * (hi - lo)  # keep clear of the edges, where ops are often singular
        out.append(rng.uniform(lo + pad, hi - pad, size=shape).astype(dtype))
    return tuple(out)


def stratified(
    domains: Sequence[Domain],
    shapes: Sequence[tuple[int, ...]],
    n: int,
    rng: np.random.Generator,
    dtype: Any = np.float64,
) -> list[tuple[np.ndarray, ...]]:
    """``n`` points spread over the domain: the middle 90% of each argument's interval is
    cut into ``n`` strata and every element takes one point in each stratum, in a random
    order (a Latin hypercube), so a rule wrong only on part of the domain -- say for
    ``x > 2`` in ``(0, 4)`` -- is met whenever ``n >= 2`` rather than by luck.

    Parameters
    ----------
    domains : sequence of (lo, hi)
        One interval per argument.
    shapes : sequence of tuple of int
        One shape per argument.
    n : int
        How many points (and strata).
    rng : numpy.random.Generator
        The source of randomness (seeded by the caller).
    dtype : numpy dtype
        Of the values.

    Returns
    -------
    list of tuple of ndarray
        ``n`` points, each one array per argument.

    Examples
    --------
    >>> import numpy as np
    >>> pts = stratified([(0.0, 4.0)], [()], 4, np.random.default_rng(0))
    >>> sorted(int((float(p[0]) - 0.2) // 0.9) for p in pts)
    [0, 1, 2, 3]
    """
    columns = []
    for (lo, hi), shape in zip(domains, shapes, strict=True):
        pad = 0.05 * (hi - lo)  # keep clear of the edges, where ops are often singular
        lo, hi = lo + pad, hi - pad
        size = int(np.prod(shape, dtype=np.int64))
        order = np.argsort(rng.random((n, size)), axis=0)  # a permutation per element
        u = (order + rng.random((n, size))) / n
        columns.append([(lo + u[k] * (hi - lo)).reshape(shape).astype(dtype) for k in range(n)])
    return [tuple(col[k] for col in columns) for k in range(n)]


def check_op(
    fn: Callable | str,
    *domains: Domain,
    shapes: Any = None,
    n: int = 5,
    seed: int = 0,
    dtype: Any = np.float64,
    nargs: int | None = None,
    params: dict[str, Any] | None = None,
    **check_kwargs: Any,
) -> list[GradCheckReport]:
    """Check the gradient of ``fn`` at ``n`` random points of its domain.

    Parameters
    ----------
    fn : callable or str
        A function of Exprs (e.g. a ``ga.defop`` op, or ``lambda x, y: ...``), or
        the name of an op in the op table.
    *domains : (lo, hi)
        Sampling interval per argument.  Default: the op's declared ``domain``
        (the op table's, or ``ga.defop(..., domain=...)``) when ``fn`` is an op,
        else ``(-2, 2)``.
    shapes : tuple or list of tuples, optional
        Shape of every argument (one tuple) or of each (a list).  Default scalars.
    n : int
        Number of points, spread over the domain by :func:`stratified` (one per
        ``1/n`` of each argument's interval, in random order).
    dtype : dtype
        Dtype of the sampled points (float32 checks use float32 tolerances).
    nargs : int, optional
        Number of arguments when neither ``domains`` nor the op say it.
    params : dict, optional
        Keyword parameters passed to ``fn`` (``axis=...``).
    **check_kwargs
        Passed to :func:`graphad.check_grad` (``rtol``, ``atol``, ``sympy`` ...).

    Returns
    -------
    list of GradCheckReport

    Raises
    ------
    GradientCheckError
        At the first point whose verdict is "fail"; ``.report`` holds the report.
    GraphadError
        If ``n`` is not an int >= 1.

    Examples
    --------
    >>> import graphad as ga
    >>> from graphad.testing import check_op
    >>> len(check_op(lambda x, y: x * ga.exp(y), (-1, 1), (-1, 1), n=2))
    2
    >>> len(check_op("logsumexp", shapes=(4,), n=1, params={"axis": -1}))
    1
    """
    call, op = _resolve(fn, dict(params or {}))
    if not domains:
        if op is not None and op.domain:
            domains = tuple(tuple(d) for d in op.domain)
        else:
            count = nargs or (op.nargs if op is not None and op.nargs else None) or 1
            domains = ((-2.0, 2.0),) * count
    if shapes is None:
        shapes = [()] * len(domains)
    elif isinstance(shapes, tuple) and all(isinstance(s, int) for s in shapes):
        shapes = [shapes] * len(domains)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        from .core.errors import GraphadError

        raise GraphadError(f"check_op: n must be an integer >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    check_kwargs.setdefault("seed", seed)
    reports = []
    for at in stratified(domains, list(shapes), int(n), rng, dtype):
        reports.append(assert_grad(call, at=at, **check_kwargs))
    return reports


# -- Hypothesis strategies --------------------------------------------------------------------


def points(
    domain: Domain = (-2.0, 2.0), shape: tuple[int, ...] = (), dtype: Any = np.float64
) -> Any:
    """A Hypothesis strategy for points inside ``domain`` (open interval, finite).

    Scalars (``shape=()``) are drawn as Python floats, tensors as ndarrays.

    Parameters
    ----------
    domain : (lo, hi)
        The open interval the values are drawn from.
    shape : tuple of int
        Shape of one point (``()``: a Python float).
    dtype : numpy dtype
        Of the values.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        The strategy.

    Examples
    --------
    >>> from hypothesis import given
    >>> import graphad as ga
    >>> from graphad.testing import points
    >>> @given(points((0.1, 4.0)))
    ... def test_log(x):
    ...     ga.assert_grad(lambda a: ga.log(a), at=(x,), sympy=False)
    >>> test_log()
    """
    from hypothesis import strategies as st

    lo, hi = float(domain[0]), float(domain[1])
    width = 32 if np.dtype(dtype) == np.float32 else 64
    if width == 32:  # bounds must be float32 numbers: round them inwards
        lo32, hi32 = np.float32(lo), np.float32(hi)
        lo = float(lo32 if lo32 >= lo else np.nextafter(lo32, np.float32(np.inf)))
        hi = float(hi32 if hi32 <= hi else np.nextafter(hi32, np.float32(-np.inf)))
    elements = st.floats(
        lo,
        hi,
        allow_nan=False,
        allow_infinity=False,
        exclude_min=True,
        exclude_max=True,
        width=width,
    )
    if shape == ():
        return elements
    from hypothesis.extra import numpy as hnp

    return hnp.arrays(np.dtype(dtype), shape, elements=elements)


def op_points(fn: Callable | str, shapes: Any = None, dtype: Any = np.float64) -> Any:
    """A Hypothesis strategy for argument tuples inside an op's declared domain.

    Parameters
    ----------
    fn : callable or str
        The op: a ``ga`` function, a ``defop`` op or an op name.
    shapes : sequence of tuple of int, optional
        One shape per argument (default: scalars).
    dtype : numpy dtype
        Of the values.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Tuples of one value per argument, inside the op's domain
        (``(-2, 2)`` for an op without one).

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from graphad.testing import op_points, check_op
    >>> @settings(max_examples=5)
    ... @given(op_points("divide"))
    ... def test_divide(args):
    ...     a, b = args
    ...     assert 0.5 < b < 2.0
    >>> test_divide()
    """
    from hypothesis import strategies as st

    _, op = _resolve(fn, {})
    domains = list(op.domain) if op is not None and op.domain else [(-2.0, 2.0)]
    if shapes is None:
        shapes = [()] * len(domains)
    elif isinstance(shapes, tuple) and all(isinstance(s, int) for s in shapes):
        shapes = [shapes] * len(domains)
    return st.tuples(*[points(tuple(d), s, dtype) for d, s in zip(domains, shapes, strict=True)])
