"""Fused array kernels: elementwise groups of a specialized graph as one Numba loop each.

This is the array half of ``backend="numba"`` (issue 18, part 2); scalar graphs go to the
register VM of :mod:`graphad.backends.kernels`.  NumPy makes one pass over memory per
operation: the gradient of the vector Rosenbrock function is about fifteen passes over
arrays of ``n`` elements.  Here the elementwise operations of a specialized graph
(shapes and dtypes known) are grouped, and each group becomes one generated loop nest,
compiled by Numba, that reads every input element once and writes every needed result
once.  What is not elementwise (matmul, axis reductions, reshapes, slices) stays the
NumPy line :mod:`graphad.backends.codegen` would write for it.

Groups (:func:`plan`)
---------------------
A node can join a group when it is an elementwise op of :data:`TEMPLATES` with a float
(or, for comparisons, bool) result of a known shape ``S``: the group's loop runs over
``S``.  Its arguments are other members, scalar literals, or *leaves*: any value whose
shape broadcasts to ``S``.  A leaf is read in place, indexed by its own broadcast
pattern (a bias of shape ``(256,)`` in a ``(128, 256)`` loop is read as ``b[i1]``), so
broadcasting costs nothing; a slice such as ``x[1:]`` or ``x[:-1]`` is a NumPy view made
before the loop, so shifted slices are leaves too, read with their offset.  Three kinds
of results leave a group: a member used outside it (written to an array of shape ``S``;
a group may have several), a sum of a member over all its elements (accumulated in the
loop: a reduction at the group's end), and the scatter of slice gradients
(``getitem_grad`` of a member, alone or the sum of two of them: written into the
gradient buffer in the same loop).

Every node of shape ``S`` gets a level: one more than the highest level of an ``S``-group
it depends on through a node outside the groups, else the highest level of its member
arguments.  Nodes of the same shape and level form one group, so no group depends on
itself through an outside node (no cycle), and independent chains over the same shape
share one loop.

Semantics
---------
Each operation is computed in the dtype the NumPy program computes it in (Python
number literals take the array's dtype, as NumPy 2 does; bools read as 0/1), so the
elementwise results are NumPy's bits for ``+ - * /``, negation, ``x**2`` (``x*x``),
``sqrt``, ``abs``, ``maximum``/``minimum``/``relu`` (NaN propagates, a tie gives the
second argument, as NumPy's array loops do), comparisons, ``where`` and ``sign``:
NaN, inf, -0.0 and dtype included.  Transcendental functions (``exp``, ``log``, ``sin``
...) call LLVM's libm where NumPy may use its own SIMD code: within a few units in the
last place.  The scatter of two slice gradients gives the NumPy backend's bits
(``_ga_scatter_sum``: the first term assigned, the second added).  A sum accumulates in
loop order, where NumPy sums pairwise: the two differ by at most ``n * eps * sum(|t|)``
(``eps`` of the dtype), the bound the tests check.

Compile cost
------------
A kernel's source depends only on the group's structure (ops, dtypes, ranks and
broadcast patterns; never on sizes, values or names), and it is cached by a hash of
that source: in the process (a dict) and on disk, where the module is written under
:func:`cache_dir` and compiled by Numba with ``cache=True``, so a new graph of the same
structure, or the same graph in a new process, does no LLVM compile.  All generated
text comes from the templates below, generated names and numbers: no user text.

One module on purpose, though past 600 lines: the planner, the loop generator and the
runner share the group records and the naming of generated values, and change together.
"""

from __future__ import annotations

import hashlib
import heapq
import importlib.util
import itertools
import math
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.graph import Graph, topo_order
from ..ops import OPS

__all__ = ["TEMPLATES", "Group", "attach", "cache_dir", "plan"]

_F32, _F64, _BOOL = np.dtype(np.float32), np.dtype(np.float64), np.dtype(bool)
_FLOATS = (_F32, _F64)

