"""Fused elementwise kernels: maximal elementwise subgraphs evaluated in one numexpr pass.

NumPy makes one pass over memory per op: ``200 * (a - b**2)`` on 10^6 elements
reads and writes three temporaries.  numexpr evaluates the whole expression
in cache-sized blocks, one pass.  :func:`plan` picks, in a compiled graph,
the groups of elementwise nodes that can run as one kernel: every member but
the group's root has exactly one user, inside the group; members have a float
dtype (bool for comparisons feeding ``where``) and a size of at least
:data:`MIN_SIZE` elements (or a shape unknown until run time, then the kernel
checks the size per call).  Everything else stays plain NumPy.

Each kernel is emitted twice from the op table: as NumPy source (the
fallback, used for small arrays, non-NumPy arrays, or when numexpr is not
installed) and as a numexpr expression.  numexpr's ``evaluate`` of user text
was a CVE: the only strings ever handed to it here are built from the op
table's templates below, with generated argument names (``a0``, ``a1``...) and
numbers, never from user input.  numexpr computes with its own math kernels,
so results agree with the NumPy path to rounding (a few ulps), not bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.graph import Graph
from ..ops import OPS

__all__ = ["ENABLED", "MIN_SIZE", "Kernel", "Plan", "plan", "numexpr_available"]

ENABLED = True
# Below this many elements NumPy's SIMD loops on cache-resident temporaries beat
# numexpr's interpreter (measured single-threaded on AMD EPYC: numexpr loses 2-3x at
# 2^16-2^18 float32 elements, and wins once temporaries spill out of the caches).
MIN_SIZE = 1 << 19

# op -> numexpr template ({0}, {1} are argument texts, each already parenthesized): the
# op table's ``numexpr`` facet.  Read when planning, so a template is never stale.


def _ne_template(op_name: str) -> str | None:
    op = OPS.get(op_name)
    return None if op is None or op.custom else op.numexpr


def _is_comparison(op_name: str) -> bool:
    """A boolean elementwise op (fused only as the condition of a ``where``)."""
    op = OPS.get(op_name)
    return op is not None and op.elementwise and op.dtype == "bool" and op.nargs == 2


_FLOATS = {np.dtype(np.float64): "d", np.dtype(np.float32): "f"}

FUSED_SRC = '''
def _ga_fused(numpy_fn, text, names, kinds, min_size):
    """numexpr for large NumPy arrays, else the NumPy form (same values to rounding)."""
    try:
        import numexpr
    except ImportError:
        return numpy_fn
    types = {"d": np.double, "f": float, "b": bool}  # numexpr's signature types
    kernel = numexpr.NumExpr(text, signature=[(n, types[k]) for n, k in zip(names, kinds)])
    nd = np.ndarray

    def run(*args):
        big = False
        for a in args:
            if type(a) is nd:
                big = big or a.size >= min_size
            elif not isinstance(a, (float, int, np.generic)):
                return numpy_fn(*args)  # another array library: its own NumPy path
        if not big:
            return numpy_fn(*args)
        return kernel(*args, out=None, order="K", casting="safe", ex_uses_vml=False)

    return run
'''


@dataclass
class Kernel:
    """One fused group: ``root`` computed from ``leaves`` (node ids; literals are inlined)."""

    name: str
    root: int
    members: list[int]
    leaves: list[int]
    source: str  # module-level definition of the kernel function ``name``

    @property
    def helpers(self) -> tuple[str, ...]:
        """Module-level sources the call needs, in order."""
        return (self.source,) if self.source is SCATTER_SUM_SRC else (FUSED_SRC, self.source)


@dataclass
class Plan:
    kernels: dict[int, Kernel]  # by root id
    members: set[int]  # non-root members: not emitted on their own
    donors: set[int] = field(default_factory=set)  # buffers an op may overwrite at last use

    def args_of(self, nid: int, nodes: dict) -> Sequence[int]:
        """The values a node's line reads (a kernel reads its leaves; members read nothing)."""
        if nid in self.members:
            return ()
        k = self.kernels.get(nid)
        return k.leaves if k is not None else nodes[nid].args


_EMPTY = Plan({}, set())


def _same(a: np.dtype | None, b: np.dtype | None) -> bool:
    """Both dtypes known and equal (``np.dtype("float64") == None`` is True: NumPy reads
    None as the default dtype, so an unknown dtype must be ruled out first)."""
    return a is not None and b is not None and a == b


def numexpr_available() -> bool:
    try:
        import numexpr  # noqa: F401
    except ImportError:
        return False
    return True


def _size_ok(shape: Any) -> bool:
    return shape is None or math.prod(shape) >= MIN_SIZE


def _scalar_constant(node: dict) -> Any:
    """The value of a constant usable as a kernel literal, else None."""
    if node.op != "constant":
        return None
    v = node.value
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    if v.ndim == 0 and v.dtype.kind in "iuf":
        return v.item()
    return None


