"""The op table's machinery: one :class:`Op` declaration holds every facet of an op.

Facets: NumPy implementation, VJP rule (builds graph nodes), JVP rule (or
elementwise partials from which both are derived), static shape and dtype
rules, SymPy equivalent, render label / infix symbol, emitted source and the
input domain the op-table tests sample from.

One module on purpose, though past 600 lines: the ``Op`` declaration (every facet, and
the docstrings and examples generated from them) and ``apply``, the one function that
builds a node from a declaration, are the op table's core and change together.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import GraphadError, LimitError, ShapeError
from ..core.expr import Expr
from ..core.graph import Graph, Node, entered_graph, get_default_graph

__all__ = ["Op", "OPS", "register", "apply", "infer", "as_expr", "graph_of", "const_value"]

Shape = tuple[int, ...] | None


@dataclass(frozen=True)
class Op:
    """One entry of the op table.

    Parameters
    ----------
    name : str
        Name in the graph and in the ``ga`` namespace.
    impl : callable
        NumPy implementation ``impl(*arrays, **params)``.
    nargs : int or None
        Number of graph arguments (``None``: a variadic sequence, e.g. ``stack``).
    partials : callable, optional
        For elementwise ops: ``partials(ans, *args) -> [d ans / d arg_i]`` as
        Exprs (``None`` for an argument with no gradient).  VJP and JVP are
        derived from it, broadcasting undone by ``sum_to``.
    vjp : callable, optional
        ``vjp(g, ans, *args, **params) -> [cotangent_i or None]``.
    jvp : callable, optional
        ``jvp(tangents, ans, *args, **params) -> tangent or None``; tangents
        holds ``None`` for arguments with a zero tangent.  When absent and no
        partials are given, it is derived from the VJP by transposition.
    shape : callable
        ``shape(*arg_shapes, **params)`` -> output shape; arg shapes are tuples
        (``None`` never reaches it: unknown shapes give an unknown result).
    dtype : str or callable
        ``"promote"`` (NumPy promotion), ``"float"`` (promotion, then at least
        float), ``"bool"``, ``"first"`` (dtype of the first argument), ``"select"``
        (promotion of all but the first argument, as ``where``'s branches), or a callable.
    sympy : callable, optional
        ``sympy(sp, *sympy_args, **params)`` -> SymPy expression.
    emit : str or callable
        Source template (``"np.sin({0})"``; params by name, ``{axis}``) or
        ``emit(arg_sources, params) -> str``.
    helper : str, optional
        Source of module-level function definitions ``emit`` refers to.
    duck_emit : str or callable, optional
        Source (as ``emit``) used when an argument is not NumPy's but another
        library's array reached through NumPy's dispatch protocols (a Dask
        array, say): a formulation such libraries run lazily, for ops whose
        NumPy form they cannot (``reshape`` across chunk boundaries).  It must
        give identical results on NumPy arrays too: the generated code takes it
        for every such node when any input is not NumPy's (``_ga_numpy``, once
        per call), and ``emit`` otherwise.
    domain : sequence of (lo, hi), optional
        Per-argument sampling interval for the op-table tests.
    internal : bool
        True for ops that only gradients emit (``sum_to_like``, ``matmul_grad_a``
        ...): not in the ``ga`` namespace, not in the parser, tested through the
        gradients of public ops.
    keywords : sequence of (name, default), optional
        Keyword-only parameters of the generated ``ga`` function, passed to
        ``impl`` and ``emit`` as params (``nan_to_num(x, nan=0.0)``).
    argnames : sequence of str, optional
        Parameter names of the generated ``ga`` function (``("x1", "x2")``);
        ``x`` / ``x1, x2, ...`` when omitted.
    numpy : str, optional
        The NumPy (or SciPy) function this op equals, for documentation and the
        op-table tests (``"np.hypot"``).
    kink : str
        The convention at points where the op is not differentiable (docs).
    parse : bool
        Callable by name in parsed text (``ga.parse("hypot(x, y)")``).
    dunder : str, optional
        The Python operator the op implements on Exprs: ``"add"`` installs
        ``Expr.__add__`` and, for binary ops, the reflected ``__radd__``.
    numexpr : str, optional
        numexpr template (``"sin({0})"``) for fused kernels; ``None``: not fusable.
    ufunc : str, optional
        The NumPy ufunc computing the op with ``out=`` (default: ``impl``'s name
        when it is a ufunc), applied to the arguments and then ``ufunc_args``
        (``relu`` is ``maximum(x, 0)``).
    sympy_name : str, optional
        The SymPy function equal to the op: the default SymPy form, and the
        function ``from_sympy`` turns back into this op.
    nonnegative : bool
        Range fact: every result is >= 0 and never -0.0 (NaN aside).
    preserves_zero : bool
        Range fact: ``op(0) == 0`` (elementwise unary ops).
    monotone : int
        Range fact: +1 non-decreasing, -1 non-increasing in the argument (unary
        ops), 0 neither or unknown.
    foldable : bool
        Whether constant folding may evaluate the op on constants.
    exact : bool
        A fold of Python scalars by this op is remembered by name, so printed and
        drawn forms stay exact (``log(2)``, ``1 / 3``); a selection (``maximum``) is
        just its value.
    view : bool
        The result may be a view of an argument (no new memory: ``reshape``).
    reduction : bool
        Reduces over an ``axis`` param (a fresh array unless it reduces to a scalar).
    reads_only : bool
        Reads its arguments and keeps no view of them, so generated code may reuse an
        argument's buffer once the op has run.
    activation : bool
        Offered by name as a layer activation (``Dense(activation="relu")``).
    lazy : bool or callable
        Whether other array libraries reached through NumPy's dispatch (Dask) run
        the op, value and derivatives, lazily; a callable decides from the params
        (``getitem``: basic indices yes, index arrays no, as ``np.add.at`` has no
        lazy form).  The Dask sweep runs exactly the cases where it holds.
    cases : sequence of (shapes, params), optional
        Test cases every table-driven test reads (argument shapes and
        parameters); elementwise ops default to scalar, broadcast and 3-D cases.
    example : str, optional
        Doctest text (``>>>`` lines and their output) for the Examples section
        of the ``ga`` function's docstring; when empty, one is generated from
        the first test case (see :meth:`examples`).
    lower : callable, optional
        For shape helpers (``sum_to_like``, ``ones_like``, ``matmul_grad_a`` ...):
        ``lower(*arg_exprs, **params) -> Expr or None``, the same value built from
        plain ops once every argument's shape is static (``None``: keep the op,
        e.g. while a dtype it needs is unknown).  :func:`apply` calls it, so a
        graph built from declared shapes, or specialized to the shapes it runs
        with, holds no helper that has a plain form.
    sample : callable, optional
        ``sample(rng, shapes) -> [array per argument]``: test inputs for ops whose
        domain is not a box (well-conditioned, symmetric or SPD matrices); the
        op-table tests use it instead of ``domain`` when given.
    namespace : str
        The ``ga`` sub-namespace the op's function lives in: ``""`` for ``ga.<name>``,
        ``"linalg"`` for ``ga.linalg.<name>`` only (as NumPy has ``np.linalg.inv`` and
        no ``np.inv``).  Every op function is also ``ga.ops.<name>``.
    """

    name: str
    impl: Callable[..., Any]
    nargs: int | None = 1
    partials: Callable[..., list] | None = None
    vjp: Callable[..., list] | None = None
    jvp: Callable[..., Any] | None = None
    shape: Callable[..., tuple[int, ...]] | None = None
    dtype: str | Callable[..., Any] = "promote"
    sympy: Callable[..., Any] | None = None
    emit: str | Callable[..., str] | None = None
    helper: str | None = None
    duck_emit: str | Callable[..., str] | None = None
    label: str | None = None
    infix: str | None = None
    precedence: int = 100
    domain: Sequence[tuple[float, float]] | None = None
    differentiable: bool = True
    elementwise: bool = False
    test_params: Sequence[dict] = field(default_factory=lambda: ({},))
    custom: bool = False
    internal: bool = False
    lower: Callable[..., Any] | None = None
    doc: str = ""
    argnames: Sequence[str] | None = None
    keywords: Sequence[tuple[str, Any]] = ()
    numpy: str | None = None
    kink: str = ""
    parse: bool = True
    dunder: str | None = None
    numexpr: str | None = None
    ufunc: str | None = None
    ufunc_args: tuple = ()
    sympy_name: str | None = None
    nonnegative: bool = False
    preserves_zero: bool = False
    monotone: int = 0
    foldable: bool = True
    exact: bool = False
    view: bool = False
    reduction: bool = False
    reads_only: bool = False
    activation: bool = False
    cases: Sequence[tuple[Sequence[tuple[int, ...]], dict]] | None = None
    lazy: bool | Callable[..., bool] = True
    sample: Callable[..., list] | None = None
    namespace: str = ""
    example: str = ""

    @property
    def public(self) -> bool:
        """In the ``ga`` namespace: neither a gradient helper nor a user's ``defop``."""
        return not self.internal and not self.custom

    @property
    def ufunc_name(self) -> str | None:
        """The NumPy ufunc (``out=`` capable) an elementwise op is, else ``None``."""
        if self.ufunc is not None:
            return self.ufunc
        if self.elementwise and not self.custom and isinstance(self.impl, np.ufunc):
            return self.impl.__name__
        return None

    def runs_lazily(self, params: dict) -> bool:
        """Whether Dask-like libraries run this op with these params lazily (``lazy``)."""
        return bool(self.lazy(params) if callable(self.lazy) else self.lazy)

    def to_sympy(self, sp: Any, *args: Any, **params: Any) -> Any:
        """The SymPy expression of this op applied to SymPy arguments (``None``: none)."""
        if self.sympy is not None:
            return self.sympy(sp, *args, **params)
        if self.sympy_name is not None:
            return getattr(sp, self.sympy_name)(*args)
        return None

    @property
    def has_sympy(self) -> bool:
        return self.sympy is not None or self.sympy_name is not None

    def test_cases(self) -> list[tuple[list[tuple[int, ...]], dict]]:
        """The (argument shapes, params) cases the table-driven tests run."""
        if self.cases is not None:
            return [(list(s), dict(p)) for s, p in self.cases]
        if self.elementwise and self.nargs is not None:
            return [
                (list(s), dict(p)) for s in ELEMENTWISE_SHAPES[self.nargs] for p in self.test_params
            ]
        return [([(2, 3, 4)] * (self.nargs or 2), dict(p)) for p in self.test_params]

    def names(self) -> list[str]:
        """Parameter names of the generated function."""
        if self.argnames is not None:
            return list(self.argnames)
        n = self.nargs or 1
        return ["x"] if n == 1 else [f"x{i + 1}" for i in range(n)]

    def docstring(self, name: str | None = None, fn: Callable[..., Any] | None = None) -> str:
        """The ``ga`` function's numpydoc docstring, composed from the table's facets:
        summary, facts, Parameters, Returns and Examples.  ``fn`` is a hand-written
        function (its signature gives the parameters, its docstring the summary)."""
        name = name or self.name
        own = inspect.cleandoc(fn.__doc__) if fn is not None and fn.__doc__ else ""
        summary, own_raises = _split_raises(own)
        parts = [summary or self.doc or f"Elementwise ``{self.numpy or self.name}``."]
        facts = []
        if self.numpy:
            facts.append(f"NumPy equivalent: ``{self.numpy}``.")
        args = self.names()
        if not self.differentiable:
            facts.append("Not differentiable: its gradient is zero (a constant of the inputs).")
        else:
            facts.append("Differentiable in " + ", ".join(f"``{a}``" for a in args) + ".")
        if self.keywords:
            kws = ", ".join(f"``{k}={v!r}``" for k, v in self.keywords)
            facts.append(f"Keywords (not differentiated): {kws}.")
        if self.kink:
            facts.append(f"Convention: {self.kink}")
        if self.infix:
            facts.append(f"Operator: ``{self.infix}``.")
        parts.append(" ".join(facts))
        parts.append(_section("Parameters", self._parameter_lines(fn)))
        parts.append(
            _section("Returns", ["Expr", "    The op's node, in the graph of the arguments."])
        )
        raises = self._raises_lines(own_raises)
        if raises:
            parts.append(_section("Raises", raises))
        parts.append(_section("Examples", self.examples(name).splitlines()))
        return "\n\n".join(parts)

    def checks_shapes(self) -> bool:
        """Whether building this op can reject the operands' shapes (a ``ShapeError``
        from its shape rule, when they are known): every op with a shape rule but
        the elementwise ones of one operand, whose result has that operand's shape."""
        return self.shape is not None and not (self.elementwise and self.nargs == 1)

    def _raises_lines(self, own: list[str]) -> list[str]:
        """The Raises section: a hand-written function's own entries, then the
        ``ShapeError`` of the shape rule (unless the function names it already)."""
        lines = list(own)
        named = {ln.split()[0].rstrip(",") for ln in own if ln and not ln[0].isspace()}
        if self.checks_shapes() and "ShapeError" not in named:
            lines += ["ShapeError", *_shape_error_lines(self.elementwise)]
        return lines

    def _parameter_lines(self, fn: Callable[..., Any] | None) -> list[str]:
        if fn is None:
            graph_args = self.names()
            rest = [(k, v) for k, v in self.keywords]
        else:
            params = [
                p for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD
            ]
            n = len(params) if self.nargs is None else self.nargs
            graph_args = [p.name for p in params[: min(n, 1 if self.nargs is None else n)]]
            rest = [
                (("*" if p.kind == p.VAR_POSITIONAL else "") + p.name, p.default)
                for p in params[len(graph_args) :]
            ]
        lines = []
        for a in graph_args:
            if self.nargs is None:
                lines += [f"{a} : sequence of Expr or array_like", "    The operands."]
            else:
                lines += [
                    f"{a} : Expr or array_like",
                    "    An operand: a symbol, an Expr or a value.",
                ]
        for k, default in rest:
            head = k if default is inspect.Parameter.empty else f"{k} : optional"
            text = _PARAM_TEXT.get(k.lstrip("*"), "A parameter of the op (not differentiated).")
            if default is not inspect.Parameter.empty:
                text += f" Default ``{default!r}``."
            lines += [head, "    " + text]
        return lines

    def examples(self, name: str | None = None) -> str:
        """Doctest text for the ``ga`` function ``name``: the ``example`` facet, or
        one generated from the first test case: the arguments are sampled
        deterministically from the op's domain, the result's shape is shown and,
        when the op has a NumPy function as its ``numpy`` facet, the value is
        compared with it."""
        if self.example:
            return inspect.cleandoc(self.example)
        name = name or self.name
        shapes, params = self.test_cases()[0]
        if self.nargs is None:
            argnames = [f"x{i + 1}" for i in range(len(shapes))]
        else:
            argnames = self.names()[: len(shapes)]
        domain = list(self.domain or [(0.5, 1.5)] * len(shapes))
        domain += [domain[-1]] * (len(shapes) - len(domain))
        lines = [">>> import numpy as np, graphad as ga"]
        for a, s, (lo, hi) in zip(argnames, shapes, domain, strict=True):
            n = math.prod(s)
            lines.append(f">>> {a} = ga.symbol({a!r})")
            lines.append(
                f">>> {a}_value = np.linspace({float(lo)!r}, {float(hi)!r}, {n + 3})[1:-2]"
                f".reshape({tuple(s)!r})"
            )
        kw = "".join(f", {k}={v!r}" for k, v in params.items())
        call = f"[{', '.join(argnames)}]" if self.nargs is None else ", ".join(argnames)
        where = f"ga.{self.namespace}." if self.namespace else "ga."
        lines.append(f">>> y = {where}{name}({call}{kw})")
        feed = ", ".join(f"{a}={a}_value" for a in argnames)
        lines.append(f">>> out = y.eval({feed})")
        shape = self._example_shape(shapes, params)
        if shape is not None:
            lines += [">>> np.shape(out)", repr(shape)]
        if self.numpy and _NUMPY_FUNCTION.match(self.numpy):
            values = [f"{a}_value" for a in argnames]
            vcall = f"[{', '.join(values)}]" if self.nargs is None else ", ".join(values)
            lines.append(f">>> bool(np.allclose(out, {self.numpy}({vcall}{kw}), equal_nan=True))")
            lines.append("True")
        elif shape is None:
            lines += [">>> np.ndim(out) >= 0", "True"]
        return "\n".join(lines)

    def _example_shape(self, shapes: list, params: dict) -> tuple[int, ...] | None:
        try:
            if self.shape is not None:
                return tuple(self.shape(*shapes, **params))
            if self.elementwise:
                return tuple(np.broadcast_shapes(*shapes))
        except Exception:  # a shape rule that needs more than the case gives
            return None
        return None

    @property
    def display(self) -> str:
        return self.label or self.name

    def source(self, args: Sequence[str], params: dict[str, Any], duck: bool = False) -> str:
        """The Python/NumPy source of this op applied to argument sources
        (``duck``: the form for other array libraries, ``duck_emit``, if any)."""
        emit = self.duck_emit if duck and self.duck_emit is not None else self.emit
        if emit is None:
            raise GraphadError(f"op {self.name!r} has no source form")
        if callable(emit):
            return emit(list(args), params)
        return emit.format(*args, **{k: repr(v) for k, v in params.items()})


