"""SymPy's derivatives in a child process that is killed at the deadline.

The gradient checker's SymPy witness can take unbounded time (differentiating
a graph with shared subexpressions writes out a tree that can be exponentially
large).  A thread cannot be stopped, so a time box around SymPy in a thread
reported a timeout while the thread kept burning CPU.  Here the work runs in a
separate Python process instead: at the deadline it is killed and reaped, so
nothing keeps running.

The parent builds the SymPy expression (``to_sympy``: linear in the graph)
and sends it pickled, with the input names and the point as floats; the child
only differentiates and evaluates.  No text is ever passed to ``sympify``.

Starting a process and importing SymPy costs about a second, so a few idle
workers are kept for the next check (one per concurrent caller, at most
``MAX_IDLE`` idle); a killed worker is replaced on the next call.  Workers are
started with ``python -c`` running this file (not ``multiprocessing``, whose
``spawn`` start re-imports the caller's ``__main__`` script), import only the
standard library and SymPy, and exit when their parent closes the pipe.

This file runs in the child too (see :func:`_child_main`), so it imports only
the standard library at module level.

One module on purpose, though past 600 lines: the parent's side (requests, deadlines,
cancellation) and the child's side (the forward-mode derivative rules it runs) speak one
protocol, and keeping both halves together keeps that protocol in one place.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from typing import Any, BinaryIO

__all__ = [
    "Pending",
    "SympyBoxError",
    "SympyTimeout",
    "derivatives",
    "plan_form",
    "run_plan",
    "shutdown",
    "submit",
]

#: Idle workers kept for later checks.
MAX_IDLE = 2
#: Seconds a new worker may take to start and import SymPy (not counted in the timeout).
STARTUP_SECONDS = 120.0

_HEADER = struct.Struct("!Q")
_MAX_MESSAGE = 256 * 1024 * 1024  # a reply or request larger than this is a broken stream

# The child: drop the current directory from the path (a stray sympy.py there
# must not be imported) and run this file as its main module.
_BOOT = (
    "import runpy, sys; sys.path[:] = [p for p in sys.path if p not in ('', '.')]; "
    "runpy.run_path(sys.argv[1], run_name='__graphad_sympy_child__')"
)


class SympyTimeout(Exception):
    """SymPy did not finish within the time box; its process was killed."""


class SympyBoxError(Exception):
    """The SymPy process failed: the message says how (the witness reports n/a)."""


# -- framing (both sides) -------------------------------------------------------------------


def _send(stream: BinaryIO, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    parts, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _recv(stream: BinaryIO) -> Any:
    """The next message, or ``None`` at the end of the stream."""
    head = _read_exact(stream, _HEADER.size)
    if head is None:
        return None
    (size,) = _HEADER.unpack(head)
    if size > _MAX_MESSAGE:
        raise ValueError(f"message of {size} bytes")
    data = _read_exact(stream, size)
    if data is None:
        return None
    return pickle.loads(data)  # only ever from our own parent or child


# -- the child --------------------------------------------------------------------------------


def _derivatives(expr: Any, names: list[str], values: dict[str, float]) -> list[float | None]:
    """d expr / d name at ``values`` for each name; None where SymPy gives no finite number.

    SymPy's own derivative rules are applied by the chain rule at the point
    (:func:`_at_point`), which is linear in the expression's DAG; an expression
    that this does not cover (an unevaluated condition, a node kind without a
    rule) is differentiated symbolically with ``sympy.diff`` and then evaluated.
    """
    try:
        return _at_point(expr, names, values)
    except NotCovered:
        return _symbolic(expr, names, values)


def _symbolic(expr: Any, names: list[str], values: dict[str, float]) -> list[float | None]:
    import sympy as sp

    syms = {s.name: s for s in expr.free_symbols}
    subs = {syms[n]: sp.Float(v, 17) for n, v in values.items() if n in syms}
    out: list[float | None] = []
    for name in names:
        if name not in syms:
            out.append(0.0)
            continue
        d = sp.diff(expr, syms[name]).xreplace(subs).evalf(17)
        out.append(real(d))
    return out


def real(d: Any) -> float | None:
    """A SymPy number as a float; None when it is not a finite real number."""
    import math

    try:
        z = complex(d)
    except (TypeError, ValueError):
        return None  # unevaluated (DiracDelta(0), Derivative, ...)
    ok = math.isfinite(z.real) and abs(z.imag) <= 1e-12 * max(1.0, abs(z.real))
    return float(z.real) if ok else None


class NotCovered(Exception):
    """The expression has a node that :func:`_at_point` has no rule for."""


#: Bits the values and derivatives are carried with at the point (about 30 digits).
PREC = 100
# d f(d_0, ..., d_k) / d d_i as SymPy writes it, per (function class, arity, i)
_PARTIALS: dict[tuple, Any] = {}
_DUMMIES: list[Any] = []


def _partial(sp: Any, func: Any, k: int, i: int) -> tuple[Any, list[Any]]:
    args = dummies(sp, k)
    key = (func, k, i)
    if key not in _PARTIALS:
        _PARTIALS[key] = sp.diff(func(*args), args[i])
    return _PARTIALS[key], args


def _mp_functions(sp: Any, mp: Any) -> dict[Any, Any]:
    """What the common SymPy function classes mean, as mpmath functions (values only:
    every derivative still comes from SymPy's rules)."""
    return {
        sp.sin: mp.sin,
        sp.cos: mp.cos,
        sp.tan: mp.tan,
        sp.asin: mp.asin,
        sp.acos: mp.acos,
        sp.atan: mp.atan,
        sp.sinh: mp.sinh,
        sp.cosh: mp.cosh,
        sp.tanh: mp.tanh,
        sp.exp: mp.exp,
        sp.log: mp.log,  # one argument; log(x, b) is log(x)/log(b) in SymPy
    }


_MP: dict[Any, Any] = {}
# function classes whose SymPy evaluation at numbers is quick and bounded (the
# in-process path may use them; anything else goes to the time-boxed process)
_SAFE = frozenset({"Abs", "sign", "Max", "Min", "Heaviside"})


def dummies(sp: Any, k: int) -> list[Any]:
    """``k`` real dummy symbols, the same ones on every call (forms are cached by them)."""
    while len(_DUMMIES) < k:
        _DUMMIES.append(sp.Dummy(f"a{len(_DUMMIES)}", real=True))
    return _DUMMIES[:k]


def plan_form(sp: Any, expr: Any) -> list[tuple]:
    """The steps that evaluate a small SymPy expression (an op's SymPy form or one of its
    partial derivatives), children first, made once so that each evaluation is a loop
    (:func:`run_plan`): plain arithmetic and the common functions only; raises
    :class:`NotCovered` for anything else (a condition, an unknown function)."""
    if not _MP:
        import mpmath

        _MP.update(_mp_functions(sp, mpmath.mp))
    steps: list[tuple] = []
    index: dict[Any, int] = {}
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in index:
            continue
        if not node.args:
            step = ("arg", node, ()) if isinstance(node, sp.Dummy) else ("num", _number(node), ())
            index[node] = len(steps)
            steps.append(step)
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in index)
            continue
        if isinstance(node, sp.Piecewise) or not isinstance(node, sp.Expr):
            raise NotCovered("a condition")
        if node.is_Add:
            kind = "add"
        elif node.is_Mul:
            kind = "mul"
        elif node.is_Pow:
            kind = "pow"
        elif (node.func in _MP and len(node.args) == 1) or node.func.__name__ in _SAFE:
            kind = "fn"
        else:
            raise NotCovered(type(node).__name__)
        index[node] = len(steps)
        steps.append((kind, node.func, tuple(index[a] for a in node.args)))
    return steps


