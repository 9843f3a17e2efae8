"""Code generation: a graph becomes straight-line Python/NumPy source, then a Function.

The schedule is the topological order of the nodes the outputs need (node
ids ascend topologically).  Each node is one SSA line (``v7 = np.sin(v3)``)
followed by ``del`` of the arrays it used for the last time, so peak memory
stays near what the live values need (0-d values are left to the function's
end).  Every name in the source is generated (``x0`` for the first input,
``v<id>`` for nodes, ``c<id>`` for array constants, ``f<k>`` for custom ops):
input names, which are arbitrary user strings, never reach the text.  Large
constants and the implementations of custom ops are passed in the module's
namespace; small ones are written out.  The source is compiled under a unique
file name registered in :mod:`linecache`, so a traceback shows the generated line.
"""

from __future__ import annotations

import builtins
import itertools
import linecache
import math
import os
import re
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core._atomic import atomic_write_many
from ..core.errors import DTypeError, GraphadError, MissingInputError, ShapeError, UnknownNameError
from ..core.graph import Graph, topo_order
from ..ops import OPS

__all__ = ["Function", "compile", "export", "generate"]

FUNCTION_NAME = "graphad_function"
BODY_NAME = "_graphad_body"  # the straight-line code; FUNCTION_NAME adds np.errstate
# Array constants with at most this many elements are written into .source;
# larger ones are bound in the namespace (and, on export, stored in a .npz).
INLINE_MAX = 16
EXPORT_INLINE_MAX = 256

_counter = itertools.count()
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

FINISH_SRC = """
def _ga_finish(v):
    if type(v) is np.ndarray:
        return v[()] if v.ndim == 0 else v
    if isinstance(v, np.generic) or (
            hasattr(v, "__array_function__") and not isinstance(v, np.ndarray)):
        return v  # another library's array (a lazy Dask array) stays what it is
    return np.asarray(v)[()]
"""
NUMPY_SRC = """
def _ga_numpy(*values):
    # True unless an input is another library's array (Dask, CuPy): ops whose NumPy
    # form such arrays cannot run lazily then take their second form (right for any array)
    for v in values:
        if hasattr(v, "__array_function__") and not isinstance(v, np.ndarray):
            return False
    return True
"""
ARRAY_SRC = """
def _ga_array(flat, dtype, shape):
    a = np.array(flat, dtype=dtype).reshape(shape)
    a.flags.writeable = False
    return a
"""


# -- literals --------------------------------------------------------------------------------


def _float_text(v: float) -> str:
    if math.isfinite(v):
        return repr(v)
    return "float('nan')" if math.isnan(v) else ("float('inf')" if v > 0 else "float('-inf')")


def _scalar_text(v: bool | int | float) -> str:
    """A weakly typed Python scalar as an atom (negative numbers parenthesized)."""
    if isinstance(v, bool):
        return repr(v)
    text = repr(v) if isinstance(v, int) else _float_text(v)
    return f"({text})" if text.startswith("-") else text


def _element_text(v: Any) -> str:
    if isinstance(v, float):
        return _float_text(v)
    return repr(v)


def _numpy_scalar_text(arr: np.ndarray) -> str:
    """A 0-d array as a (strongly typed) NumPy scalar literal, e.g. ``np.float32(0.5)``."""
    return f"np.{arr.dtype.name}({_element_text(arr.item())})"


def _array_literal(arr: np.ndarray) -> str:
    flat = ", ".join(_element_text(v) for v in arr.ravel().tolist())
    return f"_ga_array([{flat}], {arr.dtype.name!r}, {arr.shape!r})"