# op -> template of the scalar expression ({0}, {1}, {2}: the arguments, already in the
# compute dtype; {D}: that dtype's constructor); "cmp" ops give bool
TEMPLATES: dict[str, str] = {
    "add": "({0} + {1})",
    "subtract": "({0} - {1})",
    "multiply": "({0} * {1})",
    "divide": "({0} / {1})",
    "negative": "(-{0})",
    "square": "({0} * {0})",
    "sqrt": "np.sqrt({0})",
    "abs": "abs({0})",
    "sign": "_sign({0})",
    "maximum": "_max({0}, {1})",
    "minimum": "_min({0}, {1})",
    "relu": "_max({0}, {D}(0.0))",
    "clip": "_min(_max({0}, {1}), {2})",
    "where": "({1} if {0} else {2})",
    "stop_gradient": "{0}",
    "less": "({0} < {1})",
    "less_equal": "({0} <= {1})",
    "greater": "({0} > {1})",
    "greater_equal": "({0} >= {1})",
    "equal": "({0} == {1})",
    "not_equal": "({0} != {1})",
    "power": "({0} ** {1})",
    "exp": "np.exp({0})",
    "expm1": "np.expm1({0})",
    "log": "np.log({0})",
    "log1p": "np.log1p({0})",
    "sin": "np.sin({0})",
    "cos": "np.cos({0})",
    "tanh": "np.tanh({0})",
}
_CMP = frozenset({"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"})

_HEAD = '''"""graphad fused kernel (generated; see graphad/backends/fused.py)."""
import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _max(x, y):
    if x != x:
        return x
    if y != y:
        return y
    return x if x > y else y


@numba.njit(cache=True, inline="always")
def _min(x, y):
    if x != x:
        return x
    if y != y:
        return y
    return x if x < y else y


@numba.njit(cache=True, inline="always")
def _sign(x):
    if x > 0:
        return type(x)(1.0)
    if x < 0:
        return type(x)(-1.0)
    if x == 0:
        return type(x)(0.0)
    return x

'''


class Group:
    """One fused loop: members over ``shape``, and what leaves it."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.members: list[int] = []  # topological order
        self.outputs: list[int] = []  # members needed outside: arrays of ``shape``
        self.sums: list[int] = []  # "sum" nodes over a member: scalars
        self.scatters: list[int] = []  # getitem_grad nodes, or an add of two


def _scalar_literal(node: Any) -> float | None:
    """A constant usable as a literal: a real 0-d number, weak (Python) or float."""
    if node.op != "constant":
        return None
    v = node.value
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return float(v) if abs(v) < 2**53 else None
    if isinstance(v, float):
        return v
    arr = np.asarray(v)
    if arr.ndim == 0 and arr.dtype.kind in "iuf" and arr.dtype != np.float16:
        return float(arr)
    return None


def _broadcasts(src: tuple[int, ...] | None, dst: tuple[int, ...]) -> bool:
    if src is None or len(src) > len(dst):
        return False
    return all(s in (1, d) for s, d in zip(src[::-1], dst[::-1], strict=False))


def _slices_only(index: Any) -> bool:
    return all(isinstance(it, tuple) and it[0] == "slice" for it in index)


def _fusible(nodes: dict, n: int) -> bool:
    node = nodes[n]
    op = node.op
    if op not in TEMPLATES or node.shape is None or node.shape == ():
        return False
    if op in _CMP:
        if node.dtype != _BOOL:
            return False
    elif node.dtype not in _FLOATS:
        return False
    for a in node.args:
        an = nodes[a]
        if _scalar_literal(an) is not None:
            continue
        if an.dtype not in (*_FLOATS, _BOOL) or not _broadcasts(an.shape, node.shape):
            return False
        if an.dtype == _BOOL and op not in ("where", "multiply"):
            return False
    if op == "where" and nodes[node.args[0]].dtype != _BOOL:
        return False
    if op == "power":
        # ndarray ** scalar takes NumPy's fast paths for these exponents (sqrt for 0.5,
        # 1/x for -1 ...), whose special values differ from pow's: NumPy keeps them
        e = _scalar_literal(nodes[node.args[1]])
        if e is None or e in (-1.0, 0.0, 0.5, 1.0, -0.5):
            return False
    return True


def plan(graph: Graph, order: Sequence[int], outputs: Sequence[int]) -> list[Group]:
    """The fused groups of a specialized graph's schedule (``order``: topological)."""
    nodes = graph.records()
    outset = set(outputs)
    users: dict[int, list[int]] = {}
    for n in order:
        for a in set(nodes[n].args):
            users.setdefault(a, []).append(n)
    key: dict[int, tuple] = {}  # member -> (shape, level)
    # per node: shape -> the highest level of a group of that shape it depends on
    deps: dict[int, dict] = {}
    for n in order:
        node = nodes[n]
        d: dict = {}
        for a in node.args:
            for s, lv in deps.get(a, {}).items():
                if d.get(s, -1) < lv:
                    d[s] = lv
        if _fusible(nodes, n):
            s = node.shape
            level = 0
            for a in node.args:
                ka = key.get(a)
                if ka is not None and ka[0] == s:
                    level = max(level, ka[1])
                elif s in deps.get(a, {}):
                    level = max(level, deps[a][s] + 1)
            key[n] = (s, level)
            d[s] = max(d.get(s, -1), level)
        deps[n] = d
    groups: dict[tuple, Group] = {}
    for n in order:
        k = key.get(n)
        if k is not None:
            groups.setdefault(k, Group(k[0])).members.append(n)
    # results leaving each group: sums and scatters join it; other uses read an array
    for g in groups.values():
        mset = set(g.members)
        claimed: set[int] = set()
        for m in g.members:
            for u in users.get(m, ()):
                if u in key or u in claimed:
                    continue
                if _is_sum(nodes, u, m, g.shape):
                    g.sums.append(u)
                    claimed.add(u)
                elif _scatter_of(nodes, users, outset, u, mset, g.shape):
                    above = users.get(u, ())
                    if (
                        len(above) == 1
                        and above[0] not in claimed
                        and _scatter_of(nodes, users, outset, above[0], mset, g.shape)
                    ):
                        u = above[0]  # the sum of two slice gradients: one buffer
                        claimed.update(nodes[u].args)
                    elif nodes[u].op == "add" or u in claimed:
                        continue
                    g.scatters.append(u)
                    claimed.add(u)
        for m in g.members:
            if m in outset or any(u not in mset and u not in claimed for u in users.get(m, ())):
                g.outputs.append(m)
        g.sums.sort()
        g.scatters.sort()
    # a group worth a loop: two or more operations, or one with a fused result
    return [g for g in groups.values() if len(g.members) + len(g.sums) + len(g.scatters) >= 2]