def run_plan(sp: Any, steps: list[tuple], bind: dict) -> Any:
    """The mpmath value of a planned expression (:func:`plan_form`), its dummies bound
    to mpmath values."""
    import mpmath

    vals: list[Any] = []
    for kind, payload, args in steps:
        if kind == "num":
            vals.append(payload)
        elif kind == "arg":
            vals.append(bind[payload])
        elif kind == "add":
            vals.append(mpmath.fsum([vals[i] for i in args]))
        elif kind == "mul":
            v = vals[args[0]]
            for i in args[1:]:
                v = v * vals[i]
            vals.append(v)
        elif kind == "pow":
            vals.append(mpmath.power(vals[args[0]], vals[args[1]]))
        else:
            vals.append(_apply(sp, payload, [vals[i] for i in args], True))
    return vals[-1]


def _at_point(
    expr: Any, names: list[str], values: dict[str, float], strict: bool = False
) -> list[float | None]:
    """Forward-mode evaluation of SymPy's derivative: for every distinct subexpression
    (children first, no recursion) its value at the point and its partial derivatives
    with respect to the requested symbols, in ``PREC``-bit mpmath numbers.  Sums and
    products use the sum and product rules; a power, its rule; any other function
    class, the derivative SymPy gives for it (``sympy.diff`` of the function applied
    to dummy symbols, cached, then evaluated at the argument values).  The numbers
    are those of ``diff(expr, x)`` evaluated at the point, without writing out the
    derivative expression (which repeats shared parts)."""
    import mpmath
    import sympy as sp

    if not _MP:
        _MP.update(_mp_functions(sp, mpmath.mp))
    with mpmath.workprec(PREC):
        syms = {s.name: s for s in _symbols(expr)}
        point = {syms[n]: mpmath.mpf(float(v)) for n, v in values.items() if n in syms}
        wanted = {syms[n] for n in names if n in syms}
        val: dict[Any, Any] = {}
        der: dict[Any, dict[Any, Any]] = {}
        try:
            _forward(sp, expr, point, wanted, val, der, strict)
        except (ZeroDivisionError, ValueError, TypeError, OverflowError) as exc:
            raise NotCovered(str(exc)) from None
        d = der[expr]
        return [0.0 if n not in syms else real(d.get(syms[n], 0)) for n in names]


