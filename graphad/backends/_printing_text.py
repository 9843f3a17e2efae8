"""Python-syntax and LaTeX text of display terms (:mod:`graphad.backends.printing`):
precedences, parentheses, signs, fractions; named terms print their names."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

from ._printing_terms import (
    _ADD,
    _INFIX,
    _KNOWN,
    _MUL,
    _NUM,
    _P_ADD,
    _P_ATOM,
    _P_MUL,
    _P_NEG,
    _P_POW,
    _POW,
    _RAW,
    _SYM,
    SHORT_NAMES,
    TextTooLong,
    _negative,
    _nmul,
    _Terms,
)

# -- Python-syntax text ---------------------------------------------------------------------


#: integers from here on are no int64 literal ``ga.parse`` reads: they print as floats
_BIG = 2**63


def _num_text(v: Any) -> tuple[str, int]:
    if isinstance(v, (int, Fraction)) and (
        abs(v.numerator) >= _BIG or v.denominator >= _BIG
    ):  # exact arithmetic outgrew int64 (2 ** 64 from 2 ** (2 ** 6)): the float NumPy uses
        try:
            v = float(v)
        except OverflowError:
            v = math.inf if v > 0 else -math.inf
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
        return f"{SHORT_NAMES.get(op, op)}({', '.join(parts)})", _P_ATOM

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
                and (b, abs(x)) not in self.pow_names  # its name stands for b ** x as is
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
            if named is not None and named[0] != self._current and b != self._negated:
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
    "arcsinh": r"\operatorname{asinh}",
    "arccosh": r"\operatorname{acosh}",
    "arctanh": r"\operatorname{atanh}",
    "arctan2": r"\operatorname{atan2}",
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
            # op + " " is never a plain name, so latex_name escapes it (never None)
            name = r"\operatorname{" + (op if plain else latex_name(op + " ", 40) or "") + "}"
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
