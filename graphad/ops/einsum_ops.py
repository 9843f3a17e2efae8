"""``einsum`` in the op table, with its gradient helper ``einsum_grad``.

``einsum`` normalizes its subscripts when the graph is built (the implicit
output made explicit), so the node's ``subscripts`` param always reads
``"ij,jk->ik"``.  The VJP of operand ``k`` is again an einsum (of the cotangent
with the other operands, written to operand ``k``'s subscripts) when every
letter of operand ``k`` appears once in it and somewhere else; otherwise
(a repeated letter, a diagonal; a letter summed in that operand only; an
ellipsis the others lack) it is an ``einsum_grad`` node, which computes that
einsum over the letters it can and writes the result onto the diagonal /
broadcasts it over the rest.  The subscript parser (also NumPy's sublist form)
is here too; :mod:`.contract` builds the other contractions on it.
"""

from __future__ import annotations

import string

import numpy as np

from ..core.errors import GraphadError, ShapeError
from .core import Op, apply, as_expr, export, register
from .rules import _exec_helper, sum_to

__all__ = ["einsum"]

_LETTERS = frozenset(string.ascii_letters)

# -- subscripts ------------------------------------------------------------------------


def _split_term(term: str, where: str) -> list[str]:
    """``"...ij"`` -> ``["...", "i", "j"]``, refusing anything else."""
    out: list[str] = []
    i = 0
    while i < len(term):
        if term.startswith("...", i):
            if "..." in out:
                raise GraphadError(f"einsum: more than one ellipsis in {where} {term!r}")
            out.append("...")
            i += 3
        elif term[i] in _LETTERS:
            out.append(term[i])
            i += 1
        else:
            raise GraphadError(
                f"einsum: invalid character {term[i]!r} in {where} {term!r} "
                "(use letters, ',', '->' and '...')"
            )
    return out


def normalize_subscripts(subscripts: str, count: int) -> str:
    """The explicit form of ``subscripts`` for ``count`` operands (``"ij,jk"`` ->
    ``"ij,jk->ik"``: NumPy's implicit output, letters seen once, sorted)."""
    if not isinstance(subscripts, str):
        raise GraphadError(
            f"einsum: subscripts must be a string such as 'ij,jk->ik', got "
            f"{type(subscripts).__name__}"
        )
    s = subscripts.replace(" ", "")
    if s.count("->") > 1:
        raise GraphadError(f"einsum: more than one '->' in {subscripts!r}")
    lhs, arrow, rhs = s.partition("->")
    terms = lhs.split(",")
    parsed = [_split_term(t, "operand subscripts") for t in terms]
    if len(terms) != count:
        raise GraphadError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operand(s), "
            f"got {count} operand(s)"
        )
    letters = [c for t in parsed for c in t if c != "..."]
    if arrow:
        out = _split_term(rhs, "output subscripts")
        for c in out:
            if c != "..." and out.count(c) > 1:
                raise GraphadError(f"einsum: output letter {c!r} repeated in {subscripts!r}")
            if c != "..." and c not in letters:
                raise GraphadError(
                    f"einsum: output letter {c!r} does not appear in any operand of {subscripts!r}"
                )
        if "..." in out and not any("..." in t for t in parsed):
            raise GraphadError(f"einsum: output ellipsis without an operand one in {subscripts!r}")
    else:
        out = sorted(c for c in set(letters) if letters.count(c) == 1)
        if any("..." in t for t in parsed):
            out = ["...", *out]
    return ",".join("".join(t) for t in parsed) + "->" + "".join(out)


def subscripts_key(text: str) -> tuple:
    """The node param of normalized subscripts: a tuple of terms (operands', then the
    output's), each a tuple of letters with ``None`` for ``...`` (a form generated code
    can write as a literal)."""
    lhs, _, rhs = text.partition("->")
    return tuple(
        tuple(None if c == "..." else c for c in _split_term(t, "subscripts"))
        for t in [*lhs.split(","), rhs]
    )


