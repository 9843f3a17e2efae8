"""Compiled kernels: a specialized graph run by a register VM compiled with Numba.

(Over 600 lines: the program builder, the tiers that choose which VM runs a program and
the callers share one opcode table and one load state; split, each part would reach into
the others' privates.  The VMs themselves live in ``_kernels_vm`` and ``_python_vm``.)

This is the ``backend="numba"`` execution strategy of :func:`graphad.compile` (issue 18,
parts 1 and 4: scalar graphs, and scalar graphs evaluated at many points).  The NumPy
source stays what ``f.source`` shows; this module is only another way to run the same
specialized graph, and ``f.kernels`` shows its instruction listing.

Design: a register VM, not straight-line code per graph
--------------------------------------------------------
Two designs were weighed:

(a) **A register VM compiled once.**  A specialized graph becomes an instruction array
    (``op, dst, a, b, c`` per row, register numbers after a linear-scan allocation that
    reuses the register of a value after its last use).  The interpreter loop is one
    Numba function with ``cache=True``: it is JIT-compiled once per machine and loaded
    from Numba's on-disk cache afterwards, whatever the graph.  Building a kernel costs
    what walking the graph costs, no LLVM at all: a new graph in a process that has the
    VM loaded was built, compiled and called in 7 ms (a 20-op scalar graph).
(b) **Straight-line Numba code per graph**, cached by graph hash.  It removes the VM's
    dispatch (one jump-table branch per instruction) but pays an LLVM compile per new
    graph: tens of milliseconds for a small graph, far more for the 10^4-line gradients
    of the issue's targets (LLVM's passes grow faster than linearly on one huge basic
    block), and a graph-hash disk cache only helps the second process.

(a) is taken: the first-call latency of every graph stays bounded (no per-graph LLVM
compile), and its per-operation cost is already at CasADi's (CasADi's SX functions are
a register VM too).  Measured on the issue's workloads (2-core shared AMD EPYC, each
run paired in one process, three runs of ``python -m benchmarks.numba_backend``): one
gradient of sin^1000(x) took 0.78-0.82x CasADi's time, of x1*...*x1000 0.89-1.03x, of
the scalar Rosenbrock at n=1000 1.01-1.18x (the NumPy backend on the default path:
11-23x, 6.9-9.5x, 1.2-2.8x).  At 1000 inputs and 1000 outputs most of the call
is Python packing 1000 floats and boxing 1000 float64 results; the VM's own pass took
about 10 us of it (x1*...*x1000, profiled).  Combining by size would give (b) only to
tiny graphs, where the call overhead (argument packing, a Numba dispatch) dominates the
arithmetic, so it would not change the per-call figure; it is left out.

What runs where, ``backend="auto"``: the VM where it was measured faster than the
NumPy code, i.e. scalar graphs of :data:`AUTO_MIN_INSTRUCTIONS` or more operations (a
1-op graph: 2.0 us per call on the VM, 1.3 us as NumPy lines; 16 ops: 3.2 vs 5.5 us).
Points mode runs only when ``backend="numba"`` asks for it: on the test machine it lost
to NumPy's SIMD ufuncs and numexpr (rosen2d gradient at 10^5 points: 5 ms vs 2.3 ms),
partly from libm's scalar transcendental calls, partly from first-touch page faults on
its packed input buffer, which are slow in this sandbox.  Where every operation of such a
graph fuses, ``backend="numba"`` now runs it as one fused loop of
:mod:`graphad.backends.fused` instead of the VM's blocks (the 10^5-point gradient of
``benchmarks/numba_backend.py``: 4.7 ms against the VM's 11.1 ms and NumPy's 13.9 ms,
one process on a busy machine); the points VM stays for graphs with other operations.

Tiers: ``backend="auto"`` starts a scalar kernel in the Python interpreter
(:mod:`graphad.backends._python_vm`, the same instructions, about 0.1 us each) and moves
it to this VM once the process has spent :data:`TIER_UP_SECONDS` interpreting
kernels (at once if this VM is loaded already); ``Function.backend`` says ``"vm"`` or
``"numba"`` (:class:`Runner`).  A process that builds a gradient and calls it a few
times never pays the first-use costs below.

First use in a process costs importing Numba (0.5-1.3 s here) and loading the VM from
the disk cache (0.1-1.3 s, LLVM's start-up included); the very first use on a machine
JIT-compiles the VM (6-7 s here, once).  ``import graphad`` never imports Numba.

Scope and semantics
-------------------
A graph runs here when every value is a float64 (booleans of comparisons are held as
0.0/1.0 inside, never returned) and every op is in :data:`OPCODES`; two shapes:

* **scalar**: every value is 0-d.  One VM pass per call.
* **points**: every value has one shape ``S`` (0-d inputs and constants broadcast), so
  the graph is a scalar graph applied at ``prod(S)`` points (a gradient field, the
  checker's sweep).  The VM runs once per block of points, each instruction a tight loop
  over the block: one compiled loop, no temporaries of size ``prod(S)``.

Anything else (float32 or integer values, reductions, matmul, slices, custom ops) runs
on the NumPy backend: the fall-back is per graph and silent.  Float32 is left to NumPy on
purpose: NumPy's float32 transcendental functions are its own SIMD code, and float32
results must keep float32 rounding exactly.

The operations follow NumPy's float64 semantics: IEEE arithmetic in the same order as
the NumPy program (``+ - * /``, ``sqrt``, ``abs``, comparisons, ``where`` give the same
bits), ``maximum``/``minimum`` propagate NaN and resolve ties as NumPy does, ``sign(-0.0)``
is ``0.0``, division by zero gives ``inf``/``nan`` (no exception, no warning).  The
rounding differences, stated: transcendental functions (``sin``, ``exp``, ``log``,
``pow`` ...) call the C library's ``libm`` where NumPy may use its own SIMD
implementations (on AVX-512 machines), so those results can differ in the last one or
two units in the last place; ``x ** 2`` is ``x * x`` (what NumPy computes for arrays).
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["OPCODES", "AUTO_MIN_INSTRUCTIONS", "Kernel", "available", "build", "listing"]

# op name -> (opcode, number of arguments).  The VM's branch order follows this table.
OPCODES: dict[str, tuple[int, int]] = {
    "copy": (0, 1),
    "add": (1, 2),
    "subtract": (2, 2),
    "multiply": (3, 2),
    "divide": (4, 2),
    "negative": (5, 1),
    "power": (6, 2),
    "square": (7, 1),
    "sin": (8, 1),
    "cos": (9, 1),
    "tan": (10, 1),
    "arcsin": (11, 1),
    "arccos": (12, 1),
    "arctan": (13, 1),
    "sinh": (14, 1),
    "cosh": (15, 1),
    "tanh": (16, 1),
    "exp": (17, 1),
    "expm1": (18, 1),
    "log": (19, 1),
    "log1p": (20, 1),
    "log2": (21, 1),
    "log10": (22, 1),
    "sqrt": (23, 1),
    "abs": (24, 1),
    "sign": (25, 1),
    "maximum": (26, 2),
    "minimum": (27, 2),
    "less": (28, 2),
    "less_equal": (29, 2),
    "greater": (30, 2),
    "greater_equal": (31, 2),
    "equal": (32, 2),
    "not_equal": (33, 2),
    "where": (34, 3),
    "clip": (35, 3),
    "relu": (36, 1),
}
_NAMES = {code: name for name, (code, _) in OPCODES.items()}
# ops that move a value unchanged when its shape and dtype stay (or a 0-d value is
# broadcast over the points): one "copy", or nothing at all
_PASS = frozenset({"broadcast_to", "reshape", "sum_to", "astype_like", "sum", "transpose"})
# backend="auto" runs a graph here only where that was measured faster than its NumPy
# code (benchmarks/numba_backend.py): scalar graphs from this many instructions on.
# Below it NumPy's few lines win (a VM call costs about a microsecond of packing and
# dispatch); points mode lost to NumPy's SIMD loops on the AVX-512 test machine, so it
# runs only when backend="numba" asks for it.
AUTO_MIN_INSTRUCTIONS = 8
BLOCK = 256  # points per VM pass in points mode: registers stay in L1/L2
_F64 = np.dtype(np.float64)
_BOOL = np.dtype(bool)
# comparisons give booleans (0.0/1.0 in a register); every other VM op a float64
_CMP = frozenset({"less", "less_equal", "greater", "greater_equal", "equal", "not_equal"})
# ops whose booleans (0.0/1.0) the VM computes exactly as NumPy does on booleans: and
# (multiply), or (maximum), min and choice.  Not add: NumPy's True + True is True, the
# VM's 2.0
_BOOL_SAFE = frozenset({"multiply", "maximum", "minimum", "where"})
# what the unchecked path packs when nothing has sorted the values by type first
_PLAIN = frozenset({float, int, bool, np.float64, np.ndarray})


# -- the VM (graphad/backends/_kernels_vm.py: compiled once, cached on disk) -----------------

_LOCK = threading.Lock()
_STATE: dict[str, Any] = {}  # "vm": (vm_scalar, vm_points) once compiled; "error": why not


def _load() -> tuple[Any, Any]:
    """The two VM entry points, compiled with Numba (from its disk cache when it can)."""
    import numba  # the optional dependency: graphad[fast]

    del numba  # imported first so that a missing Numba is an ImportError here
    from . import _kernels_vm

    # one call loads the scalar VM's machine code (from the disk cache, else the JIT) now,
    # so that available() accounts for it; the points VM loads on its first use
    code = np.zeros((1, 5), dtype=np.int32)
    _kernels_vm.vm_scalar(
        code, np.zeros(1), np.zeros(0), 1, np.zeros(1, dtype=np.int32), np.empty(1)
    )
    return _kernels_vm.vm_scalar, _kernels_vm.vm_points


def _vm() -> tuple[Any, Any] | None:
    """The compiled VM, or None when Numba cannot be imported (then NumPy runs)."""
    found = _STATE.get("vm")
    if found is not None or "error" in _STATE:
        return found
    with _LOCK:
        if "vm" not in _STATE and "error" not in _STATE:
            try:
                _STATE["vm"] = _load()
            except ImportError as exc:
                _STATE["error"] = f"numba is not installed ({exc})"
    return _STATE.get("vm")


def available() -> bool:
    """True when the Numba backend can run (Numba imports)."""
    return _vm() is not None


# -- tiers: the Python VM first, Numba's once it pays -----------------------------------------

# A backend="auto" scalar kernel runs in the Python VM (:mod:`._python_vm`) until the
# process has spent this long interpreting kernels, then on Numba's VM: the ski-rental
# rule, with the price what loading Numba's VM cost a process on the test machine
# (0.46-0.53 s: importing Numba, starting LLVM, loading the cached machine code).
# Renting until the rent paid equals the price costs at most twice what the better
# choice made with hindsight costs; the ~140 MB Numba's runtime holds are paid only by
# processes that run kernels that long.  backend="numba" loads Numba's VM at once.
TIER_UP_SECONDS = 0.5
_SPENT = [0.0]  # seconds this process has spent in the Python VM
# what an instruction costs the Python VM (measured: 98 ns on the test machine, a
# 6,000-instruction gradient): a kernel whose one run would cost more than what is left of
# TIER_UP_SECONDS goes to Numba's VM at once (the first rent is past the price), and a
# 10^7-instruction program is never turned into Python objects (about 1 GB of them)
SECONDS_PER_INSTRUCTION = 1e-7


class Runner:
    """Runs one scalar kernel with the call signature of the Numba VM's ``vm_scalar``:
    by the Python VM first (``tier == "vm"``), by Numba's (``"numba"``) once this process
    has spent :data:`TIER_UP_SECONDS` in the Python VM, or at once when Numba's VM is
    loaded already or one run would take longer than what is left of that time.  Without
    Numba it stays in the Python VM."""

    __slots__ = ("run", "tier", "_prog", "_regs", "_first", "_outs")

    def __init__(self, kernel: Any) -> None:
        vm = _STATE.get("vm")
        once = kernel.code.shape[0] * SECONDS_PER_INSTRUCTION  # one interpreted run
        if vm is None and "error" not in _STATE and once >= TIER_UP_SECONDS - _SPENT[0]:
            vm = _vm()  # one run would cost more than loading Numba's VM
        if vm is not None:
            self.run, self.tier = vm[0], "numba"
            return
        from ._python_vm import prepare

        self._prog = prepare(kernel.code, _NAMES)
        nc = kernel.consts.shape[0]
        self._regs = kernel.consts.tolist() + [0.0] * (kernel.nreg - nc)
        self._first = nc
        self._outs = kernel.outs.tolist()
        self.run, self.tier = self._interpret, "vm"

    def _interpret(
        self, code: Any, consts: Any, x: np.ndarray, nreg: int, outs: Any, res: np.ndarray
    ) -> None:
        from ._python_vm import run

        start = time.perf_counter()
        res[:] = run(self._prog, self._regs, x.tolist(), self._first, self._outs)
        _SPENT[0] += time.perf_counter() - start
        if _SPENT[0] >= TIER_UP_SECONDS or "vm" in _STATE:
            self._tier_up()

    def _tier_up(self) -> None:
        if "error" in _STATE:
            return  # no Numba here: the Python VM it stays
        vm = _vm()  # the first kernel to get here loads it (under a lock) for all
        if vm is not None:
            self.run, self.tier = vm[0], "numba"
            self._prog = self._regs = self._outs = None  # type: ignore[assignment]


# -- graph -> instructions -------------------------------------------------------------------


class Kernel:
    """A specialized graph as VM instructions, with the caller that runs it."""

    def __init__(
        self,
        mode: str,
        code: np.ndarray,
        consts: np.ndarray,
        nreg: int,
        outs: np.ndarray,
        n_inputs: int,
        shape: tuple[int, ...],
        input_shapes: Sequence[tuple[int, ...]],
    ) -> None:
        self.mode = mode
        self.code = code
        self.consts = consts
        self.nreg = nreg
        self.outs = outs
        self.n_inputs = n_inputs
        self.shape = shape
        self.input_shapes = tuple(input_shapes)

    def listing(self) -> str:
        return listing(self)


def _const_float(value: Any) -> float | None:
    """A constant's value as a float64, if it is a real scalar (bools as 0/1)."""
    arr = np.asarray(value)
    if arr.ndim != 0 or arr.dtype.kind not in "biuf":
        return None
    if arr.dtype.kind == "f" and arr.dtype != _F64:
        return None  # a float32 constant would round differently
    v = float(arr)
    if arr.dtype.kind in "iu" and v != arr.item():
        return None  # an integer that float64 cannot hold
    return v