def _literal_ok(value: Any) -> bool:
    """Params are written with repr(): only plain numbers, None, bools and tuples of them."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, tuple):
            stack.extend(v)
        elif v is not None and not isinstance(v, bool | int | float | str):
            return False
        elif isinstance(v, float) and not math.isfinite(v):
            return False  # repr(inf) is not valid source
        elif isinstance(v, str) and not _IDENT.match(v):
            return False
    return True


# -- generation --------------------------------------------------------------------------------


class Program:
    """Generated source plus what its namespace must hold.

    ``body`` is the function definition and helpers, ``constants`` maps the
    generated name of each array constant to its value, ``impls`` maps the
    generated name of each custom op to its implementation.
    """

    def __init__(self) -> None:
        self.helpers: list[str] = []
        self.constants: dict[str, np.ndarray] = {}
        self.impls: dict[str, Any] = {}
        self.impl_notes: dict[str, str] = {}
        self.body: list[str] = []
        self.batched = False  # one vectorized line per (level, op): see graphad.transforms.batching

    def module(self, inline_max: int = INLINE_MAX, *, npz: bool = False) -> str:
        """The module text; constants over ``inline_max`` elements are bound by name
        (from the namespace, or from the sibling ``.npz`` file when ``npz``)."""
        head = [
            '"""Generated by graphad: straight-line NumPy code, one line per graph node."""',
            "",
            "import numpy as np",
        ]
        if npz:
            head.insert(2, "import os")
        helpers = list(self.helpers)
        lines: list[str] = []
        big = [k for k, v in self.constants.items() if v.size > inline_max]
        if any(v.size <= inline_max for v in self.constants.values()):
            helpers.append(ARRAY_SRC)
        for name, value in self.constants.items():
            if value.size <= inline_max:
                lines.append(f"{name} = {_array_literal(value)}")
        if big and npz:
            lines.append("with np.load(os.path.splitext(__file__)[0] + '.npz') as _ga_npz:")
            lines.extend(f"    {k} = _ga_npz[{k!r}]" for k in big)
            lines.extend(f"{k}.flags.writeable = False" for k in big)
        elif big:
            lines.append("# bound in the namespace when compiled (not printed):")
            lines.extend(
                f"#   {k}: {self.constants[k].dtype.name} array of shape {self.constants[k].shape}"
                for k in big
            )
        if self.impls:
            lines.append("# custom op implementations bound in the namespace:")
            lines.extend(f"#   {k}: {self.impl_notes[k]}" for k in self.impls)
        parts = ["\n".join(head), *(h.strip("\n") for h in helpers)]
        if lines:
            parts.append("\n".join(lines))
        parts.append("\n".join(self.body))
        return "\n\n\n".join(parts) + "\n"


def generate(graph: Graph, outputs: Sequence[int], inputs: Sequence[int]) -> Program:
    """Straight-line source computing ``outputs`` from ``inputs`` (node ids of ``graph``)."""
    nodes = graph.records()
    prog = Program()
    names: dict[int, str] = {}
    for k, i in enumerate(inputs):
        names[i] = f"x{k}"
    order = topo_order(graph, outputs)
    missing = [n for n in order if nodes[n].op == "input" and n not in names]
    if missing:
        labels = sorted(nodes[n].name for n in missing)
        raise MissingInputError(
            f"compile: the outputs use input(s) {', '.join(map(repr, labels))} not listed in "
            f"inputs=; add them (or leave inputs=None to take all, sorted by name)"
        )
    from ..transforms import batching
    from . import fusion  # numexpr itself is imported only when a kernel is built

    batched = batching.plan(graph, order, outputs, inputs)
    if batched is not None:  # a wide scalar graph: one vectorized line per (level, op)
        body, prog.constants = batched
        prog.batched = True
        params_src = ", ".join(f"x{k}" for k in range(len(inputs)))
        prog.body = [
            f"def {FUNCTION_NAME}({params_src}):",
            '    with np.errstate(all="ignore"):  # NaN/inf are results, not warnings',
            f"        return {BODY_NAME}({params_src})",
            "",
            "",
            f"def {BODY_NAME}({params_src}):",
            *("    " + line for line in body),
        ]
        return prog
    fused = fusion.plan(graph, order, set(outputs))
    # liveness: the position of each value's last use (a fused kernel reads its leaves)
    last: dict[int, int] = {}
    for pos, n in enumerate(order):
        for a in fused.args_of(n, nodes):
            last[a] = pos
    outset = set(outputs)
    dead_after: dict[int, list[int]] = {}
    for n, pos in last.items():
        # 0-d values are a few bytes: releasing them early saves nothing but a line
        if n not in outset and nodes[n].op != "constant" and nodes[n].shape != ():
            dead_after.setdefault(pos, []).append(n)
    seen_helpers: set[str] = set()
    impl_names: dict[str, str] = {}
    literal: set[int] = set()  # constants written inline as Python/NumPy scalars
    lines: list[str] = []
    for pos, n in enumerate(order):
        node = nodes[n]
        op_name = node.op
        if op_name == "input":
            continue
        if op_name == "constant":
            names[n] = _constant_name(prog, n, node.value)
            if names[n] != f"c{n}":
                literal.add(n)
            continue
        if n in fused.members:
            continue
        kernel = fused.kernels.get(n)
        op = OPS.get(op_name)
        if op is None:
            raise GraphadError(f"node v{n} uses unknown op {op_name!r}")
        args = [names[a] for a in node.args] if kernel is None else []
        if args and all(a in literal for a in node.args):
            # Python would compute 2 + 3 as a Python int; NumPy gives np.int64, as the
            # interpreter does
            args = [f"np.asarray({s})" for s in args]
        params = dict(node.params)
        if kernel is not None:
            expr = fusion.call_source(kernel, nodes, names)
            for src in kernel.helpers:
                if src not in seen_helpers:
                    seen_helpers.add(src)
                    prog.helpers.append(src)
        elif op.custom or op.emit is None:
            if op.emit is None and not op.custom:
                raise GraphadError(
                    f"op {op_name!r} (node v{n}) cannot be compiled: it has no source form"
                )
            fname = impl_names.get(op_name)
            if fname is None:
                fname = impl_names[op_name] = f"f{len(impl_names)}"
                prog.impls[fname] = op.impl
                prog.impl_notes[fname] = (
                    f"custom op {op_name!r}" if _IDENT.match(op_name) else "custom op"
                )
            if params:
                raise GraphadError(f"custom op node v{n} has parameters; cannot compile it")
            expr = f"{fname}({', '.join(args)})"
        else:
            for k, v in params.items():
                if not _literal_ok(v):
                    raise GraphadError(
                        f"op {op_name!r} (node v{n}): parameter {k}={v!r} "
                        f"cannot be written as source"
                    )
            expr = op.source(args, params)
            inplace = fusion.inplace_source(fused, n, nodes, args, dead_after.get(pos, ()))
            if inplace is not None:  # the buffer of an argument that dies here
                expr = inplace % expr
            if op.duck_emit is not None:
                # valid for any arrays, the duck form is needed only for non-NumPy inputs
                expr = f"({op.source(args, params, duck=True)} if _ga_duck else {expr})"
                if NUMPY_SRC not in seen_helpers:
                    seen_helpers.add(NUMPY_SRC)
                    prog.helpers.append(NUMPY_SRC)
            if op.helper and op.helper not in seen_helpers:
                seen_helpers.add(op.helper)
                prog.helpers.append(op.helper)
        name = names[n] = f"v{n}"
        lines.append(f"{name} = {expr}")
        dead = dead_after.get(pos)
        if dead:
            lines.append("del " + ", ".join(names[d] for d in sorted(dead)))
    rets = []
    for o in outputs:
        shape = nodes[o].shape
        is_array_op = shape is not None and len(shape) > 0
        rets.append(names[o] if is_array_op else f"_ga_finish({names[o]})")
    if any(r.startswith("_ga_finish") for r in rets):
        prog.helpers.append(FINISH_SRC)
    params_src = ", ".join(f"x{k}" for k in range(len(inputs)))
    if NUMPY_SRC in seen_helpers:  # decided once per call, from the inputs
        lines.insert(0, f"_ga_duck = not _ga_numpy({params_src})")
    prog.body = [
        f"def {FUNCTION_NAME}({params_src}):",
        '    with np.errstate(all="ignore"):  # NaN/inf are results, not warnings',
        f"        return {BODY_NAME}({params_src})",
        "",
        "",
        f"def {BODY_NAME}({params_src}):",
        *("    " + line for line in lines),
        f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})",
    ]
    return prog


def _constant_name(prog: Program, nid: int, value: Any) -> str:
    if isinstance(value, bool | int | float):
        return _scalar_text(value)
    arr = np.asarray(value)
    if arr.ndim == 0 and arr.dtype.kind in "biuf":
        return _numpy_scalar_text(arr)
    name = f"c{nid}"
    prog.constants[name] = arr
    return name


# -- the Function ----------------------------------------------------------------------------


# The caller the Function runs: input checks inlined, errors silenced the way
# np.errstate(all="ignore") does it but without rebuilding NumPy's error-state
# object on every call (that alone cost more than a small graph's arithmetic).
try:  # NumPy >= 2: error state is a context variable holding an opaque object
    from numpy._core._ufunc_config import _extobj_contextvar as _EXTOBJ
    from numpy._core._ufunc_config import _make_extobj
except ImportError:  # pragma: no cover - older NumPy: use the public context manager
    _EXTOBJ = None
_QUIET: dict[Any, Any] = {}


def _quiet_for(current: Any) -> Any:
    """The "ignore all" error state derived from ``current`` (cached per state)."""
    if len(_QUIET) > 64:
        _QUIET.clear()
    q = _QUIET[current] = _make_extobj(all="ignore")
    return q


def _caller_source(
    graph: Graph, inputs: Sequence[int], single: bool, floats_ok: bool = False
) -> str:
    """The caller's source; ``floats_ok``: the body stores float64 scalar inputs into a
    float64 buffer (batched code), so a Python float needs no conversion first."""
    nodes = graph.records()
    params = ", ".join(f"x{k}" for k in range(len(inputs)))
    if len(inputs) > _UNROLL_MAX:
        return _loop_caller_source(graph, inputs, single, floats_ok)
    lines = [f"def _ga_call({params}):"]
    for k, nid in enumerate(inputs):
        if floats_ok and nodes[nid].dtype == np.float64 and nodes[nid].shape == ():
            lines += [
                f"    if type(x{k}) is not float and not (",
                f"            type(x{k}) is _nd and x{k}.dtype == _dt{k} and x{k}.shape == ()):",
                f"        x{k} = _prep{k}(x{k})",
            ]
            continue
        conds = [f"type(x{k}) is _nd"]
        if nodes[nid].dtype is not None:
            conds.append(f"x{k}.dtype == _dt{k}")
        else:
            conds.append(f'x{k}.dtype.kind in "biuf"')
        if nodes[nid].shape is not None:
            conds.append(f"x{k}.shape == _sh{k}")
        lines += [f"    if not ({' and '.join(conds)}):"]
        if nodes[nid].dtype in (None, np.float64) and nodes[nid].shape in (None, ()):
            # a Python float becomes the float64 scalar the checks would make of it
            lines.append(f"        x{k} = _f64(x{k}) if type(x{k}) is float else _prep{k}(x{k})")
        else:
            lines.append(f"        x{k} = _prep{k}(x{k})")
    pick = "[0]" if single else ""
    if _EXTOBJ is not None:
        lines += [
            "    _cur = _get()",
            "    _tok = _set(_QUIET.get(_cur) or _quiet_for(_cur))",
            "    try:",
            f"        return _body({params}){pick}",
            "    except (ValueError, IndexError) as _exc:",
            f"        raise _failed(_exc, ({params}{',' if len(inputs) == 1 else ''})) from _exc",
            "    finally:",
            "        _reset(_tok)",
        ]
    else:  # pragma: no cover
        lines += [
            "    try:",
            '        with _np.errstate(all="ignore"):',
            f"            return _body({params}){pick}",
            "    except (ValueError, IndexError) as _exc:",
            f"        raise _failed(_exc, ({params}{',' if len(inputs) == 1 else ''})) from _exc",
        ]
    return "\n".join(lines) + "\n"


# Past this many inputs the caller checks them in a loop over per-input tables instead of
# one unrolled block each: compiling 3 lines per input cost more than the rest of a
# 1,000-input build's code generation (74 of ~200 ms CPU for x1*...*x1000).
_UNROLL_MAX = 64


def _loop_caller_source(graph: Graph, inputs: Sequence[int], single: bool, floats_ok: bool) -> str:
    """:func:`_caller_source` for many inputs: the same checks and conversions per input,
    read from the tables ``_DTS``, ``_SHS``, ``_PREPS`` (bound by :func:`_make_caller`)
    and ``_KINDS`` (what a Python float becomes: 0 kept, 1 ``float64``, 2 checked), with
    one C-level test for the common call where every argument is a Python float."""
    nodes = graph.records()
    kinds = []
    for nid in inputs:
        node = nodes[nid]
        if floats_ok and node.dtype == np.float64 and node.shape == ():
            kinds.append(0)
        elif node.dtype in (None, np.float64) and node.shape in (None, ()):
            kinds.append(1)
        else:
            kinds.append(2)
    fast = "all0" if all(k == 0 for k in kinds) else "all1" if all(k == 1 for k in kinds) else ""
    params = ", ".join(f"x{k}" for k in range(len(inputs)))
    pick = "[0]" if single else ""
    lines = [
        f"_KINDS = {tuple(kinds)!r}",
        "",
        "",
        f"def _ga_call({params}):",
        f"    _xs = [{params}]",
    ]
    check = [
        f"    for _k in range({len(inputs)}):",
        "        _x = _xs[_k]",
        "        if type(_x) is _nd:",
        "            _dt, _sh = _DTS[_k], _SHS[_k]",
        '            if (_x.dtype == _dt if _dt is not None else _x.dtype.kind in "biuf") and (',
        "                    _sh is None or _x.shape == _sh):",
        "                continue",
        "        elif type(_x) is float:",
        "            _kind = _KINDS[_k]",
        "            if _kind == 0:",
        "                continue",
        "            if _kind == 1:",
        "                _xs[_k] = _f64(_x)",
        "                continue",
        "        _xs[_k] = _PREPS[_k](_x)",
    ]
    if fast:
        lines.append("    if set(map(type, _xs)) == _FLOATS:  # every argument a Python float")
        lines.append("        pass" if fast == "all0" else "        _xs = list(map(_f64, _xs))")
        lines.append("    else:")
        lines += ["    " + line for line in check]
    else:
        lines += check
    if _EXTOBJ is not None:
        lines += [
            "    _cur = _get()",
            "    _tok = _set(_QUIET.get(_cur) or _quiet_for(_cur))",
            "    try:",
            f"        return _body(*_xs){pick}",
            "    except (ValueError, IndexError) as _exc:",
            "        raise _failed(_exc, tuple(_xs)) from _exc",
            "    finally:",
            "        _reset(_tok)",
        ]
    else:  # pragma: no cover
        lines += [
            "    try:",
            '        with _np.errstate(all="ignore"):',
            f"            return _body(*_xs){pick}",
            "    except (ValueError, IndexError) as _exc:",
            "        raise _failed(_exc, tuple(_xs)) from _exc",
        ]
    return "\n".join(lines) + "\n"


def _prepare_any(graph: Graph, nid: int, value: Any) -> Any:
    """The interpreter's input check; another library's array (Dask's, CuPy's: anything
    with ``__array_function__``) is checked through its ``dtype`` and ``shape`` and cast
    with its own ``astype``, never converted to NumPy (that would compute a Dask array)."""
    from .interp import prepare_input

    if isinstance(value, np.ndarray) or not hasattr(value, "__array_function__"):
        return prepare_input(graph, nid, value)
    node = graph.node(nid)
    name, want, shape = node.name, node.dtype, node.shape
    have = np.dtype(value.dtype)
    if have.kind not in "biuf":
        raise DTypeError(f"input {name!r}: expected numbers, got dtype {have}")
    if want is not None and have != want:
        if not np.can_cast(have, want, casting="same_kind"):
            raise DTypeError(f"input {name!r} is declared {want}, got {have}")
        value = value.astype(want)
    if shape is not None and tuple(value.shape) != shape:
        raise ShapeError(f"input {name!r} is declared with shape {shape}, got {value.shape}")
    return value


def _make_caller(
    graph: Graph,
    inputs: Sequence[int],
    single: bool,
    body: Any,
    names: Sequence[str],
    floats_ok: bool = False,
) -> Any:
    from functools import partial

    def failed(exc: Exception, values: tuple) -> ShapeError:
        shapes = ", ".join(f"{n}: {np.shape(v)}" for n, v in zip(names, values, strict=True))
        return ShapeError(f"compiled function failed on inputs of shapes ({shapes}): {exc}")

    ns: dict[str, Any] = {
        "_nd": np.ndarray, "_np": np, "_f64": np.float64, "_body": body, "_failed": failed,
        "_QUIET": _QUIET, "_quiet_for": _quiet_for,
    }  # fmt: skip
    if _EXTOBJ is not None:
        ns.update(_get=_EXTOBJ.get, _set=_EXTOBJ.set, _reset=_EXTOBJ.reset)
    records = graph.records()
    preps = [partial(_prepare_any, graph, nid) for nid in inputs]
    if len(inputs) > _UNROLL_MAX:  # the tables the loop caller reads
        ns.update(
            _PREPS=tuple(preps),
            _DTS=tuple(records[nid].dtype for nid in inputs),
            _SHS=tuple(records[nid].shape for nid in inputs),
            _FLOATS={float},
        )
    else:
        for k, nid in enumerate(inputs):
            ns[f"_prep{k}"] = preps[k]
            ns[f"_dt{k}"] = records[nid].dtype
            ns[f"_sh{k}"] = records[nid].shape
    src = _caller_source(graph, inputs, single, floats_ok)
    filename = f"<graphad-call-{next(_counter)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(builtins.compile(src, filename, "exec"), ns)  # generated names only
    return ns["_ga_call"], filename


class _Compiled:
    """One specialization of a Function: an optimized graph, its program and its caller."""

    def __init__(
        self,
        graph: Graph,
        outputs: Sequence[int],
        inputs: Sequence[int],
        single: bool,
        names: Sequence[str],
        header: str = "",
        backend: str = "numpy",
    ) -> None:
        self.graph = graph
        self.output_ids = tuple(outputs)
        self.input_ids = tuple(inputs)
        self.program = generate(graph, outputs, inputs)
        first, rest = self.program.module().split("\n", 1)  # the docstring stays first
        self.source = first + "\n" + header + rest
        self.filename = f"<graphad-compiled-{next(_counter)}>"
        ns: dict[str, Any] = {"__name__": "graphad_compiled"}
        ns.update(self.program.constants)
        ns.update(self.program.impls)
        code = builtins.compile(self.source, self.filename, "exec")
        linecache.cache[self.filename] = (
            len(self.source),
            None,
            self.source.splitlines(True),
            self.filename,
        )
        weakref.finalize(self, linecache.cache.pop, self.filename, None)
        exec(code, ns)  # our generated text: every name in it is generated
        self.fn = ns[FUNCTION_NAME]
        self.backend = "numpy"
        self._kernel: Any = None  # the Numba VM's program (backend="numba"), if it runs this
        # a caller for calls whose arguments are all Python floats (Function._dispatch)
        self.floats_key: tuple | None = None
        self.floats_call: Any = None
        self.unsorted_call: Any = None  # for values of any type (no dispatch before it)
        body, floats_ok, made = ns[BODY_NAME], self.program.batched, None
        if backend != "numpy":  # the Numba backend where it runs this graph, else NumPy
            from . import kernels

            made = kernels.attach(graph, outputs, inputs, single, body, auto=backend == "auto")
            if made is not None:
                body, self._kernel = made.body, made.kernel
                floats_ok, self.backend = True, "numba"
        self.call, call_file = _make_caller(graph, inputs, single, body, names, floats_ok)
        if made is not None and made.fast is not None:
            # unchecked fast paths; they hand anything unusual to the checked caller
            checked = self.call
            self.call = made.fast(checked)
            self.floats_call = made.floats(checked)
            self.unsorted_call = made.fast(checked, guard=True)
            self.floats_key = (float,) * len(inputs)
        weakref.finalize(self, linecache.cache.pop, call_file, None)

    @property
    def kernels(self) -> str | None:
        """The VM's instruction listing (made when first read: 10^4 lines take a while)."""
        return None if self._kernel is None else self._kernel.listing()