_NUMPY_FUNCTION = re.compile(r"np(\.[A-Za-z_][A-Za-z0-9_]*)+\Z")

#: what the generated docstrings say of the ops' usual non-graph parameters
_PARAM_TEXT = {
    "axis": "The axis (or axes) to work along; ``None``: all of them.",
    "axes": "The permutation of the axes; ``None``: reversed.",
    "keepdims": "Keep the reduced axes with length 1.",
    "shape": "The target shape (a tuple of ints).",
    "more": "More dimensions, when the shape is given as separate ints.",
    "index": "An index as for NumPy arrays (ints, slices, ``None``, ``...``).",
    "nan": "The value NaN becomes.",
    "posinf": "The value +inf becomes (``None``: the dtype's largest).",
    "neginf": "The value -inf becomes (``None``: the dtype's smallest).",
}


def _section(title: str, lines: list[str]) -> str:
    return "\n".join([title, "-" * len(title), *lines])


@functools.cache
def _shape_error_lines(elementwise: bool) -> tuple[str, ...]:
    """The generated ``ShapeError`` entry's description (made once: import time)."""
    if elementwise:
        why = "do not broadcast together."
    else:
        why = "do not fit the op or its parameters (an axis out of range, say)."
    text = (
        "If the operands' shapes are known when the expression is built (declared, "
        "or those of values) and " + why + "  Shapes not known then are checked "
        "when it is evaluated."
    )
    return tuple("    " + ln for ln in textwrap.wrap(text, 76))


