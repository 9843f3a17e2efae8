"""``ga.linalg``: inv, det, slogdet, solve, cholesky, eigh, eigvalsh, norm, pinv.

Each is one op-table entry whose VJP builds graph nodes from the standard
adjoint rules (Giles 2008, "Collected matrix derivative results"; Murray 2016
for the Cholesky factor), batched over leading axes as NumPy's ``linalg`` is.
Transposes of the last two axes are ``einsum("...ij->...ji")``, which needs no
rank, so the rules hold for symbols of undeclared shape.

Symmetric inputs: NumPy's ``cholesky``, ``eigh`` and ``eigvalsh`` read the lower
triangle only.  Their gradients are therefore lower-triangular: the entry
``(i, j)`` below the diagonal carries the derivative for both ``A[i, j]`` and
``A[j, i]`` (which the upper one stands for), as finite differences of NumPy's
functions give.  Symmetrize them (``(G + G.T) / 2`` of the full gradient's lower
part) if a gradient on the symmetric matrices is wanted.

``eigh`` is two ops, ``eigvalsh`` (eigenvalues) and ``eigh_vectors``
(eigenvectors); ``ga.linalg.eigh(A)`` returns both, and their VJPs add up to the
standard rule ``V (diag(w_bar) + F o (V^T V_bar)) V^T`` with
``F[i, j] = 1 / (w[j] - w[i])``.  Degenerate (repeated) eigenvalues make the
eigenvectors' gradient infinite or NaN (the eigenvectors are not a function of
``A`` there); the eigenvalues' gradient stays finite.

Past 600 lines because it is a table: one declaration per op, each with its rules and
facets in one place, as the op table is meant to be read.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..core.expr import Expr
from .core import Op, apply, export, register
from .einsum_ops import einsum
from .layout import expand_dims, moveaxis
from .linalg import _matmul_shape, matmul
from .reduce import reduced_shape
from .rules import _exec_helper, astype_like, sum_to, unreduce

__all__ = [
    "inv", "det", "slogdet", "solve", "cholesky", "eigh", "eigvalsh", "norm", "pinv", "svd",
]  # fmt: skip


DUCK_SRC = """
def _ga_gufunc(fn, signature, *xs, dtype=None, lead=False):
    # NumPy arrays: fn itself; another library's (Dask's): blockwise over the
    # leading axes, the core axes in one chunk (lazy)
    if all(isinstance(x, np.ndarray | np.generic | float | int) for x in xs):
        out = fn(*xs)
        return np.moveaxis(out, -1, 0) if lead else out
    import dask.array as da

    out = da.apply_gufunc(
        fn, signature, *xs, output_dtypes=dtype or np.result_type(*[x.dtype for x in xs], 1.0),
        allow_rechunk=True, **({"output_sizes": {"k": 2}} if lead else {}),
    )
    return np.moveaxis(out, -1, 0) if lead else out


def _ga_slogdet_last(a):
    return np.stack(np.linalg.slogdet(a), axis=-1)
