"""The caller a compiled Function runs: argument checks inlined, NumPy's errors silenced.

Each specialization gets a small generated Python function that checks and
prepares its arguments (unrolled up to ``_UNROLL_MAX`` inputs, a loop past
that) and calls the straight-line body under an "ignore all" NumPy error state
that is built once per state rather than on every call.
"""

from __future__ import annotations

import builtins
import linecache
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import DTypeError, ShapeError
from ..core.graph import Graph
from .codegen import _counter

__all__: list[str] = []  # used by Function only

# The caller the Function runs: input checks inlined, errors silenced the way
# np.errstate(all="ignore") does it but without rebuilding NumPy's error-state
# object on every call (that alone cost more than a small graph's arithmetic).
# This reads NumPy's private context variable (issue 19 names it).  The public ways
# were measured (benchmarks/results/issue19-build.md, NumPy 2.4, one process, best of
# 7x100,000 calls of an empty body): the private set/reset 0.5-0.7 us a call, the
# public np.errstate(all="ignore") as a decorator 1.0-1.6 us (it rebuilds the error
# state on every call), as a with block 2.6-3.0 us; a compiled 3-op function on
# floats takes about 5 us in all, so the private path stays where NumPy has it.  Where
# it does not, the public decorator wraps the body (the faster public form).
try:  # NumPy >= 2: error state is a context variable holding an opaque object
    from numpy._core._ufunc_config import _extobj_contextvar as _EXTOBJ
    from numpy._core._ufunc_config import _make_extobj
except ImportError:  # pragma: no cover - another NumPy: the public decorator
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
    else:  # the body is wrapped in np.errstate(all="ignore") (see _make_caller)
        lines += [
            "    try:",
            f"        return _body({params}){pick}",
            "    except (ValueError, IndexError) as _exc:",
            f"        raise _failed(_exc, ({params}{',' if len(inputs) == 1 else ''})) from _exc",
        ]
    return "\n".join(lines) + "\n"


# Past this many inputs the caller checks them in a loop over per-input tables instead of
# one unrolled block each: compiling 3 lines per input cost more than the rest of a
# 1,000-input build's code generation (74 of ~200 ms CPU for x1*...*x1000).
_UNROLL_MAX = 64


def _kinds(graph: Graph, inputs: Sequence[int], floats_ok: bool) -> tuple[int, ...]:
    """Per input, what the loop caller does with a Python float (its ``_KINDS``)."""
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
    return tuple(kinds)


def _loop_caller_source(graph: Graph, inputs: Sequence[int], single: bool, floats_ok: bool) -> str:
    """:func:`_caller_source` for many inputs: the same checks and conversions per input,
    read from the tables ``_DTS``, ``_SHS``, ``_PREPS`` (bound by :func:`_make_caller`)
    and ``_KINDS`` (what a Python float becomes: 0 kept, 1 ``float64``, 2 checked), with
    one C-level test for the common call where every argument is a Python float."""
    kinds = _kinds(graph, inputs, floats_ok)
    fast = "all0" if all(k == 0 for k in kinds) else "all1" if all(k == 1 for k in kinds) else ""
    pick = "[0]" if single else ""
    # (*_xs): compiling a def of 1,000 named parameters cost 5 ms, of *_xs well under 1
    # (the Function passes exactly one value per input)
    lines = [
        "# _KINDS, _DTS, _SHS, _PREPS: per-input tables bound in the namespace",
        "def _ga_call(*_xs):",
        "    _xs = list(_xs)",
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
    else:  # the body is wrapped in np.errstate(all="ignore") (see _make_caller)
        lines += [
            "    try:",
            f"        return _body(*_xs){pick}",
            "    except (ValueError, IndexError) as _exc:",
            "        raise _failed(_exc, tuple(_xs)) from _exc",
        ]
    return "\n".join(lines) + "\n"


def _prepare_any(graph: Graph, nid: int, value: Any) -> Any:
    """The interpreter's input check; another library's array (Dask's, CuPy's: anything
    with ``__array_function__``) is checked through its ``dtype`` and ``shape`` and cast
    with its own ``astype``, never converted to NumPy (that would compute a Dask array)."""
    from .interp import not_numbers, prepare_input

    if isinstance(value, np.ndarray) or not hasattr(value, "__array_function__"):
        return prepare_input(graph, nid, value)
    node = graph.node(nid)
    name, want, shape = node.name, node.dtype, node.shape
    have = np.dtype(value.dtype)
    if have.kind not in "biuf":
        raise not_numbers(f"input {name!r}", have, value)
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
    else:
        ns["_body"] = np.errstate(all="ignore")(body)
    records = graph.records()
    preps = [partial(_prepare_any, graph, nid) for nid in inputs]
    if len(inputs) > _UNROLL_MAX:  # the tables the loop caller reads
        ns.update(
            _PREPS=tuple(preps),
            _DTS=tuple(records[nid].dtype for nid in inputs),
            _SHS=tuple(records[nid].shape for nid in inputs),
            _FLOATS={float},
            _KINDS=_kinds(graph, inputs, floats_ok),
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