def _is_sum(nodes: dict, u: int, m: int, shape: tuple) -> bool:
    un = nodes[u]
    if un.op != "sum" or un.args != (m,) or un.shape != ():
        return False
    p = dict(un.params)
    return p.get("keepdims") in (None, False) and un.dtype == nodes[m].dtype


def _scatter_of(nodes: dict, users: dict, outset: set, u: int, mset: set, shape: tuple) -> bool:
    """``u`` scatters members: a ``getitem_grad`` of one, or the add of two such terms."""
    un = nodes[u]
    if un.op == "getitem_grad":
        g = un.args[0]
        return (
            g in mset
            and nodes[g].shape == shape
            and un.dtype == nodes[g].dtype
            and un.dtype in _FLOATS
            and _slices_only(dict(un.params)["index"])
        )
    if un.op != "add" or len(un.args) != 2 or un.args[0] == un.args[1]:
        return False
    terms = un.args
    for t in terms:
        tn = nodes[t]
        if t in outset or len(users.get(t, ())) != 1 or tn.op != "getitem_grad":
            return False
        if not _scatter_of(nodes, users, outset, t, mset, shape) or tn.dtype != un.dtype:
            return False
    return nodes[terms[0]].args[1] == nodes[terms[1]].args[1] and un.shape == nodes[terms[0]].shape


# -- kernel source ---------------------------------------------------------------------


def _float_src(v: float, dt: np.dtype) -> str:
    if math.isnan(v):
        text = "np.nan"
    elif math.isinf(v):
        text = "np.inf" if v > 0 else "(-np.inf)"
    else:
        text = repr(float(v))
    return f"np.{dt.name}({text})"


class _Source:
    """The generated kernel of a group and how the runner calls it."""

    def __init__(self) -> None:
        self.text = ""
        self.leaves: list[tuple[int, str]] = []  # (node, how it is passed: "array"/"scalar")
        self.leaf_views: dict[int, str] = {}  # node -> index source of a scatter's view
        self.out_arrays: list[int] = []
        self.scatter_terms: list[tuple[int, list[tuple[int, Any]]]] = []
        self.sums: list[int] = []
        self.gather: tuple | None = None  # (segments, offsets) of a gathered scatter