def subscripts_text(key) -> str:
    """The subscripts string of a node param (a string passes through)."""
    if isinstance(key, str):
        return key
    terms = ["".join("..." if c is None else c for c in t) for t in key]
    return ",".join(terms[:-1]) + "->" + terms[-1]


def _parse(subscripts) -> tuple[list[list[str]], list[str]]:
    lhs, _, rhs = subscripts_text(subscripts).partition("->")
    return [_split_term(t, "subscripts") for t in lhs.split(",")], _split_term(rhs, "subscripts")


def _einsum_shape(*shapes, subscripts):
    terms, out = _parse(subscripts)
    sizes: dict[str, int] = {}
    ellipses = []
    for term, shape in zip(terms, shapes, strict=True):
        named = len(term) - ("..." in term)
        if len(shape) < named or ("..." not in term and len(shape) != named):
            raise ShapeError(
                f"einsum: operand of shape {shape} does not fit subscripts "
                f"{''.join(term)!r} in {subscripts!r}"
            )
        if "..." in term:
            at = term.index("...")
            nell = len(shape) - named
            ellipses.append(shape[at : at + nell])
            dims = list(shape[:at]) + list(shape[at + nell :])
            letters = term[:at] + term[at + 1 :]
        else:
            dims, letters = list(shape), term
        for c, n in zip(letters, dims, strict=True):
            if sizes.get(c, n) != n:
                raise ShapeError(
                    f"einsum: letter {c!r} has sizes {sizes[c]} and {n} in {subscripts!r} "
                    f"(operand shapes {list(shapes)})"
                )
            sizes[c] = n
    try:
        ell = tuple(np.broadcast_shapes(*ellipses)) if ellipses else ()
    except ValueError:
        raise ShapeError(
            f"einsum: the ellipsis dimensions of shapes {list(shapes)} do not broadcast "
            f"in {subscripts!r}"
        ) from None
    result: list[int] = []
    for c in out:
        result.extend(ell if c == "..." else (sizes[c],))
    return tuple(result)


EINSUM_GRAD_SRC = '''
def _ga_split(term):
    out, i = [], 0
    while i < len(term):
        if term.startswith("...", i):
            out.append("...")
            i += 3
        else:
            out.append(term[i])
            i += 1
    return out


def _ga_reduce_like(r, shape):
    lead = r.ndim - len(shape)
    if lead > 0:
        r = r.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and r.shape[i] != 1)
    return r.sum(axis=axes, keepdims=True) if axes else r


def _ga_einsum(subscripts, *ops):
    """np.einsum, refusing a letter whose sizes differ (NumPy would broadcast a size 1;
    graphad's shape rule and gradients do not)."""
    lhs = subscripts.partition("->")[0]
    sizes = {}
    for term, x in zip(lhs.split(","), ops):
        t = _ga_split(term)
        shape = np.shape(x)
        if "..." in t:
            at = t.index("...")
            after = len(t) - at - 1
            t = t[:at] + t[at + 1 :]
            shape = shape[:at] + (shape[len(shape) - after :] if after else ())
        for c, n in zip(t, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(
                    f"letter {c!r} has sizes {sizes[c]} and {n} in {subscripts!r}"
                )
    return np.einsum(subscripts, *ops)


def _ga_einsum_grad(g, *ops, index, subscripts):
    """d<g, einsum(subscripts, *ops)>/d ops[index]: an einsum over the letters the
    others share, written onto operand index's diagonal and broadcast over the rest."""
    lhs, _, rhs = subscripts.partition("->")
    terms = [_ga_split(t) for t in lhs.split(",")]
    out = _ga_split(rhs)
    mine = terms[index]
    others = [t for j, t in enumerate(terms) if j != index]
    seen = set(out).union(*others) if others else set(out)
    uniq = list(dict.fromkeys(c for c in mine if c != "..."))
    present = [c for c in uniq if c in seen]
    ell = "..." if "..." in seen else ""
    spec = ",".join(["".join(out)] + ["".join(t) for t in others])
    rest = [o for j, o in enumerate(ops) if j != index]
    r = np.asarray(np.einsum(spec + "->" + ell + "".join(present), g, *rest))
    if ell and "..." not in mine:  # broadcast over axes this operand lacks: summed
        r = r.sum(axis=tuple(range(r.ndim - len(present))))
        ell = ""
    x = ops[index]
    dtype = np.result_type(g, *rest)
    if np.ndim(x) == 0:
        return np.asarray(r, dtype=dtype)
    res = np.zeros(np.shape(x), dtype=dtype)
    full = ("..." if "..." in mine else "") + "".join(uniq)
    view = np.einsum("".join(mine) + "->" + full, res)
    # r's axes: (ellipsis,) present; the view's: (ellipsis,) uniq
    nell = r.ndim - len(present)
    shape = list(r.shape[:nell])
    shape += [r.shape[nell + present.index(c)] if c in present else 1 for c in uniq]
    perm = list(range(nell)) + [nell + present.index(c) for c in uniq if c in present]
    r = np.transpose(r, perm).reshape(shape)
    if ell:
        r = _ga_reduce_like(r, view.shape)
    view[...] = r
    return res
'''