_RAISES_HEADER = re.compile(r"^Raises\n-{6,}[ \t]*\n", re.M)


def _split_raises(doc: str) -> tuple[str, list[str]]:
    """A hand-written summary and the lines of its own Raises section (the last
    section it may have: the composed docstring puts it after Returns)."""
    m = _RAISES_HEADER.search(doc)
    if m is None:
        return doc, []
    return doc[: m.start()].rstrip(), doc[m.end() :].strip("\n").splitlines()


OPS: dict[str, Op] = {}
#: the ``ga`` functions by name: each builds the op it is registered with
FUNCTIONS: dict[str, tuple[str, Callable[..., Any]]] = {}

#: argument shapes of the default cases of elementwise ops, by number of arguments
ELEMENTWISE_SHAPES = {
    1: [[()], [(3, 1)], [(2, 3, 4)]],
    2: [[(), ()], [(3, 1), (1, 4)], [(2, 3, 4), (3, 4)], [(), (2, 3)]],
    3: [[(), (), ()], [(3, 1), (1, 4), ()], [(2, 3, 4), (3, 4), (4,)]],
}


def register(op: Op) -> Op:
    """Add ``op`` to the table; a later declaration with the same name replaces it."""
    OPS[op.name] = op
    return op


def provide_lowering(op_name: str, lower: Callable[..., Any]) -> None:
    """Give a declared op its ``lower`` facet from a layer above the table (the
    ``jacobian`` op expands into VJPs, which autodiff builds)."""
    OPS[op_name] = dataclasses.replace(OPS[op_name], lower=lower)