def build(graph: Any, outputs: Sequence[int], inputs: Sequence[int]) -> Kernel | None:
    """The kernel for a specialized graph, or None if the graph is not one the VM runs."""
    from ..core.graph import topo_order

    # records read by attribute (node.shape), not as mappings: this walk is per node of
    # every compiled graph, and the mapping view cost half of it
    nodes = graph.records()
    order = topo_order(graph, outputs)
    recs = [nodes[n] for n in order]
    shape: tuple[int, ...] | None = None  # the points shape, () for a scalar graph
    for node in recs:
        s = node.shape
        if s is None:
            return None
        if s != ():
            if shape is None:
                shape = s
            elif s != shape:
                return None
    shape = shape or ()
    mode = "scalar" if shape == () else "points"
    for o in outputs:
        if nodes[o].shape != shape or nodes[o].dtype != _F64:
            return None
    in_shapes = []
    for i in inputs:
        node = nodes[i]
        if node.dtype != _F64 or node.shape not in ((), shape):
            return None
        in_shapes.append(node.shape)
    # registers: constants first, then inputs, then values (reused after their last use)
    reg: dict[int, int] = {}
    consts: list[float] = []
    const_reg: dict[float | tuple, int] = {}
    for n, node in zip(order, recs, strict=True):
        if node.op != "constant":
            continue
        v = _const_float(node.value)
        if v is None:
            return None
        key = (math.copysign(1.0, v), v) if v == v else ("nan",)
        if key not in const_reg:
            const_reg[key] = len(consts)
            consts.append(v)
        reg[n] = const_reg[key]
    nc = len(consts)
    for k, i in enumerate(inputs):
        reg[i] = nc + k
    # what each instruction is: (node, op name, argument node ids)
    steps: list[tuple[int, str, list[int]]] = []
    alias: dict[int, int] = {}  # a pass-through node -> the node whose register holds it
    ok_dtypes = (_F64, _BOOL)
    for n, node in zip(order, recs, strict=True):
        op = node.op
        if op == "constant" or op == "input":
            continue
        if node.dtype not in ok_dtypes:
            return None
        if node.dtype == _BOOL and op not in _BOOL_SAFE and op not in _CMP and op not in _PASS:
            return None  # NumPy's boolean arithmetic: the NumPy code runs it
        args = [alias.get(a, a) for a in node.args]
        for a in args:
            if nodes[a].dtype not in ok_dtypes:
                return None
        if op in _PASS:
            if len(args) != 1 and op not in ("broadcast_to", "sum_to", "astype_like"):
                return None
            src = nodes[args[0]]
            if op == "astype_like" and node.dtype != _F64 and src.dtype != _BOOL:
                return None
            if op == "sum" and src.shape != node.shape:
                return None  # a real reduction
            if op == "transpose" and len(node.shape) > 1:
                return None
            if op == "reshape" and src.shape != node.shape:
                return None
            if op == "sum_to" and src.shape != node.shape:
                return None
            if src.shape == node.shape or src.shape == ():
                if src.dtype == _BOOL and node.dtype == _F64:
                    alias[n] = args[0]  # 0.0/1.0 already
                elif src.dtype == node.dtype:
                    alias[n] = args[0]
                else:
                    return None
                continue
            return None
        if op == "relu":
            args = [args[0], -1]  # maximum(x, 0.0)
        spec = OPCODES.get(op)
        if spec is None:
            return None
        if (
            op == "power"
            and nodes[args[1]].op == "constant"
            and _const_float(nodes[args[1]].value) == 2.0
        ):
            op, args = "square", [args[0]]
            spec = OPCODES[op]
        elif (
            op == "power"
            and mode == "points"
            and nodes[node.args[0]].shape == shape
            and nodes[args[1]].op == "constant"
            and _const_float(nodes[args[1]].value) == 0.5
        ):
            # an array's ``** 0.5`` is NumPy's sqrt (its fast path for that exponent):
            # sqrt(-inf) is nan and sqrt(-0.0) is -0.0, where pow gives inf and 0.0.  The
            # base as NumPy sees it decides (``node.args``, not the aliases): a 0-d value
            # broadcast to the points (``broadcast_to(x, S) ** 0.5``) is an array there
            op, args = "sqrt", [args[0]]
            spec = OPCODES[op]
        if len(args) != spec[1] and op != "relu":
            return None
        steps.append((n, op, args))
    if any(op == "relu" for _, op, _ in steps):
        key = (1.0, 0.0)
        if key not in const_reg:
            # constants take the low registers: shift inputs up by one
            const_reg[key] = len(consts)
            consts.append(0.0)
            nc += 1
            for k, i in enumerate(inputs):
                reg[i] = nc + k
        zero = const_reg[key]
    else:
        zero = 0
    outset = {alias.get(o, o) for o in outputs}
    last: dict[int, int] = {}
    for pos, (_, _, args) in enumerate(steps):
        for a in args:
            last[a] = pos
    free: list[int] = []
    top = nc + len(inputs)
    rows = []
    leaf = ("constant", "input")
    for pos, (n, op, args) in enumerate(steps):
        regs = [zero if a == -1 else reg[a] for a in args]
        for a in args:  # values dying here free their register (read before the write)
            if last.get(a) == pos and a not in outset and a in reg and nodes[a].op not in leaf:
                free.append(reg.pop(a))
                del last[a]
        if free:
            d = free.pop()
        else:
            d = top
            top += 1
        reg[n] = d
        while len(regs) < 3:
            regs.append(regs[0] if regs else 0)
        rows.append((OPCODES[op][0], d, *regs))
    code = np.array(rows, dtype=np.int32).reshape(len(rows), 5)
    outs = np.array([reg[alias.get(o, o)] for o in outputs], dtype=np.int32)
    return Kernel(
        mode,
        code,
        np.array(consts, dtype=np.float64),
        max(top, 1),
        outs,
        len(inputs),
        shape,
        in_shapes,
    )