"""


def _duck(fn, signature, **kw):
    extra = "".join(f", {k}={v}" for k, v in kw.items())

    def emit(a, p):
        return f"_ga_gufunc({fn}, {signature!r}, {', '.join(a)}{extra})"

    return emit


def _mT(x):
    return einsum("...ij->...ji", x)


def _square(name):
    def shape(s, *rest, **params):
        if len(s) < 2 or s[-1] != s[-2]:
            raise ShapeError(
                f"{name}: expected a square matrix (or a stack of them), got shape {s}"
            )
        return s

    return shape


# -- test inputs: matrices the rules are meant for --------------------------------------


def _well_conditioned(rng, shape):
    n = shape[-1]
    return rng.uniform(-1.0, 1.0, size=shape) + n * np.eye(n)


def _spd(rng, shape):
    m = rng.uniform(-1.0, 1.0, size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _symmetric_spread(rng, shape):
    """Symmetric, eigenvalues well apart (the eigenvectors' gradient divides by gaps)."""
    m = rng.uniform(-0.5, 0.5, size=shape)
    return (m + np.swapaxes(m, -1, -2)) / 2 + np.diag(3.0 * np.arange(shape[-1]))


def _full_rank(rng, shape):
    m = rng.uniform(-1.0, 1.0, size=shape)
    k = min(shape[-2:])
    m[..., range(k), range(k)] += 3.0
    return m


def _sampler(*makers):
    def sample(rng, shapes):
        return [make(rng, s) for make, s in zip(makers, shapes, strict=True)]

    return sample


def _uniform(rng, shape):
    return rng.uniform(-2.0, 2.0, size=shape)


# -- inv ------------------------------------------------------------------------------------


def _inv_cotangent(gy, y):
    """``-Y^T G Y^T``: the VJP of ``Y = inv(A)`` for the cotangent ``G``."""
    return apply("negative", einsum("...ji,...jk,...lk->...il", y, gy, y))


register(
    Op(
        name="inv",
        namespace="linalg",
        numpy="np.linalg.inv",
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {}), ([(1, 1)], {})),
        impl=np.linalg.inv,
        vjp=lambda g, ans, a: [_inv_cotangent(g, ans)],
        shape=_square("inv"),
        dtype="float",
        emit="np.linalg.inv({0})",
        duck_emit=_duck("np.linalg.inv", "(m,m)->(m,m)"),
        helper=DUCK_SRC,
        label="inv",
        sample=_sampler(_well_conditioned),
        doc="Matrix inverse (``np.linalg.inv``), batched over leading axes.",
        kink="a singular matrix raises NumPy's LinAlgError, in the value and the gradient.",
    )
)


@export
def inv(a):
    """The inverse of a square matrix (or of each in a stack): ``np.linalg.inv``.

    The VJP is ``-inv(A)^T G inv(A)^T``.
    """
    return apply("inv", a)


# -- det, slogdet -------------------------------------------------------------------------


register(
    Op(
        name="det",
        namespace="linalg",
        numpy="np.linalg.det",
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {}), ([(1, 1)], {})),
        impl=np.linalg.det,
        # d det(A) = det(A) tr(inv(A) dA)
        vjp=lambda g, ans, a: [einsum("...,...,...ji->...ij", g, ans, inv(a))],
        shape=lambda s: _square("det")(s)[:-2],
        dtype="float",
        emit="np.linalg.det({0})",
        duck_emit=_duck("np.linalg.det", "(m,m)->()"),
        helper=DUCK_SRC,
        label="det",
        sample=_sampler(_well_conditioned),
        doc="Determinant (``np.linalg.det``); VJP ``g det(A) inv(A)^T``.",
        kink="the gradient goes through inv(A): a singular matrix raises LinAlgError.",
    )
)


@export
def det(a):
    """The determinant of a square matrix (or of each in a stack): ``np.linalg.det``."""
    return apply("det", a)


def _slogdet_impl(a):
    sign, logabs = np.linalg.slogdet(a)
    return np.stack([sign, logabs])


register(
    Op(
        name="slogdet",
        namespace="linalg",
        numpy="np.linalg.slogdet",
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {})),
        impl=_slogdet_impl,
        # the sign is piecewise constant: no gradient; log|det A| has inv(A)^T
        vjp=lambda g, ans, a: [einsum("...,...ji->...ij", g[1], inv(a))],
        shape=lambda s: (2, *_square("slogdet")(s)[:-2]),
        dtype="float",
        emit="np.stack(np.linalg.slogdet({0}))",
        duck_emit=_duck("_ga_slogdet_last", "(m,m)->(k)", lead=True),
        helper=DUCK_SRC,
        label="slogdet",
        sample=_sampler(lambda rng, s: _well_conditioned(rng, s) * rng.choice([-1.0, 1.0])),
        doc="Sign and log of the absolute determinant (``np.linalg.slogdet``): one node "
        "holding ``[sign, logabsdet]``; ``ga.linalg.slogdet`` returns the pair.",
        example="""
            >>> import numpy as np, graphad as ga
            >>> a = ga.symbol("a")
            >>> sign, logdet = ga.linalg.slogdet(a)
            >>> A = np.array([[0.0, 2.0], [3.0, 1.0]])
            >>> float(sign.eval(a=A)), bool(np.isclose(logdet.eval(a=A), np.log(6.0)))
            (-1.0, True)
        """,
        kink="the sign has no gradient (it is piecewise constant).",
    )
)


def _slogdet_stacked(a):
    """``[sign, logabsdet]`` of a square matrix as one array, ``np.stack(np.linalg.slogdet(a))``
    (``ga.linalg.slogdet`` returns the pair)."""
    return apply("slogdet", a)