def export(fn: Callable[..., Any], op_name: str | None = None, name: str | None = None):
    """Offer ``fn`` as the ``ga`` function ``name`` (default ``fn.__name__``) building
    the op ``op_name`` (default: the same name): the ``ga`` namespace, the parser's
    functions and ``__all__`` are generated from these entries."""
    name = name or fn.__name__
    op_name = op_name or name
    FUNCTIONS[name] = (op_name, fn)
    fn.op = OPS[op_name]
    if "Examples\n" not in (fn.__doc__ or ""):  # hand-written docs with examples stay
        fn.__doc__ = OPS[op_name].docstring(name, fn)
    return fn


def op_function(op: Op) -> Callable[..., Any]:
    """The ``ga`` function of an op whose arguments are all graph values: generated with
    the op's parameter names (a real signature, keywords work) and its table docstring."""
    names = op.names()
    keywords = [k for k, _ in op.keywords]
    for n in [*names, *keywords]:
        if not n.isidentifier() or n.startswith("_"):
            raise GraphadError(f"op {op.name!r}: invalid parameter name {n!r}")
    if not op.name.isidentifier():
        raise GraphadError(f"op {op.name!r}: the name is not an identifier")
    arglist = ", ".join(names)
    signature = arglist
    if keywords:
        signature += ", *, " + ", ".join(f"{k}=_d{i}" for i, k in enumerate(keywords))
    passed = arglist + "".join(f", {k}={k}" for k in keywords)
    # source built from identifiers checked above (the table's own names, never user
    # text); default values are bound as globals, never written into the source
    src = f"def {op.name}({signature}):\n    return _apply({op.name!r}, {passed})\n"
    ns: dict[str, Any] = {"_apply": apply}
    ns.update({f"_d{i}": v for i, (_, v) in enumerate(op.keywords)})
    exec(compile(src, f"<graphad op {op.name}>", "exec"), ns)
    fn = ns[op.name]
    fn.__qualname__ = op.name
    fn.__module__ = "graphad"
    fn.__doc__ = op.docstring(op.name)
    return export(fn, op.name)