def _kernel_source(nodes: dict, g: Group, parallel: bool) -> _Source:
    shape = g.shape
    nd = len(shape)
    mset = set(g.members)
    res = _Source()
    leaf_name: dict[int, str] = {}
    expr: dict[int, str] = {}
    body: list[str] = []
    idx = [f"i{k}" for k in range(nd)]

    def arg_text(a: int, dt: np.dtype) -> str:
        an = nodes[a]
        if a in mset:
            text, src_dt = f"t{a}", an.dtype
        else:
            lit = _scalar_literal(an)
            if lit is not None:
                # a weak Python number takes the compute dtype; a NumPy scalar its own
                weak = an.dtype is None or isinstance(an.value, int | float)
                return _float_src(lit, dt if weak else an.dtype)
            name = leaf_name.get(a)
            if name is None:
                name = leaf_name[a] = f"a{len(res.leaves)}"
                if an.shape == ():
                    res.leaves.append((a, "scalar"))
                else:
                    res.leaves.append((a, "array"))
            if an.shape == ():
                text = name
            else:
                off = nd - len(an.shape)
                parts = [
                    "0" if an.shape[k] == 1 and shape[off + k] != 1 else idx[off + k]
                    for k in range(len(an.shape))
                ]
                text = f"{name}[{', '.join(parts)}]"
            src_dt = an.dtype
        if dt is None or src_dt == dt:
            return text
        if src_dt == _BOOL:
            return f"(np.{dt.name}(1.0) if {text} else np.{dt.name}(0.0))"
        return f"np.{dt.name}({text})"

    for m in g.members:
        node = nodes[m]
        op = node.op
        if op in _CMP:
            dts = [
                nodes[a].dtype
                for a in node.args
                if _scalar_literal(nodes[a]) is None or not isinstance(nodes[a].value, int | float)
            ]
            dts = [d for d in dts if d is not None]
            cdt = np.result_type(*dts) if dts else _F64
        else:
            cdt = node.dtype
        args = list(node.args)
        if op == "where":
            texts = [arg_text(args[0], _BOOL)] + [arg_text(a, cdt) for a in args[1:]]
        elif op == "power":
            e = _scalar_literal(nodes[args[1]])
            if e == 2.0:
                op, texts = "square", [arg_text(args[0], cdt)]
            else:
                texts = [arg_text(a, cdt) for a in args]
        else:
            texts = [arg_text(a, cdt) for a in args]
        expr[m] = TEMPLATES[op].format(*texts, D=f"np.{cdt.name}")
        body.append(f"t{m} = {expr[m]}")
    if _gather_case(nodes, g):
        return _gather_source(nodes, g, parallel, res, body)
    at = ", ".join(idx)
    outs = []
    for m in g.outputs:
        name = f"o{len(res.out_arrays)}"
        res.out_arrays.append(m)
        outs.append(name)
        body.append(f"{name}[{at}] = t{m}")
    sums = []
    for s in g.sums:
        res.sums.append(s)
        sums.append(f"s{len(sums)}")
        body.append(f"s{len(sums) - 1} += t{nodes[s].args[0]}")
    sviews = []
    for s in g.scatters:
        sn = nodes[s]
        terms = sorted(sn.args) if sn.op == "add" else [s]
        tl = []
        for t in terms:
            name = f"w{len(sviews)}"
            sviews.append(name)
            tl.append((t, dict(nodes[t].params)["index"]))
            # one term is assigned into zeros; two are added into -0.0 (-0.0 + a is a,
            # and a + b is b + a, so the loop's order gives the NumPy backend's bits)
            src = nodes[t].args[0]
            op_ = "=" if len(terms) == 1 else "+="
            body.append(f"{name}[{at}] {op_} t{src}")
        res.scatter_terms.append((s, tl))
    params = [f"a{k}" for k in range(len(res.leaves))] + outs + sviews
    lines = [f"@numba.njit(cache=True, error_model='numpy', nogil=True, parallel={parallel})"]
    lines.append(f"def kernel({', '.join(params)}):")
    pad = "    "
    for s in sums:
        dt = nodes[res.sums[int(s[1:])]].dtype
        lines.append(f"{pad}{s} = np.{dt.name}(0.0)")
    ref = outs[0] if outs else (sviews[0] if sviews else None)
    if ref is None:  # only sums: the loop's extent comes from the leaves' shapes
        params.append("shape_")
        lines[1] = f"def kernel({', '.join(params)}):"
        ext = [f"shape_[{k}]" for k in range(nd)]
    else:
        ext = [f"{ref}.shape[{k}]" for k in range(nd)]
    for k in range(nd):
        rng = "numba.prange" if parallel and k == 0 else "range"
        lines.append(f"{pad * (k + 1)}for i{k} in {rng}({ext[k]}):")
    for line in body:
        lines.append(pad * (nd + 1) + line)
    if sums:
        lines.append(f"{pad}return ({', '.join(sums)},)")
    else:
        lines.append(f"{pad}return None")
    res.text = "\n".join(lines) + "\n"
    return res


