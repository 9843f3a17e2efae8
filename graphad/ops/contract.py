"""Contractions: einsum, tensordot, outer, inner, kron, cross.

``einsum`` normalizes its subscripts when the graph is built (the implicit
output made explicit), so the node's ``subscripts`` param always reads
``"ij,jk->ik"``.  The VJP of operand ``k`` is again an einsum (of the cotangent
with the other operands, written to operand ``k``'s subscripts) when every
letter of operand ``k`` appears once in it and somewhere else; otherwise
(a repeated letter, a diagonal; a letter summed in that operand only; an
ellipsis the others lack) it is an ``einsum_grad`` node, which computes that
einsum over the letters it can and writes the result onto the diagonal /
broadcasts it over the rest.

Every op here is multilinear, and so are their gradient helpers: with
``F(g, A_1..A_n) = <g, op(A_1..A_n)>`` the gradient for ``A_k`` is
``dF/dA_k``, and the VJP of that helper is the op again (for ``g``) or the
helper of another operand (for ``A_j``): second derivatives are built from
the same few ops.

``tensordot``, ``inner``, ``outer`` and ``kron`` have a rank-dependent
subscript form, unknown while shapes are undeclared: their gradients are
``contract_grad`` nodes, which write that form out when they run.

Past 600 lines because it is a table: one declaration per op, each with its rules and
facets in one place, as the op table is meant to be read. The einsum subscript
parser and the gradient-as-einsum construction its declarations share are here too.
"""

from __future__ import annotations

import math
import string

import numpy as np

from ..core.errors import GraphadError, ShapeError
from .core import Op, apply, as_expr, export, graph_of, register
from .rules import _exec_helper, sum_to

__all__ = ["einsum", "tensordot", "outer", "inner", "kron", "cross"]

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


# -- tensordot, inner, outer, kron: bilinear, rank-dependent forms -------------------------

CONTRACT_SRC = (
    EINSUM_GRAD_SRC
    + '''

_GA_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _ga_bilinear_spec(kind, nda, ndb, axes):
    """The einsum subscripts of tensordot / inner on operands of these ranks."""
    if kind == "inner":
        ia = [nda - 1] if nda and ndb else []
        ib = [ndb - 1] if nda and ndb else []
    elif isinstance(axes, int):
        ia, ib = list(range(nda - axes, nda)), list(range(axes))
    else:
        ia = [i % nda for i in axes[0]]
        ib = [i % ndb for i in axes[1]]
    sa = list(_GA_LETTERS[:nda])
    sb = list(_GA_LETTERS[nda : nda + ndb])
    for i, j in zip(ia, ib):
        sb[j] = sa[i]
    out = [c for k, c in enumerate(sa) if k not in ia]
    out += [c for k, c in enumerate(sb) if k not in ib]
    return "".join(sa) + "," + "".join(sb) + "->" + "".join(out)


def _ga_contract_operands(kind, a, b):
    """The operands (reshaped for outer and kron) and the einsum they form."""
    a, b = np.asarray(a), np.asarray(b)
    if kind == "outer":
        return a.reshape(-1), b.reshape(-1), "i,j->ij"
    if kind == "kron":
        nd = max(a.ndim, b.ndim)
        a2 = a.reshape((1,) * (nd - a.ndim) + a.shape)
        b2 = b.reshape((1,) * (nd - b.ndim) + b.shape)
        sa, sb = _GA_LETTERS[:nd], _GA_LETTERS[nd : 2 * nd]
        return a2, b2, sa + "," + sb + "->" + "".join(p + q for p, q in zip(sa, sb))
    return a, b, None


def _ga_contract_grad(g, a, b, kind, which, axes):
    """d<g, kind(a, b)>/d(a if which == 0 else b)."""
    a2, b2, spec = _ga_contract_operands(kind, a, b)
    if spec is None:
        spec = _ga_bilinear_spec(kind, a2.ndim, b2.ndim, axes)
    g2 = np.asarray(g)
    if kind == "kron":  # g's axes split into (a's, b's) pairs
        g2 = g2.reshape([n for p, q in zip(a2.shape, b2.shape) for n in (p, q)])
    r = _ga_einsum_grad(g2, a2, b2, index=which, subscripts=spec)
    return r.reshape(np.shape(a if which == 0 else b))
'''
)