def install_operators(cls: type, exclude: frozenset[str] = frozenset()) -> None:
    """Give a class (Expr, the tape's eager values) the Python operators the table
    declares (``dunder``), except those named in ``exclude`` (``"eq"``): binary ops get
    the reflected form too (``__radd__``)."""
    for op in OPS.values():
        if op.dunder is None or op.dunder in exclude:
            continue
        name = op.name
        if op.nargs == 1:
            setattr(cls, f"__{op.dunder}__", _unary_dunder(name))
        else:
            setattr(cls, f"__{op.dunder}__", _binary_dunder(name, False))
            if op.dunder not in _NOT_REFLECTED:
                setattr(cls, f"__r{op.dunder}__", _binary_dunder(name, True))


# comparisons have no reflected dunder: Python swaps ``a < b`` to ``b > a`` itself
_NOT_REFLECTED = frozenset({"lt", "le", "gt", "ge", "eq", "ne"})


def _unary_dunder(name: str) -> Callable[..., Any]:
    def method(self):
        return apply(name, self)

    method.__name__ = f"__{OPS[name].dunder}__"
    return method


def _binary_dunder(name: str, reflected: bool) -> Callable[..., Any]:
    if reflected:

        def method(self, other):
            return apply(name, other, self)

    else:

        def method(self, other):
            return apply(name, self, other)

    method.__name__ = f"__{'r' if reflected else ''}{OPS[name].dunder}__"
    return method


# -- building nodes -------------------------------------------------------------


def graph_of(*values: Any) -> Graph:
    """The graph the Expr arguments live in (default graph if none is an Expr).

    A constant is a value, not a computation: a constant of another graph is
    adopted by the graph being built (see :func:`as_expr`), so
    ``ga.constant(A) @ w`` works wherever ``w`` lives (a tape's, an optimizer's
    or the gradient checker's graph).  The graph is the one of the operands
    that are not constants.  With constants only it is the graph of the
    innermost ``with Graph():`` block if there is one (an optimizer's trace,
    the checker's copy: ``Ac.T`` there must not become a node of ``Ac``'s
    graph), else their graph, else the default graph.  Non-constant operands of
    different graphs are an error.
    """
    found: Graph | None = None
    if len(values) <= 3:
        for v in values:
            if type(v) is list or type(v) is tuple:
                break
        else:
            return _graph_of_few(values)
    exprs: list = []
    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, Expr):
            exprs.append(v)
            if found is None:
                found = v.graph
            elif v.graph is not found:
                found = _MIXED
        elif isinstance(v, list | tuple):
            stack.extend(v)
    if found is None:
        return get_default_graph()
    entered = entered_graph()
    if found is _MIXED or (entered is not None and entered is not found):
        return _mixed_graphs(exprs)
    return found


def _graph_of_few(values: tuple) -> Graph:
    """:func:`graph_of` for a few scalars and Exprs (no sequences): the common case."""
    found: Graph | None = None
    for v in values:
        if type(v) is Expr:
            if found is None:
                found = v.graph
            elif v.graph is not found:
                return _mixed_graphs([v for v in values if isinstance(v, Expr)])
    if found is None:
        return get_default_graph()
    entered = entered_graph()
    if entered is not None and entered is not found:
        return _mixed_graphs([v for v in values if type(v) is Expr])
    return found


_MIXED: Any = object()


def _mixed_graphs(exprs: list) -> Graph:
    """The graph for operands of several graphs, or of a graph not the one being
    built: that of the non-constant ones, else the default graph."""
    found: Graph | None = None
    for e in exprs:
        if e.graph.node(e.id).op == "constant":
            continue
        if found is None:
            found = e.graph
        elif e.graph is not found:
            raise GraphadError(
                f"operands belong to different graphs ({_describe(e)} is not in the graph of "
                "the other operands); only constants move between graphs: build the "
                "expressions inside one ga.Graph(), or evaluate one of them first"
            )
    return found if found is not None else get_default_graph()


def _describe(e) -> str:
    node = e.graph.node(e.id)
    if node.op == "input":
        return f"the input {node.name!r}"[:80]
    return f"a {node.op} node"


def _adopt(e, graph: Graph):
    """The constant ``e`` of another graph, re-interned in ``graph`` (the same value:
    constants hold private read-only copies, so nothing is copied again)."""
    if e.graph.node(e.id).op != "constant":
        raise GraphadError(
            f"{_describe(e)} belongs to a different graph; only constants move between "
            "graphs: build the expressions inside one ga.Graph(), or evaluate it first"
        )
    return Expr(graph, graph.adopt(e.graph, e.id))


def _refuse_masked(value: Any, what: str) -> None:
    """Masked arrays are refused: graphad's ops and compiled code ignore the mask, so
    NumPy's masked semantics could not be followed everywhere alike."""
    if isinstance(value, np.ma.MaskedArray):
        raise GraphadError(
            f"{what}: masked arrays (numpy.ma) are not supported; pass plain arrays, "
            "e.g. value.filled(fill) or value.data, and handle the mask explicitly"
        )


