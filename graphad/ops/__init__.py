"""The op table.  Every op, built-in or user-defined, is one :class:`Op` entry in
:data:`OPS`; this package also holds the user-facing functions (``ga.sin`` ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..core.errors import GraphadError
from . import (  # noqa: F401  (declare the table)
    contract,
    einsum_ops,
    elementwise,
    indexing,
    linalg,
    linalg_ops,
    nn,
    ordering,
    reduce,
    rules,
)
from . import diagonals as _diagonals  # noqa: F401  (diag, diagonal, trace, tril, triu)
from . import expr_methods as _expr_methods
from . import layout as _layout  # noqa: F401  (issue 14: squeeze, flip, repeat, tile ...)
from . import numpy_aliases as _numpy_aliases  # noqa: F401  (flipud, take, linspace ...)
from . import padding as _padding  # noqa: F401  (pad)
from . import split_join as _split_join  # noqa: F401  (split, vstack, hstack ...)
from . import stats as _stats  # noqa: F401  (issue 14: var, std, cumsum, cumprod, diff)
from .core import FUNCTIONS, OPS, Op, apply, as_expr, const_value, constant, register
from .rules import sum_to

#: the ``ga`` functions, generated from the op table (each op's function, plus aliases)
PUBLIC: tuple[str, ...] = tuple(
    sorted(name for name, (op, _) in FUNCTIONS.items() if OPS[op].public)
)
globals().update({name: FUNCTIONS[name][1] for name in PUBLIC})
#: the op functions of the top-level ``ga`` namespace (the others are in a sub-namespace
#: named by their op's ``namespace`` facet, ``ga.linalg``)
TOP_LEVEL: tuple[str, ...] = tuple(n for n in PUBLIC if not OPS[FUNCTIONS[n][0]].namespace)
#: names callable in parsed text
PARSER_FUNCTIONS: frozenset[str] = frozenset(n for n in PUBLIC if OPS[FUNCTIONS[n][0]].parse)
#: layer activations by name (``Dense(activation="relu")``)
ACTIVATIONS: dict[str, Callable[..., Any]] = {
    n: FUNCTIONS[n][1] for n in PUBLIC if OPS[FUNCTIONS[n][0]].activation
}

__all__ = [
    "OPS", "FUNCTIONS", "PUBLIC", "TOP_LEVEL", "PARSER_FUNCTIONS", "ACTIVATIONS", "Op", "apply",
    "as_expr", "const_value", "constant", "register", "defop", "sum_to", *PUBLIC,
]  # fmt: skip

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# names with a meaning of their own: every graph's leaves, and the parser's constants
_RESERVED = {
    "input": "the op of every graph input",
    "constant": "the op of every graph constant",
    "pi": "a constant in parsed text",
    "e": "a constant in parsed text",
}


def defop(
    name: str,
    impl: Callable[..., Any],
    *,
    vjp: Callable[..., list],
    jvp: Callable[..., Any] | None = None,
    sympy: Callable[..., Any] | None = None,
    nargs: int | None = None,
    domain: Sequence[tuple[float, float]] | None = None,
) -> Callable[..., Any]:
    """Register a custom op from a NumPy implementation and a graph-building VJP rule.

    Parameters
    ----------
    name : str
        The op's name in graphs, renderings and reports (letters, digits, ``_``).
    impl : callable
        ``impl(*arrays) -> array``, the NumPy implementation.
    vjp : callable
        ``vjp(g, *inputs) -> [cotangent per input]``: receives the output
        cotangent and the input Exprs, returns Exprs (``None`` for an input
        with no gradient).  It builds graph nodes, so the gradient can be
        compiled, rendered and differentiated again.
    jvp : callable, optional
        ``jvp(tangents, *inputs) -> tangent``; derived from ``vjp`` by
        transposition when omitted.
    sympy : callable, optional
        SymPy equivalent (e.g. ``sympy.sin``), used by ``to_sympy`` and checks.
    nargs : int, optional
        Number of inputs; taken from ``impl``'s signature when omitted.
    domain : sequence of (lo, hi), optional
        Per-input interval where the op is meant to be used; ``ga.testing.check_op``
        samples it (as the op table's tests sample the built-in ops' domains).

    Returns
    -------
    callable
        The op as a function of Exprs, like ``ga.sin``.

    Raises
    ------
    GraphadError
        If ``name`` is not an identifier, is reserved or is a built-in op's; ``impl`` or
        ``vjp`` is not callable; or ``domain`` is not one finite (lo, hi) pair with lo <
        hi per input. A VJP returning the wrong number of cotangents raises it when the
        gradient is built.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> mysin = ga.defop("mysin", np.sin, vjp=lambda g, x: [g * ga.cos(x)])
    >>> x = ga.symbols("x")
    >>> float(ga.grad(mysin(x), x).eval(x=0.0))
    1.0
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise GraphadError(f"defop: invalid op name {name!r} (use letters, digits and _)")
    if name in _RESERVED:
        raise GraphadError(f"defop: {name!r} is reserved ({_RESERVED[name]}); choose another name")
    if (name in OPS and not OPS[name].custom) or name in FUNCTIONS:
        raise GraphadError(f"defop: {name!r} is a built-in op; choose another name")
    if not callable(impl) or not callable(vjp):
        raise GraphadError("defop: impl and vjp must be callables")
    if nargs is None:
        import inspect

        try:
            sig = inspect.signature(impl)
            pos = [
                p
                for p in sig.parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
            ]
            nargs = len(pos) or 1
        except (TypeError, ValueError):  # NumPy ufuncs have no signature
            nargs = getattr(impl, "nin", 1)

    if domain is not None:
        try:
            domain = tuple((float(lo), float(hi)) for lo, hi in domain)
        except (TypeError, ValueError):
            raise GraphadError("defop: domain must be a sequence of (lo, hi) pairs") from None
        if len(domain) != nargs or not all(
            math.isfinite(lo) and math.isfinite(hi) and lo < hi for lo, hi in domain
        ):
            raise GraphadError(
                f"defop: domain must give one finite (lo, hi) with lo < hi per input "
                f"({nargs}), got {domain!r}"
            )

    def _vjp(g, ans, *args, **params):
        cots = list(vjp(g, *args))
        if len(cots) != len(args):
            raise GraphadError(
                f"VJP of {name} returned {len(cots)} cotangents for {len(args)} inputs"
            )
        return [None if c is None else as_expr(c, g.graph) for c in cots]

    _jvp = None
    if jvp is not None:

        def _jvp(tangents, ans, *args, **params):
            return jvp(tangents, *args)

    op = register(
        Op(
            name=name,
            impl=impl,
            nargs=nargs,
            vjp=_vjp,
            jvp=_jvp,
            shape=None,
            dtype=lambda *a, **p: None,
            sympy=None if sympy is None else (lambda sp, *a, **p: sympy(*a)),
            custom=True,
            domain=domain,
            label=name,
            doc=getattr(impl, "__doc__", "") or "",
        )
    )

    def fn(*args):
        return apply(name, *args)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Custom op {name!r} registered with ga.defop."
    fn.op = op
    return fn


_expr_methods.install()  # x + y, x.sum(), x[1:] ... build these ops

#: the op functions' examples (generated from the table) as doctests of this module:
#: ``pytest --doctest-modules`` finds functions built at run time only through here
#: (an alias, ``mod``, shares its function's docstring and is run once)
__test__ = {
    f"op_{n}": FUNCTIONS[n][1].__doc__
    for n in PUBLIC
    if FUNCTIONS[n][0] == n or FUNCTIONS[n][1].__name__ == n
}