export(_slogdet_stacked, "slogdet", name="slogdet")


def slogdet(a):
    """``(sign, logabsdet)`` of a square matrix, as ``np.linalg.slogdet``.

    ``sign`` has no gradient; ``logabsdet``'s is ``inv(A)^T``.  Both are items of
    one ``slogdet`` node.
    """
    both = apply("slogdet", a)
    return both[0], both[1]


# -- solve ----------------------------------------------------------------------------------


def _solve_vjp(g, ans, a, b):
    # x = inv(A) @ b with matmul's semantics (NumPy 2's solve has the same: b is a
    # vector only when 1-D); the chain goes through matmul's and inv's VJPs
    ainv = inv(a)
    gb = apply("matmul_grad_b", g, ainv, b)
    ga_inv = apply("matmul_grad_a", g, ainv, b)
    return [sum_to(_inv_cotangent(ga_inv, ainv), a), gb]


def _solve_shape(a, b):
    _square("solve")(a)
    return _matmul_shape(a, b)


register(
    Op(
        name="solve",
        namespace="linalg",
        numpy="np.linalg.solve",
        argnames=("a", "b"),
        cases=(
            ([(3, 3), (3,)], {}),
            ([(3, 3), (3, 2)], {}),
            ([(2, 3, 3), (2, 3, 4)], {}),
            ([(2, 3, 3), (3,)], {}),
        ),
        impl=np.linalg.solve,
        nargs=2,
        vjp=_solve_vjp,
        shape=_solve_shape,
        dtype="float",
        emit="np.linalg.solve({0}, {1})",
        duck_emit=lambda a, p: (
            f"(_ga_gufunc(np.linalg.solve, '(m,m),(m)->(m)', {a[0]}, {a[1]}) "
            f"if np.ndim({a[1]}) == 1 "
            f"else _ga_gufunc(np.linalg.solve, '(m,m),(m,n)->(m,n)', {a[0]}, {a[1]}))"
        ),
        helper=DUCK_SRC,
        label="solve",
        sample=_sampler(_well_conditioned, _uniform),
        doc="Solve ``a @ x = b`` (``np.linalg.solve``; ``b`` is a vector only when 1-D).",
        kink="a singular matrix raises LinAlgError.",
    )
)


@export
def solve(a, b):
    """The solution ``x`` of ``a @ x = b`` (``np.linalg.solve``)."""
    return apply("solve", a, b)


# -- cholesky -------------------------------------------------------------------------------

PHI_SRC = """
def _ga_phi(x):
    # the lower triangle with the diagonal halved (x * a mask: lazy on Dask arrays)
    if not hasattr(x, "shape"):
        x = np.asarray(x)
    n = x.shape[-1]
    m = np.tril(np.ones((n, n), dtype=x.dtype))
    m[range(n), range(n)] = 0.5
    return x * m
"""

register(
    Op(
        name="tril_half",
        internal=True,
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {})),
        impl=_exec_helper(PHI_SRC, "_ga_phi"),
        # a fixed mask: its own adjoint
        vjp=lambda h, ans, x: [apply("tril_half", h)],
        shape=_square("tril_half"),
        dtype="first",
        emit="_ga_phi({0})",
        helper=PHI_SRC,
        label="tril (half diagonal)",
    )
)


def _cholesky_vjp(g, ans, a):
    # Murray 2016: S = L^-T Phi(L^T Lbar) L^-1; NumPy reads A's lower triangle only,
    # so the gradient is that of tril(A) + tril(A, -1)^T: Phi(S + S^T)
    linv = inv(ans)
    p = apply("tril_half", einsum("...ki,...kj->...ij", ans, g))
    s = einsum("...ki,...kl,...lj->...ij", linv, p, linv)
    return [apply("tril_half", apply("add", s, _mT(s)))]