def as_expr(value: Any, graph: Graph | None = None):
    """Wrap a Python/NumPy value as a constant Expr (Exprs pass through).

    An Expr of another graph than ``graph`` is adopted if it is a constant
    (see :func:`graph_of`) and an error otherwise.
    """
    if isinstance(value, Expr):
        if graph is None or value.graph is graph:
            return value
        return _adopt(value, graph)
    if type(value) in _WEAK_SAMPLE:  # the common case first: a Python number
        graph = graph if graph is not None else get_default_graph()
        return Expr(graph, graph.constant(value))
    to_expr = getattr(value, "__graphad_expr__", None)  # e.g. a tape's Variable
    if to_expr is not None:
        return to_expr(graph)
    if graph is None:
        graph = get_default_graph()
    if isinstance(value, bool | int | float):
        return Expr(graph, graph.constant(value))
    if isinstance(value, list | tuple) and _holds_expr(value):
        return _stack_nested(value, graph)
    _refuse_masked(value, "constant")
    arr = np.asarray(value)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise GraphadError(f"cannot use a value of type {type(value).__name__} in an expression")
    return Expr(graph, graph.constant(arr))


#: deepest nesting of an array-like of Exprs: NumPy's largest number of dimensions
MAX_ARRAYLIKE_DEPTH = 64


def _holds_expr(value: list | tuple) -> bool:
    """Whether a (nested) sequence holds an Expr; a :class:`LimitError` past
    ``MAX_ARRAYLIKE_DEPTH`` levels (NumPy could not hold it either)."""
    found = False
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_ARRAYLIKE_DEPTH:
            raise LimitError(
                f"an array-like nested more than MAX_ARRAYLIKE_DEPTH ({MAX_ARRAYLIKE_DEPTH}) "
                "levels deep: NumPy arrays have at most that many dimensions"
            )
        for item in v:
            if isinstance(item, Expr) or hasattr(item, "__graphad_expr__"):
                found = True
            elif isinstance(item, list | tuple):
                stack.append((item, depth + 1))
    return found


def _stack_nested(value: list | tuple, graph: Graph):
    """A (nested) list of Exprs and numbers as NumPy reads an array-like: stacked along
    new leading axes (``[x, 1.0]`` is ``stack([x, 1.0])``)."""
    if not value:
        raise GraphadError("an empty sequence inside an array-like of Exprs has no shape")
    items = [
        _stack_nested(v, graph) if isinstance(v, list | tuple) else as_expr(v, graph) for v in value
    ]
    return apply("stack", items, axis=0)


def const_value(e) -> Any:
    """The constant's value if ``e`` is a constant node, else ``None``."""
    node = e.graph.node(e.id)
    return node.value if node.op == "constant" else None


_WEAK_SAMPLE = {bool: False, int: 0, float: 0.0}


def constant(value: Any, dtype: Any = None, *, graph: Graph | None = None) -> Expr:
    """A constant node holding ``value`` (copied).

    Parameters
    ----------
    value : scalar or array_like
        The value, copied (later changes to the array do not reach the graph).
    dtype : str or numpy dtype, optional
        Cast the value to it.
    graph : Graph, optional
        Where the node goes (default: the current graph).

    Returns
    -------
    Expr
        The constant node.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> ga.constant(np.eye(2)).shape
    (2, 2)
    """
    _refuse_masked(value, "constant")  # before asarray drops the mask
    if dtype is not None:
        value = np.asarray(value, dtype=dtype)
    return as_expr(value, graph if graph is not None else get_default_graph())


_PLAIN: set[type] = {bool, int, float, Expr}


@functools.lru_cache(maxsize=4096)
def _result_dtype(kind: str, keys: tuple) -> np.dtype | None:
    if kind == "select":  # the condition does not take part (where(c, 1.0, x32) is float32)
        kind, keys = "promote", keys[1:]
    if any(k is None for k in keys):
        return None
    samples = [_WEAK_SAMPLE[k] if k in _WEAK_SAMPLE else np.dtype(k) for k in keys]
    if kind == "bool":
        return np.dtype(bool)
    if kind == "first":
        s = samples[0]
        return s if isinstance(s, np.dtype) else np.result_type(s)
    dt = np.result_type(*samples)
    if kind == "float" and dt.kind in "biu":
        dt = np.dtype(np.float64)
    return dt