_contract_grad = _exec_helper(CONTRACT_SRC, "_ga_contract_grad")


def _contract_vjp(kind):
    def vjp(g, ans, a, b, **params):
        axes = params.get("axes")
        return [
            apply("contract_grad", g, a, b, kind=kind, which=0, axes=axes),
            apply("contract_grad", g, a, b, kind=kind, which=1, axes=axes),
        ]

    return vjp


def _contract_grad_vjp(h, ans, g, a, b, kind, which, axes):
    params = {"axes": axes} if kind == "tensordot" else {}
    if which == 0:
        return [
            apply(kind, h, b, **params),
            None,
            apply("contract_grad", g, h, b, kind=kind, which=1, axes=axes),
        ]
    return [
        apply(kind, a, h, **params),
        apply("contract_grad", g, a, h, kind=kind, which=0, axes=axes),
        None,
    ]


_bilinear_spec = _exec_helper(CONTRACT_SRC, "_ga_bilinear_spec")

DUCK_SRC = """
def _ga_is_numpy(*xs):
    return all(isinstance(x, np.ndarray | np.generic | float | int) for x in xs)


def _ga_inner(a, b):
    # np.inner; on another library's arrays (Dask's) its tensordot form, which they run lazily
    if _ga_is_numpy(a, b):
        return np.inner(a, b)
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return np.tensordot(a, b, axes=(-1, -1))


def _ga_kron(a, b):
    # np.kron; on other arrays an einsum of the operands, axes merged pairwise
    if _ga_is_numpy(a, b):
        return np.kron(a, b)
    nd = max(np.ndim(a), np.ndim(b))
    a = np.reshape(a, (1,) * (nd - np.ndim(a)) + tuple(np.shape(a)))
    b = np.reshape(b, (1,) * (nd - np.ndim(b)) + tuple(np.shape(b)))
    la, lb = "abcdefghijklm"[:nd], "nopqrstuvwxyz"[:nd]
    r = np.einsum(la + "," + lb + "->" + "".join(p + q for p, q in zip(la, lb)), a, b)
    return np.reshape(r, tuple(p * q for p, q in zip(np.shape(a), np.shape(b))))


def _ga_cross(a, b):
    # np.cross; on other arrays its components, written out
    if _ga_is_numpy(a, b):
        return np.cross(a, b)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
"""


def _lower_contract_grad(g, a, b, kind, which, axes):
    """Once shapes are static: the einsum (with reshapes for outer and kron) itself."""
    from .linalg import reshape

    x = a if which == 0 else b
    if kind in ("tensordot", "inner"):
        spec = _bilinear_spec(kind, len(a.shape), len(b.shape), axes)
        return _operand_grad(g, [a, b], which, spec)
    if kind == "outer":
        ops = [reshape(a, (-1,)), reshape(b, (-1,))]
        r = _operand_grad(g, ops, which, "i,j->ij")
    else:  # kron: g's axes split into (a's, b's) pairs
        nd = max(len(a.shape), len(b.shape))
        sa = (1,) * (nd - len(a.shape)) + tuple(a.shape)
        sb = (1,) * (nd - len(b.shape)) + tuple(b.shape)
        ops = [reshape(a, sa), reshape(b, sb)]
        g2 = reshape(g, tuple(n for p, q in zip(sa, sb, strict=True) for n in (p, q)))
        la, lb = string.ascii_letters[:nd], string.ascii_letters[nd : 2 * nd]
        spec = f"{la},{lb}->" + "".join(p + q for p, q in zip(la, lb, strict=True))
        r = _operand_grad(g2, ops, which, spec)
    return r if r.shape == x.shape else reshape(r, x.shape)


