"""Expressions printed for people: ``str(e)``, ``graphad grad``, ``ga.latex`` and notebooks.

The graph is read into a small tree of display terms (sums, products with
exponents, powers, calls) over a *copy*: nothing here changes the user's graph
or is ever used to compute a value.  Building the terms does a light algebraic
clean-up, as rewrites of terms rather than through SymPy:

- products are flattened and collected: ``1 * a`` is ``a``, ``a * a`` is
  ``a ** 2``, ``1 / b * b`` cancels, numeric factors combine exactly
  (fractions, not floats), negations become a sign, so no ``--``;
- sums are flattened and collected: ``a + a`` is ``2 * a``, ``-(x - z)`` is
  ``z - x``; a sum and its negation are one base and one term, so
  ``(a - b) / (b - a)`` is ``-1`` and ``A / c + (-A) / c`` cancels;
- a factor such as ``a * (1 - a)`` is kept as it is written (no expansion);
- once the terms are built, sums are shortened where that saves characters:
  factors common to all terms, or to some of them, are pulled out; terms the
  chain rule wrote apart go back under the sum they multiply
  (``A * B - 1 + t ** 2`` with ``A = 1 - t ** 2`` is ``A * (B - 1)``); a sum is
  written over one of its denominators when shorter (``1 - s / (s + 1)`` is
  ``1 / (s + 1)``);
- identities SymPy applies as well: ``exp(a + c * log(y))`` is
  ``y ** c * exp(a)``, ``exp(log1p(u))`` is ``u + 1``, ``cos(-u)`` is
  ``cos(u)``, ``(a ** u) ** 3`` is ``a ** (3 * u)``, ``sqrt(sqrt(u))`` is
  ``u ** 0.25``, ``sqrt(exp(u) ** 2)`` is ``exp(u)``, ``2 ** u * 2 ** v`` merges
  when the exponents cancel, and ``sigmoid(log(w))`` is ``w / (w + 1)`` when
  the whole text gets shorter (both forms are built and measured);
- numbers and signs as people move them: numeric content leaves a sum factor
  when the whole text gets shorter (``(cos(t) / 2 - s / 2) / u`` is
  ``(cos(t) - s) / (2 * u)``), a negative product takes its sign into a sum
  factor (``-x * (1 - t)`` is ``x * (t - 1)``; a sigmoid's ``-s * (1 - s)``
  stays), ``(a ** u) ** k`` is ``a ** (k * u)`` inside products too,
  ``sqrt(3 ** u)`` is ``3 ** (u / 2)`` and ``log(sqrt(u))`` is ``log(u) / 2``;
- constants print exactly: a constant folded from Python scalars remembers
  what it was folded from (``log(2)``, ``1 / sqrt(2 * pi)``, ``1 / 3``; see
  ``graphad.ops.core``), and the values of ``pi``, ``e``, ``log(2)`` and a few
  others print as those names;
- shape plumbing prints as what it means per element (``sum_to_like(g, x)``
  is ``g``, ``ones_like(f)`` is ``1``).

The clean-up may reassociate (``a * (b * c)`` prints as ``a * b * c``) and
cancel (``x / x`` is ``1``, ``exp(log(u))`` is ``u``): the text means the same
function, and parsing it back with ``ga.parse`` gives the same values up to
rounding wherever the expression is defined.  Compiled code never sees any of this.

Shared subexpressions can be *named*: with ``names=True`` a part that occurs
several times is printed once in a ``where`` clause when that makes the whole
text shorter (``-s * (1 - s) * t   where t = 2 ** (z - x), s = sigmoid(t)``),
counted as the issue counts it (spaces left out, ``**`` one character).  Names
are chosen greedily, then by measuring the whole text with each shared part
named or not until no single change shortens it; a power that is a factor of a
product (``sqrt(u)`` in ``a / (2 * sqrt(u))``) can be named like any other part.
``str(e)`` prints without names, so that its text parses back.

Everything here is iterative (term ids are created children first, so id order
is a topological order): 100,000-node graphs print, or are summarised when the
text would be too long.

One module on purpose, though past 600 lines: the display terms, their clean-up and the
text and LaTeX layouts share one term representation and its precedence rules; the
module is read top to bottom as one printer.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from operator import itemgetter
from typing import Any

__all__ = ["to_text", "text_parts", "latex", "latex_display", "constant_text"]

# term kinds
_SYM, _NUM, _KNOWN, _ADD, _MUL, _POW, _CALL, _INFIX, _RAW = range(9)
_SUM_OR_POW = frozenset({_ADD, _POW})
# precedences of printed forms, as Python's (and the op table's)
_P_ADD, _P_MUL, _P_NEG, _P_POW, _P_ATOM = 10, 20, 30, 40, 100

# shape helpers of gradients over inputs of unknown shape, printed per element
_SEE_THROUGH = frozenset(
    {"sum_to_like", "broadcast_like", "reshape_like", "unreduce", "astype_like"}
)
_FILLS = {"ones_like": 1, "zeros_like": 0}
#: even functions: f(-u) is f(u)
_EVEN = frozenset({"cos", "cosh", "abs", "square"})

#: names a ``where`` clause uses first (inputs of the expression are skipped)
_NAME_POOL = ("t", "s", "u", "v", "w", "p", "q", "r", "a", "b", "c", "d", "f", "g", "h", "k")
#: most names one text gets by choosing the best one at a time
_MAX_NAMES = 40
#: most names given bottom-up to a text too long to write out (deeply shared graphs)
_MAX_PRENAMES = 2000
#: texts of at most this many terms get their names chosen by measuring the whole text
_EXACT_REACH = 600
#: most whole-text measurements one choice of names makes
_EXACT_TRIES = 400


class TextTooLong(Exception):
    """The text would exceed the caller's budget of nodes or characters."""

    def __init__(self, summary: str, nodes: int | None = None) -> None:
        super().__init__(summary)
        self.nodes = nodes


# -- numbers ------------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    if isinstance(v, Fraction) and v.denominator == 1:
        return int(v.numerator)
    return v


def _exact(v: Any) -> bool:
    return type(v) is int or isinstance(v, Fraction)


def _nmul(a: Any, b: Any) -> Any:
    return _norm(a * b)


def _nadd(a: Any, b: Any) -> Any:
    return _norm(a + b)


def _ninv(a: Any) -> Any:
    """1 / a as a number, or None when it has none (a == 0)."""
    if a == 0:
        return None
    if _exact(a):
        return _norm(Fraction(1) / a)
    return 1.0 / a


def _npow(a: Any, n: Any) -> Any:
    """a ** n for an integer n, exactly where a is exact; None if not a plain number."""
    if type(n) is not int or abs(n) > 64:
        return None
    if n < 0:
        a = _ninv(a)
        if a is None:
            return None
        n = -n
    try:
        return _norm(a**n)
    except (OverflowError, ZeroDivisionError):
        return None


def _negative(v: Any) -> bool:
    try:
        return v < 0
    except TypeError:
        return False


_first = itemgetter(0)


def _sorted_factors(factors: Any) -> tuple:
    return tuple(sorted(factors, key=_first))


def _short_float(v: float) -> Any:
    """A float as the display number people read: integral floats as ints, short
    decimals (``0.5``, ``0.25``, ``0.1``) as exact fractions, the rest as is."""
    if v.is_integer() and abs(v) < 2**53:
        return int(v)
    text = repr(v)
    if len(text) <= 8 and "e" not in text and "n" not in text:
        return _norm(Fraction(text))
    if math.isfinite(v):
        near = Fraction(v).limit_denominator(1000)  # 0.333... is exactly the float of 1/3
        if near.numerator and abs(near.numerator) < 10**6 and float(near) == v:
            return _norm(near)
    return v


_KNOWN_VALUES: dict[float, tuple] | None = None


def _known_values() -> dict[float, tuple]:
    """Values of common constants (as NumPy folds them) -> the exact tree that makes them."""
    global _KNOWN_VALUES
    if _KNOWN_VALUES is None:
        import numpy as np

        pi, two = ("num", math.pi), ("num", 2)
        two_pi = ("multiply", (two, pi))
        table = {
            float(2 * math.pi): two_pi,
            float(np.log(2)): ("log", (two,)),
            float(np.log(10)): ("log", (("num", 10),)),
            float(np.sqrt(2)): ("sqrt", (two,)),
            float(np.sqrt(math.pi)): ("sqrt", (pi,)),
            float(np.sqrt(2 * math.pi)): ("sqrt", (two_pi,)),
            float(1 / np.sqrt(2 * math.pi)): ("divide", (("num", 1), ("sqrt", (two_pi,)))),
            float(1.0 / np.log(2)): ("divide", (("num", 1), ("log", (two,)))),
            float(1.0 / np.log(10)): ("divide", (("num", 1), ("log", (("num", 10),)))),
        }
        _KNOWN_VALUES = {k: v for k, v in table.items() if math.isfinite(k)}
    return _KNOWN_VALUES


