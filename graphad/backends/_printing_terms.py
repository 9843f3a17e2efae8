"""Display terms of the printer for people (:mod:`graphad.backends.printing`): exact
numbers, hash-consed terms whose builders are the algebraic clean-up rules, a graph
read into terms, and sums factored once the terms are built.

One module on purpose, though past 600 lines: the clean-up rules are methods of
the term table and call one another (a product's rules build sums and powers).
"""

from __future__ import annotations

import math
from fractions import Fraction
from operator import itemgetter
from typing import Any

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
#: the names the text gives these ops: the array API standard's, which NumPy 2 (np.atan
#: is np.arctan), SymPy, C and Python's math share, and ``ga`` has too (so they parse)
SHORT_NAMES = {
    "arcsin": "asin",
    "arccos": "acos",
    "arctan": "atan",
    "arcsinh": "asinh",
    "arccosh": "acosh",
    "arctanh": "atanh",
    "arctan2": "atan2",
}
#: calls a two-term sum factor can cancel against (:meth:`_Terms._cancel_sums`)
_PARTNERS = frozenset({"sigmoid", "exp"})
#: even functions: f(-u) is f(u)
_EVEN = frozenset({"cos", "cosh", "abs", "square"})


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


def _positive_number(v: Any) -> bool:
    try:
        return v > 0
    except TypeError:
        return False


def _negative(v: Any) -> bool:
    try:
        return v < 0
    except TypeError:
        return False