def plan(graph: Graph, order: Sequence[int], outputs: set[int]) -> Plan:
    """The fused groups of a schedule (``order``: topological; ``outputs``: must stay)."""
    if not ENABLED:
        return _EMPTY
    nodes = graph.records()
    for n in order:  # scalar graphs (every shape ()) have nothing to fuse or reuse: done
        if nodes[n].shape != ():
            break
    else:
        return _EMPTY
    users: dict[int, list[int]] = {}
    for n in order:
        for a in nodes[n].args:
            users.setdefault(a, []).append(n)
    kernels: dict[int, Kernel] = {}
    members: set[int] = set()
    for n in reversed(order):
        if n not in members:
            _scatter_sum(nodes, users, outputs, n, kernels, members)
    group: dict[int, int] = {}  # member -> root
    for n in reversed(order):
        node = nodes[n]
        op = node["op"]
        if _ne_template(op) is None or not _size_ok(node["shape"]) or n in kernels or n in members:
            continue
        dt = node.dtype
        us = users.get(n, [])
        if _is_comparison(op):
            # booleans only as a where condition inside a group
            u = us[0] if len(us) == 1 else None
            if u is None or u not in group or nodes[u].op != "where" or n in outputs:
                continue
            if nodes[u].args[0] != n or nodes[u].args.count(n) != 1:
                continue
            if not _args_fit(nodes, node, _root_dtype(nodes, group, u)):
                continue
            group[n] = group[u]
            continue
        if dt not in _FLOATS or not _args_fit(nodes, node, dt):
            continue
        if (
            n not in outputs
            and len(us) == 1
            and us[0] in group
            and nodes[us[0]]["args"].count(n) == 1
            and _same(nodes[group[us[0]]]["dtype"], dt)
            and not (nodes[us[0]]["op"] == "where" and nodes[us[0]]["args"][0] == n)
        ):
            group[n] = group[us[0]]
        else:
            group[n] = n
    by_root: dict[int, list[int]] = {}
    for n in order:  # ascending: members before their users
        if n in group:
            by_root.setdefault(group[n], []).append(n)
    for root, ms in by_root.items():
        if len(ms) < 2:
            continue  # one op: plain NumPy is as good
        kernels[root] = _kernel(nodes, root, ms, f"_ga_k{root}")
        members.update(m for m in ms if m != root)
    return Plan(kernels, members, _donors(nodes, order, users, outputs, kernels, members))


# -- in-place reuse of dying buffers --------------------------------------------------------


def _facet(op_name: str, facet: str) -> bool:
    """An op-table fact of a node's op (``reduction``, ``reads_only``), False for a
    user's op or an unknown one."""
    op = OPS.get(op_name)
    return op is not None and not op.custom and getattr(op, facet)


def _ufunc_name(op_name: str) -> str | None:
    """The NumPy ufunc an elementwise op is (``out=`` capable), else None."""
    op = OPS.get(op_name)
    return None if op is None else op.ufunc_name


def _donors(
    nodes: dict, order: Sequence[int], users: dict, outputs: set, kernels: dict, members: set
) -> set[int]:
    """Values whose buffer the function allocated itself and that no view ever aliases:
    at their last use an elementwise op may write its result into them (``out=``)."""
    out: set[int] = set()
    for n in order:
        node = nodes[n]
        shape, op_name = node.shape, node.op
        if n in outputs or n in members or not shape or node.dtype is None:
            continue
        fresh = (
            n in kernels
            or op_name == "matmul"
            or _ufunc_name(op_name) is not None
            or (_facet(op_name, "reduction") and dict(node["params"]).get("axis") is not None)
        )
        if not fresh:
            continue
        if all(
            u in kernels
            or _facet(nodes[u]["op"], "reads_only")
            or _ufunc_name(nodes[u]["op"]) is not None
            for u in users.get(n, ())
        ):
            out.add(n)
    return out


def inplace_source(
    plan: Plan, n: int, nodes: dict, arg_srcs: Sequence[str], dying: Sequence[int]
) -> str | None:
    """``np.<ufunc>(a, b, out=a)`` when an argument's buffer dies here and fits the result
    (a NumPy array: other array libraries take the plain expression)."""
    node = nodes[n]
    ufunc = _ufunc_name(node.op)
    if ufunc is None or not node.shape or not dying:
        return None
    for a, src in zip(node.args, arg_srcs, strict=True):
        an = nodes[a]
        if (
            a in plan.donors
            and a in dying
            and an.shape == node.shape
            and _same(an.dtype, node.dtype)
        ):
            call_args = [*arg_srcs, *map(repr, OPS[node["op"]].ufunc_args)]
            # every array argument a NumPy array: another library's (Dask) takes the plain form
            arrays = [
                s
                for b, s in zip(node.args, arg_srcs, strict=True)
                if _scalar_constant(nodes[b]) is None
            ]
            checks = " and ".join(f"type({s}) is np.ndarray" for s in dict.fromkeys(arrays))
            return f"(np.{ufunc}({', '.join(call_args)}, out={src}) if {checks} else %s)"
    return None


SCATTER_SUM_SRC = """
def _ga_scatter_sum(x, dtype, *terms):
    # the sum of scatters of g into zeros of x's shape, in one buffer
    if type(x) is not np.ndarray:  # another array library: slice assignment only
        out = np.zeros_like(x, dtype=dtype)
        for g, index in terms:
            out[index] = out[index] + g
        return out
    out = np.zeros(x.shape, dtype)
    g, index = terms[0]
    out[index] = g
    for g, index in terms[1:]:
        out[index] += g
    return out
"""