register(
    Op(
        name="cholesky",
        namespace="linalg",
        numpy="np.linalg.cholesky",
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {}), ([(1, 1)], {})),
        impl=np.linalg.cholesky,
        vjp=_cholesky_vjp,
        shape=_square("cholesky"),
        dtype="float",
        emit="np.linalg.cholesky({0})",
        duck_emit=_duck("np.linalg.cholesky", "(m,m)->(m,m)"),
        helper=DUCK_SRC,
        label="cholesky",
        sample=_sampler(_spd),
        example="""
            >>> import numpy as np, graphad as ga
            >>> a = ga.symbol("a")
            >>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
            >>> L = ga.linalg.cholesky(a).eval(a=A)
            >>> bool(np.allclose(L @ L.T, A)), float(L[0, 0])
            (True, 2.0)
        """,
        doc="Lower Cholesky factor of a symmetric positive definite matrix "
        "(``np.linalg.cholesky``; reads the lower triangle).",
        kink="the gradient is lower-triangular (NumPy reads only A's lower triangle).",
    )
)


@export
def cholesky(a):
    """The lower Cholesky factor ``L`` (``A = L L^T``) of an SPD matrix."""
    return apply("cholesky", a)


# -- eigh -----------------------------------------------------------------------------------

GAPS_SRC = """
def _ga_eigh_gaps(w):
    # F[..., i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it
    if not hasattr(w, "shape"):
        w = np.asarray(w)
    d = w[..., None, :] - w[..., :, None]
    eye = np.eye(w.shape[-1], dtype=bool)
    with np.errstate(divide="ignore"):
        return np.where(eye, 0, 1 / np.where(eye, 1, d))
"""


def _gaps_vjp(h, ans, w):
    # dF_ij = -F_ij^2 (dw_j - dw_i)
    k = apply("multiply", h, apply("multiply", ans, ans))
    return [apply("subtract", einsum("...ij->...i", k), einsum("...ij->...j", k))]


register(
    Op(
        name="eigh_gaps",
        internal=True,
        cases=(([(3,)], {}), ([(2, 4)], {})),
        impl=_exec_helper(GAPS_SRC, "_ga_eigh_gaps"),
        vjp=_gaps_vjp,
        shape=lambda s: (*s, s[-1]),
        dtype="float",
        emit="_ga_eigh_gaps({0})",
        helper=GAPS_SRC,
        label="1 / eigenvalue gaps",
        sample=_sampler(lambda rng, s: rng.uniform(-0.4, 0.4, size=s) + 2.0 * np.arange(s[-1])),
    )
)


def _eigvalsh_vjp(g, ans, a):
    v = apply("eigh_vectors", a)
    full = einsum("...ik,...k,...jk->...ij", v, g, v)  # V diag(g) V^T, symmetric
    return [apply("tril_half", apply("multiply", full, 2.0))]


def _eigh_vectors_vjp(g, ans, a):
    f = apply("eigh_gaps", apply("eigvalsh", a))
    inner = apply("multiply", f, einsum("...ki,...kj->...ij", ans, g))
    full = einsum("...ik,...kl,...jl->...ij", ans, inner, ans)
    return [apply("tril_half", apply("add", full, _mT(full)))]


register(
    Op(
        name="eigvalsh",
        namespace="linalg",
        numpy="np.linalg.eigvalsh",
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {})),
        impl=np.linalg.eigvalsh,
        vjp=_eigvalsh_vjp,
        shape=lambda s: _square("eigvalsh")(s)[:-1],
        dtype="float",
        emit="np.linalg.eigvalsh({0})",
        duck_emit=_duck("np.linalg.eigvalsh", "(m,m)->(m)"),
        helper=DUCK_SRC,
        label="eigvalsh",
        sample=_sampler(_symmetric_spread),
        doc="Eigenvalues of a symmetric matrix, ascending (``np.linalg.eigvalsh``; reads "
        "the lower triangle).",
        kink="the gradient is lower-triangular (NumPy reads only A's lower triangle).",
    )
)
register(
    Op(
        name="eigh_vectors",
        namespace="linalg",
        numpy="np.linalg.eigh",
        cases=(([(3, 3)], {}), ([(2, 4, 4)], {})),
        impl=lambda a: np.linalg.eigh(a)[1],
        vjp=_eigh_vectors_vjp,
        shape=_square("eigh_vectors"),
        dtype="float",
        emit="np.linalg.eigh({0})[1]",
        duck_emit=_duck("_ga_eigh_vectors", "(m,m)->(m,m)"),
        helper=DUCK_SRC + "\n\ndef _ga_eigh_vectors(a):\n    return np.linalg.eigh(a)[1]\n",
        label="eigh_vectors",
        sample=_sampler(_symmetric_spread),
        example="""
            >>> import numpy as np, graphad as ga
            >>> a = ga.symbol("a")
            >>> A = np.array([[2.0, 1.0], [1.0, 2.0]])
            >>> V, w = ga.linalg.eigh_vectors(a).eval(a=A), ga.linalg.eigvalsh(a).eval(a=A)
            >>> bool(np.allclose(A @ V, V * w)), w.tolist()
            (True, [1.0, 3.0])
        """,
        doc="Eigenvectors (columns) of a symmetric matrix (``np.linalg.eigh(a)[1]``).",
        kink="repeated eigenvalues give infinite / NaN gradients (1 / (w_j - w_i)); "
        "the sign of each eigenvector is NumPy's (LAPACK's) choice.",
    )
)