_einsum_grad = _exec_helper(EINSUM_GRAD_SRC, "_ga_einsum_grad")
_einsum_checked = _exec_helper(EINSUM_GRAD_SRC, "_ga_einsum")


def _operand_grad(g, ops, index, subscripts):
    """The cotangent of ``ops[index]``: an einsum when the letters allow, else a helper."""
    terms, out = _parse(subscripts)
    mine = terms[index]
    others = [t for j, t in enumerate(terms) if j != index]
    seen = set(out).union(*others)
    letters = [c for c in mine if c != "..."]
    plain = len(set(letters)) == len(letters) and all(c in seen for c in letters)
    if plain and ("..." in mine) == ("..." in seen):
        spec = ",".join(["".join(out)] + ["".join(t) for t in others])
        rest = [o for j, o in enumerate(ops) if j != index]
        if "..." not in mine:
            return apply(
                "einsum", [g, *rest], subscripts=subscripts_key(spec + "->" + "".join(mine))
            )
        # the ellipsis broadcast undone: sum_to works on leading axes, so the ellipsis is
        # put first ("j...k" -> "...jk"), reduced to the operand's, and put back
        mine_text, front = "".join(mine), "..." + "".join(letters)
        r = apply("einsum", [g, *rest], subscripts=subscripts_key(spec + "->" + front))
        if mine_text == front:
            return sum_to(r, ops[index])
        like = apply("einsum", [ops[index]], subscripts=subscripts_key(mine_text + "->" + front))
        r = sum_to(r, like)
        return apply("einsum", [r], subscripts=subscripts_key(front + "->" + mine_text))
    return apply(
        "einsum_grad",
        [g, *ops],
        index=index,
        subscripts=subscripts_key(subscripts_text(subscripts)),
    )


def _einsum_vjp(g, ans, *ops, subscripts):
    return [_operand_grad(g, ops, k, subscripts) for k in range(len(ops))]


def _einsum_jvp(tangents, ans, *ops, subscripts):
    total = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        term = apply(
            "einsum", [t if j == k else o for j, o in enumerate(ops)], subscripts=subscripts
        )
        total = term if total is None else apply("add", total, term)
    return total