register(
    Op(
        name="contract_grad",
        lower=_lower_contract_grad,
        internal=True,
        cases=(
            ([(3, 5), (3, 4), (4, 5)], {"kind": "tensordot", "which": 0, "axes": 1}),
            ([(3, 5), (3, 4), (4, 5)], {"kind": "tensordot", "which": 1, "axes": 1}),
            ([(6, 4), (2, 3), (4,)], {"kind": "outer", "which": 0, "axes": None}),
            ([(6, 6), (2, 3), (3, 2)], {"kind": "kron", "which": 1, "axes": None}),
            ([(2, 3), (2, 4), (3, 4)], {"kind": "inner", "which": 0, "axes": None}),
        ),
        impl=_contract_grad,
        nargs=3,
        vjp=_contract_grad_vjp,
        shape=lambda g, a, b, kind, which, axes: a if which == 0 else b,
        dtype="promote",
        emit=lambda a, p: (
            f"_ga_contract_grad({', '.join(a)}, kind={p['kind']!r}, which={p['which']!r}, "
            f"axes={p['axes']!r})"
        ),
        helper=CONTRACT_SRC,
        label="contraction adjoint",
    )
)


def _tensordot_shape(a, b, axes):
    if isinstance(axes, int):
        if axes < 0 or axes > min(len(a), len(b)):
            raise ShapeError(f"tensordot: axes={axes} for shapes {a} and {b}")
        ia, ib = list(range(len(a) - axes, len(a))), list(range(axes))
    else:
        ia = [i % len(a) for i in axes[0]] if a else list(axes[0])
        ib = [i % len(b) for i in axes[1]] if b else list(axes[1])
    for i, j in zip(ia, ib, strict=True):
        if a[i] != b[j]:
            raise ShapeError(
                f"tensordot: shapes {a} and {b} do not align: axis {i} of the first has "
                f"{a[i]}, axis {j} of the second {b[j]}"
            )
    return tuple(n for k, n in enumerate(a) if k not in ia) + tuple(
        n for k, n in enumerate(b) if k not in ib
    )


register(
    Op(
        name="tensordot",
        numpy="np.tensordot",
        reads_only=True,
        cases=(
            ([(3, 4), (4, 5)], {"axes": 1}),
            ([(2, 3, 4), (3, 4, 5)], {"axes": 2}),
            ([(2, 3, 4), (4, 2)], {"axes": ((0, 2), (1, 0))}),
            ([(2, 3), (4,)], {"axes": 0}),
        ),
        impl=np.tensordot,
        nargs=2,
        vjp=_contract_vjp("tensordot"),
        shape=_tensordot_shape,
        dtype="promote",
        emit="np.tensordot({0}, {1}, axes={axes})",
        label="tensordot",
        parse=False,
        domain=[(-2, 2), (-2, 2)],
        doc="``np.tensordot``: sum over ``axes`` (an int: the last ``axes`` of ``a`` with "
        "the first of ``b``; or two sequences of axes).",
    )
)


@export
def tensordot(a, b, axes=2):
    """``np.tensordot(a, b, axes)``.
    Raises
    ------
    GraphadError
        If ``axes`` is neither an int nor a pair of axis sequences of one length.
    """
    if isinstance(axes, int | np.integer):
        axes = int(axes)
    else:
        try:
            ia, ib = axes
            ia = (int(ia),) if isinstance(ia, int | np.integer) else tuple(int(i) for i in ia)
            ib = (int(ib),) if isinstance(ib, int | np.integer) else tuple(int(i) for i in ib)
        except (TypeError, ValueError):
            raise GraphadError(
                f"tensordot: axes must be an int or a pair of axis sequences, got {axes!r}"
            ) from None
        if len(ia) != len(ib):
            raise GraphadError(f"tensordot: axes {axes!r} name different numbers of axes")
        axes = (ia, ib)
    return apply("tensordot", a, b, axes=axes)


def _outer_shape(a, b):
    return (math.prod(a), math.prod(b))


register(
    Op(
        name="outer",
        numpy="np.outer",
        reads_only=True,
        cases=(([(3,), (4,)], {}), ([(2, 3), (2,)], {}), ([(), (3,)], {})),
        impl=np.outer,
        nargs=2,
        vjp=_contract_vjp("outer"),
        shape=_outer_shape,
        dtype="promote",
        emit="np.outer({0}, {1})",
        label="outer",
        domain=[(-2, 2), (-2, 2)],
        doc="Outer product of the flattened operands (``np.outer``).",
    )
)


def _inner_shape(a, b):
    if not a or not b:
        return tuple(a or b)
    if a[-1] != b[-1]:
        raise ShapeError(f"inner: last axes of shapes {a} and {b} differ ({a[-1]} != {b[-1]})")
    return tuple(a[:-1]) + tuple(b[:-1])