def listing(kernel: Kernel) -> str:
    """The kernel's instructions, one a line (``r5 = multiply r3 r4``), after a header."""
    nc = kernel.consts.shape[0]
    lines = [
        f"# graphad register VM (Numba), {kernel.mode} mode"
        + (f" over points of shape {kernel.shape}" if kernel.mode == "points" else ""),
        f"# {kernel.code.shape[0]} instructions, {kernel.nreg} registers: "
        f"{nc} constant(s) first, then the {kernel.n_inputs} input(s) x0, x1, ... in order",
    ]
    for k, v in enumerate(kernel.consts.tolist()):
        lines.append(f"r{k} = {v!r}")
    for row in kernel.code.tolist():
        op, d, a, b, c = row
        name = _NAMES[op]
        nargs = OPCODES[name][1] if name != "relu" else 1
        lines.append(f"r{d} = {name} " + " ".join(f"r{x}" for x in (a, b, c)[:nargs]))
    lines.append("return " + ", ".join(f"r{o}" for o in kernel.outs.tolist()))
    return "\n".join(lines) + "\n"


def make_body(kernel: Kernel, single: bool, runner: Runner | None = None) -> Any | None:
    """A function of the inputs (x0, x1, ...) running the kernel; None without Numba
    (unless a scalar kernel's ``runner`` is given, which may be the Python VM).

    Returns what the NumPy body returns: a tuple of float64 scalars (scalar mode) or of
    arrays of the points' shape; the caller wrapping it checks inputs first.
    """
    code, consts, outs, nreg = kernel.code, kernel.consts, kernel.outs, kernel.nreg
    n_in, n_out = kernel.n_inputs, outs.shape[0]
    if kernel.mode == "scalar":
        if runner is None:
            if _vm() is None:
                return None
            runner = Runner(kernel)
        empty = np.empty(0)

        def body(*xs: Any) -> Any:
            x = np.array(xs, dtype=np.float64) if xs else empty
            res = np.empty(n_out)
            runner.run(code, consts, x, nreg, outs, res)
            return tuple(res)

        return body
    vm = _vm()
    if vm is None:
        return None
    vm_points = vm[1]
    shape = kernel.shape
    npts = math.prod(shape)

    def body_points(*xs: Any) -> Any:
        x = np.empty((n_in, npts))
        for k, v in enumerate(xs):
            x[k] = np.reshape(v, -1) if np.ndim(v) else v
        res = np.empty((n_out, npts))
        vm_points(code, consts, x, nreg, outs, BLOCK, res)
        return tuple(res[k].reshape(shape) for k in range(res.shape[0]))

    return body_points