@export
def eigvalsh(a):
    """Eigenvalues of a symmetric matrix in ascending order (``np.linalg.eigvalsh``)."""
    return apply("eigvalsh", a)


@export
def eigh_vectors(a):
    """Eigenvectors of a symmetric matrix, as columns (``np.linalg.eigh(a)[1]``)."""
    return apply("eigh_vectors", a)


def eigh(a):
    """``(w, V)``: eigenvalues (ascending) and eigenvectors (columns) of a symmetric
    matrix, as ``np.linalg.eigh``.

    The gradient is the standard adjoint ``V (diag(w_bar) + F o (V^T V_bar)) V^T`` with
    ``F[i, j] = 1 / (w[j] - w[i])``, taken on the lower triangle NumPy reads.
    Degenerate eigenvalues: the eigenvectors' gradient is infinite or NaN (they are
    not differentiable there); the eigenvalues' gradient stays finite.
    """
    return apply("eigvalsh", a), apply("eigh_vectors", a)


# -- svd ------------------------------------------------------------------------------------
# The thin SVD A = U diag(s) Vh (k = min(m, n)) as three ops, so each VJP is built from the
# others' nodes and differentiates again.  With F[i, j] = 1 / (s_j^2 - s_i^2) (0 on the
# diagonal) the standard adjoint (Townsend 2016, "Differentiating the singular value
# decomposition") is the sum of
#   s:  U diag(s_bar) Vh
#   U:  U [(F o (U^T U_bar - U_bar^T U)) diag(s)] Vh + (I - U U^T) U_bar diag(1/s) Vh
#   Vh: U [diag(s) (F o (V^T V_bar - V_bar^T V))] Vh + U diag(1/s) V_bar^T (I - V Vh)
# (V = Vh^T, V_bar = Vh_bar^T).


def _svd_parts(a):
    return apply("svd_u", a), apply("svd_s", a), apply("svd_vh", a)


def _svd_s_vjp(g, ans, a):
    u, _, vh = _svd_parts(a)
    return [einsum("...ik,...k,...kj->...ij", u, g, vh)]


def _svd_u_vjp(g, ans, a):
    u, s, vh = ans, apply("svd_s", a), apply("svd_vh", a)
    f = apply("eigh_gaps", apply("multiply", s, s))
    utg = einsum("...ki,...kj->...ij", u, g)  # U^T U_bar
    inner = apply("multiply", f, apply("subtract", utg, _mT(utg)))
    core = einsum("...ik,...kl,...l,...lj->...ij", u, inner, s, vh)
    resid = apply("subtract", g, einsum("...ik,...kl->...il", u, utg))  # (I - U U^T) U_bar
    return [
        apply("add", core, einsum("...ik,...k,...kj->...ij", resid, apply("reciprocal", s), vh))
    ]


def _svd_vh_vjp(g, ans, a):
    u, s, vh = apply("svd_u", a), apply("svd_s", a), ans
    f = apply("eigh_gaps", apply("multiply", s, s))
    vtv = einsum("...ik,...jk->...ij", vh, g)  # V^T V_bar (g is Vh_bar = V_bar^T)
    inner = apply("multiply", f, apply("subtract", vtv, _mT(vtv)))
    core = einsum("...ik,...k,...kl,...lj->...ij", u, s, inner, vh)
    # V_bar^T (I - V Vh) = g - (g Vh^T) Vh
    resid = apply("subtract", g, einsum("...ik,...jk,...jl->...il", g, vh, vh))
    return [apply("add", core, einsum("...ik,...k,...kj->...ij", u, apply("reciprocal", s), resid))]


