"""JAX-style transformations of Python functions: trace, transform the graph, compile, cache.

``ga.grad``, ``ga.value_and_grad``, ``ga.jit``, ``ga.jacfwd``, ``ga.jacrev``,
``ga.jacobian``, ``ga.hessian``, ``ga.jvp``, ``ga.vjp`` and ``ga.vmap`` take a
Python function written with the ``ga`` namespace (``ga.relu``, ``@``,
``ga.log_softmax`` ...) and return a function.  Given Exprs, and on Exprs
alone (``ga.grad(e, x)``), they dispatch to the graph transformations of
:mod:`graphad.transforms.autodiff` and :mod:`graphad.transforms.vmap`.

Called with arrays, a transformed function traces the function once per
signature of its arguments (shape and dtype of every array, value of every
static argument) on symbolic inputs ``a0, a1, ...`` of static shape and dtype
in a fresh :class:`~graphad.core.graph.Graph`, transforms the graph, compiles it
with :func:`graphad.compile` and caches the result; later calls with the same
signature run the generated NumPy code only.

Called with Exprs -- because an outer transformation is tracing it, as in
``ga.grad(ga.grad(f))``, ``ga.jit(ga.grad(f))`` or
``ga.vmap(ga.grad(loss))`` -- it builds its result into the Exprs' graph
instead: the differentiated arguments are replaced by fresh inputs while the
function is traced (so a closure over a value of the outer trace is a
constant to the inner derivative, and never confused with the argument),
the graph is transformed, and the fresh inputs are substituted back by the
arguments.  That is why transformations compose to any depth.

Arguments may be arrays, NumPy or Python floats, or lists, tuples and dicts of
them (as JAX's pytrees); gradients come back in the same structure.  Python
ints, bools, strings and other hashable values in positions not listed in
``argnums`` are static: they are baked into the trace and are part of the
cache key (as ``static_argnums`` in JAX).  Keyword arguments are never
differentiated (nor batched by ``vmap``); arrays among them are traced,
other values are static.

The machine itself is :mod:`.tracer`, pytrees are :mod:`.pytree`, and the Jacobians
and Hessians are :mod:`.jacobians`; this module holds the other entry points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.arrays import is_duck_array
from ..core.errors import GraphadError
from ..core.expr import Expr
from ..transforms import autodiff
from .jacobians import hessian, jacfwd, jacobian, jacrev
from .pytree import flatten, unflatten
from .tracer import _Transformed

__all__ = [
    "grad",
    "value_and_grad",
    "jit",
    "jacfwd",
    "jacrev",
    "jacobian",
    "hessian",
    "jvp",
    "vjp",
    "vmap",
    "grad_function",
    "value_and_grad_function",
]


# -- public entry points ---------------------------------------------------------------------------


def grad_function(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Any:
    """``ga.grad`` of a Python function (see :func:`grad`)."""
    return _Transformed(f, argnums, "grad", has_aux=has_aux)


def value_and_grad_function(
    f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False
) -> Any:
    """``ga.value_and_grad`` of a Python function (see :func:`value_and_grad`)."""
    return _Transformed(f, argnums, "value_and_grad", has_aux=has_aux)


def grad(
    f: Any, wrt: Any = None, *, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Any:
    """The gradient of ``f``: of an Expr with respect to inputs (new nodes of its graph), or
    of a Python function, as a function (as ``jax.grad``).

    ``f`` non-scalar means the gradient of its sum (as TensorFlow's
    ``GradientTape.gradient``).  The gradient has the shape of the input and is
    zero (never None) for an input ``f`` does not use.

    Parameters
    ----------
    f : Expr or callable
        A callable is written with the ``ga`` namespace and Python operators; it may
        itself be a transformed function (``ga.grad(ga.grad(f))``).
    wrt : Expr, str, or a list of them
        For an Expr: one input gives one Expr, a list a list in the same order.
        Omitted: the single input of ``f``.
    argnums : int or tuple of int
        For a callable: which positional arguments to differentiate; a tuple gives a
        tuple of gradients in the order given.
    has_aux : bool
        For a callable returning ``(value, aux)``: return ``(gradient, aux)``.

    Returns
    -------
    Expr, list of Expr or callable
        For an Expr, gradient node(s) in its graph; for a callable, a function
        of the same arguments returning the gradient(s) as arrays.

    Raises
    ------
    GraphadError
        If ``f`` is neither an Expr nor a callable, ``has_aux`` is given with an Expr,
        or ``wrt`` with a function (use ``argnums``).

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = ga.symbols("x")
    >>> float(ga.grad(x**2 + x - 1, x).eval(x=3.0))
    7.0
    >>> df = ga.grad(lambda x, y: ga.sum(x**2) * y, argnums=(1, 0))
    >>> gy, gx = df(np.array([1.0, 2.0]), 3.0)
    >>> float(gy), gx
    (5.0, array([ 6., 12.]))
    >>> float(ga.grad(ga.grad(ga.sin))(0.0))
    -0.0
    """
    if isinstance(f, Expr):
        if has_aux:
            raise GraphadError("grad: has_aux applies to functions, not to an Expr")
        return autodiff.grad(f, wrt)
    if callable(f):
        if wrt is not None:
            raise GraphadError(
                "grad: wrt applies to an Expr; for a function say which arguments with argnums="
            )
        return grad_function(f, argnums, has_aux=has_aux)
    raise GraphadError(f"grad expects an Expr or a callable, got {type(f).__name__}")


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0, *, has_aux: bool = False) -> Any:
    """A function returning ``(f(*args), gradient)``, computed in one pass (as JAX).

    With ``has_aux=True`` ``f`` returns ``(value, aux)`` and the result is
    ``((value, aux), gradient)``.

    Parameters
    ----------
    f : callable
        A function of arrays, written with the ``ga`` namespace.
    argnums : int or tuple of int
        Which positional arguments to differentiate (a tuple: a tuple of gradients).
    has_aux : bool
        ``f`` returns ``(value, aux)``.

    Returns
    -------
    callable
        A function of ``f``'s arguments returning ``(value, gradient)``.

    Raises
    ------
    GraphadError
        If ``f`` is an Expr or not callable.

    Examples
    --------
    >>> import graphad as ga
    >>> vg = ga.value_and_grad(lambda x: x**2 + x - 1)
    >>> value, slope = vg(3.0)
    >>> float(value), float(slope)
    (11.0, 7.0)
    """
    if isinstance(f, Expr) or not callable(f):
        raise GraphadError(
            f"value_and_grad expects a callable, got {type(f).__name__} (for an Expr e, the "
            f"value is e itself and ga.grad(e, x) its gradient)"
        )
    return value_and_grad_function(f, argnums, has_aux=has_aux)


def jit(f: Callable) -> Callable:
    """Trace ``f`` once per argument signature and run it as compiled NumPy code.

    ``f`` may return one value or (nested) lists, tuples and dicts of values.  Called
    by an outer transformation (with Exprs), the function is simply traced inline.

    Parameters
    ----------
    f : callable
        A function of arrays, written with the ``ga`` namespace.

    Returns
    -------
    callable
        ``f`` compiled: same arguments, same results as NumPy arrays.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> fast = ga.jit(lambda x: ga.tanh(x) * 2)
    >>> fast(np.zeros(3))
    array([0., 0., 0.])
    """
    return _Transformed(f, None, "jit")


def _tangent_array(v: Any) -> np.ndarray:
    # a float array keeps its dtype; anything else (a Python float, ints, bools) is
    # float64: np.result_type(0.3, np.float16) is float16 under NumPy 2's rules, which
    # rounded Python-float tangents to 3 digits
    arr = np.asarray(v)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _tangent_leaves_as_floats(tree: Any) -> Any:
    leaves, spec = flatten(tree)
    fixed = [v if isinstance(v, Expr) or is_duck_array(v) else _tangent_array(v) for v in leaves]
    return unflatten(spec, fixed)


def jvp(f: Any, primals: Any, tangents: Any = None) -> Any:
    """Forward mode.  ``ga.jvp(e, {x: t})``: the directional derivative of an Expr, a graph
    (see :func:`graphad.transforms.autodiff.jvp`).  ``ga.jvp(f, primals, tangents)``: for a
    function, ``(f(*primals), J·tangents)`` with one tangent per primal, as ``jax.jvp``.

    Parameters
    ----------
    f : Expr or callable
        The output, or a function.
    primals : dict or tuple
        For an Expr, ``{input: tangent}``; for a function, the point (one value per
        argument).
    tangents : tuple, optional
        For a function: one tangent per primal.

    Returns
    -------
    Expr or tuple
        The tangent Expr, or ``(f(*primals), tangent)`` for a function.

    Raises
    ------
    GraphadError
        If ``f`` is neither an Expr nor a callable; for an Expr, if ``tangents`` is
        given apart from ``primals`` (pass one mapping ``{x: t}``); for a function, if
        ``primals`` and ``tangents`` are not tuples or lists of one length.

    Examples
    --------
    >>> import graphad as ga
    >>> y, t = ga.jvp(lambda x: x**3, (2.0,), (1.0,))
    >>> float(y), float(t)
    (8.0, 12.0)
    """
    if isinstance(f, Expr):
        if tangents is not None:
            raise GraphadError("jvp: for an Expr, pass the tangents as one mapping {x: t}")
        return autodiff.jvp(f, primals)
    if not callable(f):
        raise GraphadError(f"jvp expects an Expr or a callable, got {type(f).__name__}")
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise GraphadError(
            "jvp: primals and tangents must be tuples (one entry per positional argument of "
            "the function), e.g. ga.jvp(f, (x,), (t,))"
        )
    if len(primals) != len(tangents):
        raise GraphadError(
            f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s); give one tangent "
            f"per primal"
        )
    tangents = tuple(_tangent_leaves_as_floats(t) for t in tangents)
    return _Transformed(f, None, "jvp")(*primals, *tangents)


def vjp(f: Any, *primals: Any, **kwargs: Any) -> Any:
    """Reverse mode.  ``ga.vjp(outputs, wrt, cotangents)`` on Exprs (see
    :func:`graphad.transforms.autodiff.vjp`).  ``ga.vjp(f, *primals)`` on a function returns
    ``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` gives one cotangent per primal
    (a tuple), as ``jax.vjp``.

    Parameters
    ----------
    f : Expr, list of Expr or callable
        The outputs (with ``wrt`` and the cotangents), or a function.
    *primals
        For a function: the point (one array per argument).  For Exprs: the inputs
        and the cotangents, as :func:`graphad.transforms.autodiff.vjp`.
    **kwargs
        Passed to :func:`graphad.transforms.autodiff.vjp` for Exprs.

    Returns
    -------
    tuple or list of Expr
        For a function ``(f(*primals), vjp_fn)``; for Exprs the cotangent Exprs.

    Raises
    ------
    GraphadError
        If ``f`` is neither Exprs nor a callable, or keyword arguments come with a
        function.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> y, back = ga.vjp(lambda a, b: a * b, 2.0, 3.0)
    >>> [float(c) for c in back(1.0)]
    [3.0, 2.0]
    """
    if isinstance(f, Expr) or (isinstance(f, list | tuple) and f and isinstance(f[0], Expr)):
        return autodiff.vjp(f, *primals, **kwargs)
    if not callable(f):
        raise GraphadError(f"vjp expects Exprs or a callable, got {type(f).__name__}")
    if kwargs:
        raise GraphadError(f"vjp: unexpected keyword argument(s) {sorted(kwargs)}")
    out = jit(f)(*primals)
    back = _Transformed(f, None, "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        return back(*primals, _tangent_leaves_as_floats(cotangent))

    return out, vjp_fn


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Any:
    """Vectorize ``f`` over a batch axis, as ``jax.vmap``: a graph transformation.

    ``f`` is traced once on one example (the arguments without their batch axis),
    then every node of its graph that depends on a batched argument is rewritten to
    carry a leading batch axis (:func:`graphad.transforms.vmap.batch`); the result runs as one
    compiled vectorized function, not a loop.

    Parameters
    ----------
    f : callable
        A function of one example's arrays.
    in_axes : int, None, or a tuple with one int/None per positional argument
        The batch axis of each argument (``None``: not batched, shared by all examples).
        Keyword arguments are never batched.
    out_axes : int, None, or a tuple with one per output
        Where the batch axis goes in each output (``None`` only for an output that
        does not depend on a batched argument).

    Returns
    -------
    callable
        The batched function: each argument carries the batch axis ``in_axes``
        gives it.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> loss = lambda w, x, y: (ga.sum(w * x) - y) ** 2
    >>> per_example = ga.vmap(ga.grad(loss), in_axes=(None, 0, 0))
    >>> per_example(np.ones(2), np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([1.0, 0.0]))
    array([[4., 8.],
           [0., 2.]])
    """
    return _Transformed(f, None, "vmap", in_axes=in_axes, out_axes=out_axes)
