"""Jacobians and Hessians of Python functions and of Exprs: ``ga.jacrev``, ``ga.jacfwd``,
``ga.jacobian`` and ``ga.hessian``.

Each is a mode of the tracing machine of :mod:`.tracer`.  A Jacobian of known shapes
is one JVP (``jacfwd``) or VJP (``jacrev``) batched over the standard basis, not one
derivative per element; of unknown shapes, a ``jacobian`` node expanded once the
shapes are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..core.errors import GraphadError
from ..core.expr import Expr
from ..transforms import autodiff
from .tracer import _jac_leaf, _Transformed

__all__ = ["jacrev", "jacfwd", "jacobian", "hessian"]


def _expr_jacobian(mode: str, v: Expr, wrt: Any) -> Any:
    """``jacfwd(v, x)`` / ``jacrev(v, x)`` of an Expr: one Expr, or a list for a list."""
    if wrt is None:
        raise GraphadError(f"{mode}: say with respect to which input: ga.{mode}(v, x)")
    single = isinstance(wrt, Expr | str)
    xs = [wrt] if single else list(wrt)
    out = []
    for x in xs:
        xe = Expr(v.graph, autodiff._resolve(v.graph, x))
        out.append(_jac_leaf(mode, v, xe))
    return out[0] if single else out


def _function_only(mode: str, f: Any, wrt: Any) -> None:
    if not callable(f):
        raise GraphadError(f"{mode} expects an Expr or a callable, got {type(f).__name__}")
    if wrt is not None:
        raise GraphadError(
            f"{mode}: a second argument applies to an Expr; for a function use argnums="
        )


def jacrev(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """The Jacobian by reverse mode (one VJP per output element): of a function, as a
    function (for an output of shape ``S`` and an argument of shape ``T``, shape
    ``S + T``); of an Expr ``v`` with respect to input(s) ``wrt``, as Exprs.

    Parameters
    ----------
    f : Expr or callable
        The output(s), or a function of arrays.
    wrt : Expr, str, or a list of them, optional
        For an Expr: the inputs (omitted: its single input).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.
    has_aux : bool
        For a function returning ``(value, aux)``.

    Returns
    -------
    Expr, list of Expr, or callable
        The Jacobian (reverse mode) as Exprs, or a function returning it as arrays.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.jacrev(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    if isinstance(f, Expr):
        return _expr_jacobian("jacrev", f, wrt)
    _function_only("jacrev", f, wrt)
    return _Transformed(f, argnums, "jacrev", has_aux=has_aux)


def jacfwd(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """The Jacobian by forward mode (one JVP per input element), of a function or of an
    Expr as :func:`jacrev`: the same values, cheaper when the input is the smaller side.

    Parameters
    ----------
    f : Expr or callable
        The output(s), or a function of arrays.
    wrt : Expr, str, or a list of them, optional
        For an Expr: the inputs (omitted: its single input).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.
    has_aux : bool
        For a function returning ``(value, aux)``.

    Returns
    -------
    Expr, list of Expr, or callable
        The Jacobian (forward mode) as Exprs, or a function returning it as arrays.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.jacfwd(lambda x: ga.sum(x**3))(np.array([1.0, 2.0]))
    array([ 3., 12.])
    """
    if isinstance(f, Expr):
        return _expr_jacobian("jacfwd", f, wrt)
    _function_only("jacfwd", f, wrt)
    return _Transformed(f, argnums, "jacfwd", has_aux=has_aux)


def jacobian(f: Any, x: Any = None, *, argnums: int | Sequence[int] = 0) -> Any:
    """``ga.jacobian(v, x)``: the Jacobian of an Expr (see
    :func:`graphad.transforms.autodiff.jacobian`); ``ga.jacobian(f)``: that of a function,
    as :func:`jacrev` (as ``jax.jacobian``).

    Parameters
    ----------
    f : Expr or callable
        The output, or a function of arrays.
    x : Expr or str
        For an Expr: the input to differentiate with respect to (required).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.

    Returns
    -------
    Expr or callable
        The Jacobian as an Expr (shape ``S + T`` for an output of shape ``S`` and an
        input of shape ``T``), or a function returning it as an array.

    Raises
    ------
    GraphadError
        For an Expr without ``x``, a function with ``x``, or anything else as ``f``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbol("x", shape=(2,))
    >>> ga.jacobian(x**2, x).eval(x=np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    >>> ga.jacobian(lambda v: v**2)(np.array([1.0, 3.0]))
    array([[2., 0.],
           [0., 6.]])
    """
    if isinstance(f, Expr):
        if x is None:
            raise GraphadError("jacobian: say with respect to which input: ga.jacobian(v, x)")
        return autodiff.jacobian(f, x)
    if callable(f):
        if x is not None:
            raise GraphadError(
                "jacobian: a second argument applies to an Expr; for a function use argnums="
            )
        return jacrev(f, argnums=argnums)
    raise GraphadError(f"jacobian expects an Expr or a callable, got {type(f).__name__}")


def hessian(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """Second derivatives: of an Expr, ``hessian(e, [x, y])[i][j] = d²e / dx_i dx_j``
    (nested list, one Expr for a single input); of a scalar-valued function, a function
    returning the Hessian (shape ``T + T`` for an argument of shape ``T``, nested tuples
    for several ``argnums``), as ``jax.hessian``.

    Parameters
    ----------
    f : Expr or callable
        A scalar Expr or a scalar-valued function.
    wrt : Expr, str, or a list of them, optional
        For an Expr: the inputs (omitted: its single input).
    argnums : int or tuple of int
        For a function: the arguments to differentiate.
    has_aux : bool
        For a function returning ``(value, aux)``.

    Returns
    -------
    Expr, nested list of Expr, or callable
        The Hessian as Exprs, or a function returning it as arrays.

    Raises
    ------
    GraphadError
        If ``f`` is neither an Expr nor a callable, an Expr comes without the inputs to
        differentiate in, or a function with them (use ``argnums``).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> ga.hessian(lambda x: ga.sum(x**3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    if isinstance(f, Expr):
        if wrt is None:
            raise GraphadError("hessian: say with respect to which inputs: ga.hessian(e, [x, y])")
        return autodiff.hessian(f, wrt)
    if callable(f):
        if wrt is not None:
            raise GraphadError(
                "hessian: a second argument applies to an Expr; for a function use argnums="
            )
        return _Transformed(f, argnums, "hessian", has_aux=has_aux)
    raise GraphadError(f"hessian expects an Expr or a callable, got {type(f).__name__}")