def _svd_shape(part):
    def shape(s):
        if len(s) < 2:
            raise ShapeError(f"svd: needs a matrix (or a stack of them), got shape {s}")
        m, n = s[-2:]
        k = min(m, n)
        return {"u": (*s[:-2], m, k), "s": (*s[:-2], k), "vh": (*s[:-2], k, n)}[part]

    return shape


_SVD_CASES = (([(4, 3)], {}), ([(3, 5)], {}), ([(2, 3, 3)], {}))
for _part, _index, _vjp in (("u", 0, _svd_u_vjp), ("s", 1, _svd_s_vjp), ("vh", 2, _svd_vh_vjp)):
    register(
        Op(
            name=f"svd_{_part}",
            numpy="np.linalg.svd",
            internal=True,  # built by ga.linalg.svd and the matrix norms
            cases=_SVD_CASES,
            impl=(lambda i: lambda a: np.linalg.svd(a, full_matrices=False)[i])(_index)
            if _part != "s"
            else (lambda a: np.linalg.svd(a, compute_uv=False)),
            vjp=_vjp,
            shape=_svd_shape(_part),
            dtype="float",
            emit=f"np.linalg.svd({{0}}, full_matrices=False)[{_index}]"
            if _part != "s"
            else "np.linalg.svd({0}, compute_uv=False)",
            label={"u": "svd U", "s": "singular values", "vh": "svd Vh"}[_part],
            lazy=False,
            sample=_sampler(_full_rank),
            doc=f"The {'singular values' if _part == 's' else _part.upper()} of the thin SVD "
            f"(``np.linalg.svd(a, full_matrices=False)``); ``ga.linalg.svd`` returns all three.",
            kink="repeated singular values make U's and Vh's gradients infinite or NaN "
            "(1 / (s_j^2 - s_i^2)); a zero singular value makes them infinite; the signs of "
            "the singular vectors are NumPy's (LAPACK's) choice.",
        )
    )


def svd(a, full_matrices=False, compute_uv=True):
    """The thin singular value decomposition ``(U, s, Vh)`` of a matrix (or a stack),
    ``np.linalg.svd(a, full_matrices=False)``; ``compute_uv=False``: ``s`` alone.

    The gradient is the standard adjoint (Townsend 2016) and differentiates again;
    repeated or zero singular values make the singular vectors' gradient infinite or
    NaN (they are not differentiable there), the singular values' stays finite.

    Parameters
    ----------
    a : Expr or array_like
        The matrix, ``(..., m, n)``.
    full_matrices : bool
        Only ``False`` (the thin SVD) is supported.
    compute_uv : bool
        ``False``: return the singular values only.

    Returns
    -------
    tuple of Expr or Expr
        ``(U, s, Vh)`` with shapes ``(..., m, k)``, ``(..., k)``, ``(..., k, n)``,
        ``k = min(m, n)``; or ``s``.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> a = ga.symbol("a")
    >>> A = np.array([[3.0, 0.0], [4.0, 5.0]])
    >>> ga.linalg.svd(a, compute_uv=False).eval(a=A).round(6).tolist()
    [6.708204, 2.236068]
    """
    if full_matrices:
        raise GraphadError("svd: full_matrices=True is not supported (use the thin SVD)")
    if not compute_uv:
        return apply("svd_s", a)
    return _svd_parts(a)


# -- norm -----------------------------------------------------------------------------------

NORM_SRC = """
def _ga_norm(x, ord=None, axis=None, keepdims=False):
    if not hasattr(x, "ndim"):
        x = np.asarray(x)
    if ord in (1, 2, "inf") and not (isinstance(axis, int) or (axis is None and x.ndim == 1)):
        raise ValueError(
            f"norm: ord={ord!r} is a vector norm here: give an int axis or a 1-D x "
            f"(got axis={axis!r} for shape {x.shape}); for a matrix norm pass axis=(0, 1) "
            f"or declare the shape"
        )
    if ord == "fro" and not ((x.ndim == 2 and axis is None) or isinstance(axis, tuple)):
        raise ValueError(f"norm: ord='fro' needs a 2-D x or a pair of axes, got shape {x.shape}")
    if ord is None and axis is None:
        r = np.sqrt(np.sum(x * x))
        return r.reshape((1,) * x.ndim) if keepdims else r
    return np.linalg.norm(x, ord=np.inf if ord == "inf" else ord, axis=axis, keepdims=keepdims)
"""