def _scatter_sum(
    nodes: dict, users: dict, outputs: set, n: int, kernels: dict, members: set
) -> None:
    """``getitem_grad(g1, x, i1) + getitem_grad(g2, x, i2) + ...`` (the VJP of several
    slices of one array): one zero buffer with each g added into its slice, instead of a
    full-size buffer per term and a full-size add per ``+``."""
    node = nodes[n]
    if node.op != "add" or node.shape is None or node.dtype not in _FLOATS:
        return
    terms: list[int] = []
    inner: list[int] = []
    stack = list(node.args)
    while stack:
        a = stack.pop()
        an = nodes[a]
        if a in outputs or len(users.get(a, ())) != 1:
            return
        if an.op == "add" and an.shape == node.shape and _same(an.dtype, node.dtype):
            inner.append(a)
            stack.extend(an.args)
        elif an.op == "getitem_grad" and _same(an.dtype, node.dtype):
            terms.append(a)
        else:
            return
    x = nodes[terms[0]]["args"][1]
    if any(nodes[t].args[1] != x for t in terms) or nodes[x].shape != node.shape:
        return
    terms.sort()
    leaves = [x] + [nodes[t].args[0] for t in terms]
    kernels[n] = Kernel(f"_ga_scatter_sum{n}", n, [*inner, *terms, n], leaves, SCATTER_SUM_SRC)
    members.update(inner)
    members.update(terms)


def _root_dtype(nodes: dict, group: dict, n: int) -> np.dtype:
    return nodes[group[n]]["dtype"]


def _args_fit(nodes: dict, node: dict, dt: np.dtype) -> bool:
    """Every argument is a number literal, or a value of the group's dtype."""
    args = node.args
    if all(_scalar_constant(nodes[a]) is not None for a in args):
        return False  # all literals: folding's business, not a kernel's
    for a in args:
        an = nodes[a]
        if _scalar_constant(an) is not None:
            continue
        if not _same(an["dtype"], dt) and not (_is_comparison(an["op"]) and node["op"] == "where"):
            return False
    return True


def _kernel(nodes: dict, root: int, ms: list[int], name: str) -> Kernel:
    group = set(ms)
    leaves: list[int] = []
    literals: dict[int, Any] = {}
    dt = nodes[root].dtype
    kind = _FLOATS[dt]
    ne_text: dict[int, str] = {}
    np_text: dict[int, str] = {}
    arg_names: dict[int, str] = {}
    for m in ms:
        for a in nodes[m].args:
            if a in group or a in arg_names:
                continue
            c = _scalar_constant(nodes[a])
            if c is not None and kind == "d" and math.isfinite(c):
                literals[a] = c
                arg_names[a] = repr(c) if c >= 0 else f"({c!r})"
            else:
                arg_names[a] = f"a{len(leaves)}"
                leaves.append(a)
    for m in ms:
        node = nodes[m]
        op = OPS[node["op"]]
        ne_args = [ne_text.get(a, arg_names.get(a)) for a in node["args"]]
        np_args = [np_text[a] if a in np_text else arg_names[a] for a in node["args"]]
        ne_text[m] = _ne_template(node["op"]).format(*ne_args)
        np_text[m] = "(" + op.source(np_args, dict(node["params"])) + ")"
    kinds = []
    for a in leaves:
        an = nodes[a]
        kinds.append("b" if an.dtype == np.dtype(bool) else kind)
    names = [f"a{i}" for i in range(len(leaves))]
    sig = ", ".join(names)
    src = (
        f"def {name}({sig}):\n"
        f"    return {np_text[root]}\n"
        f"{name} = _ga_fused({name}, {ne_text[root]!r}, {tuple(names)!r}, "
        f"{tuple(kinds)!r}, {MIN_SIZE})"
    )
    return Kernel(name, root, ms, leaves, src)


def call_source(kernel: Kernel, nodes: dict, names: dict[int, str]) -> str:
    """The call of a kernel in the body; float32 kernels get their constants typed."""
    if kernel.source is SCATTER_SUM_SRC:
        from ..ops.indexing import _np_index_source as numpy_index_source

        x, *gs = kernel.leaves
        scatters = [m for m in kernel.members if nodes[m].op == "getitem_grad"]
        terms = [
            f"({names[g]}, {numpy_index_source(dict(nodes[t]['params'])['index'])})"
            for g, t in zip(gs, scatters, strict=True)
        ]
        dtype = nodes[kernel.root].dtype.name
        return f"_ga_scatter_sum({names[x]}, np.{dtype}, {', '.join(terms)})"
    dt = nodes[kernel.root].dtype
    args = []
    for a in kernel.leaves:
        c = _scalar_constant(nodes[a])
        if c is not None:
            args.append(f"np.{dt.name}({float(c)!r})" if math.isfinite(c) else names[a])
        else:
            args.append(names[a])
    return f"{kernel.name}({', '.join(args)})"
