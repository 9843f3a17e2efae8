"""Run the peer-suite items against graphad and classify each one.

For each :class:`~benchmarks.peer_suite.items.Item`:

1. NumPy evaluates the reference (``fn(numpy)`` or ``ref(numpy)``).  If NumPy itself
   rejects the arguments the item is ``n/a`` and not counted.
2. graphad's ``jit`` of the same function must give NumPy's values, shapes and
   dtypes (NaN where NumPy has NaN).
3. With ``g = sum_i sum(w_i * out_i)`` for fixed random ``w_i``: ``ga.grad(g)`` must
   match a 4-point central difference of the NumPy ``g`` (every element), keep the
   argument's dtype, and ``ga.jvp(g)`` along a random direction must match the
   directional difference (forward and reverse mode, as autograd and JAX check).
4. For ``order`` k >= 2: the k-th directional derivative along the same direction,
   taken as k nested ``ga.grad`` of traced functions, must match a k-th central
   difference of the NumPy ``g``.

Status: ``pass``; ``wrong`` (a number, shape or dtype differs); ``crash`` (any
exception other than a clear refusal); ``unsupported`` (graphad lacks the name, or
raises a :class:`graphad.GraphadError` saying it does not support the input --
complex numbers, say).
"""

from __future__ import annotations

import math
import re
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .items import Arg, Item

__all__ = ["Result", "run_item", "run"]

_UNSUPPORTED = re.compile(
    r"not supported|unsupported|does not support|complex|not implemented", re.I
)


class _NumpyNS:
    """NumPy plus the few SciPy functions graphad offers under NumPy-like names."""

    def __getattr__(self, name: str) -> Any:
        extra = _extras()
        if name in extra:
            return extra[name]
        return getattr(np, name)


def _extras() -> dict[str, Any]:
    import scipy.special as sp

    return {
        "erf": sp.erf,
        "erfc": sp.erfc,
        "erfinv": sp.erfinv,
        "i0e": sp.i0e,
        "i1e": sp.i1e,
        "sigmoid": sp.expit,
    }


NP = _NumpyNS()


@dataclass
class Result:
    item: Item
    status: str  # pass / wrong / crash / unsupported / n/a
    detail: str = ""
    seconds: float = 0.0


class _Wrong(Exception):
    pass


def make_arg(arg: Arg, rng: np.random.Generator) -> Any:
    if arg.value is not None:
        return arg.value
    shape = () if arg.shape is None else arg.shape
    if arg.dist == "normal":
        x = rng.standard_normal(shape)
    else:
        x = arg.lo + (arg.hi - arg.lo) * rng.random(shape)
    if arg.complex:
        x = x + 0.1j * rng.standard_normal(shape)
        return (
            complex(x)
            if arg.shape is None
            else np.asarray(x, dtype=arg.dtype if arg.dtype.startswith("complex") else "complex128")
        )
    if arg.shape is None:
        return float(x)
    return np.asarray(x, dtype=arg.dtype)


def resolve(item: Item, m: Any) -> Any:
    if callable(item.fn):
        return item.fn(m)
    obj = m
    for part in item.fn.split("."):
        obj = getattr(obj, part)
    kwargs = dict(item.kwargs)
    return lambda *a: obj(*a, **kwargs)


def _outputs(y: Any) -> list[np.ndarray]:
    if isinstance(y, (list, tuple)):
        return [np.asarray(v) for v in y]
    return [np.asarray(y)]