_norm_impl = _exec_helper(NORM_SRC, "_ga_norm")


def _norm_shape(s, ord=None, axis=None, keepdims=False):
    if ord in (1, 2, "inf") and not (isinstance(axis, int) or (axis is None and len(s) == 1)):
        raise ShapeError(
            f"norm: ord={ord!r} is a vector norm: give an int axis or a 1-D x "
            f"(got axis={axis!r} for shape {s}); for a matrix norm pass axis=(0, 1)"
        )
    if ord == "fro" and not ((len(s) == 2 and axis is None) or isinstance(axis, tuple)):
        raise ShapeError(f"norm: ord='fro' needs a 2-D x or a pair of axes, got shape {s}")
    return reduced_shape("norm", s, axis, keepdims)


def _norm_vjp(g, ans, x, ord=None, axis=None, keepdims=False):
    gx = unreduce(g, x, axis, keepdims)
    if ord == 1:
        return [apply("multiply", gx, apply("sign", x))]
    if ord == "inf":  # ties share the gradient, as max's
        big = unreduce(ans, x, axis, keepdims)
        mask = apply("equal", apply("abs", x), big)
        count = astype_like(apply("sum", mask, axis=axis, keepdims=True), x)
        return [apply("divide", apply("multiply", apply("multiply", gx, apply("sign", x)), mask),
                      count)]  # fmt: skip
    # 2-norm / Frobenius: x / |x|, and 0 at x = 0
    n = unreduce(ans, x, axis, keepdims)
    zero = apply("equal", n, 0.0)
    safe = apply("where", zero, 1.0, n)
    return [apply("where", zero, 0.0, apply("divide", apply("multiply", gx, x), safe))]


register(
    Op(
        name="norm",
        namespace="linalg",
        numpy="np.linalg.norm",
        keywords=(("ord", None), ("axis", None), ("keepdims", False)),
        cases=(
            ([(5,)], {}),
            ([(3, 4)], {}),
            ([(3, 4)], {"ord": 2, "axis": -1}),
            ([(3, 4)], {"ord": 1, "axis": 1}),
            ([(3, 4)], {"ord": "inf", "axis": 0, "keepdims": True}),
            ([(2, 3, 4)], {"ord": "fro", "axis": (1, 2)}),
            ([(2, 3, 4)], {"axis": (0, 2), "keepdims": True}),
        ),
        impl=_norm_impl,
        vjp=_norm_vjp,
        shape=_norm_shape,
        dtype="float",
        emit=lambda a, p: (
            f"_ga_norm({a[0]}, ord={p.get('ord')!r}, axis={p.get('axis')!r}, "
            f"keepdims={p.get('keepdims', False)!r})"
        ),
        helper=NORM_SRC,
        label="norm",
        domain=[(-2, 2)],
        doc="Vector 2 / 1 / inf norms along ``axis`` and the Frobenius norm "
        "(``np.linalg.norm``; ``ord=None`` with ``axis=None``: the 2-norm of all entries).",
        kink="the 2-norm and Frobenius norm have gradient 0 at x = 0 (a subgradient); the "
        "1-norm uses sign(0) = 0; tied maxima of the inf-norm share the gradient.",
    )
)


