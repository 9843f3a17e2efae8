"""The scalar register VM of :mod:`graphad.backends.kernels`, run by the Python interpreter.

Why a second VM: Numba's compiled VM costs a process about 0.5 s and 140 MB the first
time it runs (importing Numba, starting LLVM, loading the machine code).  A user who
builds a gradient and calls it a few times (``graphad grad``, one check, one plot)
never earns that back, and on a scalar Rosenbrock at n=1000 it was most of the
process's peak memory (issue 19: 200 MB against CasADi's 45 MB).  So a scalar kernel
starts here, on the same instructions, and ``kernels.Runner`` moves it to the Numba VM
once the process has spent as long interpreting kernels as loading Numba costs
(``kernels.TIER_UP_SECONDS``): the ski-rental rule, at most twice the better choice
made with hindsight.  Without Numba it stays here.

Each instruction is one call of a C function of :mod:`math` or :mod:`operator` on
Python floats, about 0.1 us, against the Numba VM's few nanoseconds, and a tenth of
what one NumPy call on a 0-d value costs.  The results are the Numba VM's, bit for bit
where both call the C library (``math.sin`` is ``libm``'s ``sin``, as in Numba): where
Python raises instead of returning an IEEE value (a division by zero, ``log(0)``,
``exp(1000)``, ``sqrt(-1)``), the instruction is done again by NumPy's ufunc on a
float64, which gives the IEEE result (``inf``, ``-inf``, ``nan``), as Numba's
``error_model="numpy"`` does.  The loop never stops on an exception: it redoes that one
instruction and goes on.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["prepare", "run"]


def _sign(x: float) -> float:
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    if x == 0.0:
        return 0.0
    return x  # nan


def _maximum(x: float, y: float) -> float:
    if x != x:
        return x
    if y != y:
        return y
    return x if x > y else y


def _minimum(x: float, y: float) -> float:
    if x != x:
        return x
    if y != y:
        return y
    return x if x < y else y


def _where(x: float, y: float, z: float) -> float:
    return y if x != 0.0 else z


def _clip(x: float, lo: float, hi: float) -> float:
    if x != x:
        m = x
    elif lo != lo:
        m = lo
    else:
        m = lo if lo > x else x  # a tie (0.0 vs -0.0) keeps x, as NumPy's 0-d clip
    if m != m:
        return m
    if hi != hi:
        return hi
    return hi if hi < m else m


def _compare(op: Callable[[float, float], bool]) -> Callable[[float, float], float]:
    def compare(x: float, y: float) -> float:
        return 1.0 if op(x, y) else 0.0

    return compare


def _copy(x: float) -> float:
    return x


def _square(x: float) -> float:
    return x * x


# op name -> (arity, function on Python floats).  Every name of kernels.OPCODES.
_FUNCTIONS: dict[str, tuple[int, Callable[..., float]]] = {
    "copy": (1, _copy),
    "add": (2, operator.add),
    "subtract": (2, operator.sub),
    "multiply": (2, operator.mul),
    "divide": (2, operator.truediv),
    "negative": (1, operator.neg),
    "power": (2, math.pow),  # C's pow, as Numba's and np.float64's ``**``
    "square": (1, _square),
    "sin": (1, math.sin),
    "cos": (1, math.cos),
    "tan": (1, math.tan),
    "arcsin": (1, math.asin),
    "arccos": (1, math.acos),
    "arctan": (1, math.atan),
    "sinh": (1, math.sinh),
    "cosh": (1, math.cosh),
    "tanh": (1, math.tanh),
    "exp": (1, math.exp),
    "expm1": (1, math.expm1),
    "log": (1, math.log),
    "log1p": (1, math.log1p),
    "log2": (1, math.log2),
    "log10": (1, math.log10),
    "sqrt": (1, math.sqrt),
    "abs": (1, abs),
    "sign": (1, _sign),
    "maximum": (2, _maximum),
    "minimum": (2, _minimum),
    "less": (2, _compare(operator.lt)),
    "less_equal": (2, _compare(operator.le)),
    "greater": (2, _compare(operator.gt)),
    "greater_equal": (2, _compare(operator.ge)),
    "equal": (2, _compare(operator.eq)),
    "not_equal": (2, _compare(operator.ne)),
    "where": (3, _where),
    "clip": (3, _clip),
    "relu": (2, _maximum),  # maximum(x, 0.0): the VM's relu row holds the zero as b
}

# the functions that can raise on a float argument, and the ufunc giving the IEEE value then
_UFUNC: dict[Any, Any] = {
    operator.truediv: np.divide,
    math.pow: lambda x, y: x**y,  # np.float64's ``**``: C's pow in IEEE arithmetic
    math.tan: np.tan,
    math.asin: np.arcsin,
    math.acos: np.arccos,
    math.sinh: np.sinh,
    math.cosh: np.cosh,
    math.exp: np.exp,
    math.expm1: np.expm1,
    math.log: np.log,
    math.log1p: np.log1p,
    math.log2: np.log2,
    math.log10: np.log10,
    math.sqrt: np.sqrt,
    math.sin: np.sin,  # sin(inf), cos(inf): nan
    math.cos: np.cos,
}


def prepare(code: np.ndarray, names: dict[int, str]) -> list[tuple]:
    """The instruction rows ``(op, dst, a, b, c)`` as ``(arity, function, dst, a, b, c)``
    tuples of Python objects, what :func:`run` reads (``names``: opcode -> op name)."""
    table = {code_: _FUNCTIONS[name] for code_, name in names.items()}
    return [(*table[op], d, a, b, c) for op, d, a, b, c in code.tolist()]


def _ieee(f: Any, args: tuple[float, ...]) -> float:
    """What ``f`` gives in IEEE arithmetic where Python raised: NumPy's ufunc on float64."""
    with np.errstate(all="ignore"):
        return float(_UFUNC[f](*map(np.float64, args)))


def run(prog: list[tuple], regs: list[float], xs: list[float], first: int, outs: list[int]) -> list:
    """Run ``prog`` with registers ``regs`` (constants filled; a fresh copy is used) and
    inputs ``xs`` from register ``first`` on; the values of registers ``outs``."""
    r = regs.copy()
    r[first : first + len(xs)] = xs
    rows = iter(prog)
    while True:
        try:
            for k, f, d, a, b, c in rows:
                if k == 2:
                    r[d] = f(r[a], r[b])
                elif k == 1:
                    r[d] = f(r[a])
                else:
                    r[d] = f(r[a], r[b], r[c])
            break
        except (ArithmeticError, ValueError):  # the row just read: redone in IEEE arithmetic
            r[d] = _ieee(f, (r[a], r[b])[:k])  # raising functions have 1 or 2 arguments
    return [r[o] for o in outs]