class Attached(NamedTuple):
    """What :func:`attach` gives the compiled Function (see there)."""

    body: Any
    kernel: Kernel
    fast: Any  # checked caller -> caller with an unchecked path for float64 numbers
    floats: Any  # checked caller -> caller for arguments known to be Python floats
    runner: (
        Runner | None
    )  # a scalar kernel's: which VM runs it now (Runner.tier): which VM runs it now (Runner.tier)


def attach(
    graph: Any,
    outputs: Sequence[int],
    inputs: Sequence[int],
    single: bool,
    numpy_body: Any,
    *,
    auto: bool = False,
    kernel: Kernel | None = None,
) -> Any:
    """What :class:`~graphad.backends.function._Compiled` needs to run a specialized graph
    here (an :class:`Attached`), or None: NumPy runs it.

    ``body(x0, ...)`` replaces ``numpy_body`` behind the checked caller (which it still
    calls for another library's arrays, e.g. Dask's, that must stay lazy).  In scalar mode
    ``fast(checked)`` wraps that caller with an unchecked path for the common call (numbers
    that NumPy packs into one float64 array; with ``guard``, only values of plain types,
    for calls that no dispatch has sorted by type), and ``floats(checked)`` one for arguments
    the Function's dispatch has seen to be Python floats (packed by :mod:`array`, which
    takes them as they are); every other call goes to ``checked``.

    ``auto``: only where the kernel was measured faster than the NumPy code (see
    :data:`AUTO_MIN_INSTRUCTIONS`); ``backend="numba"`` takes every graph the VM covers.
    ``kernel``: the program, already made (``_scalar_vm.build_scalar``).
    """
    if kernel is None:  # (else made by _scalar_vm.build_scalar from the user's graph)
        kernel = build(graph, outputs, inputs)  # first: graphs the VM cannot run never load it
    if kernel is None:
        return None
    if auto and (kernel.mode != "scalar" or kernel.code.shape[0] < AUTO_MIN_INSTRUCTIONS):
        return None
    # auto: the Python VM until it pays to load Numba's (Runner); numba: Numba's at once
    if not auto and _vm() is None:
        return None
    runner = None
    if kernel.mode == "scalar":
        runner = Runner(kernel)
    vm_body = make_body(kernel, single, runner)
    if vm_body is None:
        return None

    def body(*xs: Any) -> Any:
        for v in xs:
            if type(v) not in _PLAIN and not isinstance(v, np.generic):
                return numpy_body(*xs)  # not NumPy's: the NumPy code keeps it what it is
        return vm_body(*xs)

    if kernel.mode != "scalar" or kernel.n_inputs == 0:
        return Attached(body, kernel, None, None, runner)
    assert runner is not None
    code, consts, outs, nreg = kernel.code, kernel.consts, kernel.outs, kernel.nreg
    want = (kernel.n_inputs,)
    n_out = outs.shape[0]
    empty = np.empty

    def fast(checked: Any, guard: bool = False) -> Any:
        def call(*xs: Any) -> Any:
            if guard and not _PLAIN.issuperset(map(type, xs)):
                return checked(*xs)  # e.g. a lazy Dask array, which np.array would compute
            try:
                x = np.array(xs)
            except (ValueError, TypeError):
                return checked(*xs)
            if x.dtype != _F64 or x.shape != want:
                return checked(*xs)  # arrays, integers only, other types: checked there
            r = empty(n_out)
            runner.run(code, consts, x, nreg, outs, r)
            return r[0] if single else tuple(r)

        return call

    frombuffer = np.frombuffer

    def floats(checked: Any) -> Any:
        def call(*xs: float) -> Any:
            r = empty(n_out)
            runner.run(code, consts, frombuffer(array("d", xs)), nreg, outs, r)
            return r[0] if single else tuple(r)

        return call

    return Attached(body, kernel, fast, floats, runner)