register(
    Op(
        name="einsum",
        numpy="numpy.einsum",
        reads_only=True,
        argnames=("operands",),
        cases=(
            ([(3, 4), (4, 2)], {"subscripts": "ij,jk->ik"}),
            ([(3, 4), (4, 2)], {"subscripts": "ij,jk->"}),
            ([(3, 3)], {"subscripts": "ii->i"}),
            ([(3, 3)], {"subscripts": "ii->"}),
            ([(2, 3, 4), (2, 4, 5)], {"subscripts": "bij,bjk->bik"}),
            ([(2, 3, 4), (4, 5)], {"subscripts": "...ij,jk->...ik"}),
            ([(1, 3, 4), (2, 1, 4, 2)], {"subscripts": "...ij,...jk->...ik"}),
            ([(3, 4)], {"subscripts": "ij->j"}),
            ([(3,), (4,), (5,)], {"subscripts": "i,j,k->ijk"}),
            ([(2, 3, 3), (3,)], {"subscripts": "...ii,i->..."}),
            ([(3, 4), (3, 4)], {"subscripts": "ij,ij->ij"}),
        ),
        impl=lambda *ops, subscripts: _einsum_checked(subscripts_text(subscripts), *ops),
        nargs=None,
        vjp=_einsum_vjp,
        jvp=_einsum_jvp,
        shape=_einsum_shape,
        dtype="promote",
        emit=lambda a, p: f"_ga_einsum({subscripts_text(p['subscripts'])!r}, {', '.join(a)})",
        helper=EINSUM_GRAD_SRC,
        label="einsum",
        parse=False,
        test_params=({"subscripts": "ij,jk->ik"},),
        domain=[(-2, 2)],
        doc="Einstein summation (``np.einsum``): ``einsum('ij,jk->ik', a, b)``; implicit "
        "output, ``...`` for broadcast batch axes and repeated letters (diagonals).",
    )
)


def _lower_einsum_grad(g, *ops, index, subscripts):
    """Once shapes are static, plain einsums: the one over the letters the others share,
    then a second writing it out to operand ``index``'s subscripts, with identity
    constants for repeated letters (the diagonal) and ones for letters only it has."""
    if g.dtype is None or any(o.dtype is None for o in ops):
        return None  # the constants' dtype must follow the operands': wait for it
    terms, out = _parse(subscripts)
    mine = terms[index]
    x = ops[index]
    others = [t for j, t in enumerate(terms) if j != index]
    rest = [o for j, o in enumerate(ops) if j != index]
    seen = set(out).union(*others)
    uniq = list(dict.fromkeys(c for c in mine if c != "..."))
    present = [c for c in uniq if c in seen]
    sizes: dict[str, int] = {}
    shape = list(x.shape)
    if "..." in mine:
        at = mine.index("...")
        nell = len(shape) - (len(mine) - 1)
        ell_shape = tuple(shape[at : at + nell])
        dims = shape[:at] + shape[at + nell :]
        letters = mine[:at] + mine[at + 1 :]
    else:
        ell_shape, dims, letters = (), shape, mine
    for c, n in zip(letters, dims, strict=True):
        sizes[c] = n
    ell = "..." if "..." in seen else ""
    spec = ",".join(["".join(out)] + ["".join(t) for t in others])
    r = apply("einsum", [g, *rest], subscripts=subscripts_key(f"{spec}->{ell}{''.join(present)}"))
    dtype = np.result_type(*[o.dtype for o in [g, *rest]])
    if ell and "..." not in mine:  # broadcast axes this operand lacks: summed
        ell = ""
        r = apply("sum", r, axis=tuple(range(len(r.shape) - len(present))), keepdims=False)
    graph = g.graph
    free = iter(c for c in string.ascii_letters if c not in set(mine) | set(present))
    operands, in_terms = [r], [ell + "".join(present)]
    target, first = [], set()
    for c in mine:
        if c == "...":
            target.append(c)
        elif c in first:  # a repeat: a fresh letter tied to c by the identity
            fresh = next(free)
            target.append(fresh)
            operands.append(as_expr(np.eye(sizes[c], dtype=dtype), graph))
            in_terms.append(c + fresh)
        else:
            first.add(c)
            target.append(c)
            if c not in present:  # only this operand has it: broadcast by ones
                operands.append(as_expr(np.ones(sizes[c], dtype=dtype), graph))
                in_terms.append(c)
    if "..." in mine and not ell:
        operands.append(as_expr(np.ones(ell_shape, dtype=dtype), graph))
        in_terms.append("...")
    text = ",".join(in_terms) + "->" + "".join(target)
    res = apply("einsum", operands, subscripts=subscripts_key(text))
    return sum_to(res, x) if ell else res


