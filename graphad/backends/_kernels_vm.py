"""The register VM of :mod:`graphad.backends.kernels`, as Numba functions.

Imported only when the Numba backend first runs (it imports Numba).  ``cache=True``
keeps the compiled machine code on disk (Numba's cache: ``__pycache__`` beside this
file, or the user's cache directory when that is not writable), so only the first
process on a machine pays the JIT.  Opcodes are the numbers of
:data:`graphad.backends.kernels.OPCODES`; registers hold float64 (booleans as 0.0/1.0).
``error_model="numpy"``: a division by zero gives inf/nan, as in NumPy, not an exception.
"""

import math

import numba
import numpy as np

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _op(op, x, y, z):
    if op == 3:
        return x * y
    elif op == 1:
        return x + y
    elif op == 2:
        return x - y
    elif op == 4:
        return x / y
    elif op == 5:
        return -x
    elif op == 8:
        return math.sin(x)
    elif op == 9:
        return math.cos(x)
    elif op == 7:
        return x * x
    elif op == 6:
        return x**y
    elif op == 0:
        return x
    elif op == 10:
        return math.tan(x)
    elif op == 11:
        return math.asin(x)
    elif op == 12:
        return math.acos(x)
    elif op == 13:
        return math.atan(x)
    elif op == 14:
        return math.sinh(x)
    elif op == 15:
        return math.cosh(x)
    elif op == 16:
        return math.tanh(x)
    elif op == 17:
        return math.exp(x)
    elif op == 18:
        return math.expm1(x)
    elif op == 19:
        return math.log(x)
    elif op == 20:
        return math.log1p(x)
    elif op == 21:
        return math.log2(x)
    elif op == 22:
        return math.log10(x)
    elif op == 23:
        return math.sqrt(x)
    elif op == 24:
        return abs(x)
    elif op == 25:
        if x > 0.0:
            return 1.0
        elif x < 0.0:
            return -1.0
        elif x == 0.0:
            return 0.0
        return x
    elif op == 26 or op == 36:
        if x != x:
            return x
        if y != y:
            return y
        return x if x > y else y
    elif op == 27:
        if x != x:
            return x
        if y != y:
            return y
        return x if x < y else y
    elif op == 28:
        return 1.0 if x < y else 0.0
    elif op == 29:
        return 1.0 if x <= y else 0.0
    elif op == 30:
        return 1.0 if x > y else 0.0
    elif op == 31:
        return 1.0 if x >= y else 0.0
    elif op == 32:
        return 1.0 if x == y else 0.0
    elif op == 33:
        return 1.0 if x != y else 0.0
    elif op == 34:
        return y if x != 0.0 else z
    elif op == 35:
        if x != x:
            m = x
        elif y != y:
            m = y
        else:
            m = y if y > x else x  # a tie (0.0 vs -0.0) keeps x, as NumPy's 0-d clip
        if m != m:
            return m
        if z != z:
            return z
        return z if z < m else m
    return math.nan


@_jit
def vm_scalar(code, consts, xs, nreg, outs, res):
    # res is passed in: an array made here and returned costs more than a small graph
    r = np.empty(nreg)
    nc = consts.shape[0]
    for k in range(nc):
        r[k] = consts[k]
    for k in range(xs.shape[0]):
        r[nc + k] = xs[k]
    for i in range(code.shape[0]):
        r[code[i, 1]] = _op(code[i, 0], r[code[i, 2]], r[code[i, 3]], r[code[i, 4]])
    for k in range(outs.shape[0]):
        res[k] = r[outs[k]]


@_jit
def vm_points(code, consts, xs, nreg, outs, block, res):
    npts = xs.shape[1]
    r = np.empty((nreg, block))
    nc = consts.shape[0]
    for k in range(nc):
        r[k, :] = consts[k]
    for s in range(0, npts, block):
        n = min(block, npts - s)
        for k in range(xs.shape[0]):
            for j in range(n):
                r[nc + k, j] = xs[k, s + j]
        for i in range(code.shape[0]):
            op = code[i, 0]
            d = code[i, 1]
            a = code[i, 2]
            b = code[i, 3]
            c = code[i, 4]
            if op == 3:
                for j in range(n):
                    r[d, j] = r[a, j] * r[b, j]
            elif op == 1:
                for j in range(n):
                    r[d, j] = r[a, j] + r[b, j]
            elif op == 2:
                for j in range(n):
                    r[d, j] = r[a, j] - r[b, j]
            else:
                for j in range(n):
                    r[d, j] = _op(op, r[a, j], r[b, j], r[c, j])
        for k in range(outs.shape[0]):
            for j in range(n):
                res[k, s + j] = r[outs[k], j]