# -- terms --------------------------------------------------------------------------------


class _Terms:
    """Hash-consed display terms: ``kind[i]``, ``data[i]``; children have smaller ids."""

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.data: list[Any] = []
        self._index: dict[tuple, int] = {}
        self._sizes: dict[int, int] = {}
        self._canon: dict[int, tuple[tuple, bool]] = {}
        self._ukeys: dict[int, tuple[tuple, int]] = {}
        self._nesting = 0  # sums over a common denominator being tried (_together)
        #: write sigmoid(log(w)) as w / (w + 1) (SymPy's form; shorter unless w is long
        #: and used often): :func:`_prepare` tries both when the graph has one
        self.sigmoid_log = False
        self.seen_sigmoid_log = False
        #: pull factors common to every term out of sums: done once, on the finished
        #: terms (:func:`_factor_sums`), so that the result does not depend on the
        #: order in which a sum was built (what is printed parses back to it)
        self.factoring = False
        #: move numeric content out of sum factors of products (:meth:`content_out`)
        self.content_moves = False

    def make(self, kind: int, data: Any) -> int:
        if kind == _ADD:  # a + b and b + a are one term (printed in the first order seen)
            key: tuple = (kind, None, tuple(sorted(data)))
        elif kind == _MUL:
            key = (kind, None, (data[0], type(data[0]).__name__, _sorted_factors(data[1])))
        else:
            key = (kind, type(data).__name__ if kind == _NUM else None, data)
        found = self._index.get(key)
        if found is None:
            found = len(self.kind)
            self.kind.append(kind)
            self.data.append(data)
            self._index[key] = found
        return found

    def power_term(self, b: int, x: Any) -> int | None:
        """The term ``b ** x`` (a product of that one factor) if it exists, else None."""
        return self._index.get((_MUL, None, (1, "int", ((b, x),))))

    def children(self, t: int) -> list[int]:
        k, d = self.kind[t], self.data[t]
        if k == _ADD:
            return list(d)
        if k == _MUL:
            return [b for b, _ in d[1]]
        if k == _POW:
            return list(d)
        if k == _CALL:
            return list(d[1])
        if k == _INFIX:
            return [d[1], d[2]]
        return []

    # -- builders (each one a clean-up rule) --
    def num(self, v: Any) -> int:
        if isinstance(v, float):
            v = _short_float(v)
        return self.make(_NUM, v)

    def const(self, value: Any, exact: Any = None) -> int:
        import numpy as np

        if isinstance(value, np.ndarray):
            if value.ndim != 0:
                return self.make(_RAW, (f"const{value.shape}", _P_ATOM))
            value = value.item()
        if isinstance(value, bool):
            return self.make(_RAW, ("(0 == 0)" if value else "(0 == 1)", _P_ATOM))
        if isinstance(value, int):
            return self.num(value)
        if isinstance(value, float):
            if math.isnan(value):
                return self.make(_RAW, ("(0/0)", _P_ATOM))
            if math.isinf(value):
                return self.make(_RAW, ("(1/0)" if value > 0 else "(-1/0)", _P_ATOM))
            if value == math.pi:
                return self.make(_KNOWN, "pi")
            if value == math.e:
                return self.make(_KNOWN, "e")
            if exact is None and len(repr(value)) > 8:
                exact = _known_values().get(value)
            if exact is not None and len(repr(value)) > 8:
                return self._exact_tree(exact)
            return self.num(value)
        return self.make(_RAW, (f"const({type(value).__name__})", _P_ATOM))

    def _exact_tree(self, tree: tuple) -> int:
        """Terms of a recorded fold (small: ``graphad.ops.core`` bounds its size)."""
        if tree[0] == "num":
            return self.const(tree[1])
        op, args = tree[0], tree[1]
        return self.node(op, (), [self._exact_tree(a) for a in args])

    def split(self, t: int) -> tuple[Any, tuple]:
        k = self.kind[t]
        if k == _NUM:
            return self.data[t], ()
        if k == _MUL:
            return self.data[t]
        return 1, ((t, 1),)

    def build_mul(self, coef: Any, factors: list) -> int:
        kind = self.kind
        special = [i for i, (b, x) in enumerate(factors) if kind[b] in _SUM_OR_POW]
        if special:  # one pass over the factors: products can be long
            sums = [
                i for i in special if kind[factors[i][0]] == _ADD and type(factors[i][1]) is int
            ]
            if sums:
                coef, factors = self._orient_sums(coef, factors, sums)
            pows = [
                i for i in special if kind[factors[i][0]] == _POW and type(factors[i][1]) is int
            ]
            if pows:
                factors = self._raise_powers(factors, pows)
            roots = [
                i
                for i in special
                if kind[factors[i][0]] == _POW and isinstance(factors[i][1], Fraction)
            ]
            if roots:
                factors = self._root_powers(factors, roots)
            if len(pows) > 1:
                factors = self._merge_powers(factors, pows)
        merged: dict[int, Any] = {}
        for b, x in factors:
            merged[b] = _nadd(merged[b], x) if b in merged else x
        out = []
        for b, x in merged.items():
            if x == 0:
                continue
            if self.kind[b] == _NUM and type(x) is int:  # 2 ** u * 2 ** (-u) merged to 1
                folded = _npow(self.data[b], x) if _exact(self.data[b]) else None
                if folded is not None:
                    coef = _nmul(coef, folded)
                    continue
            if (
                x != 1
                and self.kind[b] == _CALL
                and self.data[b][0] == "exp"
                and not self.data[b][2]
            ):
                # exp(u) ** k is exp(k * u); k * (a + b) as k * a + k * b, the form
                # any other sum takes (so that exp(-3 * (z - x) / 2) is exp(3 * x / 2 - ...))
                u = self.data[b][1][0]
                k = self.num(x)
                if self.kind[u] == _ADD:
                    ku = self.add([self.mul(k, v) for v in self.data[u]])
                else:
                    ku = self.mul(k, u)
                b, x = self.node("exp", (), [ku]), 1
            out.append((b, x))
        c = _nmul(-1, coef)
        tops = [i for i, (_, x) in enumerate(out) if x > 0]
        if (
            (c == 1 or (isinstance(c, Fraction) and c.numerator == 1))
            and tops
            and all(out[i][1] == 1 and self.kind[out[i][0]] == _ADD for i in tops)
            and not self._all_positive(out[tops[0]][0])
        ):
            # -(a - b) / c is (b - a) / c, as the parser reads it (-(a + b) / c stays)
            i = tops[0]
            out[i] = (self.add([self.neg(u) for u in self.data[out[i][0]]]), 1)
            coef = c
        exps = [i for i, (b, _) in enumerate(out) if self._is_exp(b)]
        if len(exps) > 1:  # exp(a) * exp(b) is exp(a + b)
            total = self.add([self.data[out[i][0]][1][0] for i in exps])
            keep = [f for i, f in enumerate(out) if i not in exps]
            if not (self.kind[total] == _NUM and self.data[total] == 0):
                keep.insert(exps[0], (self.node("exp", (), [total]), 1))
            out = keep
        out = tuple(out)
        if coef == 0 and all(_exact(x) for _, x in out):
            return self.num(0)
        if not out:
            return self.num(coef)
        if coef == 1 and len(out) == 1 and out[0][1] == 1:
            return out[0][0]
        if coef == -1 and len(out) == 1 and out[0][1] == 1 and self.kind[out[0][0]] == _ADD:
            # -(a - b) is b - a
            return self.add([self.neg(u) for u in self.data[out[0][0]]])
        return self.make(_MUL, (coef, out))

    def _fold(self, spec: Any, values: list) -> int | None:
        """``f(numbers)`` (from collected terms, e.g. ``sigmoid(y - y)``) as the number it
        is when that number prints exactly (``1 / 2``, ``inf``); else None: kept as a call."""
        import numpy as np

        with np.errstate(all="ignore"):
            try:
                out = np.asarray(spec.impl(*[float(v) for v in values]))
            except (ValueError, TypeError, ArithmeticError):
                return None
        if out.ndim != 0 or out.dtype.kind != "f":
            return None
        v = float(out)
        if not math.isfinite(v):
            return self.const(v)
        shown = _short_float(v)
        return None if isinstance(shown, float) else self.num(shown)

    def _log_of(self, t: int) -> tuple[int, Any] | None:
        """(y, c) when term ``t`` is ``c * log(y)`` (``log1p(u)`` is ``log(u + 1)``)."""
        c, f = self.split(t)
        if len(f) != 1 or f[0][1] != 1 or self.kind[f[0][0]] != _CALL:
            return None
        name, args, params, _ = self.data[f[0][0]]
        if params or name not in ("log", "log1p"):
            return None
        y = args[0] if name == "log" else self.add([args[0], self.num(1)])
        return y, c

    def _exp_of_logs(self, u: int) -> int | None:
        """``exp(a + c * log(y))`` as ``y ** c * exp(a)``, as SymPy writes it (the same
        function wherever the logarithm is defined); None when ``u`` has no log term."""
        items = self.data[u] if self.kind[u] == _ADD else (u,)
        logs, rest = [], []
        for t in items:
            found = self._log_of(t)
            (rest if found is None else logs).append(found if found is not None else t)
        if not logs:
            return None
        out = self.node("exp", (), [self.add(rest)]) if rest else self.num(1)
        for y, c in logs:
            out = self.mul(out, self.power(y, self.num(c)))
        return out

    def _orient_sums(self, coef: Any, factors: list, sums: list[int]) -> tuple[Any, list]:
        """Sum factors (at positions ``sums``, integer powers) with signs moved into
        ``coef``: ``(-a - b) * c`` is ``-(a + b) * c``, and a sum and its negation
        are one base (``(a - b) / (b - a)`` is ``-1``)."""
        factors = list(factors)
        for i in sums:
            b, x = factors[i]
            if x % 2 and self._all_negative(b):
                factors[i] = (self.add([self.neg(u) for u in self.data[b]]), x)
                coef = _nmul(coef, -1)
        if len(sums) > 1:
            seen: dict[tuple, int] = {}
            for i in sums:
                b, x = factors[i]
                if self.kind[b] != _ADD:  # the flip above may have factored it
                    continue
                mine = tuple(sorted(self.data[b]))
                if mine in seen:
                    continue
                other = tuple(sorted(self.neg(u) for u in self.data[b]))
                if other in seen:
                    factors[i] = (seen[other], x)
                    coef = _nmul(coef, -1 if x % 2 else 1)
                else:
                    seen[mine] = b
        return coef, factors

    def _raise_powers(self, factors: list, pows: list[int]) -> list:
        """``(a ** u) ** k`` (k an integer) as ``a ** (k * u)``, as :meth:`power` does
        (``x / (2 ** (x ** 2)) ** 2`` is ``x / 2 ** (2 * x ** 2)``): the same values
        wherever ``a ** u`` is defined (for a < 0, u is then an integer)."""
        factors = list(factors)
        for i in pows:
            b, x = factors[i]
            if x in (0, 1, -1):
                continue
            base, expo = self.data[b]
            k = -x if x < 0 else x
            factors[i] = (self.make(_POW, (base, self.mul(self.num(k), expo))), x // k)
        return factors

    def _root_powers(self, factors: list, pows: list[int]) -> list:
        """``sqrt(3 ** u)`` as ``3 ** (u / 2)``: a fractional power of a power of a
        number that is never negative (``a ** u`` is then never negative either)."""
        factors = list(factors)
        for i in pows:
            b, x = factors[i]
            base, expo = self.data[b]
            if not self._nonnegative(base):
                continue
            k = _nmul(-1, x) if _negative(x) else x
            factors[i] = (self.make(_POW, (base, self.mul(self.num(k), expo))), 1 if k == x else -1)
        return factors

    def _merge_powers(self, factors: list, pows: list[int]) -> list:
        """``2 ** u * 2 ** v`` as ``2 ** (u + v)`` (a positive number's powers) when the
        exponents cancel in part (``x * 2 ** (-2 * x) * 2 ** x`` is ``x * 2 ** (-x)``);
        otherwise the powers stay apart, so that a sum can still pull one out."""
        by_base: dict[int, list[int]] = {}
        for i in pows:
            base = self.data[factors[i][0]][0]
            if self.kind[base] in (_NUM, _KNOWN) and not _negative(self.data[base]):
                by_base.setdefault(base, []).append(i)
        drop: set[int] = set()
        out = list(factors)
        for base, group in by_base.items():
            if len(group) < 2:
                continue
            parts = [self.mul(self.num(factors[i][1]), self.data[factors[i][0]][1]) for i in group]
            total = self.add(parts)
            if self.size(total) >= sum(self.size(p) for p in parts):
                continue
            if _negative(self.split(total)[0]):  # x / 2 ** u, not x * 2 ** (-u)
                out[group[0]] = (self.power(base, self.neg(total)), -1)
            else:
                out[group[0]] = (self.power(base, total), 1)
            drop.update(group[1:])
        return [f for i, f in enumerate(out) if i not in drop]

    def _nonnegative(self, t: int) -> bool:
        """Whether term ``t`` is never negative by its op (``exp``, ``sigmoid``, ...)."""
        if self.kind[t] == _KNOWN:
            return True
        if self.kind[t] == _NUM:
            return not _negative(self.data[t])
        if self.kind[t] != _CALL or self.data[t][2]:
            return False
        from .. import ops as _ops

        spec = _ops.OPS.get(self.data[t][0])
        return bool(spec is not None and spec.nonnegative)

    def _all_positive(self, t: int) -> bool:
        return self.kind[t] == _ADD and not any(_negative(self.split(u)[0]) for u in self.data[t])

    def _all_negative(self, t: int) -> bool:
        if self.kind[t] != _ADD:
            return False
        return all(_negative(self.split(u)[0]) for u in self.data[t])

    def _is_exp(self, t: int) -> bool:
        return self.kind[t] == _CALL and self.data[t][0] == "exp" and not self.data[t][2]

    def mul(self, a: int, b: int) -> int:
        ca, fa = self.split(a)
        cb, fb = self.split(b)
        return self.build_mul(_nmul(ca, cb), [*fa, *fb])

    def neg(self, a: int) -> int:
        c, f = self.split(a)
        return self.build_mul(_nmul(-1, c), list(f))

    def power(self, b: int, x: int) -> int:
        if self.kind[x] != _NUM:
            return self.make(_POW, (b, x))
        n = self.data[x]
        if n == 1:
            return b
        if n == 0:
            return self.num(1)
        kb = self.kind[b]
        if kb == _NUM:
            folded = _npow(self.data[b], n) if _exact(self.data[b]) else None
            if folded is None and self.data[b] >= 0 and not isinstance(n, float) and n > 0:
                shown = _short_float(float(self.data[b]) ** float(n))  # sqrt(4) is 2
                folded = None if isinstance(shown, float) else shown
            if folded is not None:
                return self.num(folded)
            return self.make(_MUL, (1, ((b, n),)))
        if kb == _POW and type(n) is int and n > 1:  # (a ** u) ** 3 is a ** (3 * u)
            return self.make(_POW, (self.data[b][0], self.mul(self.num(n), self.data[b][1])))
        if kb == _MUL and type(n) is int:
            c, f = self.data[b]
            cn = _npow(c, n)
            if cn is not None:
                return self.build_mul(cn, [(fb, _nmul(fx, n)) for fb, fx in f])
        if kb == _MUL and isinstance(n, Fraction) and self.data[b][0] == 1:
            (u, k), *more = self.data[b][1]
            if not more and (
                (isinstance(k, Fraction) and k > 0)
                or (type(k) is int and k % 2 == 0 and self._nonnegative(u))
            ):
                # sqrt(sqrt(u)) is u ** (1/4); sqrt(exp(u) ** 2) is exp(u)
                return self.build_mul(1, [(u, _nmul(k, n))])
        if kb == _MUL:
            return self.make(_MUL, (1, ((b, n),)))
        return self.build_mul(1, [(b, n)])

    def inv(self, a: int) -> int:
        return self.power(a, self.num(-1))

    def add(self, items: list[int]) -> int:
        acc: dict[Any, Any] = {}
        units: dict[Any, tuple] = {}  # unit key -> (first term seen, its coefficient, factors)
        flat: list[int] = []
        for t in items:
            k, d = self.kind[t], self.data[t]
            if k == _MUL and len(d[1]) == 1 and d[1][0][1] == 1 and self.kind[d[1][0][0]] == _ADD:
                # c * (a + b) inside a sum: c * a + c * b, so that terms collect
                c = self.num(d[0])
                flat.extend(self.mul(c, u) for u in self.data[d[1][0][0]])
            else:
                flat.extend(d if k == _ADD else (t,))
        signs: dict[Any, int] = {}  # sign of the first unit seen, against the canonical one
        for t in flat:
            if self.kind[t] == _NUM:
                key, c = None, self.data[t]
            else:
                c, f = self.split(t)
                found = self._ukeys.get(t)
                if found is None:
                    found = self._ukeys[t] = self._unit_key(f)
                key, sign = found
                if key not in units:
                    units[key] = (t, c, f)
                    signs[key] = sign
                c = _nmul(sign, c)
            acc[key] = _nadd(acc[key], c) if key in acc else c
        terms = []
        for key, c in acc.items():
            if c == 0:
                continue
            if key is None:
                terms.append(self.num(c))
            else:
                c = _nmul(signs[key], c)
                first, first_c, f = units[key]
                terms.append(first if c == first_c else self.build_mul(c, list(f)))
        if not terms:
            return self.num(0)
        if len(terms) == 1:
            return terms[0]
        if self.factoring:
            out = self._factored(terms)
            together = self._together(terms)
            if together is not None and self.size(together) < self.size(out):
                out = together
            if self.kind[out] == _ADD:
                c = self.content(out)
                if c is not None:  # 3 * a - 3 * b + 6 is 3 * (a - b + 2) when shorter
                    cand = self.mul(self.num(c), self.divided(out, c))
                    if self.size(cand) < self.size(out):
                        out = cand
            return out
        return self.make(_ADD, tuple(terms))

    def content(self, s: int) -> Any:
        """The positive number every term of sum ``s`` is an exact multiple of
        (``3 * a - 6`` has 3, ``a / 2 - b / 2`` has 1/2), or None when it is 1 or some
        coefficient is no exact number."""
        nums, dens = [], []
        for u in self.data[s]:
            c = self.split(u)[0]
            if not _exact(c):
                return None
            f = Fraction(c)
            nums.append(abs(f.numerator))
            dens.append(f.denominator)
        c = _norm(Fraction(math.gcd(*nums), math.lcm(*dens)))
        return None if c == 1 else c

    def divided(self, s: int, c: Any) -> int:
        """Sum ``s`` with every term divided by the number ``c``."""
        inv = self.num(_ninv(c))
        return self.add([self.mul(inv, u) for u in self.data[s]])

    def content_out(self, t: int, shared: set[int]) -> int:
        """Product ``t`` with the numeric content of its sum factors moved into its
        coefficient when that is shorter (``(3 * z - 3) * x`` is ``3 * (z - 1) * x``,
        ``(cos(t) / 2 - s / 2) / u`` is ``(cos(t) - s) / (2 * u)``).  Sums in
        ``shared`` (used elsewhere too) stay as they are: two forms of one sum would
        each be written out."""
        if self.kind[t] != _MUL or not self.content_moves:
            return t
        best = t
        for b, x in self.data[t][1]:
            if self.kind[b] != _ADD or type(x) is not int or self.kind[best] != _MUL or b in shared:
                continue
            c = self.content(b)
            cx = _npow(c, x) if c is not None else None
            if cx is None:
                continue
            coef, factors = self.data[best]
            if (b, x) not in factors:
                continue
            rest = [f for f in factors if f != (b, x)]
            cand = self.build_mul(_nmul(coef, cx), [*rest, (self.divided(b, c), x)])
            if self.size(cand) < self.size(best):
                best = cand
        return best

    def _factored(self, terms: list[int]) -> int:
        if self._nesting <= 4:
            merged = self._undistribute(terms)
            if merged is not None:
                self._nesting += 1
                try:
                    return self.add(merged)
                finally:
                    self._nesting -= 1
        common = self._common(terms)
        if common:  # a * b + a * c is a * (b + c), unless longer (sqrt(y) + y)
            out = self._pull_out(common, terms)
            plain = self.make(_ADD, tuple(terms))
            return plain if self.size(plain) < self.size(out) else out
        if len(terms) > 2:
            grouped = self._collect(terms)
            if grouped is not None:
                return grouped
        return self.make(_ADD, tuple(terms))

    def _undistribute(self, terms: list[int]) -> list[int] | None:
        """``A * B + r * a1 + r * a2`` as ``A * (B + r)`` where ``A = a1 + a2``: the
        terms of a sum that are a multiple of a sum factor of another term (the chain
        rule through ``u = a1 + a2`` writes them apart); None when there are none."""
        units: dict[Any, tuple[int, Any]] = {}
        for j, t in enumerate(terms):
            c, f = self.split(t)
            units[self.build_mul(1, list(f)) if f else None] = (j, c)
        for i, t in enumerate(terms):
            ct, ft = self.split(t)
            for a, x in ft:
                if x != 1 or self.kind[a] != _ADD or len(self.data[a]) >= len(terms):
                    continue
                ratio, used = None, []
                for u in self.data[a]:
                    cu, fu = self.split(u)
                    found = units.get(self.build_mul(1, list(fu)) if fu else None)
                    if found is None or found[0] == i or found[0] in used:
                        break
                    r = _nmul(found[1], _ninv(cu))
                    if ratio is None:
                        ratio = r
                    elif r != ratio:
                        break
                    used.append(found[0])
                else:
                    rest = self.build_mul(ct, [bx for bx in ft if bx != (a, x)])
                    inside = self.mul(a, self.add([rest, self.num(ratio)]))
                    return [inside, *(u for j, u in enumerate(terms) if j != i and j not in used)]
        return None

    def _together(self, terms: list[int]) -> int | None:
        """``1 - s / (s + 1)`` as ``1 / (s + 1)``: a sum over the denominator of one of
        its terms, when that is shorter than the sum as it is."""
        if len(terms) > 8:
            return None
        dens = []
        for t in terms:
            for b, x in self.split(t)[1]:
                if x == -1 and b not in dens:
                    dens.append(b)
        if not dens or len(dens) > 3 or self._nesting > 2:
            return None
        best, best_size = None, None
        self._nesting += 1  # the numerator may have denominators of its own: a few levels
        try:
            for d in dens:
                cand = self.mul(self.add([self.mul(t, d) for t in terms]), self.inv(d))
                if best_size is None or self.size(cand) < best_size:
                    best, best_size = cand, self.size(cand)
        finally:
            self._nesting -= 1
        return best

    def _pull_out(self, common: list, terms: list[int]) -> int:
        """``common * (t1 / common + t2 / common + ...)``."""
        rest = []
        for t in terms:
            c, f = self.split(t)
            left = dict(f)
            for b, x in common:
                left[b] = _nadd(left[b], -x)
            rest.append(self.build_mul(c, list(left.items())))
        return self.mul(self.build_mul(1, common), self.add(rest))

    def _collect(self, terms: list[int]) -> int | None:
        """``a * b + a * c + d`` as ``a * (b + c) + d`` when that is shorter: the factor
        shared by some of the terms whose pulling out saves the most characters."""
        holders: dict[int, list[int]] = {}
        for i, t in enumerate(terms):
            if self.kind[t] != _NUM:
                for b, x in self.split(t)[1]:
                    if _exact(x):
                        holders.setdefault(b, []).append(i)
        best, best_gain = None, 0
        tried: set[tuple] = set()
        for group in holders.values():
            key = tuple(group)
            if len(group) < 2 or len(group) == len(terms) or key in tried:
                continue
            tried.add(key)
            common = self._common([terms[i] for i in group])
            if not common:
                continue
            # k copies of the factor (and its "*") become one, inside "(...)"
            gain = (len(group) - 1) * (self.size(self.build_mul(1, common)) + 1) - 3
            if gain > best_gain:
                inside = self._pull_out(common, [terms[i] for i in group])
                # measured: what is left of a power may print as long as it did
                # (y / sqrt(y) is sqrt(y))
                real = sum(self.size(terms[i]) + 1 for i in group) - self.size(inside) - 1
                if real > 0:
                    best, best_gain = (group, inside), gain
        if best is None:
            return None
        group, inside = best
        return self.add([inside, *(t for i, t in enumerate(terms) if i not in group)])

    def size(self, t: int) -> int:
        """About how many characters term ``t`` prints as (spaces left out)."""
        memo = self._sizes
        stack = [t]
        while stack:
            u = stack[-1]
            if u in memo:
                stack.pop()
                continue
            kids = [c for c in self.children(u) if c not in memo]
            if kids:
                stack.extend(kids)
                continue
            stack.pop()
            memo[u] = self._size_one(u)
        return memo[t]

    def _size_one(self, t: int) -> int:
        k, d = self.kind[t], self.data[t]
        sz = self._sizes
        if k in (_SYM, _KNOWN):
            return len(d)
        if k == _NUM:
            return len(str(d))
        if k == _RAW:
            return len(d[0])
        if k == _ADD:
            return sum(sz[u] for u in d) + len(d) - 1
        if k == _MUL:
            n = 0 if d[0] in (1, -1) else len(str(d[0])) + 1
            for b, x in d[1]:
                n += sz[b] + 1 + (0 if x in (1, -1) else len(str(x)) + 2)
                n += 2 if self.kind[b] == _ADD else 0
            return n
        if k == _POW:
            return sz[d[0]] + sz[d[1]] + 3
        if k == _CALL:
            return len(d[0]) + 1 + sum(sz[u] + 1 for u in d[1])
        if k == _INFIX:
            return sz[d[1]] + sz[d[2]] + len(d[3])
        return 1

    def _canon_sum(self, b: int) -> tuple[tuple, bool]:
        """The items of sum ``b`` or of its negation, whichever sorts first, and
        whether that is the negation (memoised: sums recur in every sum built)."""
        found = self._canon.get(b)
        if found is None:
            items = self.data[b]
            mine = tuple(sorted(items))
            flipped = tuple(sorted(self.neg(u) for u in items))
            found = (flipped, True) if flipped < mine else (mine, False)
            self._canon[b] = found
        return found

    def _unit_key(self, factors: tuple) -> tuple[tuple, int]:
        """The factors of a product as a key that ``(a - b) * c`` and ``(b - a) * c``
        share, and the sign (1 or -1) that turns the product into the keyed one."""
        key = []
        sign = 1
        for b, x in factors:
            if self.kind[b] == _ADD and type(x) is int:
                canon, flipped = self._canon_sum(b)
                key.append(((1, canon), x))
                if flipped and x % 2:
                    sign = -sign
            else:
                key.append(((0, b), x))
        return tuple(sorted(key, key=lambda bx: (bx[0], str(bx[1])))), sign

    def _common(self, terms: list[int]) -> list:
        """Factors every term of a sum has (exact powers of one sign: the smaller one)."""
        shared: dict[int, Any] | None = None
        for t in terms:
            if self.kind[t] == _NUM:
                return []
            f = dict(self.split(t)[1])
            if shared is None:
                shared = {b: x for b, x in f.items() if _exact(x)}
            else:
                shared = {
                    b: (min(x, f[b]) if x > 0 else max(x, f[b]))
                    for b, x in shared.items()
                    if b in f and _exact(f[b]) and (x > 0) == (f[b] > 0)
                }
            if not shared:
                return []
        return list(shared.items()) if shared else []

    def node(self, op: str, params: tuple, args: list[int], spec: Any = None) -> int:
        """The term of ``op(*args)``."""
        if op == "add":
            return self.add(args)
        if op == "subtract":
            return self.add([args[0], self.neg(args[1])])
        if op == "multiply":
            return self.mul(args[0], args[1])
        if op == "divide":
            return self.mul(args[0], self.inv(args[1]))
        if op == "negative":
            return self.neg(args[0])
        if op == "power":
            return self.power(args[0], args[1])
        if op == "square":
            return self.power(args[0], self.num(2))
        if op == "sqrt":  # a factor a ** (1/2): it merges with other powers of a
            return self.power(args[0], self.num(Fraction(1, 2)))
        if op in ("log", "exp") and not params:
            inner = args[0]
            undo = "exp" if op == "log" else "log"
            if (
                self.kind[inner] == _CALL
                and self.data[inner][0] == undo
                and not self.data[inner][2]
            ):
                return self.data[inner][1][0]  # log(exp(u)) is u (and exp(log(u)) where defined)
            if op == "exp":
                out = self._exp_of_logs(inner)
                if out is not None:
                    return out
            elif self.kind[inner] == _MUL and self.data[inner][0] == 1:
                (b, x), *more = self.data[inner][1]
                if not more and isinstance(x, Fraction) and x.denominator % 2 == 0:
                    # log(sqrt(u)) is log(u) / 2: u ** x is defined only where u >= 0
                    return self.mul(self.num(x), self.node("log", (), [b]))
        if (
            spec is not None
            and spec.elementwise
            and not params
            and all(self.kind[a] == _NUM for a in args)
        ):
            folded = self._fold(spec, [self.data[a] for a in args])
            if folded is not None:
                return folded
        if op == "sigmoid" and not params:
            found = self._log_of(args[0])
            if found is not None and found[1] == 1:  # sigmoid(log(w)) is w / (w + 1)
                self.seen_sigmoid_log = True
                if self.sigmoid_log:
                    w = found[0]
                    return self.mul(w, self.inv(self.add([w, self.num(1)])))
        if op == "log1p" and not params and self.kind[args[0]] == _NUM:
            v = self.data[args[0]]
            if _exact(v) and v > -1:  # log1p(5) is log(6), as SymPy prints it
                return self.make(_CALL, ("log", (self.num(_nadd(v, 1)),), (), False))
        if op in _EVEN and len(args) == 1 and not params:
            c, _ = self.split(args[0])
            if _negative(c):  # cos(-u) is cos(u)
                args = [self.neg(args[0])]
        if spec is not None and spec.infix and len(args) == 2:
            return self.make(_INFIX, (op, args[0], args[1], spec.infix, spec.precedence))
        variadic = spec is not None and spec.nargs is None
        return self.make(_CALL, (op, tuple(args), params, variadic))


def _convert(
    graph: Any, root: int, max_nodes: int, sigmoid_log: bool = False
) -> tuple[_Terms, int]:
    """The display term of graph node ``root`` (iterative, in node-id order)."""
    from .. import ops as _ops
    from ..core.graph import ancestors

    order = sorted(ancestors(graph, [root]))
    if len(order) > max_nodes:
        raise TextTooLong(f"<{len(order)}-node expression>", len(order))
    nodes = graph.records()
    terms = _Terms()
    terms.sigmoid_log = sigmoid_log
    memo: dict[int, int] = {}
    for n in order:
        node = nodes[n]
        op = node["op"]
        if op == "input":
            t = terms.make(_SYM, node["name"])
        elif op == "constant":
            t = terms.const(node["value"], node.get("exact"))
        elif op in _SEE_THROUGH:
            t = memo[node["args"][0]]
        elif op == "jacobian":  # per element, the Jacobian is the derivative it holds
            t = memo[node["args"][2]]
        elif op in _FILLS:
            t = terms.num(_FILLS[op])
        else:
            args = [memo[a] for a in node["args"]]
            t = terms.node(op, tuple(node["params"]), args, _ops.OPS.get(op))
        memo[n] = t
    return terms, memo[root]


def _shortest_factoring(terms: _Terms, root: int) -> int:
    """:func:`_factor_sums` with and without numeric content moved out of sum
    factors, whichever text is shorter as a whole: moving it shortens each product
    by itself, but a sum shared with other parts may then be written two ways."""
    plain = _factor_sums(terms, root)
    terms.content_moves = True
    try:
        moved = _factor_sums(terms, root)
    finally:
        terms.content_moves = False
    return moved if terms.size(moved) < terms.size(plain) else plain


def _factor_sums(terms: _Terms, root: int) -> int:
    """The terms of ``root`` rebuilt with common factors pulled out of sums."""
    terms.factoring = True
    new: dict[int, int] = {}
    order = _reach(terms, [root])
    parents: dict[int, int] = {}
    for t in order:
        for c in set(terms.children(t)):
            parents[c] = parents.get(c, 0) + 1
    shared: set[int] = set()  # the new forms of terms with more than one parent
    for t in order:
        k, d = terms.kind[t], terms.data[t]
        if k == _ADD:
            new[t] = terms.add([new[u] for u in d])
        elif k == _MUL:  # through mul and power: a factor may have become a product
            acc = terms.num(d[0])
            for b, x in d[1]:
                acc = terms.mul(acc, new[b] if x == 1 else terms.power(new[b], terms.num(x)))
            new[t] = terms.content_out(acc, shared)
        elif k == _POW:
            new[t] = terms.make(_POW, (new[d[0]], new[d[1]]))
        elif k == _CALL:
            new[t] = terms.make(_CALL, (d[0], tuple(new[a] for a in d[1]), d[2], d[3]))
        elif k == _INFIX:
            new[t] = terms.make(_INFIX, (d[0], new[d[1]], new[d[2]], d[3], d[4]))
        else:
            new[t] = t
        if parents.get(t, 0) > 1:
            shared.add(new[t])
    terms.factoring = False
    return new[root]


# -- Python-syntax text ---------------------------------------------------------------------


def _num_text(v: Any) -> tuple[str, int]:
    if isinstance(v, Fraction):
        return f"{v.numerator} / {v.denominator}", (_P_NEG if v < 0 else _P_MUL)
    if isinstance(v, float):
        if not math.isfinite(v):
            return ("(0/0)" if math.isnan(v) else "(1/0)" if v > 0 else "(-1/0)"), _P_ATOM
        return repr(v), (_P_NEG if v < 0 else _P_ATOM)
    return str(v), (_P_NEG if v < 0 else _P_ATOM)


def _exp_text(v: Any) -> str:
    """An exponent (positive number) after ``**``."""
    if isinstance(v, Fraction):
        f = float(v)
        return (
            repr(f)
            if Fraction(repr(f)) == v and len(repr(f)) <= 6
            else f"({v.numerator} / {v.denominator})"
        )
    text, prec = _num_text(v)
    return text if prec == _P_ATOM else f"({text})"


class _PyPrinter:
    """Python-syntax text of terms, one memo entry per term; named terms print their name."""

    def __init__(self, terms: _Terms, names: dict[int, str], max_chars: int) -> None:
        self.t = terms
        self.names = names
        self.max_chars = max_chars
        self.memo: dict[int, tuple[str, int]] = {}
        #: (b, x) -> (term, name) for named powers ``b ** x`` (factors of products)
        self.pow_names: dict[tuple, tuple[int, str]] = {}
        for t, name in names.items():
            if terms.kind[t] == _MUL and terms.data[t][0] == 1 and len(terms.data[t][1]) == 1:
                self.pow_names[terms.data[t][1][0]] = (t, name)
        self._current = -1
        self._negated = -1  # a sum factor printed negated (see flip)

    def of(self, t: int) -> tuple[str, int]:
        name = self.names.get(t)
        if name is not None:
            return name, _P_ATOM
        if t == self._negated:
            return self._layout([(not n, s, p) for n, s, p in map(self.signed, self.t.data[t])])
        return self.memo[t]

    def run(self, reach: list[int]) -> None:
        budget = 4 * self.max_chars
        for t in reach:
            self._current = t
            text = self.one(t)
            budget -= len(text[0])
            if len(text[0]) > self.max_chars or budget < 0:
                raise TextTooLong(f"over {self.max_chars} characters as text")
            self.memo[t] = text

    def one(self, t: int) -> tuple[str, int]:
        k, d = self.t.kind[t], self.t.data[t]
        if k == _SYM:
            return d, _P_ATOM
        if k == _NUM:
            return _num_text(d)
        if k == _KNOWN:
            return d, _P_ATOM
        if k == _RAW:
            return d
        if k == _ADD:
            return self.sum_text(d)
        if k == _MUL:
            return self.mul_text(*d)
        if k == _POW:
            (bs, bp), (xs, xp) = self.of(d[0]), self.of(d[1])
            bs = bs if bp == _P_ATOM else f"({bs})"
            xs = xs if xp == _P_ATOM else f"({xs})"
            return f"{bs} ** {xs}", _P_POW
        if k == _INFIX:
            op, a, b, infix, prec = d
            (ls, lp), (rs, rp) = self.of(a), self.of(b)
            ls = f"({ls})" if lp < prec else ls
            rs = f"({rs})" if rp <= prec else rs
            return f"{ls} {infix} {rs}", prec
        op, args, params, variadic = d
        parts = [self.of(a)[0] for a in args]
        if variadic:
            parts = ["[" + ", ".join(parts) + "]"]
        parts += [f"{key}={value!r}" for key, value in params]
        return f"{op}({', '.join(parts)})", _P_ATOM

    def num_text(self, v: Any) -> tuple[str, int]:
        return _num_text(v)

    def signed(self, t: int) -> tuple[bool, str, int]:
        """(negative, text of the magnitude, its precedence) of a term of a sum."""
        k, d = self.t.kind[t], self.t.data[t]
        if t not in self.names:
            if k == _MUL and _negative(d[0]):
                s, p = self.mul_text(_nmul(-1, d[0]), d[1])
                return True, s, p
            if k == _NUM and _negative(d):
                s, p = self.num_text(-d)
                return True, s, p
        s, p = self.of(t)
        return False, s, p

    def sum_text(self, items: tuple) -> tuple[str, int]:
        return self._layout([self.signed(t) for t in items])

    def _layout(self, parts: list) -> tuple[str, int]:
        if parts[0][0]:  # lead with a positive term: b - a, not -a + b
            for i, p in enumerate(parts):
                if not p[0]:
                    parts.insert(0, parts.pop(i))
                    break
        out = []
        for i, (neg, s, p) in enumerate(parts):
            if p <= _P_ADD or (i and p == _P_NEG):
                s = f"({s})"
            if i == 0:
                out.append("-" + s if neg else s)
            else:
                out.append((" - " if neg else " + ") + s)
        return "".join(out), _P_ADD

    def lead(self, coef: Any, factors: tuple) -> tuple:
        """Factors of ``-c * ...`` in print order: ``-(a - b) * c`` would parse back as
        ``(b - a) * c``, so a factor that is no sum goes first (``-c * (a - b)``)."""
        c = _nmul(-1, coef)
        if not (c == 1 or (isinstance(c, Fraction) and c.numerator == 1)) or not factors:
            return factors  # a number is printed first: -3 * (a - b) parses back as it is

        def is_sum(b: int, x: Any) -> bool:
            return x == 1 and self.t.kind[b] == _ADD and b not in self.names

        tops = [i for i, (_, x) in enumerate(factors) if x > 0]
        if not tops or not is_sum(*factors[tops[0]]):
            return factors
        for i in tops:
            if not is_sum(*factors[i]):
                return (factors[i], *factors[:i], *factors[i + 1 :])
        return factors

    def flip(self, coef: Any, factors: tuple) -> tuple[str, int] | None:
        """``-x * (1 - t)`` as ``x * (t - 1)``: a negative product with a sum factor
        (odd power) that has a negative term is printed with that sum negated; None
        when there is no such sum.  ``-s * (1 - s)`` stays: it reads as the derivative
        of a sigmoid ``s``."""
        for b, x in factors:
            if (
                type(x) is int
                and x % 2
                and self.t.kind[b] == _ADD
                and b not in self.names
                and any(self.signed(u)[0] for u in self.t.data[b])
                and not self._one_minus_factor(b, factors)
            ):
                self._negated = b
                try:
                    return self.mul_text(_nmul(-1, coef), factors)
                finally:
                    self._negated = -1
        return None

    def _one_minus_factor(self, b: int, factors: tuple) -> bool:
        """Whether sum ``b`` is ``1 - a`` with ``a`` a factor of the same product."""
        items = self.t.data[b]
        if len(items) != 2:
            return False
        bases = {f for f, x in factors if x > 0}
        for one, other in (items, items[::-1]):
            if self.t.kind[one] == _NUM and self.t.data[one] == 1:
                c, f = self.t.split(other)
                return c == -1 and len(f) == 1 and f[0][1] == 1 and f[0][0] in bases
        return False

    def factor(self, b: int, x: Any) -> str:
        s, p = self.of(b)
        if x == 1:
            return s if p > _P_NEG else f"({s})"
        if x == Fraction(1, 2):
            return f"sqrt({s})"
        s = s if p == _P_ATOM else f"({s})"
        return f"{s} ** {_exp_text(x)}"

    def split(self, coef: Any, factors: tuple) -> tuple[list[str], list[str]]:
        """The texts of a product's numerator and denominator factors (a positive coef)."""
        num: list[str] = []
        den: list[str] = []
        if isinstance(coef, Fraction):
            if coef.numerator != 1:
                num.append(str(coef.numerator))
            den.append(str(coef.denominator))
        elif coef != 1:
            num.append(self.number(coef))
        for b, x in factors:
            neg = _negative(x)
            ax = _nmul(-1, x) if neg else x
            named = self.pow_names.get((b, ax)) if self.pow_names else None
            if named is not None and named[0] != self._current:
                text = named[1]  # sqrt(u) named t: a / (2 * t)
            else:
                text = self.factor(b, ax)
            (den if neg else num).append(text)
        return num, den

    def number(self, v: Any) -> str:
        return _num_text(v)[0]

    def mul_text(self, coef: Any, factors: tuple) -> tuple[str, int]:
        if _negative(coef):
            flipped = self.flip(coef, factors)
            if flipped is not None:
                return flipped
            s, _ = self.mul_text(_nmul(-1, coef), self.lead(coef, factors))
            return "-" + s, _P_NEG
        num, den = self.split(coef, factors)
        text = " * ".join(num) if num else "1"
        if den:  # a lone factor is an atom, a power or parenthesised: safe after /
            text += " / " + (den[0] if len(den) == 1 else "(" + " * ".join(den) + ")")
        return text, self.lone_power(coef, factors, den)

    def lone_power(self, coef: Any, factors: tuple, den: list) -> int:
        """Precedence of a product: ``sqrt(u)`` alone is an atom, ``u ** 3`` a power
        (``2 ** sqrt(z)``, not ``2 ** (sqrt(z))``)."""
        if coef != 1 or den or len(factors) != 1 or factors[0][1] == 1:
            return _P_MUL
        b, x = factors[0]
        if x == Fraction(1, 2) or self.pow_names.get((b, x), (-1,))[0] not in (-1, self._current):
            return _P_ATOM
        return _P_POW


# -- LaTeX ----------------------------------------------------------------------------------

_GREEK = frozenset(
    [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "pi",
        "rho",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Lambda",
        "Xi",
        "Pi",
        "Sigma",
        "Upsilon",
        "Phi",
        "Psi",
        "Omega",
    ]
)
# Parameters at these values (None, False: compared by identity) are the ops' defaults
# and left out of the LaTeX form.
_LATEX_DEFAULTS = {"axis": None, "axes": None, "keepdims": False}

_LATEX_FUNCS = {
    "sin": r"\sin",
    "cos": r"\cos",
    "tan": r"\tan",
    "sinh": r"\sinh",
    "cosh": r"\cosh",
    "tanh": r"\tanh",
    "arcsin": r"\operatorname{asin}",
    "arccos": r"\operatorname{acos}",
    "arctan": r"\operatorname{atan}",
    "log": r"\log",
}
_LATEX_INFIX = {"<": "<", "<=": r"\leq", ">": ">", ">=": r"\geq", "==": "=", "!=": r"\neq"}
_LATEX_INFIX["%"] = r"\bmod"  # a bare % would start a LaTeX comment
_SUBSCRIPT = re.compile(r"([A-Za-z][A-Za-z0-9]*)_([A-Za-z0-9]+)\Z")


def _latex_symbol(name: str) -> str:
    from ..core._escape import latex_name

    safe = latex_name(name)
    if safe is not None:
        return safe
    m = _SUBSCRIPT.match(name)
    if m:
        return _latex_symbol(m.group(1)) + "_{" + _latex_symbol(m.group(2)) + "}"
    if name in _GREEK:
        return "\\" + name
    return name


def _latex_num(v: Any) -> tuple[str, int]:
    if isinstance(v, Fraction):
        s = rf"\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
        return ("-" + s, _P_NEG) if v < 0 else (s, _P_ATOM)
    if isinstance(v, float):
        if not math.isfinite(v):
            return (r"\text{NaN}" if math.isnan(v) else r"\infty" if v > 0 else r"-\infty"), _P_ATOM
        text = repr(v)
        if "e" in text:
            mant, ex = text.split("e")
            text = rf"{mant} \cdot 10^{{{int(ex)}}}"
        return text, (_P_NEG if v < 0 else _P_ATOM)
    return str(v), (_P_NEG if v < 0 else _P_ATOM)


def _paren(s: str) -> str:
    return rf"\left({s}\right)"


class _LatexPrinter(_PyPrinter):
    """LaTeX of terms, in SymPy's conventions (``x^{2} + \\sin{\\left(x y \\right)}``)."""

    def num_text(self, v: Any) -> tuple[str, int]:
        return _latex_num(v)

    def one(self, t: int) -> tuple[str, int]:
        k, d = self.t.kind[t], self.t.data[t]
        if k == _SYM:
            return _latex_symbol(d), _P_ATOM
        if k == _NUM:
            return _latex_num(d)
        if k == _KNOWN:
            return (r"\pi" if d == "pi" else "e"), _P_ATOM
        if k == _RAW:
            from ..core._escape import latex_name

            return latex_name(d[0] + " ", 60) or d[0], _P_ATOM
        if k == _ADD:
            return self.sum_text(d)
        if k == _MUL:
            return self.mul_text(*d)
        if k == _POW:
            (bs, bp), (xs, _) = self.of(d[0]), self.of(d[1])
            return f"{bs if bp == _P_ATOM else _paren(bs)}^{{{xs}}}", _P_POW
        if k == _INFIX:
            op, a, b, infix, prec = d
            (ls, lp), (rs, rp) = self.of(a), self.of(b)
            ls = _paren(ls) if lp < prec else ls
            rs = _paren(rs) if rp <= prec else rs
            sym = _LATEX_INFIX.get(infix, r"\cdot" if infix == "@" else infix)
            return f"{ls} {sym} {rs}", prec
        op, args, params, _ = d
        parts = [self.of(a)[0] for a in args]
        if op == "exp" and len(parts) == 1 and not params:
            return f"e^{{{parts[0]}}}", _P_POW
        if op == "sqrt" and len(parts) == 1:
            return rf"\sqrt{{{parts[0]}}}", _P_ATOM
        if op == "abs" and len(parts) == 1:
            return rf"\left|{{{parts[0]}}}\right|", _P_ATOM
        if params:
            from ..core._escape import latex_name

            for key, value in params:
                if key in _LATEX_DEFAULTS and value is _LATEX_DEFAULTS[key]:
                    continue  # sum(W), not sum(W, axis=None, keepdims=False)
                text = f"{key}={value!r}"
                parts.append(latex_name(text + " ", 80) or text)
        name = _LATEX_FUNCS.get(op)
        if name is None:
            from ..core._escape import latex_name

            plain = re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", op)
            name = r"\operatorname{" + (op if plain else latex_name(op + " ", 40)) + "}"
        return name + "{" + _paren(", ".join(parts) + " ") + "}", _P_ATOM

    def factor(self, b: int, x: Any) -> str:
        s, p = self.of(b)
        if x == 1:
            return s if p > _P_NEG else _paren(s)
        if x == Fraction(1, 2):
            return rf"\sqrt{{{s}}}"
        s = s if p == _P_ATOM else _paren(s)
        if isinstance(x, Fraction):
            ex = rf"\frac{{{x.numerator}}}{{{x.denominator}}}"
        else:
            ex = _latex_num(x)[0]
        return f"{s}^{{{ex}}}"

    def number(self, v: Any) -> str:
        return _latex_num(v)[0]

    def mul_text(self, coef: Any, factors: tuple) -> tuple[str, int]:
        if _negative(coef):
            flipped = self.flip(coef, factors)
            if flipped is not None:
                return flipped
            s, _ = self.mul_text(_nmul(-1, coef), self.lead(coef, factors))
            return "-" + s, _P_NEG
        num, den = self.split(coef, factors)
        if den:  # a lone sum over or under the bar needs no parentheses
            bare = {_paren(self.of(b)[0]): self.of(b)[0] for b, x in factors if x in (1, -1)}
            num = [bare.get(num[0], num[0])] if len(num) == 1 else num
            den = [bare.get(den[0], den[0])] if len(den) == 1 else den
        top = ""
        for s in num:
            top += (" \\cdot " if top and s[:1].isdigit() else " " if top else "") + s
        top = top or "1"
        if den:
            return rf"\frac{{{top}}}{{{' '.join(den)}}}", _P_MUL
        return top, self.lone_power(coef, factors, den)


# -- naming shared parts ----------------------------------------------------------------------


def _reach(terms: _Terms, roots: list[int]) -> list[int]:
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        stack.extend(terms.children(t))
    return sorted(seen)


def _plen(text: str) -> int:
    """Printed length as people count it and the issue measures it: spaces left out,
    ``**`` one character (``^``)."""
    return len(text) - text.count(" ") - text.count("**")


def _add_power_terms(terms: _Terms, reach: list[int]) -> None:
    """Make ``b ** x`` a term of its own for every factor of a product that is a power
    of something (``sqrt(u)`` in ``a / (2 * sqrt(u))``), so that it can be named."""
    for t in reach:
        if terms.kind[t] == _MUL:
            for b, x in terms.data[t][1]:
                ax = _nmul(-1, x) if _negative(x) else x
                if ax != 1:
                    terms.make(_MUL, (1, ((b, ax),)))


def _name_kids(terms: _Terms, t: int) -> list[int]:
    """Children of ``t`` as the text writes them: a power factor of a product is its
    power term (when there is one), so that a name for ``sqrt(u)`` stands for it."""
    if terms.kind[t] != _MUL:
        return terms.children(t)
    out = []
    for b, x in terms.data[t][1]:
        ax = _nmul(-1, x) if _negative(x) else x
        p = terms.power_term(b, ax) if ax != 1 else None
        out.append(b if p is None or p == t else p)
    return out


def _name_order(terms: _Terms, root: int) -> list[int]:
    """Terms reachable from ``root`` (through :func:`_name_kids`), children first."""
    order: list[int] = []
    done: set[int] = set()
    stack = [(root, False)]
    while stack:
        t, expanded = stack.pop()
        if t in done:
            continue
        if expanded:
            done.add(t)
            order.append(t)
            continue
        stack.append((t, True))
        stack.extend((c, False) for c in _name_kids(terms, t) if c not in done)
    return order


def _uses(terms: _Terms, reach: list[int], root: int, named: dict[int, str]) -> dict[int, int]:
    """How often each term is written in the text of ``root`` and of each named part
    (``reach`` children first)."""
    expand = dict.fromkeys(named, 1)
    expand[root] = 1
    refs: dict[int, int] = {}
    for t in reversed(reach):
        c = expand.get(t, 0)
        if not c:
            continue
        for ch in _name_kids(terms, t):
            refs[ch] = refs.get(ch, 0) + c
            if ch not in named:
                expand[ch] = expand.get(ch, 0) + c
    return refs


def _assign(named: Any, reach_pos: dict[int, int], pool: list[str]) -> dict[int, str]:
    """Names from the pool in definition order: inner parts first."""
    return {t: pool[i] for i, t in enumerate(sorted(named, key=reach_pos.__getitem__))}


def _length(
    terms: _Terms, root: int, reach: list[int], named: dict[int, str], max_chars: int
) -> int:
    """Printed length (:func:`_plen`) of the whole text with these names."""
    printer = _PyPrinter(terms, named, max_chars)
    printer.run(reach)
    n = _plen(printer.of(root)[0])
    if named:  # "where" and a "," between definitions
        defs = sum(len(v) + 1 + _plen(printer.memo[t][0]) for t, v in named.items())
        n += 5 + len(named) - 1 + defs
    return n


def _pick_names(terms: _Terms, root: int, reach: list[int], max_chars: int) -> dict[int, str]:
    """Name shared parts while a name makes the whole text shorter: greedily by the
    estimated gain, then (for texts of ordinary size) by measuring the whole text
    with each part named or not, until no single change shortens it."""
    taken = {terms.data[t] for t in reach if terms.kind[t] == _SYM} | {"e", "pi"}
    named: dict[int, str] = {}
    skip = {_SYM, _NUM, _KNOWN, _RAW}
    try:
        _PyPrinter(terms, named, max_chars).run(reach)
    except TextTooLong:
        # written out, the text is too long: name shared parts bottom-up as they
        # grow, so that the text grows with the graph, then go on greedily
        refs = _uses(terms, reach, root, named)
        printer = _PyPrinter(terms, named, max_chars)
        budget = 4 * max_chars
        for t in reach:
            text = printer.one(t)
            budget -= len(text[0])
            if len(text[0]) > max_chars or budget < 0:
                raise TextTooLong(f"over {max_chars} characters as text") from None
            printer.memo[t] = text
            if (
                len(named) < _MAX_PRENAMES
                and refs.get(t, 0) > 1
                and terms.kind[t] not in skip
                and len(text[0]) > 24
            ):
                named[t] = "?"
    pool = [n for n in _NAME_POOL if n not in taken]
    i = 1
    while len(pool) < max(len(named), _MAX_NAMES) + 1:
        pool += [f"{n}{i}" for n in _NAME_POOL if f"{n}{i}" not in taken]
        i += 1

    def nameable(t: int) -> bool:
        # a name for -a reads badly in a sum (1 + s): name a instead
        return terms.kind[t] not in skip and not (
            terms.kind[t] == _MUL and _negative(terms.data[t][0])
        )

    while len(named) < _MAX_NAMES:
        printer = _PyPrinter(terms, named, max_chars)
        printer.run(reach)
        refs = _uses(terms, reach, root, named)
        n = len(pool[len(named)])
        best, best_gain = None, 0
        for t in reach:
            k = refs.get(t, 0)
            if k < 2 or t in named or not nameable(t):
                continue
            length = _plen(printer.memo[t][0])
            # k copies become k names; the part is written once more after "where"/","
            gain = (k - 1) * length - k * n - n - 1 - (1 if named else 5)
            if gain > best_gain:
                best, best_gain = t, gain
        if best is None:
            break
        named[best] = "?"
    pos = {t: i for i, t in enumerate(reach)}
    if len(reach) <= _EXACT_REACH:
        refs = _uses(terms, reach, root, {})
        cands = [t for t in reach if refs.get(t, 0) > 1 and nameable(t)]
        chosen = set(named)
        best_len = _length(terms, root, reach, _assign(chosen, pos, pool), max_chars)
        budget = _EXACT_TRIES
        while budget > 0:
            move = None
            for t in cands:
                if budget <= 0:
                    break
                budget -= 1
                trial = chosen ^ {t}
                if len(trial) > _MAX_NAMES:
                    continue
                n = _length(terms, root, reach, _assign(trial, pos, pool), max_chars)
                if n < best_len:
                    best_len, move = n, trial
            if move is None:
                break
            chosen = move
        named = dict.fromkeys(chosen, "?")
    return _assign(named, pos, pool)


# -- entry points -----------------------------------------------------------------------------


def _prepare(e: Any, names: bool, max_nodes: int, max_chars: int):
    terms, root = _convert(e.graph, e.id, max_nodes)
    root = _shortest_factoring(terms, root)
    if terms.seen_sigmoid_log:
        # sigmoid(log(w)) written as w / (w + 1) repeats w: keep it only if shorter
        other, other_root = _convert(e.graph, e.id, max_nodes, sigmoid_log=True)
        other_root = _shortest_factoring(other, other_root)
        if other.size(other_root) < terms.size(root):
            terms, root = other, other_root
    if not names:
        return terms, root, _reach(terms, [root]), {}
    _add_power_terms(terms, _reach(terms, [root]))
    reach = _name_order(terms, root)
    return terms, root, reach, _pick_names(terms, root, reach, max_chars)


def _render(printer: _PyPrinter, terms: _Terms, root: int, reach: list[int], named: dict):
    printer.run(reach)
    main = printer.of(root)[0]
    pos = {t: i for i, t in enumerate(reach)}
    defs = [(named[t], printer.memo[t][0]) for t in sorted(named, key=pos.__getitem__)]
    return main, defs


def text_parts(
    e: Any, *, names: bool = True, max_nodes: int = 10_000, max_chars: int = 1_000_000
) -> tuple[str, list[tuple[str, str]]]:
    """The people's text of ``e`` as (main text, [(name, text of the named part), ...]).

    Raises :class:`TextTooLong` past ``max_nodes`` graph nodes or ``max_chars``
    characters (its message is the summary to show instead).
    """
    terms, root, reach, named = _prepare(e, names, max_nodes, max_chars)
    return _render(_PyPrinter(terms, named, max_chars), terms, root, reach, named)


def to_text(
    e: Any, *, names: bool = False, max_nodes: int = 10_000, max_chars: int = 1_000_000
) -> str:
    """Text of ``e`` for people, Python syntax.  Without names it parses back
    (``ga.parse``) to an expression with the same values; with ``names=True``
    shared parts are printed once, after ``where``."""
    try:
        main, defs = text_parts(e, names=names, max_nodes=max_nodes, max_chars=max_chars)
    except TextTooLong as exc:
        msg = str(exc)
        return msg if msg.startswith("<") else f"<expression {msg}>"
    if not defs:
        return main
    return main + "   where " + ", ".join(f"{n} = {s}" for n, s in defs)


def constant_text(value: Any, exact: Any = None) -> str:
    """A scalar constant as people read it (``log(2)``, ``1 / 3``, ``pi``): for
    drawings, which label a constant node by itself."""
    terms = _Terms()
    t = terms.const(value, exact)
    printer = _PyPrinter(terms, {}, 10_000)
    printer.run(_reach(terms, [t]))
    return printer.of(t)[0]


def latex(
    e: Any, *, names: bool = True, max_nodes: int = 10_000, max_chars: int = 1_000_000
) -> str:
    """LaTeX (math mode, without ``$``) of ``e`` for people; with ``names`` shared
    parts are typeset once, after ``\\text{where}``.  Input names are escaped.

    Parameters
    ----------
    e : Expr
        The expression.
    names : bool
        Typeset a part used more than once once, under a name.
    max_nodes, max_chars : int
        Limits on the graph's size and on the text's length.

    Returns
    -------
    str
        The LaTeX source.

    Raises
    ------
    graphad.backends.printing.TextTooLong
        When a limit is exceeded.
    GraphadError
        If ``e`` is not a graphad Expr.

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.symbols("x")
    >>> print(ga.latex(x**2 + ga.sin(x)))
    x^{2} + \\sin{\\left(x \\right)}
    """
    from ..core.expr import Expr

    if not isinstance(e, Expr):
        from ..core.errors import GraphadError

        raise GraphadError(f"latex: expected a graphad Expr, not {type(e).__name__}")
    terms, root, reach, named = _prepare(e, names, max_nodes, max_chars)
    latex_names = {t: _latex_symbol(n) for t, n in named.items()}
    main, defs = _render(
        _LatexPrinter(terms, latex_names, max_chars), terms, root, reach, latex_names
    )
    if not defs:
        return main
    return main + r" \quad \text{where}\quad " + r",\; ".join(f"{n} = {s}" for n, s in defs)


def latex_display(e: Any, max_nodes: int, max_chars: int) -> str:
    """``Expr._repr_latex_``: ``$...$``, or a one-line note when too big to typeset."""
    try:
        text = latex(e, names=True, max_nodes=max_nodes, max_chars=max_chars)
    except TextTooLong as exc:
        what = f"{exc.nodes} nodes, too many to typeset" if exc.nodes else str(exc)
        return (
            rf"$\text{{graphad expression: {what}; "
            r"print(e) shows its text, ga.render(e) its graph}$"
        )
    if len(text) > max_chars:
        return (
            rf"$\text{{graphad expression: over {max_chars} characters of LaTeX; "
            r"print(e) shows its text, ga.render(e) its graph}$"
        )
    return f"${text}$"