def _unit_slice(index: tuple) -> bool:
    return len(index) == 1 and index[0][0] == "slice" and index[0][3] in (None, 1)


def _gather_case(nodes: dict, g: Group) -> bool:
    """A 1-D group whose one result is the sum of two slice gradients (a stencil's
    gradient, as the vector Rosenbrock's): computed per element of the gradient."""
    if len(g.shape) != 1 or g.outputs or g.sums or len(g.scatters) != 1:
        return False
    sn = nodes[g.scatters[0]]
    if sn.op != "add" or len(sn.shape) != 1:
        return False
    return all(_unit_slice(dict(nodes[t].params)["index"]) for t in sn.args)


def _segments(n: int, starts: list[int], stops: list[int]) -> np.ndarray:
    """Runs of gradient positions reached by the same terms: rows (lo, hi, mask)."""
    cuts = sorted({0, n, *starts, *stops})
    rows = []
    for lo, hi in itertools.pairwise(cuts):
        if lo >= hi:
            continue
        spans = zip(starts, stops, strict=True)
        mask = sum(1 << k for k, (a, b) in enumerate(spans) if a <= lo < b)
        rows.append((lo, hi, mask))
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


def _gather_source(nodes: dict, g: Group, parallel: bool, res: _Source, body: list) -> _Source:
    """The loop over the gradient's elements: element ``j`` of the sum of two slice
    gradients is ``A(j - s0) + B(j - s1)`` where both slices reach it, else the one that
    does (the second added to 0.0, as NumPy adds it) or 0.0.  Each run of positions
    reached by the same terms is one loop without branches or stores that alias, so it
    vectorizes; the members are computed at each position they are needed (recomputing
    is cheaper than a pass over memory)."""
    import re

    sn = nodes[g.scatters[0]]
    terms = sorted(sn.args)
    n = sn.shape[0]
    starts, stops = [], []
    for t in terms:
        start, stop, _ = slice(*dict(nodes[t].params)["index"][0][1:3]).indices(n)
        starts.append(start)
        stops.append(stop)
    dt = sn.dtype.name
    res.scatter_terms.append((g.scatters[0], [(t, None) for t in terms]))
    res.gather = (_segments(n, starts, stops), starts)
    name_re = re.compile(r"\b(t\d+)\b")
    leaf_re = re.compile(r"\b(a\d+)\[i0\]")

    def at(pos: str, views: dict) -> list[str]:
        # each leaf read through a view starting at this run's first position, so the
        # loop index counts from 0 (no negative-index wrap-around test per read)
        out = []
        for ln in body:
            ln = name_re.sub(lambda m_: f"{m_.group(1)}_{pos}", ln)
            for leaf in leaf_re.findall(ln):
                views[f"{leaf}_{pos}"] = f"{leaf}[lo - {'s0' if pos == 'p' else 's1'}:]"
            out.append(leaf_re.sub(lambda m_: f"{m_.group(1)}_{pos}[k]", ln))
        return out

    srcs = [f"t{nodes[t].args[0]}" for t in terms]
    pad = "    "
    rng = "numba.prange" if parallel else "range"
    nleaf = len(res.leaves)
    params = [f"a{k}" for k in range(nleaf)] + ["out", "segs", "s0", "s1"]
    lines = [
        "@numba.njit(cache=True, error_model='numpy', nogil=True)",
        f"def kernel({', '.join(params)}):",
        f"{pad}for r in range(segs.shape[0]):",
        f"{pad * 2}lo, hi, mask = segs[r, 0], segs[r, 1], segs[r, 2]",
        f"{pad * 2}if mask == 0:",
        f"{pad * 3}for j in range(lo, hi):",
        f"{pad * 4}out[j] = np.{dt}(0.0)",
    ]
    for mask, head in ((1, "elif mask == 1:"), (2, "elif mask == 2:"), (3, "else:")):
        lines.append(f"{pad * 2}{head}")
        inner = []
        views: dict[str, str] = {}
        if mask & 1:
            inner.extend(at("p", views))
        if mask & 2:
            inner.extend(at("q", views))
        if mask == 1:
            inner.append(f"o[k] = {srcs[0]}_p")
        elif mask == 2:
            inner.append(f"o[k] = np.{dt}(0.0) + {srcs[1]}_q")
        else:
            inner.append(f"o[k] = {srcs[0]}_p + {srcs[1]}_q")
        lines.append(f"{pad * 3}o = out[lo:hi]")
        lines.extend(f"{pad * 3}{v} = {src}" for v, src in views.items())
        if mask == 3 and parallel:
            # threads for the run both slices reach (the bulk), in a function of its own:
            # a prange nested in the loop over runs ran 150x slower here (Numba 0.6x)
            bulk_params = [f"a{k}" for k in range(nleaf)] + list(views) + ["o"]
            lines.append(f"{pad * 3}kernel_bulk({', '.join(bulk_params)})")
            bulk = [
                "@numba.njit(cache=True, error_model='numpy', nogil=True, parallel=True)",
                f"def kernel_bulk({', '.join(bulk_params)}):",
                f"{pad}for k in {rng}(o.shape[0]):",
                *(pad * 2 + ln for ln in inner),
                "",
                "",
            ]
            continue
        lines.append(f"{pad * 3}for k in range(hi - lo):")
        lines.extend(pad * 4 + ln for ln in inner)
    lines.append(f"{pad}return None")
    res.text = ("\n".join(bulk) + "\n" if parallel else "") + "\n".join(lines) + "\n"
    return res