def _forward(
    sp: Any, expr: Any, point: dict, wanted: set, val: dict, der: dict, strict: bool
) -> None:
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in val:
            continue
        if not node.args:  # an atom: a symbol or a number
            if node.is_Symbol:
                if node not in point:
                    raise NotCovered("a symbol without a value")
                val[node] = point[node]
                der[node] = {node: 1} if node in wanted else {}
            else:
                val[node], der[node] = _number(node), {}
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in _operands(sp, node) if a not in val)
            continue
        val[node], der[node] = _rule(sp, node, val, der, strict)


_NUMBERS: dict[Any, Any] = {}  # SymPy number atoms as mpmath values (forms repeat them)


def _number(node: Any) -> Any:
    got = _NUMBERS.get(node)
    if got is not None:
        return got
    try:
        got = node.evalf(35)._to_mpmath(PREC)
    except (AttributeError, TypeError, ValueError):
        raise NotCovered(f"not a number: {type(node).__name__}") from None
    if not node.free_symbols and not node.args:
        if len(_NUMBERS) > 4096:
            _NUMBERS.clear()
        _NUMBERS[node] = got
    return got


def _value(sp: Any, node: Any, vs: list[Any], strict: bool) -> Any:
    """The value of ``node`` given its operands' values."""
    if node.is_Add:
        import mpmath

        return mpmath.fsum(vs)
    if node.is_Mul:
        out = vs[0]
        for v in vs[1:]:
            out = out * v
        return out
    if node.is_Pow:
        import mpmath

        return mpmath.power(vs[0], vs[1])
    return _apply(sp, node.func, vs, strict)


def _apply(sp: Any, func: Any, vs: list[Any], strict: bool) -> Any:
    """``func`` at mpmath values: mpmath's function where it is a known one, else SymPy's
    evaluation at SymPy numbers of the same precision."""
    fn = _MP.get(func)
    if fn is not None and len(vs) == 1:
        return fn(vs[0])
    if strict and func.__name__ not in _SAFE:
        raise NotCovered(f"{func.__name__} is evaluated in the SymPy process")
    got = func(*[sp.sympify(v) for v in vs])
    return _number(got)


