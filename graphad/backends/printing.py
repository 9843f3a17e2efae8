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
- inverse functions print with the array API standard's names, which NumPy 2,
  SymPy, C and Python's ``math`` share (``atan``, ``asinh``; ``ga.atan`` is
  ``ga.arctan``, as ``np.atan`` is ``np.arctan``), so the text parses back;
- a two-term sum cancels against the divisor it holds (``(1 - t ** 2) / (t + 1)``
  is ``1 - t``, ``(1 - sigmoid(u)) / sigmoid(u)`` is ``exp(-u)``), and a sum is
  multiplied through by what its terms divide by when that is shorter
  (``-y / ((1 + y ** 2 / x ** 2) * x ** 2)`` is ``-y / (x ** 2 + y ** 2)``);
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

Three modules: the display terms and their clean-up (``_printing_terms``), their
Python-syntax and LaTeX text (``_printing_text``), and here the choice of names and
the entry points.
"""

from __future__ import annotations

from typing import Any

from ._printing_terms import (
    _KNOWN,
    _MUL,
    _NUM,
    _RAW,
    _SYM,
    TextTooLong,
    _convert,
    _factorings,
    _negative,
    _nmul,
    _reach,
    _Terms,
)
from ._printing_text import _latex_symbol, _LatexPrinter, _PyPrinter

__all__ = ["to_text", "text_parts", "latex", "latex_display", "constant_text"]

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


# -- naming shared parts ----------------------------------------------------------------------


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
    """The terms of ``e`` cleaned up, and their names: of the forms the clean-up can
    take (:func:`_factorings`, and ``sigmoid(log(w))`` as ``w / (w + 1)`` or not),
    the one whose whole text is shortest, measured with its names when there are
    any: a form shorter written out may share less (on seeds 3-11 of the printing
    benchmark's depth-6 expressions, 18 of 1,114 derivatives print 48 characters
    shorter in all than with the form shortest written out)."""
    terms, root = _convert(e.graph, e.id, max_nodes)
    forms = [(terms, r) for r in _factorings(terms, root)]
    if terms.seen_sigmoid_log:
        # sigmoid(log(w)) written as w / (w + 1) repeats w: kept only where shorter
        other, other_root = _convert(e.graph, e.id, max_nodes, sigmoid_log=True)
        forms += [(other, r) for r in _factorings(other, other_root)]
    shortest = min(forms, key=lambda f: f[0].size(f[1]))
    if not names:
        terms, root = shortest
        return terms, root, _reach(terms, [root]), {}
    if len(_reach(shortest[0], [shortest[1]])) > _EXACT_REACH:  # large: named as written out
        forms = [shortest]
    best = None
    for terms, root in forms:
        _add_power_terms(terms, _reach(terms, [root]))
        reach = _name_order(terms, root)
        named = _pick_names(terms, root, reach, max_chars)
        n = _length(terms, root, reach, named, max_chars) if len(forms) > 1 else 0
        if best is None or n < best[0]:
            best = (n, terms, root, reach, named)
    return best[1:]


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