def _einsum_grad_vjp(h, ans, g, *ops, index, subscripts):
    # F(g, A) = <g, einsum(A)> is multilinear; this node is dF/dA_index, so
    # <h, dF/dA_index> = F(g, A with A_index <- h)
    subscripts = subscripts_key(subscripts_text(subscripts))  # a literal-safe param
    swapped = [h if j == index else o for j, o in enumerate(ops)]
    out = [apply("einsum", swapped, subscripts=subscripts)]
    for j in range(len(ops)):
        out.append(None if j == index else _operand_grad(g, swapped, j, subscripts))
    return out


def _einsum_grad_shape(g, *shapes, index, subscripts):
    return shapes[index]


register(
    Op(
        name="einsum_grad",
        lower=_lower_einsum_grad,
        internal=True,
        cases=(
            ([(3,), (3, 3)], {"index": 0, "subscripts": "ii->i"}),
            ([(3, 2), (3, 4), (4, 2)], {"index": 0, "subscripts": "ij,jk->ik"}),
            ([(3,), (3, 4)], {"index": 0, "subscripts": "ij->i"}),
            ([(2,), (2, 3, 3), (3,)], {"index": 0, "subscripts": "...ii,i->..."}),
        ),
        impl=lambda g, *ops, index, subscripts: _einsum_grad(
            g, *ops, index=index, subscripts=subscripts_text(subscripts)
        ),
        nargs=None,
        vjp=_einsum_grad_vjp,
        shape=_einsum_grad_shape,
        dtype="promote",
        emit=lambda a, p: (
            f"_ga_einsum_grad({', '.join(a)}, index={p['index']!r}, "
            f"subscripts={subscripts_text(p['subscripts'])!r})"
        ),
        helper=EINSUM_GRAD_SRC,
        label="einsum adjoint",
    )
)


def _sublist_term(sub, where):
    if not isinstance(sub, list | tuple):
        raise GraphadError(
            f"einsum: {where} must be a list of ints and Ellipsis (NumPy's sublist form), "
            f"got {type(sub).__name__}"
        )
    out = []
    for k in sub:
        if k is Ellipsis:
            out.append("...")
        elif isinstance(k, int | np.integer) and not isinstance(k, bool) and 0 <= k < 52:
            out.append("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[int(k)])
        else:
            raise GraphadError(f"einsum: {where} holds {k!r}; use ints 0..51 and Ellipsis")
    return "".join(out)


def _sublist_subscripts(args):
    """NumPy's ``einsum(op0, sublist0, op1, sublist1, ..., [sublist_out])`` as text."""
    pairs = len(args) // 2
    ops = [args[2 * i] for i in range(pairs)]
    terms = [_sublist_term(args[2 * i + 1], f"sublist {i}") for i in range(pairs)]
    text = ",".join(terms)
    if len(args) % 2:
        text += "->" + _sublist_term(args[-1], "the output sublist")
    return text, tuple(ops)


@export
def einsum(*operands, subscripts=None):
    """Einstein summation with ``np.einsum``'s subscripts:
    ``ga.einsum("ij,jk->ik", a, b)`` (or ``ga.einsum([a, b], subscripts="ij,jk->ik")``, or
    NumPy's sublist form ``ga.einsum(a, [0, 1], b, [1, 2], [0, 2])``).

    The implicit output (no ``->``: the letters seen once, sorted), ``...`` for
    broadcast leading axes and repeated letters in one operand (``"ii->i"``, the
    diagonal) are supported.  The gradient of each operand is an einsum of the
    cotangent with the other operands.
    Raises
    ------
    GraphadError
        If no subscripts string or no operand is given, or the subscripts do not fit the
        number of operands (or are not valid einsum subscripts).
    """
    if subscripts is None:
        if operands and not isinstance(operands[0], str) and len(operands) >= 2:
            subscripts, operands = _sublist_subscripts(operands)
        elif not operands or not isinstance(operands[0], str):
            raise GraphadError("einsum: the first argument must be the subscripts string")
        else:
            subscripts, operands = operands[0], operands[1:]
    elif len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    if not operands:
        raise GraphadError("einsum: no operands given")
    spec = normalize_subscripts(subscripts, len(operands))
    return apply("einsum", list(operands), subscripts=subscripts_key(spec))