def _eval_small(sp: Any, expr: Any, bind: dict, strict: bool) -> Any:
    """The value of a small SymPy expression (a cached partial derivative) with its
    dummy symbols bound to values."""
    val: dict[Any, Any] = {}
    stack: list[tuple[Any, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in val:
            continue
        if not node.args:
            val[node] = bind[node] if node in bind else _number(node)
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in val)
            continue
        if isinstance(node, sp.Piecewise) or not isinstance(node, sp.Expr):
            if strict:
                raise NotCovered("a condition in a derivative")
            got = node.xreplace({k: sp.sympify(v) for k, v in bind.items()})
            val[node] = _number(got)
        else:
            val[node] = _value(sp, node, [val[a] for a in node.args], strict)
    return val[expr]


def _symbols(expr: Any) -> set[Any]:
    """The symbols of ``expr``, each distinct subexpression visited once (SymPy's
    ``free_symbols`` walks the tree, which repeats shared parts: exponential time)."""
    seen, found, stack = {expr}, set(), [expr]
    while stack:
        node = stack.pop()
        if node.is_Symbol:
            found.add(node)
        for a in node.args:
            if a not in seen:
                seen.add(a)
                stack.append(a)
    return found


def _operands(sp: Any, node: Any) -> list[Any]:
    if isinstance(node, sp.Piecewise):
        out = []
        for piece in node.args:
            out.append(piece.expr)
            if isinstance(piece.cond, sp.core.relational.Relational):
                out.extend(piece.cond.args)
        return out
    return [a for a in node.args if isinstance(a, sp.Expr)]


def _rule(sp: Any, node: Any, val: dict, der: dict, strict: bool) -> tuple[Any, dict]:
    """Value and partial derivatives of one node from those of its operands."""
    if node.is_Add:
        total: dict[Any, Any] = {}
        for a in node.args:
            for s, g in der[a].items():
                total[s] = total[s] + g if s in total else g
        return _value(sp, node, [val[a] for a in node.args], strict), total
    if node.is_Mul:
        vs = [val[a] for a in node.args]
        # the product of all operands but the i-th, from prefix and suffix products
        # (no division, so a zero factor is no problem)
        pre, suf = [1], [1]
        for v in vs:
            pre.append(pre[-1] * v)
        for v in reversed(vs):
            suf.append(suf[-1] * v)
        suf.reverse()
        total = {}
        for i, a in enumerate(node.args):
            if not der[a]:
                continue
            others = pre[i] * suf[i + 1]
            for s, g in der[a].items():
                term = g * others
                total[s] = total[s] + term if s in total else term
        return pre[-1], total
    if node.is_Pow:
        import mpmath

        b, e = node.args
        vb, ve = val[b], val[e]
        value = mpmath.power(vb, ve)
        total = {}
        for s, g in der[b].items():
            total[s] = ve * mpmath.power(vb, ve - 1) * g
        for s, g in der[e].items():
            term = value * mpmath.log(vb) * g
            total[s] = total[s] + term if s in total else term
        return value, total
    if isinstance(node, sp.Piecewise):
        for piece in node.args:
            cond = piece.cond
            if isinstance(cond, sp.core.relational.Relational):
                cond = cond.func(*[sp.sympify(val[a]) for a in cond.args])
            if cond is sp.true:
                return val[piece.expr], der[piece.expr]
            if cond is not sp.false:
                raise NotCovered("a condition that does not evaluate")
        raise NotCovered("no piece applies")
    if node.is_Function:
        args = node.args
        vs = [val[a] for a in args]
        value = _apply(sp, node.func, vs, strict)
        total = {}
        for i, a in enumerate(args):
            if not der[a]:
                continue
            partial, dummies = _partial(sp, node.func, len(args), i)
            p = _eval_small(sp, partial, dict(zip(dummies, vs, strict=False)), strict)
            for s, g in der[a].items():
                term = p * g
                total[s] = total[s] + term if s in total else term
        return value, total
    raise NotCovered(type(node).__name__)


def _child_main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the replies
    import sympy  # noqa: F401 - the slow part of starting, done before saying ready

    _send(stdout, ("ready", os.getpid()))
    while True:
        try:
            job = _recv(stdin)
        except Exception as exc:
            _send(stdout, ("error", f"bad request: {type(exc).__name__}: {exc}"[:200]))
            return
        if job is None:  # the parent closed the pipe (or died)
            return
        try:
            _send(stdout, ("ok", _derivatives(*job)))
        except RecursionError:
            _send(stdout, ("error", "RecursionError: the expression is too deep for SymPy"))
        except Exception as exc:
            _send(stdout, ("error", f"{type(exc).__name__}: {exc}"[:200]))


# -- the parent -------------------------------------------------------------------------------


class _Worker:
    """One child process and a thread reading its replies into a queue."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.pid = self.proc.pid
        self.ready = False
        self.replies: queue.Queue = queue.Queue()
        reader = threading.Thread(target=self._read, name="graphad-sympy-reader", daemon=True)
        reader.start()

    def _read(self) -> None:
        try:
            while True:
                msg = _recv(self.proc.stdout)
                if msg is None:
                    break
                self.replies.put(msg)
        except Exception:
            pass
        self.replies.put(None)

    def reply(self, seconds: float) -> Any:
        try:
            msg = self.replies.get(timeout=max(seconds, 0.0))
        except queue.Empty:
            raise SympyTimeout() from None
        if msg is None:
            raise SympyBoxError("the SymPy process ended unexpectedly")
        return msg

    def start(self) -> None:
        if not self.ready:
            try:
                kind, _ = self.reply(STARTUP_SECONDS)
            except SympyTimeout:
                raise SympyBoxError(
                    f"the SymPy process did not start within {STARTUP_SECONDS:g} s"
                ) from None
            if kind != "ready":
                raise SympyBoxError("the SymPy process did not start")
            self.ready = True

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def kill(self) -> None:
        """Stop the process now and reap it (no zombie, no CPU used afterwards)."""
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self._close_pipes()

    def close(self) -> None:
        """Ask the process to exit (end of its input); kill it if it does not."""
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()


_idle: list[_Worker] = []
_lock = threading.Lock()
#: pid of the worker that ran the latest request (tests check that a timed-out one is gone)
last_pid: int | None = None


def _take() -> _Worker:
    with _lock:
        while _idle:
            w = _idle.pop()
            if w.alive():
                return w
    return _Worker()


def _give_back(w: _Worker) -> None:
    with _lock:
        if len(_idle) < MAX_IDLE and w.alive():
            _idle.append(w)
            return
    w.close()


def derivatives(
    expr: Any, names: list[str], values: dict[str, float], timeout: float
) -> list[float | None]:
    """SymPy's ``d expr/d name`` at ``values`` for each name, within ``timeout`` seconds.

    Raises :class:`SympyTimeout` (the child was killed and reaped) or
    :class:`SympyBoxError` (it failed; the message says how).
    """
    return submit(expr, names, values, timeout).result()


class Pending:
    """A request sent to a SymPy process: :meth:`result` waits for the reply until
    ``timeout`` seconds after the request was sent, so the caller can do other work
    meanwhile (the gradient checker computes AD and finite differences while SymPy
    runs in the other process).  :meth:`cancel` stops the process when the reply
    is no longer wanted."""

    def __init__(self, worker: _Worker, timeout: float) -> None:
        self._worker: _Worker | None = worker
        self._deadline = time.monotonic() + timeout

    def result(self) -> list[float | None]:
        w = self._worker
        if w is None:
            raise SympyBoxError("the request was cancelled or already answered")
        self._worker = None
        try:
            kind, value = w.reply(self._deadline - time.monotonic())
        except (
            BaseException
        ):  # a timeout, a broken process, KeyboardInterrupt: leave nothing running
            w.kill()
            raise
        _give_back(w)
        if kind != "ok":
            raise SympyBoxError(str(value))
        return value

    def cancel(self) -> None:
        """Stop the process of an unanswered request (and reap it); no-op once answered."""
        w, self._worker = self._worker, None
        if w is not None:
            w.kill()


def submit(expr: Any, names: list[str], values: dict[str, float], timeout: float) -> Pending:
    """Send the request of :func:`derivatives` and return without waiting for the reply.

    The first request of a session waits for a process to start and import SymPy
    (not counted in ``timeout``).  Raises :class:`SympyBoxError` when the expression
    cannot be sent or the process fails to start.
    """
    global last_pid
    try:
        job = pickle.dumps((expr, list(names), dict(values)), protocol=pickle.HIGHEST_PROTOCOL)
    except RecursionError:
        raise SympyBoxError("RecursionError: the expression is too deep for SymPy") from None
    except Exception as exc:  # e.g. a custom op's SymPy form that does not pickle
        raise SympyBoxError(f"cannot send the expression to SymPy: {exc}"[:200]) from None
    w = _take()
    try:
        w.start()
        last_pid = w.pid
        w.proc.stdin.write(_HEADER.pack(len(job)) + job)
        w.proc.stdin.flush()
    except (OSError, SympyBoxError) as exc:
        w.kill()
        if isinstance(exc, SympyBoxError):
            raise
        raise SympyBoxError(f"the SymPy process failed: {exc}") from None
    except BaseException:
        w.kill()
        raise
    return Pending(w, timeout)


@atexit.register
def shutdown() -> None:
    """Stop the idle workers (at exit; also safe to call any time)."""
    with _lock:
        workers = list(_idle)
        _idle.clear()
    for w in workers:
        if w.owner == os.getpid():
            w.close()


if __name__ == "__graphad_sympy_child__":
    _child_main()