def _cancelled(xs: int, xd: Any) -> int:
    """How many factors of a sum ``s ** xs`` (an integer power) cancel against ``d ** xd``
    on the other side of the fraction: as many as ``d`` has, rounded up (``s / sqrt(d)``
    with ``s = d * r`` is ``r * sqrt(d)``), at most ``xs``; signed as ``xs``."""
    k = min(abs(xs), math.ceil(abs(xd)))
    return k if xs > 0 else -k


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
            # arctan(1), arcsin(1), arccos(1 / 2): the angles inverse functions give
            float(np.arctan(1.0)): ("divide", (pi, ("num", 4))),
            float(np.arcsin(1.0)): ("divide", (pi, two)),
            float(np.arccos(0.5)): ("divide", (pi, ("num", 3))),
            float(np.arcsin(0.5)): ("divide", (pi, ("num", 6))),
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
        self._square_memo: dict[int, tuple[int, int] | None] = {}
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
        #: multiply sum factors through by what their terms divide by (:meth:`clear_out`),
        #: sums used elsewhere too as well when ``clear_shared``
        self.clear_moves = False
        self.clear_shared = False

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
                coef, factors = self._cancel_sums(coef, factors, sums)
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
        if any(kind[b] == _CALL and self.data[b][0] == "abs" for b, _ in factors):
            factors = self._through_abs(factors)
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
        known = _known_values().get(v)
        if known is not None:  # arctan(1) is pi / 4
            return self._exact_tree(known)
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
            seen: dict[tuple, tuple[int, bool]] = {}  # canonical items -> first sum, its flip
            for i in sums:
                b, x = factors[i]
                if self.kind[b] != _ADD:  # the flip above may have factored it
                    continue
                canon, flipped = self._canon_sum(b)
                first = seen.get(canon)
                if first is None:
                    seen[canon] = (b, flipped)
                elif first[1] != flipped:  # b is the negation of the first one seen
                    factors[i] = (first[0], x)
                    coef = _nmul(coef, -1 if x % 2 else 1)
        return coef, factors

    def _cancel_sums(self, coef: Any, factors: list, sums: list[int]) -> tuple[Any, list]:
        """Two-term sum factors that cancel against a factor on the other side of the
        fraction, as people cancel them: ``(1 - t ** 2) / (t + 1)`` is ``1 - t`` (a
        difference of squares over one of its factors: ``log1p(tanh(u))`` and
        ``sqrt(1 + tanh(u))`` write it), and ``(1 - sigmoid(u)) / sigmoid(u)`` is
        ``exp(-u)`` (the derivative of ``1 / sigmoid(u)``).  The same function wherever
        the cancelled factor is not zero, as ``x / x`` is ``1``.

        Cancelling appends the opposite powers rather than editing the factors: the
        merge that follows adds exponents of one base."""
        kind, data = self.kind, self.data
        pairs = [
            factors[i]
            for i in sums
            if kind[factors[i][0]] == _ADD and len(data[factors[i][0]]) == 2 and factors[i][1]
        ]
        if not pairs:
            return coef, factors
        power: dict[int, Any] = {}
        for b, x in factors:
            if _exact(x):
                power[b] = _nadd(power.get(b, 0), x)
        # what a sum can cancel against: a sum, sigmoid or exp on the other side
        up = down = False
        for b, x in power.items():
            if x and (kind[b] == _ADD or (kind[b] == _CALL and data[b][0] in _PARTNERS)):
                up, down = up or x > 0, down or x < 0
        if not (up and down):
            return coef, factors
        out = list(factors)
        for s, _ in pairs:
            xs = power.get(s, 0)
            if type(xs) is not int or not xs:
                continue
            found = self._sigmoid_complement(s)
            if found is not None:
                sign, sig, u = found
                xd = power.get(sig, 0)
                if xd and (xd > 0) != (xs > 0):
                    k = _cancelled(xs, xd)
                    # (1 - sigmoid(u)) ** k / sigmoid(u) ** k is exp(-u) ** k
                    out += [(s, -k), (sig, k), (self.node("exp", (), [self.neg(u)]), k)]
                    power[s] = xs - k
                    power[sig] = _nadd(xd, k)
                    coef = _nmul(coef, sign ** abs(k))
                continue
            v = self._exp_plus_one(s)
            if v is not None:
                e = self.node("exp", (), [v])
                xd = power.get(e, 0)
                if xd and (xd > 0) != (xs > 0):
                    # exp(v) / (exp(v) + 1) is sigmoid(v); 1 - sigmoid(u) for v = -u,
                    # the factor a sigmoid's derivative has
                    k = _cancelled(xs, xd)
                    if _negative(self.split(v)[0]):
                        sig = self.node("sigmoid", (), [self.neg(v)])
                        part = self.add([self.num(1), self.neg(sig)])
                    else:
                        part = self.node("sigmoid", (), [v])
                    out += [(s, -k), (e, k), (part, -k)]
                    power[s], power[e] = xs - k, _nadd(xd, k)
                    xs = power[s]
                    if xs < 0 and _negative(self.split(v)[0]):
                        # and what is left, 1 / (1 + exp(-u)), is sigmoid(u): the
                        # derivative of 1 / (1 + exp(-u)) is sigmoid(u) * (1 - sigmoid(u))
                        out += [(s, -xs), (self.node("sigmoid", (), [self.neg(v)]), -xs)]
                        power[s] = 0
                continue
            split = self._squares(s)
            if split is None:
                continue
            for a, other in (split, split[::-1]):
                for d, sign in ((a, 1), (self.neg(a), -1)):
                    xd = power.get(d, 0)
                    if not xd or (xd > 0) == (xs > 0):
                        continue
                    k = _cancelled(xs, xd)
                    # s = a * other: s ** k / a ** k is other ** k
                    out += [(s, -k), (d, k), (other, k)]
                    power[s], power[d] = xs - k, _nadd(xd, k)
                    power[other] = _nadd(power.get(other, 0), k)
                    coef = _nmul(coef, sign ** abs(k))
                    xs = power[s]
                    break
                if not xs:
                    break
        return coef, out

    def clear_out(self, t: int, shared: set[int]) -> int:
        """Product ``t`` with a sum factor multiplied through by a factor its terms
        divide by, when the product prints shorter: ``(1 + y ** 2 / x ** 2) * x ** 2``
        is ``x ** 2 + y ** 2`` (the derivative of ``arctan(y / x)`` is
        ``-y / (x ** 2 + y ** 2)``), and ``z * (3 / z + 1)`` is ``3 + z``.  The same
        function wherever that factor is not zero.  Sums in ``shared`` stay as they
        are, as in :meth:`content_out`."""
        if self.kind[t] != _MUL or not self.clear_moves:
            return t
        coef, factors = self.data[t]
        out = self._clear_denominators(list(factors), shared)
        return t if len(out) == len(factors) else self.build_mul(coef, out)

    def _clear_denominators(self, factors: list, shared: set[int]) -> list:
        """The factors of :meth:`clear_out` with the opposite powers of what it moves
        appended (the merge in :meth:`build_mul` adds exponents of one base)."""
        kind, data = self.kind, self.data
        power: dict[int, Any] = {}
        for b, x in factors:
            if _exact(x):
                power[b] = _nadd(power.get(b, 0), x)
        out = list(factors)
        for s in [b for b, x in power.items() if kind[b] == _ADD and type(x) is int and x]:
            if s in shared and not self.clear_shared:
                continue
            e = power[s]
            need: dict[int, Any] = {}  # base -> the largest power a term of s divides by
            for u in data[s]:
                for b, x in self.split(u)[1]:
                    if _exact(x) and _negative(x) and b != s and power.get(b):
                        need[b] = max(need.get(b, 0), -x)
            best, best_gain = None, 0
            for b, m in need.items():
                a = power[b]
                if (a > 0) != (e > 0):  # b on the other side of the fraction from s
                    continue
                bm = self.build_mul(1, [(b, m)])
                cleared = self.add([self.mul(u, bm) for u in data[s]])
                left = _nadd(a, _nmul(-m, e))
                gain = (
                    self.size(s)
                    + self._factor_size(b, a)
                    - self.size(cleared)
                    - self._factor_size(b, left)
                )
                if gain > best_gain:
                    best, best_gain = (b, cleared, left), gain
            if best is not None:
                b, cleared, left = best
                out += [(s, -e), (cleared, e), (b, _nadd(left, -power[b]))]
                power[b] = left
        return out

    def _factor_size(self, b: int, x: Any) -> int:
        """About how many characters ``b ** x`` adds to a product (0 when x is 0)."""
        if x == 0:
            return 0
        ax = _nmul(-1, x) if _negative(x) else x
        return self.size(self.build_mul(1, [(b, ax)])) + 1

    def _sigmoid_complement(self, s: int) -> tuple[int, int, int] | None:
        """(sign, sigmoid(u), u) when sum ``s`` is ``sign * (1 - sigmoid(u))``."""
        a, b = self.data[s]
        if self.kind[b] == _NUM:
            a, b = b, a
        if self.kind[a] != _NUM or self.data[a] not in (1, -1):
            return None
        c, f = self.split(b)
        if c != -self.data[a] or len(f) != 1 or f[0][1] != 1:
            return None
        sig = f[0][0]
        if self.kind[sig] != _CALL or self.data[sig][0] != "sigmoid" or self.data[sig][2]:
            return None
        return self.data[a], sig, self.data[sig][1][0]

    def _exp_plus_one(self, s: int) -> int | None:
        """``v`` when the sum ``s`` is ``exp(v) + 1``."""
        a, b = self.data[s]
        if self.kind[b] == _NUM:
            a, b = b, a
        if self.kind[a] != _NUM or self.data[a] != 1 or not self._is_exp(b):
            return None
        return self.data[b][1][0]

    def _squares(self, s: int) -> tuple[int, int] | None:
        """(p + q, p - q) when the sum ``s`` of two terms is ``p ** 2 - q ** 2``
        (memoised: sums recur in every product built)."""
        if s not in self._square_memo:
            self._square_memo[s] = self._find_squares(s)
        return self._square_memo[s]

    def _find_squares(self, s: int) -> tuple[int, int] | None:
        a, b = self.data[s]
        if _negative(self.split(a)[0]):
            a, b = b, a
        if _negative(self.split(a)[0]) or not _negative(self.split(b)[0]):
            return None
        p, q = self._root(a), self._root(self.neg(b))
        if p is None or q is None:
            return None
        return self.add([p, q]), self.add([p, self.neg(q)])

    def _root(self, t: int) -> int | None:
        """A term whose square is ``t`` (``x ** 2`` gives ``x``, ``4`` gives ``2``), or None
        when ``t`` is no exact square (a coefficient that is no square of a fraction, an
        odd or fractional exponent)."""
        c, f = self.split(t)
        if not _exact(c) or c <= 0:
            return None
        c = Fraction(c)
        n, d = math.isqrt(c.numerator), math.isqrt(c.denominator)
        if n * n != c.numerator or d * d != c.denominator:
            return None
        half = []
        for b, x in f:
            if type(x) is not int or x % 2:
                return None
            half.append((b, x // 2))
        return self.build_mul(_norm(Fraction(n, d)), half)

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
        if kb == _MUL and isinstance(n, Fraction):
            out = self._root_of_product(self.data[b][0], self.data[b][1], n)
            if out is not None:
                return out
        if kb == _MUL:
            return self.make(_MUL, (1, ((b, n),)))
        return self.build_mul(1, [(b, n)])

    def _through_abs(self, factors: list) -> list:
        """Integer powers of ``u`` beside a power of ``abs(u)`` as powers of ``abs(u)``
        where they are even (``u ** 2 / abs(u)`` is ``abs(u)``; ``u ** 5 / abs(u) ** 3``
        is ``abs(u) * u``), so that they merge."""
        absed = {
            self.data[b][1][0]: b
            for b, _ in factors
            if self.kind[b] == _CALL and self.data[b][0] == "abs" and not self.data[b][2]
        }
        out = []
        for b, x in factors:
            a = absed.get(b)
            if a is None or type(x) is not int or -1 <= x <= 1:
                out.append((b, x))
            elif x % 2 == 0:
                out.append((a, x))
            else:
                one = 1 if x > 0 else -1
                out += [(a, x - one), (b, one)]
        return out

    def _root_of_product(self, c: Any, factors: tuple, n: Fraction) -> int | None:
        """``(c * u ** k * ...) ** n`` for a fractional ``n`` as a product of powers of
        its factors, or None when some factor does not split: ``sqrt(sqrt(u))`` is
        ``u ** (1/4)``, ``sqrt(exp(u) ** 2)`` is ``exp(u)``, ``sqrt(x ** 4)`` is
        ``x ** 2`` and ``sqrt(x ** 2 * y ** 6)`` is ``abs(x) * abs(y) ** 3`` (each factor
        a power of something that may be negative only where the result is an even
        power; otherwise of its absolute value).  The same values: NumPy's sqrt of a
        correctly rounded square is the absolute value exactly."""
        if c != 1:
            if not _exact(c) or c <= 0 or n.denominator != 2:
                return None
            root = self._root(self.num(c))
            if root is None or self.kind[root] != _NUM:
                return None
            c = _npow(self.data[root], n.numerator)
            if c is None:
                return None
        out = []
        for u, k in factors:
            m = _nmul(k, n)
            if isinstance(k, Fraction):
                if k < 0:  # (u ** -1/2) ** n: u >= 0 already, but keep it as written
                    return None
            elif k % 2:
                return None
            elif not (type(m) is int and m % 2 == 0) and not self._nonnegative(u):
                u = self.node("abs", (), [u])
            out.append((u, m))
        return self.build_mul(c, out)

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
        inside = self.add(rest)
        out = self.mul(self.build_mul(1, common), inside)
        k = self.content(inside) if self.kind[inside] == _ADD else None
        if k is not None:  # a * b / 3 + a / 3 is a * (b + 1) / 3, not a * (b / 3 + 1 / 3)
            cand = self.mul(self.build_mul(k, common), self.divided(inside, k))
            if self.size(cand) < self.size(out):
                out = cand
        return out

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
            return len(SHORT_NAMES.get(d[0], d[0])) + 1 + sum(sz[u] + 1 for u in d[1])
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
            elif self.kind[inner] == _NUM and isinstance(self.data[inner], Fraction):
                v = self.data[inner]
                if v.numerator == 1 and v > 0:  # log(1 / 2) is -log(2)
                    return self.neg(self.node("log", (), [self.num(v.denominator)]))
            elif self.kind[inner] == _MUL and self.data[inner][0] == 1:
                (b, x), *more = self.data[inner][1]
                if not more and (
                    (isinstance(x, Fraction) and x.denominator % 2 == 0)
                    or (type(x) is int and x % 2)
                ):
                    # log(sqrt(u)) is log(u) / 2 (u ** x is defined only where u >= 0),
                    # log(u ** 3) is 3 * log(u) (both undefined where u < 0)
                    return self.mul(self.num(x), self.node("log", (), [b]))
            elif (
                self.kind[inner] == _POW
                and self.kind[self.data[inner][0]] == _NUM
                and _positive_number(self.data[self.data[inner][0]])
            ):
                # log(2 ** u) is u * log(2): a positive number's power
                base, expo = self.data[inner]
                return self.mul(expo, self.node("log", (), [base]))
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
            if found is not None and _exact(found[1]):
                # sigmoid(log(w)) is w / (w + 1); sigmoid(3 * log(w)) is w ** 3 / (w ** 3 + 1)
                self.seen_sigmoid_log = True
                if self.sigmoid_log:
                    w = self.power(found[0], self.num(found[1]))
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


def _factorings(terms: _Terms, root: int) -> list[int]:
    """The distinct forms :func:`_factor_sums` gives ``root``: as it is, with numeric
    content moved out of sum factors, and with sum factors also multiplied through by
    what their terms divide by (sums used elsewhere too, or not).  Each move shortens
    a product by itself, but a sum shared with other parts may then be written two
    ways: the caller measures the whole text."""
    forms = [_factor_sums(terms, root)]
    more = ("content_moves", "clear_moves")
    for flags in (("content_moves",), more, (*more, "clear_shared")):
        for flag in flags:
            setattr(terms, flag, True)
        try:
            form = _factor_sums(terms, root)
        finally:
            for flag in flags:
                setattr(terms, flag, False)
        if form not in forms:
            forms.append(form)
    return forms


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
            new[t] = terms.clear_out(terms.content_out(acc, shared), shared)
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