def _float_like(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "f"


def _close(a: np.ndarray, b: np.ndarray, tol: float, nan_ok: bool = True) -> tuple[bool, float]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False, math.inf
    if a.size == 0:
        return True, 0.0
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if nan_ok and np.any(nan_a | nan_b):
        if not np.array_equal(nan_a, nan_b):
            return False, math.inf
        a, b = a[~nan_a], b[~nan_b]
        if a.size == 0:
            return True, 0.0
    inf = np.isinf(b)
    if np.any(inf):
        if not np.array_equal(a[inf], b[inf]):
            return False, math.inf
        a, b = a[~inf], b[~inf]
        if a.size == 0:
            return True, 0.0
    scale = max(1.0, float(np.max(np.abs(b))))
    err = float(np.max(np.abs(a - b))) / scale
    return err <= tol, err


def _stencil(g: Any, xs: list[Any], vs: list[Any], k: int, h: float) -> float:
    """k-th derivative of t -> g(xs + t vs) at 0 (central differences, 4th order)."""
    coeffs = {
        1: ({-2: 1.0, -1: -8.0, 1: 8.0, 2: -1.0}, 12.0),
        2: ({-2: -1.0, -1: 16.0, 0: -30.0, 1: 16.0, 2: -1.0}, 12.0),
        3: ({-3: 1.0, -2: -8.0, -1: 13.0, 1: -13.0, 2: 8.0, 3: -1.0}, 8.0),
    }[k]
    weights, denom = coeffs
    total = 0.0
    for step, wgt in weights.items():
        total += wgt * g(*[x + step * h * v for x, v in zip(xs, vs, strict=False)])
    return total / (denom * h**k)


def run_item(item: Item, ga: Any) -> Result:
    t0 = time.perf_counter()
    try:
        status, detail = _run(item, ga)
    except _Wrong as e:
        status, detail = "wrong", str(e)
    except AttributeError as e:
        msg = str(e)
        if "graphad" in msg and "has no attribute" in msg:
            status, detail = "unsupported", f"missing: {msg}"
        else:
            status, detail = "crash", f"AttributeError: {msg}"
    except ga.GraphadError as e:
        msg = f"{type(e).__name__}: {e}"
        status = "unsupported" if _UNSUPPORTED.search(str(e)) else "crash"
        detail = msg
    except Exception as e:  # anything else is a crash, whatever it is
        status, detail = "crash", f"{type(e).__name__}: {e}"
    return Result(item, status, detail[:300], time.perf_counter() - t0)


def _run(item: Item, ga: Any) -> tuple[str, str]:
    rng = np.random.default_rng(zlib.crc32(item.name.encode()))
    args = [make_arg(a, rng) for a in item.args]
    diff = list(item.argnums)
    consts = {i: a for i, a in enumerate(args) if i not in diff}
    dargs = [args[i] for i in diff]

    def merged(ds: Any) -> list[Any]:
        full = dict(consts)
        full.update(zip(diff, ds, strict=False))
        return [full[i] for i in range(len(args))]

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            f_np_raw = (item.ref or resolve_ref(item))(NP)
            y_np = f_np_raw(*args)
            outs_np = _outputs(y_np)
        except Exception as e:  # NumPy rejects this combination: not an item
            return "n/a", f"NumPy: {type(e).__name__}: {e}"
    if item.complex or any(o.dtype.kind == "c" for o in outs_np):
        # graphad must refuse clearly; any answer would be a wrong one here
        f_ga = resolve(item, ga)
        ga.jit(lambda *ds: f_ga(*merged(ds)))(*dargs)
        return "wrong", "complex input accepted without a refusal"

    f_ga = resolve(item, ga)

    def h_ga(*ds: Any) -> Any:
        return f_ga(*merged(ds))

    # 1. values
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y_ga = ga.jit(h_ga)(*dargs)
    outs_ga = _outputs(y_ga)
    if len(outs_ga) != len(outs_np):
        raise _Wrong(f"value: {len(outs_ga)} outputs, NumPy has {len(outs_np)}")
    low = any(np.asarray(a).dtype == np.float32 for a in dargs) or any(
        o.dtype == np.float32 for o in outs_np
    )
    for i, (a, b) in enumerate(zip(outs_ga, outs_np, strict=False)):
        if a.shape != b.shape:
            raise _Wrong(f"value {i}: shape {a.shape}, NumPy {b.shape}")
        if a.dtype != b.dtype:
            raise _Wrong(f"value {i}: dtype {a.dtype}, NumPy {b.dtype}")
        if b.dtype.kind in "biu":
            if not np.array_equal(a, b):
                raise _Wrong(f"value {i}: differs from NumPy")
            continue
        ok, err = _close(a, b, 1e-5 if b.dtype == np.float32 else 1e-9)
        if not ok:
            raise _Wrong(f"value {i}: max rel err {err:.2e}")

    if item.order < 1 or not dargs or not any(_float_like(o) for o in outs_np):
        return "pass", "value only"
    if item.nan_ok and any(np.isnan(o).any() for o in outs_np if _float_like(o)):
        # JAX samples some points outside the domain (NaN there, as NumPy: checked
        # above); derivatives are checked where the function is defined
        dargs = _resample_defined(item, f_np_raw, merged, dargs, rng)

    # 2. first derivatives, reverse and forward
    ws = [rng.standard_normal(o.shape) for o in outs_np]
    ws_ga = [w.astype(o.dtype) if _float_like(o) else w for w, o in zip(ws, outs_np, strict=False)]
    f_ref = item.ref(NP) if item.ref else f_np_raw

    def g_np(*ds: Any) -> float:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = _outputs(f_ref(*merged(ds)))
        return float(sum(np.sum(w * o) for w, o in zip(ws, y, strict=False) if _float_like(o)))

    def g_ga(*ds: Any) -> Any:
        y = f_ga(*merged(ds))
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        pairs = zip(ys, ws_ga, outs_np, strict=False)
        terms = [ga.sum(yi * w) for yi, w, o in pairs if _float_like(o)]
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total

    nums = tuple(range(len(dargs)))
    d64 = [np.asarray(d, dtype=np.float64) if not isinstance(d, float) else d for d in dargs]
    tol1 = 2e-2 if low else 1e-5
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grads = ga.grad(g_ga, argnums=nums)(*dargs)
    if not isinstance(grads, (list, tuple)):
        grads = (grads,)
    for j, (gj, d) in enumerate(zip(grads, dargs, strict=False)):
        want_dtype = np.asarray(d).dtype
        gj_arr = np.asarray(gj)
        if gj_arr.shape != np.shape(d):
            raise _Wrong(f"grad {j}: shape {gj_arr.shape}, argument {np.shape(d)}")
        if gj_arr.dtype != want_dtype:
            raise _Wrong(f"grad {j}: dtype {gj_arr.dtype}, argument {want_dtype}")
        if item.zero_grad:
            if np.any(gj_arr != 0):
                raise _Wrong(f"grad {j}: not zero")
            continue
        fd = _fd_grad(g_np, d64, j, low)
        ok, err = _close(gj_arr, fd, tol1)
        if not ok:
            fd2 = _fd_grad(g_np, d64, j, low, shrink=0.05)  # a kink inside the stencil?
            ok2, err2 = _close(gj_arr, fd2, tol1)
            if not ok2:
                raise _Wrong(f"grad {j}: max rel err {min(err, err2):.2e} vs finite differences")
    if item.zero_grad:
        return "pass", ""
    vs = [_direction(rng, d) for d in dargs]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, tangent = ga.jvp(g_ga, tuple(dargs), tuple(vs))
    want = _dir_fd(g_np, d64, vs, 1, low)
    ok, err = _close(np.asarray(tangent), np.asarray(want), tol1)
    if not ok:
        ok, err2 = _close(
            np.asarray(tangent), np.asarray(_dir_fd(g_np, d64, vs, 1, low, shrink=0.05)), tol1
        )
        if not ok:
            raise _Wrong(f"jvp: rel err {min(err, err2):.2e} vs finite differences")

    # 3. higher orders: nested grads of traced functions along vs
    for k in range(2, item.order + 1):
        fk = _nested(ga, g_ga, nums, vs, k - 1)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gk = ga.grad(fk, argnums=nums)(*dargs)
        if not isinstance(gk, (list, tuple)):
            gk = (gk,)
        got = float(
            sum(
                np.sum(np.asarray(a, dtype=np.float64) * np.asarray(v, dtype=np.float64))
                for a, v in _leaf_pairs(gk, vs)
            )
        )
        tol = (5e-2 if low else 1e-4) * (10 if k == 3 else 1)
        want = _dir_fd(g_np, d64, vs, k, low)
        ok, err = _close(np.asarray(got), np.asarray(want), tol)
        if not ok:
            ok, err2 = _close(
                np.asarray(got), np.asarray(_dir_fd(g_np, d64, vs, k, low, shrink=0.1)), tol
            )
            if not ok:
                raise _Wrong(
                    f"order {k}: {got!r} vs finite differences {want!r} "
                    f"(rel err {min(err, err2):.1e})"
                )
    return "pass", ""


def _resample_defined(
    item: Item, f: Any, merged: Any, dargs: list[Any], rng: np.random.Generator
) -> list[Any]:
    dargs = list(dargs)
    for _ in range(200):
        with np.errstate(all="ignore"):
            outs = _outputs(f(*merged(dargs)))
        bad = np.zeros(outs[0].shape, bool)
        for o in outs:
            bad |= np.isnan(o)
        if not bad.any():
            return dargs
        for j, num in enumerate(item.argnums):
            spec = item.args[num]
            fresh = make_arg(spec, rng)
            if np.shape(dargs[j]) == bad.shape and bad.shape:
                dargs[j] = np.where(bad, fresh, dargs[j]).astype(np.asarray(dargs[j]).dtype)
            elif bad.all() or not bad.shape or np.shape(dargs[j]) != bad.shape:
                dargs[j] = fresh
    raise _Wrong("no point where the function is defined")


def resolve_ref(item: Item) -> Any:
    return lambda m: resolve(item, m)


def _direction(rng: np.random.Generator, d: Any) -> Any:
    if isinstance(d, float):
        return float(rng.standard_normal())
    if isinstance(d, list):  # a (nested) list argument: a tangent of the same structure
        return rng.standard_normal(np.shape(d)).tolist()
    arr = np.asarray(d)
    return rng.standard_normal(arr.shape).astype(arr.dtype)


def _step(x: Any, k: int, low: bool) -> float:
    scale = max(1.0, float(np.max(np.abs(x))) if np.size(x) else 1.0)
    return scale * {1: 1e-4 if low else 1e-5, 2: 1e-3, 3: 5e-3}[k]


def _fd_grad(g: Any, xs: list[Any], j: int, low: bool, shrink: float = 1.0) -> np.ndarray:
    x = xs[j]
    arr = np.array(x, dtype=np.float64)
    out = np.zeros(arr.shape)
    h = _step(arr, 1, low) * shrink
    for idx in np.ndindex(arr.shape):
        e = np.zeros(arr.shape)
        e[idx] = 1.0
        vs = [np.zeros(np.shape(v)) if i != j else e for i, v in enumerate(xs)]
        if isinstance(x, float):
            vs[j] = 1.0
        xs_ = [np.asarray(v, dtype=np.float64) if not isinstance(v, float) else v for v in xs]
        out[idx] = _stencil(g, xs_, vs, 1, h)
    return out


def _dir_fd(g: Any, xs: list[Any], vs: list[Any], k: int, low: bool, shrink: float = 1.0) -> float:
    h = max(_step(x, k, low) for x in xs) * shrink
    v64 = [np.asarray(v, dtype=np.float64) if not isinstance(v, float) else v for v in vs]
    return _stencil(g, xs, v64, k, h)


def _nested(ga: Any, g: Any, nums: tuple[int, ...], vs: list[Any], depth: int) -> Any:
    """``x -> D^depth g(x)[vs, ..., vs]`` as a traced function (nested ``ga.grad``)."""
    fn = g
    for _ in range(depth):
        fn = _dot_grad(ga, fn, nums, vs)
    return fn


def _dot_grad(ga: Any, fn: Any, nums: tuple[int, ...], vs: list[Any]) -> Any:
    def inner(*xs: Any) -> Any:
        gs = ga.grad(fn, argnums=nums)(*xs)
        if not isinstance(gs, (list, tuple)):
            gs = (gs,)
        total = None
        for gj, v in _leaf_pairs(gs, vs):
            term = ga.sum(gj * v)
            total = term if total is None else total + term
        return total

    return inner


def _leaf_pairs(gs: Any, vs: Any) -> list[tuple[Any, Any]]:
    """(gradient, direction) leaf pairs: a list argument's gradient is a list (a pytree)."""
    out: list[tuple[Any, Any]] = []
    stack = list(zip(gs, vs, strict=True))
    while stack:
        g, v = stack.pop()
        if isinstance(g, list | tuple):
            stack.extend(zip(g, v, strict=True))
        else:
            out.append((g, v))
    return out


def run(items: list[Item], progress: bool = False) -> list[Result]:
    import graphad as ga

    results = []
    for i, item in enumerate(items):
        res = run_item(item, ga)
        results.append(res)
        if progress and (i + 1) % 100 == 0:
            print(f"  {i + 1}/{len(items)}", flush=True)
    return results