def apply(op_name: str, *args: Any, **params: Any):
    """Build the node ``op(*args, **params)`` and return its Expr.

    Static shapes are checked here (``ShapeError`` naming the op and shapes);
    unknown shapes are checked when the expression is evaluated.
    """
    op = OPS[op_name]
    if not params and len(args) == op.nargs:
        # the common case (x * y, 2.0 * x, the nodes rules build): Exprs of one graph and
        # Python numbers; the same checks and result as below, without their generality
        nid = None
        if len(args) == 1:
            a = args[0]
            if type(a) is Expr:
                graph = a.graph
                nid = _plain_node(graph, op, (a.id,), graph.records())
                if nid is not None:
                    return Expr(graph, nid)
        else:
            graph = None
            numbers = False
            for a in args:
                ta = type(a)
                if ta is Expr:
                    if graph is None:
                        graph = a.graph
                    elif a.graph is not graph:
                        break
                elif ta is float or ta is int:
                    numbers = True
                else:
                    break
            else:
                if graph is not None:
                    # numbers are interned as as_expr below would (in the same order), in
                    # the graph of the Exprs unless another graph is entered (then the
                    # general path says where they go)
                    entered = entered_graph() if numbers else None
                    if entered is None or entered is graph:
                        if len(args) == 2:
                            a, b = args
                            ids = (
                                a.id if type(a) is Expr else graph.constant(a),
                                b.id if type(b) is Expr else graph.constant(b),
                            )
                        else:
                            ids = tuple(
                                [a.id if type(a) is Expr else graph.constant(a) for a in args]
                            )
                        nid = _plain_node(graph, op, ids, graph.records())
                        if nid is not None:
                            return Expr(graph, nid)
    if op.nargs is None:  # variadic: one sequence argument
        (seq,) = args
        if not isinstance(seq, list | tuple) or not seq:
            raise GraphadError(f"{op_name} expects a non-empty sequence of arrays")
        args = tuple(seq)
    elif len(args) != op.nargs:
        raise GraphadError(f"{op_name} takes {op.nargs} argument(s), got {len(args)}")
    for a in args:
        # eager values (a tape's Variables and tensors) record the op and compute it now
        if type(a) not in _PLAIN:
            recorder = getattr(a, "__graphad_eager__", None)
            if recorder is not None:
                return recorder().record(op_name, args, params)
    graph = graph_of(*args)
    ids = tuple(
        [a.id if type(a) is Expr and a.graph is graph else as_expr(a, graph).id for a in args]
    )
    records = graph.records()
    arg_nodes = [records[i] for i in ids]
    if op.elementwise and not params and not op.custom:
        for n in arg_nodes:
            if n.op != "constant" or type(n.value) not in _WEAK_SAMPLE:
                break
        else:  # Python scalars only
            folded = _fold_weak(op, [n.value for n in arg_nodes])
            if folded is not None:
                exact = _exact_form(op, arg_nodes, folded)
                if exact is None and type(folded) is float:
                    # an op that selects (where, maximum, ...) returns its argument's node,
                    # exact form included: log(3), not its float
                    for i, n in zip(ids, arg_nodes, strict=True):
                        if n.exact is not None and repr(n.value) == repr(folded):
                            return Expr(graph, i)
                return Expr(graph, graph.constant(folded, exact))
    if op.lower is not None:
        for n in arg_nodes:
            if n.shape is None:
                break
        else:  # every shape static
            lowered = op.lower(*[Expr(graph, i) for i in ids], **params)
            if lowered is not None:
                return lowered
    shape, dtype = infer(op, arg_nodes, params)
    params_t = tuple(sorted(params.items())) if params else ()
    return Expr(graph, graph.apply(op_name, ids, params_t, shape, dtype))


def build_node(graph: Graph, op_name: str, ids: tuple[int, ...], records: Any = None) -> int:
    """The id of ``apply(op_name, *[Expr(graph, i) for i in ids])`` built with ``graph``
    entered, for passes that build parameterless nodes of one graph from node ids
    (autodiff's, which enters the graph it differentiates): the same node, without the
    Exprs and the generality of :func:`apply` where it cannot change the result.
    ``records``: ``graph.records()``, if the caller has it at hand."""
    op = OPS[op_name]
    if len(ids) == op.nargs:
        nid = _plain_node(graph, op, ids, graph.records() if records is None else records)
        if nid is not None:
            return nid
    with graph:  # constants alone go to the entered graph: this one
        return apply(op_name, *[Expr(graph, i) for i in ids]).id


def _plain_node(graph: Graph, op: Op, ids: tuple[int, ...], records: Any) -> int | None:
    """The node ``op(*ids)`` without params, built in the graph the arguments live in,
    unless :func:`apply`'s general path has to decide (then ``None``): a lowering where
    every shape is static, a fold of Python scalars alone, or constants alone while
    another graph is entered (they go to that graph).  Where an argument is not a
    constant, the node goes to its graph whatever graph is entered."""
    if len(ids) == 1:
        a = records[ids[0]]
        if a.shape is None and a.dtype is None and _every_argument(op):
            return graph.apply(op.name, ids, (), None, None)  # as below
        arg_nodes = [a]
    elif len(ids) == 2:
        a = records[ids[0]]
        b = records[ids[1]]
        if (
            (a.shape is None and a.dtype is None) or (b.shape is None and b.dtype is None)
        ) and _every_argument(op):
            # an argument of unknown shape and dtype (not a constant: constants have both):
            # nothing is lowered or folded, and the result's shape and dtype are unknown
            # too (what infer says)
            return graph.apply(op.name, ids, (), None, None)
        arg_nodes = [a, b]
    else:
        arg_nodes = [records[i] for i in ids]
        if _every_argument(op):
            for n in arg_nodes:
                if n.shape is None and n.dtype is None:  # as above
                    return graph.apply(op.name, ids, (), None, None)
    for n in arg_nodes:
        if n.op != "constant":
            break
    else:  # constants alone: apply's general path says which graph they go to
        entered = entered_graph()
        if entered is not None and entered is not graph:
            return None
    if op.lower is not None:
        for n in arg_nodes:
            if n.shape is None:
                break
        else:
            return None  # every shape static: lowered by apply
    elif op.elementwise and not op.custom:
        for n in arg_nodes:
            if n.op != "constant" or type(n.value) not in _WEAK_SAMPLE:
                break
        else:
            return None  # Python scalars alone: folded by apply
    shape, dtype = infer(op, arg_nodes, _NO_PARAMS)
    return graph.apply(op.name, ids, (), shape, dtype)