register(
    Op(
        name="inner",
        numpy="np.inner",
        reads_only=True,
        cases=(([(4,), (4,)], {}), ([(2, 3), (4, 3)], {}), ([(), (2, 3)], {})),
        impl=np.inner,
        nargs=2,
        vjp=_contract_vjp("inner"),
        shape=_inner_shape,
        dtype="promote",
        emit="np.inner({0}, {1})",
        duck_emit="_ga_inner({0}, {1})",
        helper=DUCK_SRC,
        label="inner",
        domain=[(-2, 2), (-2, 2)],
        doc="Sum over the last axes of both operands (``np.inner``); a product if one is 0-D.",
    )
)


def _kron_shape(a, b):
    nd = max(len(a), len(b))
    a2 = (1,) * (nd - len(a)) + tuple(a)
    b2 = (1,) * (nd - len(b)) + tuple(b)
    return tuple(p * q for p, q in zip(a2, b2, strict=True))


register(
    Op(
        name="kron",
        numpy="np.kron",
        reads_only=True,
        cases=(([(2, 3), (3, 2)], {}), ([(3,), (2,)], {}), ([(2,), (2, 3)], {})),
        impl=np.kron,
        nargs=2,
        vjp=_contract_vjp("kron"),
        shape=_kron_shape,
        dtype="promote",
        emit="np.kron({0}, {1})",
        duck_emit="_ga_kron({0}, {1})",
        helper=DUCK_SRC,
        label="kron",
        domain=[(-2, 2), (-2, 2)],
        doc="Kronecker product (``np.kron``): blocks ``a[i, j] * b``.",
    )
)


def _cross_shape(a, b):
    if not a or not b or a[-1] != 3 or b[-1] != 3:
        raise ShapeError(
            f"cross: both operands need a last axis of length 3, got shapes {a} and {b}"
        )
    try:
        return (*np.broadcast_shapes(a[:-1], b[:-1]), 3)
    except ValueError:
        raise ShapeError(f"cross: shapes {a} and {b} do not broadcast") from None


register(
    Op(
        name="cross",
        numpy="np.cross",
        reads_only=True,
        cases=(([(3,), (3,)], {}), ([(4, 3), (3,)], {}), ([(2, 1, 3), (4, 3)], {})),
        impl=np.cross,
        nargs=2,
        # a x b is bilinear: <g, a x b> = <b x g, a> = <g x a, b>
        vjp=lambda g, ans, a, b: [sum_to(cross(b, g), a), sum_to(cross(g, a), b)],
        jvp=None,
        shape=_cross_shape,
        dtype="promote",
        emit="np.cross({0}, {1})",
        duck_emit="_ga_cross({0}, {1})",
        helper=DUCK_SRC,
        label="cross",
        domain=[(-2, 2), (-2, 2)],
        doc="Cross product of 3-vectors along the last axis (``np.cross``), broadcasting "
        "the leading axes.",
    )
)


@export
def outer(a, b):
    """``np.outer(a, b)``: the outer product of the flattened operands."""
    return apply("outer", a, b)


@export
def inner(a, b):
    """``np.inner(a, b)``: the sum over the last axes (a product if one is 0-D)."""
    return apply("inner", a, b)


@export
def kron(a, b):
    """``np.kron(a, b)``: the Kronecker product."""
    return apply("kron", a, b)


@export
def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross(a, b)`` of 3-vectors: along the last axes, or ``axisa`` of ``a`` and
    ``axisb`` of ``b`` with the result's vectors along ``axisc`` (``axis`` sets all three).

    Raises
    ------
    GraphadError
        If ``axisa``, ``axisb`` or ``axisc`` is not an int.
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    for name, v in (("axisa", axisa), ("axisb", axisb), ("axisc", axisc)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise GraphadError(f"cross: {name} must be an int, got {v!r}")
    g = graph_of(a, b)
    a, b = as_expr(a, g), as_expr(b, g)
    if axisa not in (-1,):
        a = apply("moveaxis", a, source=int(axisa), destination=-1)
    if axisb not in (-1,):
        b = apply("moveaxis", b, source=int(axisb), destination=-1)
    out = apply("cross", a, b)
    if axisc != -1:
        out = apply("moveaxis", out, source=-1, destination=int(axisc))
    return out