def _type_text(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return f"{np.dtype(dtype).name}{list(shape)}"


class Function:
    """A compiled graph: call it with NumPy values, read its generated ``source``.

    Made by :func:`compile`.  Called positionally (in the order of
    ``input_names``) or by name; returns a tuple of outputs (a single value
    when ``compile`` was given a single Expr rather than a list).

    Like ``jax.jit``, a Function is specialized to the types of the values it
    is called with: each new signature (shape and dtype of every input whose
    shape or dtype was not declared, and whether an input is NumPy's or
    another library's array) specializes the graph to those types
    (:mod:`graphad.transforms.specialize`), optimizes and compiles it, and caches the result
    (the :data:`~graphad.transforms.specialize.CACHE_SIZE` most recent signatures).  Inputs
    declared with both shape and dtype are fixed: a Function whose inputs are
    all declared is compiled once, when it is made.

    Attributes
    ----------
    source : str
        The generated module of the specialization last called: it imports
        NumPy as ``np`` and defines ``graphad_function(x0, x1, ...)`` returning
        the tuple of outputs; its first line names the input types it is for.
        Before the first call, inputs without declared types are taken as
        float64 scalars where the graph allows it, else the source is the
        generic (shape-polymorphic) program.  :meth:`source_for` gives the
        source for other argument types, :attr:`signatures` lists those cached.
    graph : Graph
        The optimized graph ``source`` was generated from.
    input_names, output_names : tuple of str
    """

    def __init__(
        self,
        graph: Graph,
        outputs: Sequence[int],
        inputs: Sequence[int],
        single: bool = False,
        *,
        optimize: bool = True,
        backend: str = "auto",
    ) -> None:
        from collections import OrderedDict

        nodes = graph.records()
        self._user_graph = graph
        self._outputs = tuple(outputs)
        self._inputs = tuple(inputs)
        self._optimize = optimize
        self._backend = _check_backend(backend)
        self.input_names = tuple(nodes[i].name for i in inputs)
        self.output_names = tuple(graph.label(o) for o in outputs)
        self._single = single
        self._positions = {name: k for k, name in enumerate(self.input_names)}
        self._n = len(inputs)
        # per input: its declared (shape, dtype) when both are declared, else None
        self._fixed = tuple(
            (nodes[i].shape, nodes[i].dtype)
            if nodes[i].shape is not None and nodes[i].dtype is not None
            else None
            for i in inputs
        )
        self._cache: OrderedDict[tuple, _Compiled] = OrderedDict()
        self._by_types: dict[tuple, _Compiled] = {}  # all-scalar calls: keyed by type alone
        self._by_arrays: dict[tuple, _Compiled] = {}  # all-ndarray calls: (shape, dtype) each
        self._current: _Compiled | None = None
        self._generic: _Compiled | None = None
        self._current_only = all(f is not None for f in self._fixed)
        if self._current_only:
            self._current = self._specialization(tuple((*f, False) for f in self._fixed))
            # one signature: no dispatch at all (the values' types are not known yet)
            self._call = self._current.unsorted_call or self._current.call
        else:
            self._call = self._dispatch

    # -- specializations ------------------------------------------------------------------
    def _specialization(self, key: tuple) -> _Compiled:
        found = self._cache.get(key)
        if found is not None:
            return found
        from ..transforms.rewrite import optimize_specialized
        from ..transforms.specialize import CACHE_SIZE, check_live_elements

        graph = self._user_graph
        types = [(shape, dtype) for shape, dtype, _ in key]
        with graph.lock:  # specialized and optimized in one copy, from a consistent snapshot
            new, outs, new_inputs = optimize_specialized(
                graph, self._outputs, self._inputs, types, rewrite=self._optimize
            )
        check_live_elements(new, outs)
        # generated parameter names only: input names are user text and never reach source
        header = "# specialized for " + ", ".join(
            f"x{k}: {_type_text(shape, dtype)}{' (not NumPy)' if duck else ''}"
            for k, (shape, dtype, duck) in enumerate(key)
        )
        compiled = _Compiled(
            new,
            outs,
            new_inputs,
            self._single,
            self.input_names,
            header=(header if self._n else "# no inputs") + "\n",
            # another library's arrays (Dask) stay lazy: only NumPy code runs them
            backend="numpy" if any(d for _, _, d in key) else self._backend,
        )
        duck = [k for k, (_, _, d) in enumerate(key) if d]
        if duck:  # outputs that depend on no input (a zero gradient) take the inputs' kind
            compiled.call = _same_kind(compiled.call, duck[0], self._single)
        self._cache[key] = compiled
        while len(self._cache) > CACHE_SIZE:
            _, old = self._cache.popitem(last=False)
            self._by_types = {k: v for k, v in self._by_types.items() if v is not old}
            self._by_arrays = {k: v for k, v in self._by_arrays.items() if v is not old}
        return compiled

    def _key(self, args: Sequence[Any]) -> tuple:
        key = []
        for v, fixed, name in zip(args, self._fixed, self.input_names, strict=True):
            if fixed is not None:
                key.append((*fixed, False))
                continue
            try:
                key.append(_value_key(v))
            except DTypeError as exc:
                raise DTypeError(f"input {name!r}: {exc}") from None
        return tuple(key)

    def _dispatch(self, *args: Any) -> Any:
        tkey = tuple(map(type, args))
        compiled = self._by_types.get(tkey)
        if compiled is not None and compiled.floats_key == tkey:
            # Python floats only, for a float64 kernel: packed without per-value checks
            self._current = compiled
            return compiled.floats_call(*args)
        if compiled is None:
            key = []
            for v, fixed in zip(args, self._fixed, strict=True):  # the common kinds inline
                if fixed is not None:
                    key.append((*fixed, False))
                elif type(v) is np.ndarray:
                    key.append((v.shape, v.dtype, False))
                else:
                    key = None
                    break
            key = self._key(args) if key is None else tuple(key)
            compiled = self._cache.get(key)
            if compiled is None:
                compiled = self._specialization(key)
                if _SCALAR_TYPES.issuperset(tkey):
                    self._by_types[tkey] = compiled  # the types alone fix the signature
            elif tkey[:1] != (np.ndarray,) and _SCALAR_TYPES.issuperset(tkey):
                self._by_types[tkey] = compiled
            if all(t is np.ndarray for t in tkey):
                self._by_arrays[tuple([(a.shape, a.dtype) for a in args])] = compiled
        self._current = compiled
        return compiled.call(*args)

    def _default(self) -> _Compiled:
        """The specialization ``source`` shows before any call (see the class docstring)."""
        if self._current is not None:
            return self._current
        key = tuple((*f, False) if f is not None else ((), _F64, False) for f in self._fixed)
        try:
            return self._specialization(key)
        except GraphadError:
            return self._generic_program()

    def _generic_program(self) -> _Compiled:
        if self._generic is None:
            from ..transforms.rewrite import optimize_ids

            graph = self._user_graph
            new, outs, mapping = optimize_ids(
                graph, self._outputs, self._inputs, rewrite=self._optimize
            )
            self._generic = _Compiled(
                new,
                outs,
                [mapping[i] for i in self._inputs],
                self._single,
                self.input_names,
                header="# generic: runs for inputs of any shape (not specialized)\n",
            )
        return self._generic

    def source_for(self, *args: Any, **kwargs: Any) -> str:
        """The generated source specialized to the types of these arguments (not run)."""
        if kwargs or len(args) != self._n:
            args = tuple(self._bind(args, kwargs))
        return self._specialization(self._key(args)).source

    @property
    def signatures(self) -> list[str]:
        """The cached specializations, oldest first, as ``"x: float64[3], y: float64[]"``."""
        return [
            ", ".join(
                f"{name}: {_type_text(shape, dtype)}"
                for name, (shape, dtype, _) in zip(self.input_names, key, strict=True)
            )
            for key in self._cache
        ]

    @property
    def source(self) -> str:
        return self._default().source

    @property
    def graph(self) -> Graph:
        return self._default().graph

    @property
    def backend(self) -> str:
        """What runs the current specialization: ``"numba"`` or ``"numpy"``."""
        return self._default().backend

    @property
    def kernels(self) -> str | None:
        """The compiled kernels of the current specialization as readable text (the Numba
        VM's instruction listing), or None where the NumPy code of ``source`` runs."""
        return self._default().kernels

    @property
    def output_ids(self) -> tuple[int, ...]:
        return self._default().output_ids

    @property
    def input_ids(self) -> tuple[int, ...]:
        return self._default().input_ids

    @property
    def _program(self) -> Program:
        return self._default().program

    @property
    def _fn(self) -> Any:
        return self._default().fn

    # -- calling ------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != self._n:
            args = self._bind(args, kwargs)
        if self._current_only:
            return self._call(*args)
        for a in args:  # NumPy arrays only: the signature is their shapes and dtypes
            if type(a) is not np.ndarray:
                return self._call(*args)
        compiled = self._by_arrays.get(tuple([(a.shape, a.dtype) for a in args]))
        if compiled is None:
            return self._call(*args)
        self._current = compiled
        return compiled.call(*args)

    def _bind(self, args: tuple, kwargs: dict) -> list:
        if len(args) > self._n:
            raise GraphadError(
                f"this function takes {self._n} input(s) {list(self.input_names)}, got {len(args)}"
            )
        bound: list[Any] = list(args) + [_MISSING] * (self._n - len(args))
        for key, v in kwargs.items():
            k = self._positions.get(key)
            if k is None:
                raise UnknownNameError(
                    f"unknown input {key!r}; this function takes {list(self.input_names)}"
                )
            if bound[k] is not _MISSING:
                raise GraphadError(f"input {key!r} given twice")
            bound[k] = v
        missing = [self.input_names[k] for k, v in enumerate(bound) if v is _MISSING]
        if missing:
            raise MissingInputError(f"no value given for input(s) {', '.join(map(repr, missing))}")
        return bound

    def __repr__(self) -> str:
        ins = ", ".join(self.input_names)
        lines = self._default().program.body
        return (
            f"<graphad.Function ({ins}) -> {len(self._outputs)} output(s), "
            f"{sum(1 for ln in lines if ' = ' in ln)} lines>"
        )

    def _repr_svg_(self) -> str | None:
        try:
            from ..core.expr import Expr
            from .render import render

            compiled = self._default()
            return render(
                [Expr(compiled.graph, o) for o in compiled.output_ids]
            )._repr_image_svg_xml()
        except Exception:  # no renderer or no dot program: Jupyter shows the repr
            return None


_F64 = np.dtype(np.float64)
_SCALAR_TYPES = frozenset({float, int, bool})


def _same_kind(call: Any, ref: int, single: bool) -> Any:
    """Wrap a caller so NumPy outputs come back as arrays of argument ``ref``'s library
    (NEP 35's ``like=``): with Dask inputs every output is a lazy Dask array."""

    def convert(v: Any, like: Any) -> Any:
        if isinstance(v, np.ndarray | np.generic):
            return np.asarray(v, like=like)
        return v

    def wrapped(*args: Any) -> Any:
        out = call(*args)
        like = args[ref]
        if single:
            return convert(out, like)
        return tuple(convert(v, like) for v in out)

    return wrapped


def _value_key(v: Any) -> tuple:
    """(shape, dtype, not NumPy's) of an argument, as the caller will see it."""
    t = type(v)
    if t is np.ndarray:
        return (v.shape, v.dtype, False)
    if t is float:
        return ((), _F64, False)
    to_array = getattr(v, "__graphad_value__", None)  # a tape Variable
    if to_array is not None:
        v = to_array()
    if hasattr(v, "__array_function__") and not isinstance(v, np.ndarray | np.generic):
        return (tuple(v.shape), np.dtype(v.dtype), True)  # a Dask array stays lazy
    arr = np.asarray(v)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise DTypeError(f"expected numbers, got dtype {arr.dtype} (from {t.__name__})")
    return (arr.shape, arr.dtype, False)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


_BACKENDS = ("auto", "numba", "numpy")


def _check_backend(backend: Any) -> str:
    if not isinstance(backend, str) or backend not in _BACKENDS:
        raise GraphadError(f"compile: backend={backend!r}; expected one of {list(_BACKENDS)}")
    if backend == "numba":
        from . import kernels

        if not kernels.available():
            raise GraphadError(
                "compile: backend='numba' needs Numba, which is not installed "
                "(pip install 'graphad[fast]'); backend='auto' falls back to NumPy"
            )
    return backend


def compile(
    outputs: Any,
    inputs: Sequence[Any] | None = None,
    *,
    optimize: bool = True,
    backend: str = "auto",
) -> Function:
    """Compile expressions into a Python function running generated NumPy code.

    Parameters
    ----------
    outputs : Expr or sequence of Expr
        What to compute.  A list gives a tuple result; a single Expr a single value.
    inputs : sequence of Expr or str, optional
        The function's parameters, in order.  Default: every input the
        outputs use, in sorted name order.  Inputs the outputs do not use are
        allowed (their values are checked, then ignored).
    optimize : bool
        Rewrite the graph first (CSE, constant folding, algebraic
        simplification, dead nodes); the user's graph is never modified.
    backend : {"auto", "numba", "numpy"}
        What runs each specialization.  ``"numpy"``: the generated NumPy code
        (``source``).  ``"numba"``: compiled kernels (:mod:`graphad.backends.kernels`;
        needs Numba, the ``graphad[fast]`` extra) for the graphs they cover, float64
        scalar graphs and scalar graphs evaluated at many points; other graphs run
        on NumPy.  ``"auto"`` (default): ``"numba"`` where Numba is installed and
        the kernels were measured faster (scalar graphs of at least
        :data:`~graphad.backends.kernels.AUTO_MIN_INSTRUCTIONS` operations), else
        ``"numpy"``.  ``Function.backend`` tells which one runs, ``Function.kernels``
        shows the kernels.

    Returns
    -------
    Function

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> e = x * y + ga.sin(x)
    >>> f = ga.compile([e, ga.grad(e, x)], inputs=[x, y])
    >>> [round(float(v), 4) for v in f(0.0, 2.0)]
    [0.0, 3.0]
    >>> [round(float(v), 4) for v in f(x=0.0, y=2.0)]
    [0.0, 3.0]
    """
    from ..core.expr import Expr
    from ..core.graph import gc_paused

    single = isinstance(outputs, Expr)
    outs = [outputs] if single else list(outputs)
    if not outs:
        raise GraphadError("compile needs at least one output")
    if not all(isinstance(o, Expr) for o in outs):
        raise GraphadError("compile: outputs must be graphad Exprs")
    graph = outs[0].graph
    if any(o.graph is not graph for o in outs):
        raise GraphadError("compile: outputs belong to different graphs")
    out_ids = [o.id for o in outs]
    in_ids = _input_ids(graph, out_ids, inputs)
    with gc_paused():
        return Function(graph, out_ids, in_ids, single=single, optimize=optimize, backend=backend)


def _input_ids(graph: Graph, outputs: list[int], inputs: Sequence[Any] | None) -> list[int]:
    from ..core.expr import Expr

    nodes = graph.records()
    if inputs is None:
        used = [n for n in topo_order(graph, outputs) if nodes[n].op == "input"]
        return sorted(used, key=lambda n: nodes[n].name)
    if isinstance(inputs, Expr | str):
        inputs = [inputs]
    ids: list[int] = []
    seen: set[int] = set()
    for x in inputs:
        if isinstance(x, Expr):
            if x.graph is not graph:
                raise GraphadError("compile: an input belongs to a different graph")
            if x.op != "input":
                raise GraphadError(f"compile: inputs must be input symbols, not {x!r}")
            nid = x.id
        elif isinstance(x, str):
            found = graph.input_id(x)
            if found is None:  # a typo must not become a new input of the user's graph
                raise UnknownNameError(
                    f"compile: no input named {x[:100]!r} in the outputs' graph; "
                    "declare it first (ga.symbols) to take a value the outputs do not use"
                )
            nid = found
        else:
            raise GraphadError(
                f"compile: expected an Expr or an input name, got {type(x).__name__}"
            )
        if nid in seen:
            raise GraphadError(f"compile: input {nodes[nid]['name']!r} listed twice")
        seen.add(nid)
        ids.append(nid)
    return ids


# -- export ---------------------------------------------------------------------------------


def export(f: Any, path: str | os.PathLike) -> None:
    """Write a compiled function as a standalone module that imports only NumPy.

    Where every input of ``f`` has a declared shape and dtype, the module is the
    code specialized to them; otherwise it is the generic program, which runs
    for inputs of any shape (a specialization would be right only for its own).
    Small array constants are written as literals; larger ones go into a
    sibling ``.npz`` file (same name, ``.npz`` suffix) loaded when the module
    is imported.  Files are written atomically.  The module defines
    ``graphad_function(x0, x1, ...)`` taking the inputs in ``f.input_names`` order.

    Parameters
    ----------
    f : Function, Expr or list of Expr
        A compiled function (Exprs are compiled first).
    path : str or path-like

    Examples
    --------
    >>> import graphad as ga, tempfile, os
    >>> x = ga.symbols("x")
    >>> path = os.path.join(tempfile.mkdtemp(), "square.py")
    >>> ga.export(ga.compile(x * x), path)
    >>> "def graphad_function(x0):" in open(path).read()
    True
    """
    if not isinstance(f, Function):
        f = compile(f)
    # a module runs with whatever it is given: specialized code only where the inputs
    # are declared, else the generic program, right for every shape
    fixed = all(t is not None for t in f._fixed)
    prog = (f._default() if fixed else f._generic_program()).program
    if prog.impls:
        raise GraphadError(
            "export: the function uses custom op(s) (ga.defop) whose Python "
            "implementations cannot be written into a standalone module"
        )
    path = os.fspath(path)
    src = prog.module(EXPORT_INLINE_MAX, npz=True)
    big = {k: v for k, v in prog.constants.items() if v.size > EXPORT_INLINE_MAX}
    files: list = []
    if big:
        files.append((os.path.splitext(path)[0] + ".npz", lambda fh: np.savez(fh, **big)))
    files.append((path, lambda fh: fh.write(src.encode("utf-8"))))
    # all or nothing: a module that cannot be written leaves no new .npz behind
    atomic_write_many(files)