@export
def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm``: vector norms (``ord`` 2, 1, ``inf``) and matrix norms (``ord`` 1,
    -1, 2, -2, ``inf``, ``-inf``, ``'fro'``, ``'nuc'`` over ``axis=(i, j)``, or of a 2-D ``x``
    of declared shape).

    ``ord=None``: the 2-norm of the entries reduced over ``axis`` (all of them by
    default; the Frobenius norm of a matrix).  ``ord=1/2/inf`` need an int ``axis``
    (or a 1-D ``x``); ``ord='fro'`` a 2-D ``x`` or a pair of axes.  The gradient of
    the 2-norm at 0 is 0.
    Raises
    ------
    GraphadError
        If ``ord`` is not None, 1, 2, inf or ``'fro'``.
    """
    if ord is not None and not isinstance(ord, str) and math.isinf(ord):
        ord = "inf" if ord > 0 else "-inf"
    if isinstance(axis, list | tuple):
        axis = tuple(int(a) for a in axis)
    elif axis is not None:
        axis = int(axis)
    matrix = isinstance(axis, tuple) and len(axis) == 2
    if axis is None and ord is not None and ord != "fro":
        shape = getattr(x, "shape", None) if isinstance(x, Expr) else np.shape(x)
        if shape is not None and len(shape) == 2:
            matrix, axis = True, (0, 1)  # NumPy: a matrix norm of a 2-D x
    if matrix and ord in (1, -1, "inf", "-inf", 2, -2, "nuc"):
        return _matrix_norm(x, ord, axis, bool(keepdims))
    if ord not in (None, 1, 2, "inf", "fro"):
        raise GraphadError(
            f"norm: ord={ord!r} is not supported here (vector norms: None, 1, 2, inf; "
            f"matrix norms, with axis=(i, j) or a 2-D x of declared shape: 1, -1, 2, -2, "
            f"inf, -inf, 'fro', 'nuc')"
        )
    return apply("norm", x, ord=ord, axis=axis, keepdims=bool(keepdims))


def _matrix_norm(x, ord, axis, keepdims):
    """NumPy's matrix norms over the axis pair ``axis`` (rows, columns), built from the
    ops NumPy computes them with, so the value is NumPy's and the gradient follows."""
    r, c = axis
    shape = x.shape if isinstance(x, Expr) else np.shape(x)
    if shape is not None:
        if not all(-len(shape) <= a < len(shape) for a in axis):
            raise ShapeError(f"norm: axis={axis!r} is out of range for shape {shape}")
        r, c = r % len(shape), c % len(shape)
    if r == c:
        raise GraphadError(f"norm: axis={axis!r} names one axis twice")
    if ord in (1, -1, "inf", "-inf"):
        # 1: the largest column sum of |x| (sum over rows, then max over columns); inf:
        # the largest row sum; -1 / -inf: the smallest
        first, second = (r, c) if ord in (1, -1) else (c, r)
        pick = "max" if ord in (1, "inf") else "min"
        sums = apply("sum", apply("abs", x), axis=first, keepdims=True)
        out = apply(pick, sums, axis=second, keepdims=True)
        return out if keepdims else apply("squeeze", out, axis=tuple(sorted((r, c))))
    sv = apply("svd_s", moveaxis(x, (r, c), (-2, -1)))
    if ord == "nuc":
        out = apply("sum", sv, axis=-1, keepdims=False)
    else:
        out = apply("max" if ord == 2 else "min", sv, axis=-1, keepdims=False)
    return expand_dims(out, tuple(sorted((r, c)))) if keepdims else out


# -- pinv -----------------------------------------------------------------------------------


def _pinv_vjp(g, ans, a):
    # dP = -P dA P + P P^T dA^T (I - A P) + (I - P A) dA^T P^T P  (constant rank); its
    # adjoint, with the identities multiplied out
    p, pt, gt = ans, _mT(ans), _mT(g)
    ppt = matmul(p, pt)
    ptp = matmul(pt, p)
    t1 = matmul(matmul(pt, g), pt)
    t2 = apply("subtract", matmul(gt, ppt), matmul(matmul(matmul(a, p), gt), ppt))
    t3 = apply("subtract", matmul(ptp, gt), matmul(matmul(matmul(ptp, gt), p), a))
    return [apply("subtract", apply("add", t2, t3), t1)]


register(
    Op(
        name="pinv",
        namespace="linalg",
        numpy="np.linalg.pinv",
        cases=(([(3, 3)], {}), ([(4, 3)], {}), ([(2, 3, 5)], {})),
        impl=np.linalg.pinv,
        vjp=_pinv_vjp,
        shape=lambda s: (*s[:-2], s[-1], s[-2]),
        dtype="float",
        emit="np.linalg.pinv({0})",
        duck_emit=_duck("np.linalg.pinv", "(m,n)->(n,m)"),
        helper=DUCK_SRC,
        label="pinv",
        sample=_sampler(_full_rank),
        doc="Moore-Penrose pseudo-inverse (``np.linalg.pinv``).",
        kink="the gradient assumes the rank is constant near A (full rank); where the "
        "rank changes pinv is not continuous.",
    )
)


@export
def pinv(a):
    """The Moore-Penrose pseudo-inverse (``np.linalg.pinv``)."""
    return apply("pinv", a)
