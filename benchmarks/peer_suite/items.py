"""Peer AD test suites re-expressed as data (issue 14's measure).

Each :class:`Item` says which function (a NumPy name, or a small function built
from NumPy names through a namespace ``m`` that is ``numpy`` for the reference
and ``graphad`` for the system under test), which arguments (shape, sampling
domain, dtype, or a fixed value), which of them are differentiated and to which
derivative order.  The runner (:mod:`benchmarks.peer_suite.runner`) checks the
value against NumPy and every derivative up to ``order`` against finite
differences of the NumPy function.

The facts come from reading the public test files named in ``suite`` (HIPS
autograd's ``tests/test_systematic.py``, ``test_numpy.py``, ``test_scalar_ops.py``,
``test_binary_ops.py``, ``test_graphs.py``, ``test_wrappers.py``; karpathy's
micrograd ``test/test_engine.py``; JAX's ``tests/lax_autodiff_test.py`` and the
grad records of ``tests/lax_numpy_test.py``): which NumPy function, the shapes,
axes, keyword combinations, domains and orders.  Combinations are multiplied out
the way those suites do (every argument combination times every keyword
combination is one item).  Nothing here is their code.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Arg", "Item", "ITEMS", "build_items"]


@dataclass(frozen=True)
class Arg:
    """One argument: sampled (``dist`` over ``shape``) or a fixed ``value``.

    ``shape=None`` means a Python float (autograd's scalar arguments).
    ``dist`` is ``"normal"`` (standard normal) or ``"uniform"`` over ``[lo, hi]``;
    ``complex`` adds an imaginary part (those items measure the complex gap).
    """

    shape: tuple[int, ...] | None = ()
    dist: str = "normal"
    lo: float = -2.0
    hi: float = 2.0
    dtype: str = "float64"
    complex: bool = False
    value: Any = None

    def describe(self) -> str:
        if self.value is not None:
            return "value"
        base = "s" if self.shape is None else "x".join(map(str, self.shape)) or "0d"
        if self.complex:
            base += "c"
        if self.dtype not in ("float64", "complex128"):
            base += ":" + self.dtype.replace("float", "f")
        return base


@dataclass(frozen=True)
class Item:
    """One check: ``fn`` at ``args``, derivatives in ``argnums`` up to ``order``.

    ``fn`` is a NumPy name (``"sum"``, ``"linalg.norm"``) called with ``kwargs``,
    or ``fn(m)`` returning the function, ``m`` being the namespace (NumPy or
    graphad).  ``ref(np)``, when given, is the NumPy reference instead of
    ``fn(numpy)`` (functions that nest a derivative inside).  ``outputs`` are
    compared elementwise; derivatives are those of ``sum(w * output)`` for a fixed
    random ``w``.
    """

    name: str
    suite: str
    fn: str | Callable[[Any], Callable]
    args: tuple[Arg, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()
    argnums: tuple[int, ...] = (0,)
    order: int = 2
    ref: Callable[[Any], Callable] | None = None
    nan_ok: bool = False
    zero_grad: bool = False
    complex_result: bool = False

    @property
    def complex(self) -> bool:
        """A complex-number item: complex arguments, or a complex result of real ones."""
        return self.complex_result or any(a.complex for a in self.args)


# ----------------------------------------------------------------- arg shorthands
def R(*shape: int, dtype: str = "float64") -> Arg:
    """Standard normal array (``R()`` is a 0-d array)."""
    return Arg(shape=tuple(shape), dtype=dtype)


def S(lo: float = -2.0, hi: float = 2.0) -> Arg:
    """A Python float drawn from ``[lo, hi]``."""
    return Arg(shape=None, dist="uniform", lo=lo, hi=hi)


def U(lo: float, hi: float, *shape: int, dtype: str = "float64") -> Arg:
    return Arg(shape=tuple(shape), dist="uniform", lo=lo, hi=hi, dtype=dtype)


def C(*shape: int) -> Arg:
    return Arg(shape=tuple(shape), complex=True)


def V(value: Any) -> Arg:
    return Arg(value=value)


def _kw(**kw: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(kw.items())


class _Builder:
    def __init__(self) -> None:
        self.items: list[Item] = []
        self.names: set[str] = set()

    def add(self, name: str, suite: str, fn: Any, args: Sequence[Arg], **opts: Any) -> None:
        kwargs = opts.pop("kwargs", ())
        if isinstance(kwargs, dict):
            kwargs = tuple(kwargs.items())
        desc = ",".join(a.describe() for a in args)
        if kwargs:
            desc += ";" + ",".join(f"{k}={v!r}" for k, v in kwargs)
        full = f"{name}[{desc}]"
        n = 2
        base = full
        while full in self.names:  # the suites repeat some combinations
            full = f"{base}#{n}"
            n += 1
        self.names.add(full)
        self.items.append(Item(full, suite, fn, tuple(args), kwargs, **opts))

    def combo(
        self,
        name: str,
        suite: str,
        fn: Any,
        arg_lists: Sequence[Sequence[Arg]],
        kw_lists: dict[str, Sequence[Any]] | None = None,
        **opts: Any,
    ) -> None:
        """Every argument combination times every keyword combination."""
        kw_lists = kw_lists or {}
        keys = list(kw_lists)
        for args in itertools.product(*arg_lists):
            for vals in itertools.product(*(kw_lists[k] for k in keys)):
                self.add(name, suite, fn, args, kwargs=tuple(zip(keys, vals, strict=False)), **opts)


# ------------------------------------------------------------- autograd systematic
AG_SYS = "autograd/test_systematic"


def _stat(b: _Builder, fn: str, complex_ok: bool = True, **kw: Any) -> None:
    x, A, B, Cm, D = S(3.5, 3.5), R(), R(3), R(2, 3), R(1, 3)
    b.combo(f"stat_{fn}", AG_SYS, fn, [[x, A]], **kw)
    b.combo(
        f"stat_{fn}", AG_SYS, fn, [[B, Cm, D]], {"axis": [None, 0], "keepdims": [True, False]}, **kw
    )
    b.combo(
        f"stat_{fn}", AG_SYS, fn, [[Cm, D]], {"axis": [None, 0, 1], "keepdims": [True, False]}, **kw
    )
    if complex_ok:
        b.combo(f"stat_{fn}", AG_SYS, fn, [[x, C(), A]], **kw)
        b.combo(
            f"stat_{fn}",
            AG_SYS,
            fn,
            [[B, Cm, D, C(2, 3)]],
            {"axis": [None, 0], "keepdims": [True, False]},
            **kw,
        )


def _unary(
    b: _Builder,
    name: str,
    fn: Any,
    lims: tuple[float, float] = (-2.0, 2.0),
    complex_ok: bool = True,
) -> None:
    lo, hi = lims
    args = [S(lo, hi), U(lo, hi, 2), U(lo, hi, 3, 2), U(lo, hi, 1, 2)]
    b.combo(f"unary_{name}", AG_SYS, fn, [args])
    if complex_ok:
        b.combo(f"unary_{name}", AG_SYS, fn, [[C(), C(3, 2)]])


def _binary(
    b: _Builder,
    name: str,
    fn: Any,
    lims_a: tuple[float, float] = (-2.0, 2.0),
    lims_b: tuple[float, float] = (-2.0, 2.0),
    complex_ok: bool = True,
) -> None:
    def side(lims: tuple[float, float]) -> list[Arg]:
        return [S(*lims), U(*lims, 2), U(*lims, 3, 2), U(*lims, 1, 2)]

    b.combo(f"binary_{name}", AG_SYS, fn, [side(lims_a), side(lims_b)], argnums=(0, 1))
    if complex_ok:
        ca = side(lims_a)
        cb = side(lims_b)
        b.combo(
            f"binary_{name}",
            AG_SYS,
            fn,
            [
                [*ca[:1], C(), *ca[1:2], C(3, 2), *ca[3:]],
                [*cb[:1], C(), *cb[1:2], C(3, 2), *cb[3:]],
            ],
            argnums=(0, 1),
        )


def _systematic(b: _Builder) -> None:
    for fn in ["max", "mean", "min", "sum", "prod", "var", "std"]:
        _stat(b, fn)
    unary: list[tuple[str, Any, tuple[float, float], bool]] = [
        ("sin", "sin", (-2, 2), True),
        ("abs", "abs", (0.1, 4.0), True),
        ("absolute", "absolute", (0.1, 4.0), True),
        ("arccosh", "arccosh", (1.1, 4.0), True),
        ("arcsinh", "arcsinh", (-0.9, 0.9), True),
        ("arctanh", "arctanh", (-0.9, 0.9), True),
        ("ceil", "ceil", (-1.5, 1.5), False),
        ("cos", "cos", (-2, 2), True),
        ("cosh", "cosh", (-2, 2), True),
        ("deg2rad", "deg2rad", (-2, 2), False),
        ("degrees", lambda m: lambda x: m.degrees(x) / 50.0, (-2, 2), False),
        ("exp", "exp", (-2, 2), True),
        ("exp2", "exp2", (-2, 2), True),
        ("expm1", "expm1", (-2, 2), True),
        ("fabs", "fabs", (-2, 2), False),
        ("floor", "floor", (-1.5, 1.5), False),
        ("log", "log", (0.2, 2.0), True),
        ("log10", "log10", (0.2, 2.0), True),
        ("log1p", "log1p", (0.2, 2.0), True),
        ("log2", "log2", (0.2, 2.0), True),
        ("rad2deg", lambda m: lambda x: m.rad2deg(x) / 50.0, (-2, 2), False),
        ("radians", "radians", (-2, 2), False),
        ("sign", "sign", (-2, 2), False),
        ("sinh", "sinh", (-2, 2), True),
        ("sqrt", "sqrt", (1.0, 3.0), True),
        ("square", "square", (-2, 2), False),
        ("tan", "tan", (-1.1, 1.1), True),
        ("tanh", "tanh", (-2, 2), True),
        ("real", "real", (-2, 2), True),
        ("real_if_close", "real_if_close", (-2, 2), True),
        ("imag", "imag", (-2, 2), True),
        ("conj", "conj", (-2, 2), True),
        ("conjugate", "conjugate", (-2, 2), True),
        ("angle", "angle", (-2, 2), True),
    ]
    for name, fn, lims, cplx in unary:
        _unary(b, name, fn, lims, cplx)

    import operator

    _binary(b, "add", "add")
    _binary(b, "logaddexp", "logaddexp", complex_ok=False)
    _binary(b, "logaddexp2", "logaddexp2", complex_ok=False)
    _binary(b, "remainder", "remainder", (-0.9, 0.9), (0.7, 1.9), complex_ok=False)
    _binary(b, "true_divide", "true_divide", lims_b=(0.8, 1.2), complex_ok=False)
    _binary(b, "mod", "mod", lims_b=(0.8, 2.1), complex_ok=False)
    _binary(b, "true_divide_neg", "true_divide", lims_b=(-0.3, -2.0), complex_ok=False)
    _binary(b, "mod_neg", "mod", lims_b=(-0.3, -2.0), complex_ok=False)
    _binary(b, "op_mul", lambda m: operator.mul)
    _binary(b, "op_add", lambda m: operator.add)
    _binary(b, "op_sub", lambda m: operator.sub)
    _binary(b, "op_mod", lambda m: operator.mod, lims_b=(0.3, 2.0), complex_ok=False)
    _binary(b, "op_mod_neg", lambda m: operator.mod, lims_b=(-0.3, -2.0), complex_ok=False)

    sys = AG_SYS
    b.combo(
        "transpose",
        sys,
        "transpose",
        [[R(2, 3, 4)]],
        {"axes": [None, (0, 1, 2), (0, 2, 1), (2, 0, 1), (2, 1, 0), (1, 0, 2), (1, 2, 0)]},
    )
    b.combo(
        "moveaxis", sys, "moveaxis", [[R(2, 3, 4)]], {"source": [0, 1, 2], "destination": [0, 1, 2]}
    )
    b.combo(
        "repeat",
        sys,
        "repeat",
        [[R(2, 3, 4), R(3, 1)]],
        {"repeats": [0, 1, 2], "axis": [None, 0, 1]},
    )
    b.combo("diff", sys, "diff", [[R(5, 5), R(5, 5, 5)]], {"n": [1, 2], "axis": [0, 1]})
    b.combo("diff", sys, "diff", [[R(1), R(1, 1)]], {"axis": [0]})
    b.combo("diff", sys, "diff", [[R(1, 1), R(3, 1)]], {"axis": [1]})
    b.combo("gradient", sys, "gradient", [[R(5, 5), R(5, 5, 5)]], {"axis": [None, 0, 1, -1]})
    b.combo("gradient", sys, "gradient", [[R(5, 5, 5)]], {"axis": [(0, 1), (0, -1)]})
    b.combo("tile", sys, "tile", [[R(2, 1, 3, 1)]], {"reps": [(1, 4, 1, 2)]})
    b.combo("tile", sys, "tile", [[R(1, 2)]], {"reps": [(1, 2), (2, 3), (3, 2, 1)]})
    b.combo("tile", sys, "tile", [[R(1)]], {"reps": [(2,), 2]})
    b.combo(
        "kron",
        sys,
        "kron",
        [
            [R(5, 5), R(4, 4), R(5), R(5, 1), R(1, 5), R(), C(5, 5)],
            [R(3, 3), R(2, 2), R(3), R(1, 3), R(3, 1), R(), C(3, 3)],
        ],
        argnums=(0, 1),
    )
    b.combo(
        "inner",
        sys,
        "inner",
        [[S(1.5, 1.5), R(3), R(2, 3)], [S(0.3, 0.3), R(3), R(4, 3)]],
        argnums=(0, 1),
    )
    b.combo(
        "dot",
        sys,
        "dot",
        [
            [S(1.5, 1.5), R(3), R(2, 3), R(2, 2, 3), C(3), C(2, 3)],
            [S(0.3, 0.3), R(3), R(3, 4), R(2, 3, 4), C(3)],
        ],
        argnums=(0, 1),
        order=3,
    )
    b.combo("outer", sys, "outer", [[R(3), C(3)], [R(3), C(3)]], argnums=(0, 1), order=3)
    b.combo(
        "matmul",
        sys,
        "matmul",
        [[R(3), R(2, 3), R(2, 2, 3), C(3), C(2, 3)], [R(3), R(3, 4), R(2, 3, 4), C(3), C(3, 4)]],
        argnums=(0, 1),
    )
    b.combo("matmul_broadcast", sys, "matmul", [[R(1, 2, 2)], [R(3, 2, 1)]], argnums=(0, 1))
    td = {"argnums": (0, 1), "order": 3}
    b.combo(
        "tensordot_1",
        sys,
        "tensordot",
        [[R(1, 3), R(2, 3, 2), C(1, 3)], [R(3), R(3, 1), R(3, 4, 2), C(3)]],
        {"axes": [((1,), (0,))]},
        **td,
    )
    b.combo(
        "tensordot_2",
        sys,
        "tensordot",
        [[R(3), R(3, 1), R(3, 4, 2)], [R(1, 3), R(2, 3, 2)]],
        {"axes": [((0,), (1,))]},
        **td,
    )
    b.combo(
        "tensordot_3",
        sys,
        "tensordot",
        [[R(2, 3), R(2, 3, 4)], [R(1, 2, 3), R(2, 2, 3, 4)]],
        {"axes": [((0, 1), (1, 2)), ((1, 0), (2, 1))]},
        **td,
    )
    b.combo(
        "tensordot_4",
        sys,
        "tensordot",
        [[R(2, 2), R(4, 2, 2)], [R(2, 2), R(2, 2, 4)]],
        {"axes": [1, 2]},
        **td,
    )
    b.combo("tensordot_5", sys, "tensordot", [[R(4)], [R()]], {"axes": [0]}, **td)
    b.combo(
        "tensordot_6", sys, "tensordot", [[R(2, 6)], [R(6, 3)]], {"axes": [((-1,), (0,))]}, **td
    )
    b.combo("tensordot_7", sys, "tensordot", [[R(2, 6)], [R(6, 3)]], {"axes": [(-1, 0)]}, **td)
    b.combo("tensordot_8", sys, "tensordot", [[R(2)], [R(2, 2)]], {"axes": [(0, 1)]}, **td)
    three = [R(1), R(1, 4), R(3, 4)]
    for fn in ["maximum", "fmax", "minimum", "fmin"]:
        b.combo(fn, sys, fn, [three, three], argnums=(0, 1))
    b.combo("sort", sys, "sort", [[R(1), R(7)]])
    b.combo("partition", sys, "partition", [[R(7), R(14)]], {"kth": [0, 3, 6]})
    at = [S(1.2, 1.2), R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)]
    b.combo("atleast_1d", sys, "atleast_1d", [at])
    b.combo("atleast_2d", sys, "atleast_2d", [at])
    b.combo("atleast_3d", sys, "atleast_3d", [[*at, R(2, 4, 3, 5)]])

    def es(spec: str) -> Callable[[Any], Callable]:
        return lambda m: lambda *ops: m.einsum(spec, *ops)

    ein = [
        ("einsum_transpose", "ij->ji", [[R(1, 1), R(4, 4), R(3, 4)]]),
        ("einsum_matmult", "ij,jk->ik", [[R(2, 3), C(2, 3)], [R(3, 4), C(3, 4)]]),
        (
            "einsum_matmult_broadcast",
            "...ij,...jk->...ik",
            [[R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)]],
        ),
        ("einsum_matmult_broadcast_leadzero", "...ij,...jk->...ik", [[R(0, 2, 3)], [R(0, 3, 4)]]),
        ("einsum_covsum", "ijk,lji->lki", [[R(3, 4, 4)], [R(4, 4, 3)]]),
        ("einsum_ellipses", "...jk,...lj->...lk", [[R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]]),
        ("einsum_ellipses", "...,...->...", [[R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)]]),
        (
            "einsum_ellipses_tail",
            "jk...,lj...->lk...",
            [[R(3, 2), R(3, 2, 4)], [R(2, 3), R(2, 3, 4)]],
        ),
        (
            "einsum_ellipses_center",
            "j...k,lj...->lk...",
            [[R(2, 2), R(2, 2, 2)], [R(2, 2), R(2, 2, 2)]],
        ),
        ("einsum_three_args", "ijk,lji,lli->lki", [[R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)]]),
        ("einsum_naked_sum", "k,nk->", [[R(5)], [R(10, 5)]]),
        ("einsum_naked_sum2", "abcd->bd", [[R(3, 2, 3, 2)]]),
        ("einsum_naked_sum_ellipsis", "...k,...nk->...", [[R(3, 5)], [R(3, 10, 5)]]),
        ("einsum_no_output_indices", "ij,k", [[R(3, 4)], [R(3)]]),
    ]
    for name, spec, arg_lists in ein:
        nums = (0,) if len(arg_lists) == 1 else (0, 1)
        b.combo(name, sys, es(spec), arg_lists, argnums=nums)

    # the sublist form: operand, sublist, operand, sublist, ..., output sublist
    def es2(*subs: Any) -> Callable[[Any], Callable]:
        def make(m: Any) -> Callable:
            def f(*ops: Any) -> Any:
                seq: list[Any] = []
                for op, sub in zip(ops, subs, strict=False):
                    seq += [op, list(sub)]
                if len(subs) > len(ops):
                    seq.append(list(subs[-1]))
                return m.einsum(*seq)

            return f

        return make

    ein2 = [
        ("einsum2_transpose", ((0, 1), (1, 0)), [[R(1, 1), R(4, 4), R(3, 4)]]),
        ("einsum2_matmult", ((0, 1), (1, 2), (0, 2)), [[R(2, 3)], [R(3, 4)]]),
        (
            "einsum2_matmult_broadcast",
            ((Ellipsis, 0, 1), (Ellipsis, 1, 2), (Ellipsis, 0, 2)),
            [[R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)]],
        ),
        ("einsum2_covsum", ((0, 1, 2), (3, 1, 0), (3, 2, 0)), [[R(3, 4, 4)], [R(4, 4, 3)]]),
        (
            "einsum2_three_args",
            ((0, 1, 2), (3, 1, 0), (3, 3, 0), (3, 2, 0)),
            [[R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)]],
        ),
    ]
    for name, subs, arg_lists in ein2:
        nums = (0,) if len(arg_lists) == 1 else (0, 1)
        b.combo(name, sys, es2(*subs), arg_lists, argnums=nums)

    b.combo(
        "trace", sys, "trace", [[R(5, 5), R(4, 5), R(5, 4), R(3, 4, 5)]], {"offset": [-1, 0, 1]}
    )
    b.combo("diag", sys, "diag", [[R(5, 5)]], {"k": [-1, 0, 1]})
    b.combo("diag_flat", sys, "diag", [[R(5)]], {"k": [-1, 0, 1]})
    for fn in ["tril", "triu"]:
        b.combo(fn, sys, fn, [[R(5, 5)]], {"k": [-1, 0, 1]})
        b.combo(f"{fn}_3d", sys, fn, [[R(5, 5, 4)]], {"k": [-1, 0, 1]})
    b.combo("swapaxes", sys, "swapaxes", [[R(3, 4, 5)]], {"axis1": [0, 1, 2], "axis2": [0, 1, 2]})
    b.combo("rollaxis", sys, "rollaxis", [[R(2, 3, 4)]], {"axis": [0, 1, 2], "start": [0, 1, 2]})
    b.combo(
        "cross",
        sys,
        "cross",
        [[R(3, 3)], [R(3, 3)]],
        {"axisa": [-1, 0, 1], "axisb": [-1, 0, 1], "axisc": [-1, 0, 1], "axis": [None, -1, 0, 1]},
        argnums=(0, 1),
    )

    def splitter(fn: str, pos: Any) -> Callable[[Any], Callable]:
        return lambda m: lambda x, **kw: getattr(m, fn)(x, pos, **kw)

    for fn, arrs in [("vsplit", [R(4, 8)]), ("vsplit", [R(4, 4, 4)]), ("hsplit", [R(4, 8)])]:
        for pos in [4, [1, 2]] if arrs[0].shape == (4, 8) else [2, [1, 2]]:
            b.combo(f"{fn}_{len(arrs[0].shape or ())}d({pos})", sys, splitter(fn, pos), [arrs])
    for fn in ["hsplit", "dsplit"]:
        for pos in [2, [1, 2]]:
            b.combo(f"{fn}_3d({pos})", sys, splitter(fn, pos), [[R(4, 4, 4)]])
    for pos in [1]:
        b.combo(f"split_1d({pos})", sys, splitter("split", pos), [[R(1), R(7)]], {"axis": [0]})
    for pos in [4, [1, 2]]:
        b.combo(f"split_2d({pos})", sys, splitter("split", pos), [[R(4, 8)]], {"axis": [0, 1]})
    for pos in [2, [1, 2]]:
        b.combo(
            f"split_3d({pos})", sys, splitter("split", pos), [[R(4, 4, 4)]], {"axis": [0, 1, 2]}
        )
    for pos in [1, 3]:
        b.combo(
            f"array_split_1d({pos})",
            sys,
            splitter("array_split", pos),
            [[R(1), R(7)]],
            {"axis": [0]},
        )
    for pos in [4, [3, 5]]:
        b.combo(
            f"array_split_2d({pos})",
            sys,
            splitter("array_split", pos),
            [[R(7, 7)]],
            {"axis": [0, 1]},
        )
        b.combo(
            f"array_split_3d({pos})",
            sys,
            splitter("array_split", pos),
            [[R(7, 7, 7)]],
            {"axis": [0, 1, 2]},
        )

    def seq(fn: str, as_list: bool = False) -> Callable[[Any], Callable]:
        def make(m: Any) -> Callable:
            def f(*xs: Any, **kw: Any) -> Any:
                return getattr(m, fn)(list(xs) if as_list else tuple(xs), **kw)

            return f

        return make

    all_args = (0, 1)
    b.combo(
        "concatenate_1ist",
        sys,
        seq("concatenate"),
        [[R(1)], [R(3)]],
        {"axis": [0]},
        argnums=all_args,
    )
    b.combo(
        "concatenate_tuple",
        sys,
        seq("concatenate", True),
        [[R(1)], [R(3)]],
        {"axis": [0]},
        argnums=all_args,
    )
    b.combo(
        "concatenate_2d",
        sys,
        seq("concatenate"),
        [[R(2, 2)], [R(2, 2)]],
        {"axis": [0, 1]},
        argnums=all_args,
    )
    b.combo(
        "concatenate_3d",
        sys,
        seq("concatenate"),
        [[R(2, 2, 2)], [R(2, 2, 2)]],
        {"axis": [0, 1, 2]},
        argnums=all_args,
    )
    stacks = [
        ("vstack_1d", "vstack", [R(2)], [R(2), R(2)]),
        ("vstack_2d", "vstack", [R(2, 3)], [R(2, 4), R(1, 4)]),
        ("vstack_3d", "vstack", [R(2, 3, 4)], [R(2, 3, 4), R(5, 3, 4)]),
        ("hstack_1d", "hstack", [R(2)], [R(2), R(2)]),
        ("hstack_2d", "hstack", [R(3, 2)], [R(3, 4), R(3, 5)]),
        ("hstack_3d", "hstack", [R(2, 3, 4)], [R(2, 1, 4), R(2, 5, 4)]),
        ("row_stack_1d", "vstack", [R(2)], [R(2), R(2)]),
        ("row_stack_2d", "vstack", [R(2, 3)], [R(2, 4), R(1, 4)]),
        ("column_stack_1d", "column_stack", [R(2)], [R(2), R(2)]),
        ("column_stack_2d", "column_stack", [R(2, 2)], [R(2, 2), R(2, 2)]),
    ]
    for name, fn, single, pair in stacks:
        # autograd passes a bare array (which NumPy iterates) or a tuple of arrays
        b.add(name, sys, fn, single)
        b.add(name, sys, seq(fn), pair, argnums=(0, 1))
    for axis in [0, 1]:
        b.add("stack_1d", sys, seq("stack"), [R(2)], kwargs=_kw(axis=axis))
        b.add("stack_1d", sys, seq("stack"), [R(2), R(2)], kwargs=_kw(axis=axis), argnums=(0, 1))

    def select(default: float) -> Callable[[Any], Callable]:
        def make(m: Any) -> Callable:
            def f(c1: Any, c2: Any, c3: Any, x1: Any, x2: Any, x3: Any) -> Any:
                return m.select([c1 > 0, c2 > 0, c3 > 0], [x1, x2, x3], default=default)

            return f

        return make

    for default in [0.0, 1.1]:
        b.add("select", sys, select(default), [R(3, 4, 5)] * 6, argnums=(3, 4, 5))
    for pw in [0, 3, (3,), (3, 2), ((3, 2),), ((1, 2), (3, 4)), ((0, 0), (0, 0))]:
        b.add(
            "pad",
            sys,
            (lambda p: lambda m: lambda x: m.pad(x, p, "constant"))(pw),
            [R(2, 2)],
            kwargs=_kw(pad_width=pw),
        )


# ------------------------------------------------------------------ autograd numpy
AG_NP = "autograd/test_numpy"


def _ag_numpy(b: _Builder) -> None:
    s = AG_NP
    dot = "dot"
    for a, c in [(R(10, 11), R(11)), (R(10, 11), R(11, 10)), (R(10), R(10, 11)), (R(11), R(11))]:
        b.add("dot", s, dot, [a, c], argnums=(0, 1))
    for a, c in [(R(10, 11), S()), (S(), R(10, 11)), (R(10), S()), (S(), R(10))]:
        b.add("dot_with_floats", s, dot, [a, c], argnums=(0, 1))
    for _ in range(3):
        b.add("outer", s, "outer", [R(11), R(11)], argnums=(0, 1))
    b.add("max", s, "max", [R(10, 11)])
    b.add("max_axis", s, "max", [R(3, 4, 5)], kwargs=_kw(axis=1))
    b.add("max_axis_keepdims", s, "max", [R(3, 4, 5)], kwargs=_kw(axis=1, keepdims=True))
    b.add("min", s, "min", [R(10, 11)])
    b.add("min_axis", s, "min", [R(3, 4, 5)], kwargs=_kw(axis=1))
    b.add("min_axis_keepdims", s, "min", [R(3, 4, 5)], kwargs=_kw(axis=1, keepdims=True))
    b.add("sum_1", s, "sum", [R(10, 11)])
    b.add("sum_2", s, "sum", [R(10, 11)], kwargs=_kw(axis=0))
    b.add("sum_3", s, "sum", [R(10, 11)], kwargs=_kw(axis=0, keepdims=True))
    b.add("sum_with_axis_tuple", s, "sum", [R(10, 11, 7)], kwargs=_kw(axis=(1, 2)))
    for red in ["sum", "prod", "max", "min"]:
        b.add(
            "plain_numpy_reductions",
            s,
            (lambda r: lambda m: lambda a: getattr(m, r)(m.exp(a) * (abs(_BASE5) + 0.5)))(red),
            [S(0.7, 0.7)],
        )
    b.add("flipud", s, "flipud", [R(10, 11)])
    b.add("fliplr", s, "fliplr", [R(10, 11)])
    b.add("rot90", s, "rot90", [R(10, 11)])
    b.add("cumsum_axis0", s, "cumsum", [R(10, 11)], kwargs=_kw(axis=0))
    b.add("cumsum_axis1", s, "cumsum", [R(10, 11)], kwargs=_kw(axis=1))
    b.add("cumsum_1d", s, "cumsum", [R(10)])
    b.add("cumsum_no_axis", s, "cumsum", [R(10, 11)])
    b.add(
        "non_numpy_sum",
        s,
        lambda m: lambda x, y: sum([x, y]),
        [R(10, 11), R(10, 11)],
        argnums=(0, 1),
    )
    b.add("mean_1", s, "mean", [R(10, 11)])
    b.add("mean_2", s, "mean", [R(10, 11)], kwargs=_kw(axis=0))
    b.add("mean_3", s, "mean", [R(10, 11)], kwargs=_kw(axis=0, keepdims=True))
    for fn in ["mean", "std", "var"]:
        b.add(
            f"{fn}_list_of_boxes",
            s,
            (lambda f: lambda m: lambda x: getattr(m, f)([x, x + 2]))(fn),
            [S(0.0, 0.0)],
        )
        b.add(
            f"{fn}_tuple_of_boxes",
            s,
            (lambda f: lambda m: lambda x: getattr(m, f)((x, x + 2)))(fn),
            [S(0.0, 0.0)],
        )
    A = R(5, 6, 4)
    b.add("index_ints", s, lambda m: lambda x: x[3, 0, 1], [A])
    b.add("index_slice", s, lambda m: lambda x: x[::-1, 2:4, :], [A])
    b.add("index_lists", s, lambda m: lambda x: x[[0, 1, 2], :, :], [A])
    b.add("index_mixed", s, lambda m: lambda x: x[3, 2:, [1, 3]], [A])
    b.add("vector_slice", s, lambda m: lambda x: x[2:4], [R(5)])
    b.add("index_slice_fanout", s, lambda m: lambda x: x[::-1, 2:4, :] + x[::-1, 3:5, :], [A])
    b.add("index_multiple_slices", s, lambda m: lambda x: x[2:6][1:3], [R(7)])
    b.add("reshape_method", s, lambda m: lambda x: x.reshape((20, 6)), [A])
    b.add("reshape_call", s, lambda m: lambda x: m.reshape(x, (20, 6)), [A])
    b.add("reshape_method_nolist", s, lambda m: lambda x: x.reshape(20, 6), [A])
    b.add("ravel_method", s, lambda m: lambda x: x.ravel(), [A])
    b.add("ravel_call", s, "ravel", [A])
    b.add("flatten_method", s, lambda m: lambda x: x.flatten(), [A])
    b.add("simple_append_list", s, "append", [V([1.0, 2.0, 3.0]), S(4.0, 4.0)], argnums=(0, 1))
    b.add("simple_append_arr", s, "append", [V(_arr([1.0, 2.0, 3.0])), S(4.0, 4.0)], argnums=(0, 1))
    b.add(
        "simple_append_list_2D",
        s,
        "append",
        [V([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), V([[7.0, 8.0, 9.0]])],
        kwargs=_kw(axis=0),
        argnums=(0, 1),
    )
    b.add(
        "simple_concatenate",
        s,
        lambda m: lambda a, x: m.concatenate((a, x)),
        [R(5, 6, 4), R(4, 6, 4)],
        argnums=(1,),
    )
    b.add(
        "concatenate_axis_0",
        s,
        lambda m: lambda bb, x: m.concatenate((bb, x, bb)),
        [R(5, 6, 4), A],
        argnums=(1,),
    )
    b.add(
        "concatenate_axis_1",
        s,
        lambda m: lambda bb, x: m.concatenate((bb, x, bb), axis=1),
        [R(5, 6, 4), A],
        argnums=(1,),
    )
    b.add(
        "concatenate_axis_1_unnamed",
        s,
        lambda m: lambda bb, x: m.concatenate((bb, x, bb), 1),
        [R(5, 6, 4), A],
        argnums=(1,),
    )
    b.add("trace", s, "trace", [R(10, 11)], kwargs=_kw(offset=4))
    b.add("trace2", s, "trace", [R(11, 10)], kwargs=_kw(offset=-6))
    b.add("trace_extradims", s, "trace", [R(5, 6, 4, 3)], kwargs=_kw(offset=2))
    b.add("diag", s, "diag", [R(10, 10)])
    b.add("transpose", s, lambda m: lambda x: x.T, [R(8, 8)])
    b.add("roll", s, "roll", [R(4, 5)], kwargs=_kw(shift=2, axis=1))
    b.add("roll_no_axis", s, "roll", [R(4, 5)], kwargs=_kw(shift=2))
    b.add("triu", s, "triu", [R(5, 5)], kwargs=_kw(k=2))
    b.add("tril", s, "tril", [R(5, 5)], kwargs=_kw(k=2))
    b.add("clip", s, "clip", [R(5, 5)], kwargs=_kw(a_min=0.1, a_max=1.1))
    b.add("prod_1", s, "prod", [U(0.1, 0.5, 2, 3)])
    b.add("prod_2", s, "prod", [U(0.1, 2.0, 2, 3)], kwargs=_kw(axis=0))
    b.add("prod_3", s, "prod", [U(0.1, 2.0, 2, 3)], kwargs=_kw(axis=0, keepdims=True))
    b.add("prod_4", s, "prod", [U(0.1, 2.0, 7)])
    b.add("1d_array", s, lambda m: lambda x: m.array([x, x * 1.0, x + 2.5]), [S(3.0, 3.0)])
    b.add(
        "2d_array",
        s,
        lambda m: lambda x: m.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]]),
        [S(3.0, 3.0)],
    )
    b.add(
        "1d_array_fanout",
        s,
        lambda m: lambda x: _twice(m.array([x, x * 1.0, x + 2.5])),
        [S(3.0, 3.0)],
    )
    b.add(
        "2d_array_fanout",
        s,
        lambda m: lambda x: _twice(m.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])),
        [S(3.0, 3.0)],
    )
    b.add("array_from_scalar", s, lambda m: lambda x: m.array(x), [S(3.0, 3.0)])
    b.add("scalar_array_attributes", s, lambda m: lambda x: _scalar_attrs(x) ** 2, [S(3.0, 3.0)])
    b.add("array_from_arrays", s, lambda m: lambda x: m.array([x, x]), [R(3, 2)])
    b.add(
        "array_from_arrays_2", s, lambda m: lambda x: m.array([[2 * x, x + 1], [x, x]]), [R(3, 2)]
    )
    b.add("len", s, lambda m: lambda x: _len3(x), [R(3, 2)])
    b.add("r_basic", s, lambda m: lambda x: m.r_[x], [R(3, 2)])
    b.add("r_double", s, lambda m: lambda x: m.r_[x, x], [R(3, 2)])
    b.add("no_relation", s, lambda m: lambda x: _CONST32, [R(3, 2)])
    b.add("r_no_relation", s, lambda m: lambda x: m.r_[_CONST32], [R(3, 2)])
    b.add("r_node_and_const", s, lambda m: lambda x: m.r_[x, _CONST32], [R(3, 2)])
    b.add("r_mixed", s, lambda m: lambda x: m.r_[x, _CONST32, x], [R(3, 2)])
    b.add("r_slicing", s, lambda m: lambda x: m.r_[x, _CONST10, 1:10], [R(10)])
    b.add("c_", s, lambda m: lambda x: m.c_[x, _CONST32, x], [R(3, 2)])
    b.add("c_mixed", s, lambda m: lambda x: m.c_[x, _CONST32, x], [R(3, 2)])
    for fn in ["var", "std"]:
        b.combo(
            f"{fn}_ddof",
            s,
            fn,
            [[R(3), R(3, 4), R(1, 3)]],
            {"axis": [None], "keepdims": [True, False], "ddof": [0, 1]},
        )
        b.combo(
            f"{fn}_ddof",
            s,
            fn,
            [[R(3, 4), R(1, 3)]],
            {"axis": [None, 1], "keepdims": [True, False], "ddof": [2]},
        )
    b.add(
        "where",
        s,
        lambda m: lambda c, x, y: m.where(c > 0, x, y),
        [R(4, 5), R(4, 5), R(4, 5)],
        argnums=(1, 2),
    )
    b.add("squeeze_func", s, "squeeze", [R(5, 1, 4)])
    b.add("squeeze_method", s, lambda m: lambda x: x.squeeze(), [R(5, 1, 4)])
    b.add("repeat", s, "repeat", [R(5, 3, 4)], kwargs=_kw(repeats=2, axis=1))
    b.add("repeat_axis1_rep1", s, "repeat", [R(5, 3, 4)], kwargs=_kw(repeats=1, axis=1))
    b.add("repeat_axis0", s, "repeat", [R(5, 3)], kwargs=_kw(repeats=2, axis=0))
    b.add("repeat_1d_axis0", s, "repeat", [R(5)], kwargs=_kw(repeats=2, axis=0))
    b.add("repeat_axis0_rep1", s, "repeat", [R(5, 1)], kwargs=_kw(repeats=1, axis=0))
    b.add("expand_dims", s, "expand_dims", [R(5, 1, 4)], kwargs=_kw(axis=2))
    b.add(
        "tensordot_kwargs_by_position",
        s,
        lambda m: lambda x: m.tensordot(x * m.ones((2, 2)), x * m.ones((2, 2)), 2),
        [S(1.0, 1.0)],
        order=1,
    )
    b.add("multi_index", s, lambda m: lambda x: m.sum(x[[0, 0]]), [R(3)])
    b.add("multi_index2", s, lambda m: lambda x: m.sum(x[[0, 1, 0]]), [R(3)])
    b.add("index_dot_slices", s, lambda m: lambda x: m.dot(x[:2], x[2:]), [R(4)])
    b.add("cast_to_int", s, lambda m: lambda w: _cast_to_int(m, w), [R(5, 10)])
    for shape in [(4, 4), (3, 4, 4)]:
        b.add("diagonal", s, "diagonal", [R(*shape)], kwargs=_kw(axis1=-1, axis2=-2))
    b.add(
        "nan_to_num",
        s,
        lambda m: (
            lambda x: m.sum(
                m.sin(m.nan_to_num(x + _arr([0.0, float("nan"), float("inf"), -float("inf")])))
            )
        ),
        [R(4)],
    )
    b.add("max_equal_values", s, lambda m: lambda x: m.max(m.array([x, x])), [S(1.0, 1.0)])
    for v in [1.0, -1.0]:
        b.add(
            "max_equal_values_2d",
            s,
            lambda m: lambda x: m.max(m.array([[x, x], [x, 0.5]]), axis=1),
            [S(v, v)],
        )
        b.add(
            "min_3_way_equality",
            s,
            lambda m: (
                lambda x: m.min(
                    m.array([[x, x, x], [x, 0.5, 0.5], [0.5, 0.5, 0.5], [x, x, 0.5]]), axis=0
                )
            ),
            [S(v, v)],
        )
    b.add("maximum_equal_values", s, lambda m: lambda x: m.maximum(x, x), [S(1.0, 1.0)])
    for v in [1.0, -1.0, 2.0]:
        b.add(
            "maximum_equal_values_2d",
            s,
            lambda m: (
                lambda x: m.maximum(m.array([x, x, 0.5]), m.array([[x, 0.5, x], [x, x, 0.5]]))
            ),
            [S(v, v)],
        )
    for num in [0, 1, 5]:
        for lo, hi in [(1.2, 3.4), (1.2, -3.4), (1.2, 1.2)]:
            b.add(
                "linspace",
                s,
                (lambda n: lambda m: lambda x, y: m.linspace(x, y, n))(num),
                [S(lo, lo), S(hi, hi)],
                argnums=(0, 1),
                kwargs=_kw(num=num),
            )
    b.add(
        "astype",
        s,
        lambda m: lambda x: m.sum(m.sin(x.astype("float64"))),
        [U(0.0, 2.0, 3, dtype="float32")],
        order=1,
    )
    for shape in [(10,), (10, 10), (10, 10, 10)]:
        b.add("gradient", s, "gradient", [R(*shape)])
    for ax in [None, 0, 1, -1, (0, 1), (0, -1)]:
        b.add("gradient", s, "gradient", [R(10, 10, 10)], kwargs=_kw(axis=ax))


def _twice(a: Any) -> Any:
    return a + a


def _scalar_attrs(x: Any) -> Any:
    if tuple(x.shape) != () or x.ndim != 0 or x.size != 1:
        raise AssertionError("a scalar argument should look like a 0-d array")
    return x


def _len3(x: Any) -> Any:
    if len(x) != 3:
        raise AssertionError("len() of a (3, 2) argument should be 3")
    return x


def _arr(v: Any) -> Any:
    import numpy as np

    return np.array(v)


def _cast_to_int(m: Any, w: Any) -> Any:
    import numpy as np

    inds = np.ones(5)[:, None]
    m.concatenate((w, inds), axis=1)
    new_w = w[:, :-1]
    return m.sum(new_w[_ROWS5])


def _consts() -> tuple[Any, Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(20261203)
    return (
        rng.standard_normal(5),
        rng.standard_normal((3, 2)),
        rng.standard_normal(10),
        np.arange(5) % 2,
    )


_BASE5, _CONST32, _CONST10, _ROWS5 = _consts()


# --------------------------------------------------------- autograd scalar / binary
def _ag_scalar(b: _Builder) -> None:
    s = "autograd/test_scalar_ops"

    def k3(fn: str) -> Callable[[Any], Callable]:
        return lambda m: lambda x: 3.0 * getattr(m, fn)(x)

    for fn in ["abs", "absolute"]:
        b.add(fn, s, k3(fn), [S(1.1, 1.1)])
        b.add(fn, s, k3(fn), [S(-1.1, -1.1)])
    b.add("sign", s, k3("sign"), [S(1.1, 1.1)])
    b.add("sign", s, k3("sign"), [S(-1.1, -1.1)])
    for fn in ["sin", "exp", "cos", "tan", "cosh", "sinh", "tanh", "arcsinh"]:
        b.add(fn, s, k3(fn), [S(-1.5, 1.5)])
    for fn in ["log", "log2", "log10", "log1p", "expm1", "exp2"]:
        b.add(fn, s, k3(fn), [S(0.1, 2.0)])
    b.add("neg", s, lambda m: lambda x: 3.0 * -x, [S()])
    b.add("arccos", s, k3("arccos"), [S(0.1, 0.1)])
    b.add("arcsin", s, k3("arcsin"), [S(0.1, 0.1)])
    b.add("arctan", s, k3("arctan"), [S(0.2, 0.2)])
    b.add("arccosh", s, k3("arccosh"), [S(1.2, 4.0)])
    b.add("arctanh", s, k3("arctanh"), [S(0.2, 0.2)])
    b.add("sqrt", s, k3("sqrt"), [S(0.5, 10.0)])
    b.add("power_arg0", s, lambda m: lambda x: m.power(x, 1.7), [S(1.0, 2.0)])
    b.add("power_arg0_y0", s, lambda m: lambda x: m.power(x, 0.0), [S(0.0, 0.0)], order=2)
    b.add("power_arg1", s, lambda m: lambda y: m.power(0.8, y), [S(0.0, 1.0)])
    b.add("power_arg1_zero", s, lambda m: lambda y: m.power(0.0, y), [S(0.2, 1.0)])
    for fn in ["mod", "divide", "multiply", "true_divide"]:
        for arg in [0, 1]:
            b.add(f"{fn}_arg{arg}", s, fn, [S(0.1, 0.5), S(0.6, 1.0)], argnums=(0, 1))
    b.add("reciprocal", s, "reciprocal", [S(0.2, 1.0)])
    b.add("negative", s, "negative", [S(0.0, 1.0)])
    for fn in ["rad2deg", "deg2rad", "radians", "degrees", "sinc"]:
        b.add(fn, s, k3(fn), [S(0.0, 10.0)])

    s = "autograd/test_binary_ops"
    allargs = [S(2.0, 2.0), R(4), R(3, 4), R(1, 4)]
    pairs = list(itertools.product(allargs, allargs))
    import operator

    for name, op in [("mul", operator.mul), ("add", operator.add), ("sub", operator.sub)]:
        for a, c in pairs:
            b.add(name, s, (lambda o: lambda m: o)(op), [a, c], argnums=(0, 1))
    gap = lambda m: lambda x, y: m.sqrt(x**2 + 0.5) / m.sqrt(y**2 + 0.5)  # noqa: E731
    for a, c in pairs:
        b.add("div", s, gap, [a, c], argnums=(0, 1))
    for i, (a, c) in enumerate(pairs):
        if i % 5:  # autograd skips the pairs where both are the same object
            b.add(
                "mod",
                s,
                lambda m: lambda x, y: m.sqrt(x**2 + 0.5) % m.sqrt(y**2 + 0.5),
                [a, c],
                argnums=(0, 1),
            )
    for a, c in pairs:
        b.add("pow", s, lambda m: lambda x, y: (m.abs(x) + 1.1) ** y, [a, c], argnums=(0, 1))
    for a, c in pairs:
        b.add("arctan2", s, "arctan2", [a, c], argnums=(0, 1))
    for a, c in pairs:
        b.add("hypot", s, "hypot", [a, c], argnums=(0, 1))
    import operator as o

    comparisons = [o.lt, o.le, o.gt, o.ge, o.eq, o.ne]
    for a, c in pairs:
        for cmp in comparisons:
            b.add(
                f"comparison_{cmp.__name__}",
                s,
                (lambda f: lambda m: lambda x, y: m.sum(f(x, y)) + 0.0)(cmp),
                [a, c],
                argnums=(0, 1),
                order=1,
                zero_grad=True,
            )


# --------------------------------------------------------------- autograd graphs
def _ag_graphs(b: _Builder) -> None:
    s = "autograd/test_graphs"
    fanout = lambda m: lambda x: m.sin(m.sin(x) + m.sin(x))  # noqa: E731
    b.add("grad_fanout", s, fanout, [S()], order=3)
    b.add("grad_const", s, lambda m: lambda x: 1.0 + 0.0 * x, [S(2.0, 2.0)])
    b.add("grad_identity", s, lambda m: lambda x: x, [S(2.0, 2.0)])
    b.add("hess_vector_prod", s, lambda m: lambda x: m.sin(m.dot(x, _V10)), [R(10)], order=3)
    b.add(
        "vector_product",
        s,
        lambda m: lambda x, v: m.sin(m.dot(v, m.cos(m.dot(x, _V10)) * _V10)),
        [R(10), R(10)],
        argnums=(0, 1),
    )
    b.add("mutating_outgrad", s, lambda m: lambda a: a + (a + 1.0) + ((a + 1.0) + 1.5), [R(5)])
    b.add(
        "mutating_outgrad_from_indexing",
        s,
        lambda m: lambda a: a + (a + 1.0) + ((a + 1.0)[0] + 1.5),
        [R(5)],
    )
    b.add(
        "third_derivative",
        s,
        lambda m: lambda x, y: m.sin(m.sin(x) + m.sin(y)),
        [S(), S()],
        argnums=(0, 1),
        order=3,
    )
    b.add(
        "singleton_array_output",
        s,
        lambda m: lambda x: m.sum(m.sin(x), keepdims=True),
        [R(3, 3)],
        order=3,
    )
    b.add(
        "singleton_array_output_axis0",
        s,
        lambda m: lambda x: m.sum(m.sin(x), axis=0, keepdims=False),
        [R(3, 1)],
        order=3,
    )
    b.add(
        "complex_mutating_outgrad_from_indexing",
        s,
        lambda m: lambda a: m.sum(m.sin(m.real(a + 1.0j))),
        [R(5)],
    )
    b.add(
        "complex_separate_real_and_imaginary",
        s,
        lambda m: lambda a: m.sum(m.sin(m.abs(m.real(a)) ** 1.4 + m.abs(m.imag(a)) ** 1.3)),
        [C(5, 3)],
    )
    # derivatives taken inside the function: graphad's grad nested in the traced function;
    # the reference is the derivative written out by hand
    b.add(
        "enclosing_scope_ref",
        s,
        lambda m: lambda x: x * m.grad(lambda y: x * y)(2.0),
        [S(1.0, 1.0)],
        ref=lambda np: lambda x: x * x,
    )
    b.add(
        "enclosing_scope_ref_2",
        s,
        lambda m: lambda x: x * m.grad(lambda y: y * x)(2.0),
        [S(1.0, 1.0)],
        ref=lambda np: lambda x: x * x,
    )
    b.add(
        "nested_grad_fanout",
        s,
        lambda m: lambda x: m.grad(lambda t: m.sin(m.sin(t) + m.sin(t)))(x),
        [S(0.0, 1.0)],
        ref=lambda np: lambda x: np.cos(2 * np.sin(x)) * 2 * np.cos(x),
    )

    s = "autograd/test_wrappers"
    b.add(
        "hessian",
        s,
        lambda m: lambda x: m.hessian(lambda t: m.sum(t**3))(x),
        [R(5)],
        ref=lambda np: lambda x: np.diag(6 * x),
    )
    b.add(
        "value_and_grad",
        s,
        lambda m: lambda x: m.stack(_vg(m, x)),
        [R(3)],
        ref=lambda np: lambda x: np.stack([np.full(3, np.sum(np.sin(x))), np.cos(x)]),
    )
    b.add(
        "multigrad",
        s,
        lambda m: lambda x, y: m.grad(lambda a, c: m.sin(a) * m.cos(c), argnums=(1, 0))(x, y)[0],
        [S(), S()],
        argnums=(0, 1),
        ref=lambda np: lambda x, y: -np.sin(x) * np.sin(y),
    )
    b.add(
        "elementwise_grad",
        s,
        lambda m: lambda x: m.grad(lambda t: m.sum(m.tanh(t)))(x),
        [R(6)],
        ref=lambda np: lambda x: 1 - np.tanh(x) ** 2,
    )
    b.add(
        "hvp",
        s,
        lambda m: lambda x, v: m.jvp(m.grad(lambda t: m.sum(m.sin(t) * t)), (x,), (v,))[1],
        [R(4), R(4)],
        argnums=(0, 1),
        ref=lambda np: lambda x, v: (2 * np.cos(x) - x * np.sin(x)) * v,
    )
    b.add(
        "jacobian",
        s,
        lambda m: lambda x: m.jacobian(lambda t: m.tanh(m.dot(_M34, t)))(x),
        [R(4)],
        ref=lambda np: lambda x: (1 - np.tanh(_M34 @ x) ** 2)[:, None] * _M34,
    )
    b.add(
        "grad_and_aux",
        s,
        lambda m: lambda x: m.grad(lambda t: (m.sum(t**2), t), has_aux=True)(x)[0],
        [R(3)],
        ref=lambda np: lambda x: 2 * x,
    )
    b.add(
        "make_jvp",
        s,
        lambda m: lambda x, v: m.jvp(lambda t: m.sin(t) * t, (x,), (v,))[1],
        [R(5), R(5)],
        argnums=(0, 1),
        ref=lambda np: lambda x, v: (np.cos(x) * x + np.sin(x)) * v,
    )


def _vg(m: Any, x: Any) -> list[Any]:
    val, g = m.value_and_grad(lambda t: m.sum(m.sin(t)))(x)
    return [val * m.ones(3), g]


def _wrapper_consts() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(7)
    return rng.standard_normal(10), rng.standard_normal((3, 4))


_V10, _M34 = _wrapper_consts()


# --------------------------------------------------------------------- micrograd
def _micrograd(b: _Builder) -> None:
    s = "micrograd/test_engine"

    def sanity(m: Any) -> Callable:
        def f(x: Any) -> Any:
            z = 2 * x + 2 + x
            q = m.maximum(z, 0.0) + z * x
            h = m.maximum(z * z, 0.0)
            return h + q + q * x

        return f

    def more_ops(m: Any) -> Callable:
        def f(a: Any, c: Any) -> Any:
            cc = a + c
            d = a * c + c**3
            cc = cc + cc + 1
            cc = cc + 1 + cc + (-a)
            d = d + d * 2 + m.maximum(c + a, 0.0)
            d = d + 3 * d + m.maximum(c - a, 0.0)
            e = cc - d
            f2 = e**2
            g = f2 / 2.0
            return g + 10.0 / f2

        return f

    b.add("sanity_check", s, sanity, [S(-4.0, -4.0)], order=1)
    b.add("more_ops", s, more_ops, [S(-4.0, -4.0), S(2.0, 2.0)], argnums=(0, 1), order=1)


# --------------------------------------------------------------------------- JAX
JAX_LAX = "jax/lax_autodiff_test"
JAX_NP = "jax/lax_numpy_test"
FLOATS = ("float32", "float64")
INEXACT = ("float32", "float64", "complex64", "complex128")


def _jarg(shape: tuple[int, ...], dtype: str, rng: str) -> Arg:
    lo, hi = {
        "default": (-3.0, 3.0),
        "small": (-0.3, 0.3),
        "positive": (0.1, 3.0),
        "not_small": (0.5, 3.0),
        "u13": (-1.3, 1.3),
        "u14": (0.1, 0.4),
        "u09": (-0.9, 0.9),
    }[rng]
    if dtype.startswith("complex"):
        return Arg(shape=shape, dist="uniform", lo=lo, hi=hi, complex=True, dtype=dtype)
    return Arg(shape=shape, dist="uniform", lo=lo, hi=hi, dtype=dtype)


def _jax(b: _Builder) -> None:
    compatible = [[(3,)], [(), (3, 4), (3, 1), (1, 4)], [(2, 3, 4), (2, 1, 4)]]
    lax_ops: list[tuple[str, Any, int, int, str, tuple[str, ...]]] = [
        ("neg", "negative", 1, 2, "default", INEXACT),
        ("floor", "floor", 1, 2, "u14", FLOATS),
        ("ceil", "ceil", 1, 2, "u14", FLOATS),
        ("round", "round", 1, 2, "u14", FLOATS),
        ("exp", "exp", 1, 2, "small", INEXACT),
        ("exp2", "exp2", 1, 2, "small", INEXACT),
        ("expm1", "expm1", 1, 2, "default", INEXACT),
        ("log", "log", 1, 2, "positive", INEXACT),
        ("log1p", "log1p", 1, 2, "positive", INEXACT),
        ("sinh", "sinh", 1, 2, "default", (*FLOATS, "complex64")),
        ("cosh", "cosh", 1, 2, "default", INEXACT),
        ("tanh", "tanh", 1, 2, "default", INEXACT),
        ("sin", "sin", 1, 2, "default", INEXACT),
        ("cos", "cos", 1, 2, "default", INEXACT),
        ("tan", "tan", 1, 2, "u13", INEXACT),
        ("asin", "arcsin", 1, 2, "u13", FLOATS),
        ("acos", "arccos", 1, 2, "u13", FLOATS),
        ("atan2", "arctan2", 2, 2, "default", FLOATS),
        ("erf", "erf", 1, 2, "small", FLOATS),
        ("erfc", "erfc", 1, 2, "small", FLOATS),
        ("erf_inv", "erfinv", 1, 2, "small", FLOATS),
        ("bessel_i0e", "i0e", 1, 2, "default", FLOATS),
        ("bessel_i1e", "i1e", 1, 2, "default", FLOATS),
        ("real", "real", 1, 2, "default", ("complex64", "complex128")),
        ("imag", "imag", 1, 2, "default", ("complex64", "complex128")),
        ("complex", lambda m: lambda x, y: x + 1j * y, 2, 2, "default", FLOATS),
        ("conj", "conj", 1, 2, "default", INEXACT),
        ("abs", "abs", 1, 2, "positive", INEXACT),
        ("pow", "power", 2, 2, "positive", INEXACT),
        ("sqrt", "sqrt", 1, 2, "positive", FLOATS),
        ("sqrt", "sqrt", 1, 2, "default", ("complex64", "complex128")),
        ("rsqrt", lambda m: lambda x: 1.0 / m.sqrt(x), 1, 2, "positive", FLOATS),
        (
            "rsqrt",
            lambda m: lambda x: 1.0 / m.sqrt(x),
            1,
            2,
            "default",
            ("complex64", "complex128"),
        ),
        ("cbrt", "cbrt", 1, 2, "not_small", FLOATS),
        ("logistic", "sigmoid", 1, 2, "default", INEXACT),
        ("add", "add", 2, 2, "default", INEXACT),
        ("sub", "subtract", 2, 2, "default", INEXACT),
        ("mul", "multiply", 2, 2, "default", INEXACT),
        ("div", "divide", 2, 1, "not_small", INEXACT),
        ("max", "maximum", 2, 2, "default", FLOATS),
        ("min", "minimum", 2, 2, "default", FLOATS),
    ]
    for name, fn, nargs, order, rng, dts in lax_ops:
        for group in compatible:
            for shapes in itertools.combinations_with_replacement(group, nargs):
                for dt in dts:
                    args = [_jarg(sh, dt, rng) for sh in shapes]
                    b.add(
                        f"lax_{name}",
                        JAX_LAX,
                        fn,
                        args,
                        argnums=tuple(range(nargs)),
                        order=order,
                        nan_ok=True,
                        complex_result=name == "complex",
                    )
    for dt in FLOATS:  # mul with an output dtype
        for group in compatible:
            for shapes in itertools.combinations_with_replacement(group, 2):
                b.add(
                    "lax_mul_out_dtype",
                    JAX_LAX,
                    "multiply",
                    [_jarg(sh, dt, "default") for sh in shapes],
                    argnums=(0, 1),
                )
    specials = [
        ("sinh", [0.0]),
        ("cosh", [0.0]),
        ("tanh", [0.0, 1000.0]),
        ("sin", [0.0, 3.141592653589793, 1.5707963267948966, 0.7853981633974483]),
        ("cos", [0.0, 3.141592653589793, 1.5707963267948966, 0.7853981633974483]),
        ("tan", [0.0]),
        ("arcsin", [0.0]),
        ("arccos", [0.0]),
        ("arctan", [0.0, 1000.0]),
        ("erf", [0.0, 10.0]),
        ("erfc", [0.0, 10.0]),
    ]
    for fn, values in specials:
        for v in values:
            b.add(
                f"lax_special_{fn}",
                JAX_LAX,
                fn,
                [Arg(shape=(), dist="uniform", lo=v, hi=v)],
                order=2,
            )
    for dt in FLOATS:
        for shape in [(), (5,), (2, 3)]:
            b.add(
                "lax_clamp",
                JAX_LAX,
                lambda m: lambda x: m.clip(x, -10.0, 10.0),
                [_jarg(shape, dt, "default")],
            )
        for base in [(4,), (3, 4), (2, 3, 4)]:
            for dim in range(len(base)):
                shapes = [(*base[:dim], size, *base[dim + 1 :]) for size in (3, 1, 4)]
                b.add(
                    "lax_concatenate",
                    JAX_LAX,
                    (lambda d: lambda m: lambda *xs: m.concatenate(xs, axis=d))(dim),
                    [_jarg(sh, dt, "default") for sh in shapes],
                    argnums=(0, 1, 2),
                    kwargs=_kw(axis=dim),
                )
                for pieces in range(3):
                    sizes = [2, 1, 3][: pieces + 1]
                    shape = list(base)
                    shape[dim] = sum(sizes)
                    cuts = list(itertools.accumulate(sizes))[:-1]
                    b.add(
                        "lax_split",
                        JAX_LAX,
                        (lambda c, d: lambda m: lambda x: m.split(x, c, axis=d))(cuts, dim),
                        [_jarg(tuple(shape), dt, "default")],
                        kwargs=_kw(cuts=cuts, axis=dim),
                    )
        for ls, rs in [((3,), (3,)), ((4, 3), (3,)), ((3,), (3, 6)), ((4, 3), (3, 6))]:
            b.add(
                "lax_dot",
                JAX_LAX,
                "dot",
                [_jarg(ls, dt, "default"), _jarg(rs, dt, "default")],
                argnums=(0, 1),
            )
        for ls, rs, axes in [
            ((3, 3, 2), (2, 3, 4), (((2,), (0,)))),
            ((3, 4, 2, 4), (3, 4, 3, 2), (((2, 0), (3, 0)))),
            ((4, 5, 2), (5, 2, 3), ((1, 2), (0, 1))),
        ]:
            b.add(
                "lax_dot_general",
                JAX_LAX,
                "tensordot",
                [_jarg(ls, dt, "default"), _jarg(rs, dt, "default")],
                kwargs=_kw(axes=axes),
                argnums=(0, 1),
            )
        for shape, sizes in [((), ()), ((2, 3), (2,)), ((2, 3), (1, 2))]:
            b.add(
                "lax_broadcast",
                JAX_LAX,
                (lambda pre, tail: lambda m: lambda x: m.broadcast_to(x, pre + tail))(sizes, shape),
                [_jarg(shape, dt, "default")],
            )
        for ins, outs in [((2,), (2, 2)), ((2,), (3, 2)), ((), (2, 3))]:
            b.add(
                "lax_broadcast_in_dim",
                JAX_LAX,
                (lambda o: lambda m: lambda x: m.broadcast_to(x, o))(outs),
                [_jarg(ins, dt, "default")],
            )
        for arg_shape, out_shape, perm in [
            ((3, 4), (12,), None),
            ((2, 1, 4), (8,), None),
            ((2, 2, 4), (2, 8), None),
            ((3, 4), (12,), (0, 1)),
            ((3, 4), (12,), (1, 0)),
            ((2, 1, 4), (8,), (0, 2, 1)),
            ((2, 1, 4), (8,), (2, 0, 1)),
            ((2, 2, 4), (2, 8), (0, 2, 1)),
            ((2, 2, 4), (2, 8), (2, 0, 1)),
        ]:
            b.add(
                "lax_reshape",
                JAX_LAX,
                (
                    lambda o, p: (
                        lambda m: lambda x: m.reshape(x if p is None else m.transpose(x, p), o)
                    )
                )(out_shape, perm),
                [_jarg(arg_shape, dt, "default")],
                kwargs=_kw(out=out_shape, perm=perm),
            )
        for shape, pads in [((2, 3), ((1, 2), (0, 1))), ((2, 3), ((0, 0), (2, 1))), ((), ())]:
            b.add(
                "lax_pad",
                JAX_LAX,
                (lambda p: lambda m: lambda x: m.pad(x, p))(pads),
                [_jarg(shape, dt, "small")],
                kwargs=_kw(pads=pads),
            )
            b.add(
                "lax_pad_value",
                JAX_LAX,
                (lambda p: lambda m: lambda x, v: m.pad(x, p, constant_values=v))(pads),
                [_jarg(shape, dt, "small"), _jarg((), dt, "small")],
                argnums=(0, 1),
                kwargs=_kw(pads=pads),
            )
        b.add("lax_reverse", JAX_LAX, "flip", [_jarg((4,), dt, "default")], kwargs=_kw(axis=0))
        b.add(
            "lax_reverse", JAX_LAX, "flip", [_jarg((3, 2), dt, "default")], kwargs=_kw(axis=(0, 1))
        )
        for pred, shape in [((), (2, 3)), ((2, 3), (2, 3)), ((4,), (4,))]:
            b.add(
                "lax_select",
                JAX_LAX,
                lambda m: lambda c, x, y: m.where(c > 0, x, y),
                [
                    _jarg(pred, "float64", "default"),
                    _jarg(shape, dt, "default"),
                    _jarg(shape, dt, "default"),
                ],
                argnums=(1, 2),
            )
        for shape, starts, limits, strides in [
            ((3,), (1,), (2,), None),
            ((7,), (4,), (7,), None),
            ((5,), (1,), (5,), (2,)),
            ((8,), (1,), (6,), (2,)),
            ((5, 3), (1, 1), (3, 2), None),
            ((5, 3), (1, 1), (3, 1), None),
            ((7, 5, 3), (4, 0, 1), (7, 1, 3), None),
            ((5, 3), (1, 1), (2, 1), (1, 1)),
            ((5, 3), (1, 1), (5, 3), (2, 1)),
            ((3, 3, 5), (0, 2, 0), (3, 2, 5), (1, 2, 1)),
        ]:
            st = strides or (1,) * len(shape)
            idx = tuple(slice(a, z, k) for a, z, k in zip(starts, limits, st, strict=False))
            b.add(
                "lax_slice",
                JAX_LAX,
                (lambda i: lambda m: lambda x: x[i])(idx),
                [_jarg(shape, dt, "default")],
                kwargs=_kw(starts=starts, limits=limits, strides=strides),
            )
        for shape, perm in [
            ((3, 4), (1, 0)),
            ((3, 4), (0, 1)),
            ((3, 4, 5), (2, 1, 0)),
            ((3, 4, 5), (1, 0, 2)),
        ]:
            b.add(
                "lax_transpose",
                JAX_LAX,
                "transpose",
                [_jarg(shape, dt, "default")],
                kwargs=_kw(axes=perm),
            )
        for fn in ["sum", "max", "min", "prod"]:
            for shape, dims in [
                ((), ()),
                ((3, 4, 5), ()),
                ((3, 4, 5), (0,)),
                ((3, 4, 5), (1, 2)),
                ((3, 4, 5), (0, 2)),
                ((3, 4, 5), (0, 1, 2)),
                ((3, 1), (1,)),
                ((3, 0, 5), (1,)),
            ]:
                if fn in ("max", "min") and 0 in shape:
                    continue
                rng = "default" if fn != "prod" else "not_small"
                b.add(
                    f"lax_reduce_{fn}", JAX_LAX, fn, [_jarg(shape, dt, rng)], kwargs=_kw(axis=dims)
                )
            if fn in ("sum", "max", "min"):
                for shape, dims in [((3, 4, 5), (0,)), ((2, 3), (1,))]:
                    b.add(
                        f"lax_reduce_{fn}",
                        JAX_LAX,
                        fn,
                        [_jarg(shape, "complex64", "default")],
                        kwargs=_kw(axis=dims),
                    )
        for fn in ["cumsum", "cumprod"]:
            for shape in [(10,), (3, 4, 5)]:
                for axis in range(len(shape)):
                    for reverse in [False, True]:
                        b.add(
                            f"lax_{fn}",
                            JAX_LAX,
                            _cumulative(fn, axis, reverse),
                            [_jarg(shape, dt, "small")],
                            kwargs=_kw(axis=axis, reverse=reverse),
                        )
        for shape, reps in [((2,), (3,)), ((2, 3), (2, 1)), ((1, 3), (2, 2)), ((2,), (2, 2))]:
            b.add("lax_tile", JAX_LAX, "tile", [_jarg(shape, dt, "default")], kwargs=_kw(reps=reps))
    for shape in [(0,), (5,), (5, 7), (4, 9, 3)]:
        for stable in ["quicksort", "stable"]:
            b.add(
                "lax_sort",
                JAX_LAX,
                "sort",
                [_jarg(shape, "float32", "default")],
                kwargs=_kw(axis=len(shape) - 1, kind=stable),
            )
    for shape, idxs, axis in [
        ((5,), [0, 2, 4], 0),
        ((4, 5), [1, 1, 3], 0),
        ((4, 5), [4, 0], 1),
        ((3, 4, 5), [0, 2], 2),
    ]:
        b.add(
            "lax_index_take",
            JAX_LAX,
            "take",
            [_jarg(shape, "float64", "default")],
            kwargs=_kw(indices=idxs, axis=axis),
        )
    b.add(
        "lax_remainder",
        JAX_LAX,
        "remainder",
        [U(0.5, 5.0, 3), U(1.1, 1.9, 3)],
        argnums=(0, 1),
        order=1,
    )
    b.add("lax_reciprocal_higher", JAX_LAX, "reciprocal", [S(0.5, 2.0)], order=3)
    b.add(
        "lax_stop_gradient",
        JAX_LAX,
        lambda m: lambda x: m.grad(lambda t: m.sin(t) * m.stop_gradient(t))(x),
        [S()],
        ref=lambda np: lambda x: np.cos(x) * x,
        order=0,
    )

    nonempty = [(), (4,), (3, 4), (3, 1), (1, 4), (2, 1, 4), (2, 3, 4)]
    recs = [
        ("arcsinh", 1, 2, "positive", ("float64", "complex64")),
        ("arccosh", 1, 1, "positive", ("float64", "complex64")),
        ("arctanh", 1, 2, "u09", ("float64", "complex64")),
        ("logaddexp", 2, 1, "u09", ("float64",)),
        ("logaddexp2", 2, 2, "u09", ("float64",)),
    ]
    for fn, nargs, order, rng, dts in recs:
        for shapes in itertools.combinations_with_replacement(nonempty, nargs):
            for dt in dts:
                b.add(
                    f"np_{fn}",
                    JAX_NP,
                    fn,
                    [_jarg(sh, dt, rng) for sh in shapes],
                    argnums=tuple(range(nargs)),
                    order=order,
                    nan_ok=True,
                )
    for fn, values, order in [
        ("arcsinh", [0.0, 1000.0], 2),
        ("arccosh", [1000.0], 2),
        ("arctanh", [0.0], 2),
        ("sinc", [0.0], 1),
    ]:
        for v in values:
            b.add(
                f"np_special_{fn}",
                JAX_NP,
                fn,
                [Arg(shape=(), dist="uniform", lo=v, hi=v)],
                order=order,
            )
    b.add("np_sinc_at_zero", JAX_NP, "sinc", [S(0.0, 0.0)], order=2)


def _cumulative(fn: str, axis: int, reverse: bool) -> Callable[[Any], Callable]:
    """JAX's cumsum/cumprod with ``reverse``: flip, accumulate, flip back."""

    def make(m: Any) -> Callable:
        def f(x: Any) -> Any:
            if reverse:
                return m.flip(getattr(m, fn)(m.flip(x, axis), axis=axis), axis)
            return getattr(m, fn)(x, axis=axis)

        return f

    return make


def build_items() -> list[Item]:
    """Every item, in suite order."""
    b = _Builder()
    _systematic(b)
    _ag_numpy(b)
    _ag_scalar(b)
    _ag_graphs(b)
    _micrograd(b)
    _jax(b)
    return b.items


ITEMS: list[Item] = build_items()