_NO_PARAMS: dict[str, Any] = {}


def _every_argument(op: Op) -> bool:
    """Whether every argument's dtype takes part in the op's (a dtype kind of the table)."""
    kind = op.dtype
    return type(kind) is str and kind in _EVERY_ARGUMENT_KINDS


def infer(op: Op, arg_nodes: Sequence[Node], params: dict) -> tuple[Shape, Any]:
    """The static shape (``None`` where an argument's is unknown) and dtype of
    ``op(*args, **params)``; a ``ShapeError`` naming the op where shapes do not fit."""
    shapes = [n.shape for n in arg_nodes]
    shape: Shape = None
    if None in shapes:
        pass  # unknown: checked when evaluated
    elif op.elementwise and not op.custom and shapes.count(()) == len(shapes):
        shape = ()  # the scalar case, without calling the shape rule
    elif op.shape is not None:
        try:
            shape = op.shape(*shapes, **params)
        except ShapeError:
            raise
        except (ValueError, IndexError, TypeError) as exc:
            raise ShapeError(
                f"{op.name}: cannot combine shapes {_fmt_shapes(shapes)}: {exc}"
            ) from None
    kind = op.dtype
    if callable(kind):
        return shape, kind(*[n.dtype for n in arg_nodes], **params)
    every = kind in _EVERY_ARGUMENT_KINDS
    keys = []
    for n in arg_nodes:
        dt = n.dtype
        if dt is None and n.op == "constant":
            dt = type(n.value)  # a Python number: weakly typed
        elif dt is None and every:
            return shape, None  # an unknown dtype that takes part: so is the result's
        keys.append(dt)
    return shape, _result_dtype(kind, tuple(keys))


#: the dtype kinds every argument takes part in (``"select"``: all but the first), so that
#: one unknown argument dtype makes the result's unknown (see :func:`_result_dtype`)
_EVERY_ARGUMENT_KINDS = frozenset({"promote", "float", "bool", "first"})


def _fold_weak(op: Op, values: list) -> bool | int | float | None:
    """Python scalars combined stay Python scalars (weakly typed), as in NumPy 2:
    ``x32 * (1.0 / 3)`` is float32, so ``1.0 / 3`` is folded here, not built as a
    float64 node.  Integer powers that would overflow int64 fold to floats."""
    if op.name == "power" and all(type(v) is int for v in values):
        base, ex = values
        if ex < 0 or (abs(base) > 1 and ex * math.log2(abs(base)) > 62):
            try:
                return float(base) ** ex
            except (OverflowError, ZeroDivisionError):
                # IEEE pow: 0**-n is +inf, as np.power(0.0, -1.0)
                return math.inf if base >= 0 or ex % 2 == 0 else -math.inf
    if all(type(v) is int for v in values):
        exact = _exact_int(op, values)
        if exact is not None:
            return exact
    with np.errstate(all="ignore"):
        try:
            out = op.impl(*values)
        except (ValueError, TypeError, ArithmeticError):
            return None
    out = np.asarray(out)
    if out.ndim != 0:
        return None
    item = out.item()
    return item if type(item) in _WEAK_SAMPLE else None


#: largest recorded fold (tree nodes): longer chains of folds print as their value
_EXACT_MAX = 16


def _exact_form(op: Op, arg_nodes: Sequence[Node], value: Any) -> tuple | None:
    """What a folded float constant was folded from (``log(2)``, ``1 / 3``), kept on
    its node so that printed and drawn forms stay exact (``graphad.backends.printing``)
    while values, and compiled code, use the float; None when there is nothing to
    keep (not a float, not finite, an op without exact forms, too long a fold)."""
    if type(value) is not float or not op.exact or not math.isfinite(value):
        return None
    args = tuple(n.exact or ("num", n.value) for n in arg_nodes)
    size = 1 + sum(a[2] if a[0] != "num" else 1 for a in args)
    if size <= _EXACT_MAX:
        return (op.name, tuple(a[:2] for a in args), size)
    return None


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _exact_int(op: Op, values: list) -> int | float | None:
    """An integer op on Python ints, computed exactly (NumPy's object loops call
    Python's own arithmetic), so that ``2**62 + 2**62`` cannot wrap around in int64.

    A result that fits int64 is that int, as NumPy would give it.  One that does
    not becomes the nearest float, as integer powers already do above: Python's
    exact answer has no int64 form, NumPy 2 would wrap silently (or raise for a
    Python int out of range), and a float is the answer closest to the one the
    user wrote.  ``None``: not an integer result; the NumPy path decides.
    """
    try:
        out = op.impl(*[np.array(v, dtype=object) for v in values])
    except (ValueError, TypeError, ArithmeticError, AttributeError):
        return None
    item = out.item() if isinstance(out, np.ndarray) else out
    if type(item) is not int:
        return None
    if _INT64_MIN <= item <= _INT64_MAX:
        return item
    try:
        return float(item)
    except OverflowError:  # past float range too (ints from ga.constant are unbounded)
        return math.inf if item > 0 else -math.inf


def _fmt_shapes(shapes: Sequence[Shape]) -> str:
    return ", ".join("?" if s is None else str(tuple(s)) for s in shapes)


def broadcast_shape(op_name: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    first = shapes[0]
    if all(s == first or s == () for s in shapes):  # the common cases, without NumPy
        return first if first or len(shapes) == 1 else max(shapes, key=len)
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"{op_name}: operands with shapes {_fmt_shapes(shapes)} do not broadcast together"
        ) from None