# -- compiling and caching kernels -------------------------------------------------------

_LOCK = threading.Lock()
_KERNELS: dict[str, Any] = {}
# with parallel=True, loops over fewer elements stay on one thread: waking Numba's
# thread pool costs more than such a loop
PARALLEL_MIN = 1 << 17


def cache_dir() -> str:
    """Where generated kernel modules (and Numba's cache of them) are kept on disk:
    ``$GRAPHAD_CACHE_DIR/fused``, else ``~/.cache/graphad/fused``."""
    root = os.environ.get("GRAPHAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "graphad"
    )
    return os.path.join(root, "fused")


def _compiled(text: str) -> Any:
    """The Numba function of a kernel's source, from the caches when it can."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    found = _KERNELS.get(digest)
    if found is not None:
        return found
    with _LOCK:
        found = _KERNELS.get(digest)
        if found is not None:
            return found
        from ..core._atomic import atomic_write_many

        folder = cache_dir()
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"k_{digest}.py")
        module_text = _HEAD + "\n" + text
        try:
            with open(path, encoding="utf-8") as fh:
                same = fh.read() == module_text
        except OSError:
            same = False
        if not same:
            atomic_write_many([(path, lambda fh: fh.write(module_text.encode("utf-8")))])
        name = f"graphad_fused_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        _KERNELS[digest] = module.kernel
        return module.kernel


# -- the runner ----------------------------------------------------------------------------


def _schedule(nodes: dict, order: Sequence[int], groups: list[Group]) -> list[Any]:
    """The order of steps: a node id, or a Group (run once all its leaves exist)."""
    owner: dict[int, int] = {}
    for k, g in enumerate(groups):
        for n in (*g.members, *g.sums, *g.scatters):
            owner[n] = k
        for s in g.scatters:
            if nodes[s].op == "add":
                for t in nodes[s].args:
                    owner[t] = k
    unit = [("g", owner[n]) if n in owner else ("n", n) for n in order]
    seen: set = set()
    units: list[tuple] = []
    for u in unit:
        if u not in seen:
            seen.add(u)
            units.append(u)
    needs: dict[tuple, set] = {u: set() for u in units}
    for n in order:
        un = ("g", owner[n]) if n in owner else ("n", n)
        for a in nodes[n].args:
            ua = ("g", owner[a]) if a in owner else ("n", a)
            if ua != un:
                needs[un].add(ua)
    users: dict[tuple, list] = {u: [] for u in units}
    for u, ns in needs.items():
        for a in ns:
            users[a].append(u)
    count = {u: len(ns) for u, ns in needs.items()}
    # ready units in their first position in ``order``: close to the NumPy schedule,
    # so values die about as early as there
    pos = {u: k for k, u in enumerate(units)}
    ready = [(pos[u], u) for u in units if count[u] == 0]
    heapq.heapify(ready)
    out: list[Any] = []
    while ready:
        _, u = heapq.heappop(ready)
        out.append(groups[u[1]] if u[0] == "g" else u[1])
        for v in users[u]:
            count[v] -= 1
            if count[v] == 0:
                heapq.heappush(ready, (pos[v], v))
    if len(out) != len(units):  # a cycle: the planner's levels rule this out
        raise RuntimeError("fused: group schedule has a cycle")
    return out


def build_source(
    graph: Graph,
    outputs: Sequence[int],
    inputs: Sequence[int],
    parallel: bool = False,
    whole: bool = False,
) -> tuple[str, dict, str] | None:
    """The runner's Python source, its namespace and the text ``f.kernels`` shows; None
    when no group is worth a loop (``whole``: unless every operation is in a loop)."""
    from ..ops.indexing import _np_index_source
    from .codegen import FINISH_SRC, Program, _constant_name, _literal_ok

    nodes = graph.records()
    order = topo_order(graph, outputs)
    for n in order:
        op = OPS.get(nodes[n].op)
        if nodes[n].op not in ("input", "constant") and (op is None or op.custom or not op.emit):
            return None
    groups = plan(graph, order, outputs)
    if whole:
        owned = {n for g in groups for n in (*g.members, *g.sums, *g.scatters)}
        if any(nodes[n].op not in ("input", "constant") and n not in owned for n in order):
            return None
    if parallel:  # overlapping scatters would race between threads: NumPy scatters them
        for g in groups:
            if math.prod(g.shape) < PARALLEL_MIN or _gather_case(nodes, g):
                continue  # one thread, or race-free: each element written once
            g.outputs.extend(
                m
                for s in g.scatters
                for t in (nodes[s].args if nodes[s].op == "add" else (s,))
                for m in (nodes[t].args[0],)
                if m not in g.outputs
            )
            g.scatters = []
    if not groups:
        return None
    prog = Program()
    names: dict[int, str] = {i: f"x{k}" for k, i in enumerate(inputs)}
    ns: dict[str, Any] = {"np": np}
    lines: list[str] = []
    kernel_texts: list[str] = []
    steps = _schedule(nodes, order, groups)
    # liveness: arrays are released after the step that reads them last
    reads: list[set] = []
    for step in steps:
        if isinstance(step, Group):
            inside = {*step.members, *step.sums, *step.scatters}
            for sc in step.scatters:
                inside.update(nodes[sc].args if nodes[sc].op == "add" else ())
            r = {a for m in inside for a in nodes[m].args if a not in inside}
        else:
            r = set(nodes[step].args)
        reads.append(r)
    last: dict[int, int] = {}
    for k, r in enumerate(reads):
        for a in r:
            last[a] = k
    dies: dict[int, list[int]] = {}
    outset = set(outputs)
    for a, k in last.items():
        if a not in outset and nodes[a].op != "constant" and nodes[a].shape:
            dies.setdefault(k, []).append(a)
    for pos, step in enumerate(steps):
        if pos and dies.get(pos - 1):
            lines.append("del " + ", ".join(names[d] for d in sorted(dies[pos - 1])))
        if isinstance(step, Group):
            src = _kernel_source(nodes, step, parallel and math.prod(step.shape) >= PARALLEL_MIN)
            kname = f"_k{len([k for k in ns if k.startswith('_k')])}"
            ns[kname] = _compiled(src.text)
            kernel_texts.append(f"# {kname}: a loop over {step.shape!r}\n" + src.text)
            args = []
            for leaf, kind in src.leaves:
                if kind == "scalar":
                    dt = nodes[leaf].dtype
                    args.append(f"np.{dt.name}({names[leaf]})")
                else:
                    args.append(names[leaf])
            for m in src.out_arrays:
                names[m] = f"v{m}"
                dt_src = "np.bool_" if nodes[m].dtype == _BOOL else f"np.{nodes[m].dtype.name}"
                lines.append(f"v{m} = np.empty({step.shape!r}, {dt_src})")
                args.append(f"v{m}")
            if src.gather is not None:
                ((s, _),) = src.scatter_terms
                sn = nodes[s]
                names[s] = f"v{s}"
                ns[f"_seg{s}"] = src.gather[0]
                lines.append(f"v{s} = np.empty({sn.shape!r}, np.{sn.dtype.name})")
                off = ", ".join(map(str, src.gather[1]))
                lines.append(f"{kname}({', '.join(args)}, v{s}, _seg{s}, {off})")
                continue
            for s, terms in src.scatter_terms:
                sn = nodes[s]
                names[s] = f"v{s}"
                fill = "0.0" if len(terms) == 1 else "-0.0"
                lines.append(f"v{s} = np.full({sn.shape!r}, {fill}, np.{sn.dtype.name})")
                for _t, index in terms:
                    args.append(f"v{s}[{_np_index_source(index)}]")
            if not src.out_arrays and not src.scatter_terms:
                args.append(f"{step.shape!r}")
            call = f"{kname}({', '.join(args)})"
            if src.sums:
                lines.append(f"_r = {call}")
                for k, s in enumerate(src.sums):
                    names[s] = f"v{s}"
                    lines.append(f"v{s} = np.{nodes[s].dtype.name}(_r[{k}])")
            else:
                lines.append(call)
            for s, terms in src.scatter_terms:
                if len(terms) == 2:
                    # -0.0 + g is g: where the first term does not reach, 0.0 + g (as
                    # NumPy's added term) turns -0.0 into 0.0
                    miss = np.ones(nodes[s].shape, bool)
                    miss[_as_index(terms[0][1])] = False
                    where = np.flatnonzero(miss)
                    if where.size:
                        cname = f"_m{s}"
                        ns[cname] = np.unravel_index(where, nodes[s].shape)
                        lines.append(f"v{s}[{cname}] += 0.0")
            continue
        n = step
        node = nodes[n]
        if node.op == "input":
            continue
        if node.op == "constant":
            names[n] = _constant_name(prog, n, node.value)
            continue
        op = OPS[node.op]
        params = dict(node.params)
        if not all(_literal_ok(v) for v in params.values()):
            return None
        args = [names[a] for a in node.args]
        if args and all(nodes[a].op == "constant" for a in node.args):
            args = [f"np.asarray({s})" for s in args]
        names[n] = f"v{n}"
        lines.append(f"v{n} = {op.source(args, params)}")
        if op.helper and op.helper not in prog.helpers:
            prog.helpers.append(op.helper)
    ns.update(prog.constants)
    rets = []
    for o in outputs:
        shape = nodes[o].shape
        rets.append(names[o] if shape else f"_ga_finish({names[o]})")
    params_src = ", ".join(f"x{k}" for k in range(len(inputs)))
    text = "\n\n".join(h.strip("\n") for h in [*prog.helpers, FINISH_SRC])
    if any(v.size <= 16 for v in prog.constants.values()):
        from .codegen import ARRAY_SRC

        text = ARRAY_SRC.strip("\n") + "\n\n" + text
    text += (
        f"\n\n\ndef _graphad_body({params_src}):\n"
        + "".join(f"    {ln}\n" for ln in lines)
        + f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})\n"
    )
    shown = "# the runner (NumPy lines and fused loops _k0, _k1 ...)\n" + text
    shown += "\n\n# fused loops (Numba)\n" + "\n\n".join(kernel_texts)
    return text, ns, shown


def _as_index(index: tuple) -> tuple:
    return tuple(slice(*it[1:]) for it in index)


def attach(
    graph: Graph,
    outputs: Sequence[int],
    inputs: Sequence[int],
    numpy_body: Any,
    *,
    parallel: bool = False,
    whole: bool = False,
) -> tuple[Any, str] | None:
    """``(body, source)``: a body running the graph with fused kernels, or None (NumPy runs
    it: Numba missing, or no group worth a loop; with ``whole``, unless every operation
    runs in a loop).  ``body`` hands any argument that is not
    a NumPy array or number to ``numpy_body``."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    try:
        made = build_source(graph, outputs, inputs, parallel, whole)
    except OSError:  # the kernel cache cannot be written (read-only home ...): NumPy runs
        return None
    if made is None:
        return None
    text, ns, shown = made
    code = compile(text, "<graphad-fused>", "exec")
    exec(code, ns)  # generated text: templates, generated names and numbers only
    run = ns["_graphad_body"]
    plain = (np.ndarray, float, int, np.generic)

    def body(*xs: Any) -> Any:
        for v in xs:
            if not isinstance(v, plain):
                return numpy_body(*xs)
        return run(*xs)  # the checked caller around it sets np.errstate

    return body, shown
