"""The fast ways of building a node give the node the general path gives.

``ops.apply`` takes a short path for Exprs of one graph and Python numbers, and autodiff
builds its nodes from ids with ``ops.core.build_node``.  Both must make exactly the node
(op, arguments, shape, dtype, folded value, graph) that ``apply``'s general path makes.
The general path is reached here through handles of an Expr subclass, which the short
paths do not take; each case also states the expected shape and dtype by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.core.errors import ShapeError
from graphad.core.expr import Expr
from graphad.ops import apply
from graphad.ops.core import build_node


class _General(Expr):
    """A handle the short paths do not recognise (``type(a) is Expr`` fails)."""

    __slots__ = ()


def _general(e: Expr) -> _General:
    h = object.__new__(_General)
    h.graph = e.graph
    h.id = e.id
    return h


def _dump(graph: ga.Graph) -> list:
    out = []
    for nid, r in graph.records().items():
        v = r.value
        v = (v.dtype.str, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else (type(v), v)
        out.append((nid, r.op, r.args, r.params, r.role, r.shape, r.dtype, r.name, v, r.nusers))
    return out


def _args(specs):
    """Operands from specs: ("sym", shape, dtype) inputs, ("num", value) Python numbers,
    ("const", array) constants."""
    out = []
    for i, spec in enumerate(specs):
        if spec[0] == "sym":
            out.append(ga.symbol(f"a{i}", shape=spec[1], dtype=spec[2]))
        elif spec[0] == "num":
            out.append(spec[1])
        else:
            out.append(ga.constant(spec[1]))
    return out


U = ("sym", None, None)  # shape and dtype unknown: the default path
F32 = ("sym", None, "float32")  # dtype known, shape not
V32 = ("sym", (3,), "float32")
S64 = ("sym", (), "float64")
M64 = ("sym", (2, 3), "float64")

# op, operand specs, expected (shape, dtype) of the result (dtype as a string; None: unknown)
CASES = [
    ("multiply", [U, U], (None, None)),
    ("multiply", [U, ("num", 2.0)], (None, None)),
    ("multiply", [("num", 2), U], (None, None)),
    ("multiply", [V32, ("num", 2.0)], ((3,), "float32")),
    ("multiply", [F32, ("num", 2)], (None, "float32")),
    ("add", [S64, M64], ((2, 3), "float64")),
    ("subtract", [("num", 1.0), V32], ((3,), "float32")),
    ("negative", [U], (None, None)),
    ("sin", [F32], (None, "float32")),
    ("cos", [V32], ((3,), "float32")),
    ("greater", [U, ("num", 0)], (None, None)),
    ("greater", [V32, ("num", 0)], ((3,), "bool")),
    ("power", [U, ("num", 2)], (None, None)),
    ("sum_to_like", [U, V32], (None, None)),  # unknown where any shape is unknown
    ("sum_to_like", [V32, U], (None, None)),  # "first": unknown where any dtype is
    # where's dtype leaves its condition out: an unknown condition leaves it known
    ("where", [U, F32, ("num", 1.0)], (None, "float32")),
    ("where", [U, U, F32], (None, None)),
    ("where", [U, V32, V32], (None, "float32")),
    ("multiply", [("const", np.ones(3, np.float32)), U], (None, None)),
]


@pytest.mark.parametrize(("op", "specs", "want"), CASES, ids=[c[0] for c in CASES])
def test_short_path_builds_what_the_general_path_builds(op, specs, want):
    with ga.Graph() as fast:
        e = apply(op, *_args(specs))
    with ga.Graph() as general:
        r = apply(op, *[_general(a) if isinstance(a, Expr) else a for a in _args(specs)])
    assert _dump(fast) == _dump(general)
    assert e.id == r.id
    shape, dtype = want
    assert e.shape == shape
    assert (None if e.dtype is None else str(e.dtype)) == dtype


@pytest.mark.parametrize(("op", "specs", "want"), CASES, ids=[c[0] for c in CASES])
def test_build_node_builds_what_apply_builds(op, specs, want):
    with ga.Graph() as by_ids:
        args = [ga.constant(a) if not isinstance(a, Expr) else a for a in _args(specs)]
        nid = build_node(by_ids, op, tuple(a.id for a in args))
    with ga.Graph() as general:
        args = [ga.constant(a) if not isinstance(a, Expr) else a for a in _args(specs)]
        r = apply(op, *[_general(a) for a in args])
    assert _dump(by_ids) == _dump(general)
    assert nid == r.id


def test_numbers_alone_are_folded_and_equal_static_shapes_lowered():
    with ga.Graph() as g:
        one, two = ga.constant(1), ga.constant(2.5)
        nid = build_node(g, "add", (one.id, two.id))
        assert g.node(nid).op == "constant" and g.node(nid).value == 3.5
        assert apply("power", 2, -1).graph.node(apply("power", 2, -1).id).value == 0.5
        x = ga.symbol("x", shape=(3,), dtype="float64")
        y = ga.symbol("y", shape=(3,), dtype="float64")
        assert build_node(g, "sum_to_like", (x.id, y.id)) == x.id  # sum_to of equal shapes


def test_shape_errors_are_the_same():
    with ga.Graph():
        a = ga.symbol("a", shape=(2,))
        b = ga.symbol("b", shape=(3,))
        with pytest.raises(ShapeError, match="add"):
            apply("add", a, b)
        with pytest.raises(ShapeError, match="add"):
            apply("add", _general(a), _general(b))
        with pytest.raises(ShapeError, match="add"):
            build_node(a.graph, "add", (a.id, b.id))


def test_constants_alone_follow_the_entered_graph():
    g = ga.Graph()
    c = ga.constant(np.arange(3.0), graph=g)
    x = ga.symbol("x", graph=g)
    with ga.Graph() as h:
        # apply: constants alone go to the entered graph, as on the general path ...
        e = apply("negative", c)
        assert e.graph is h
        assert apply("negative", _general(c)).id == e.id
        # ... a non-constant operand keeps its own graph, numbers with it
        assert apply("multiply", x, 2.0).graph is g
        assert apply("multiply", 2.0, c).graph is h
        # build_node builds in the graph it is given, as autodiff (which enters it) needs
        before = len(h)
        nid = build_node(g, "negative", (c.id,))
        assert len(h) == before
        assert g.node(nid).op == "negative" and g.node(nid).args == (c.id,)
    np.testing.assert_array_equal(Expr(g, nid).eval(), -np.arange(3.0))


def test_where_gradient_over_an_unknown_condition_keeps_the_branch_dtype():
    with ga.Graph():
        c = ga.symbol("c")  # shape and dtype unknown
        z = ga.symbol("z", dtype="float32")
        gz = ga.grad(ga.where(c > 0, z * z, 1.0), z)
        assert gz.dtype == np.float32
        # d/dz of sum(where(c > 0, z * z, 1)) = 2 * z * (number of positive c)
        out = gz.eval(c=np.array([1.0, -1.0, 2.0]), z=np.float32(3.0))
        assert out.dtype == np.float32
        assert out == np.float32(12.0)


def test_graph_apply_sets_every_field_node_init_sets():
    # Graph.apply makes records without calling Node.__init__: every slot must still be
    # set, to what __init__ would set (a slot added to Node and not to apply fails here)
    from graphad.core.graph import Node

    g = ga.Graph()
    x = ga.symbol("x", graph=g)
    outside = g.apply("sin", (x.id,), (), None, None)
    with g.transaction():  # the lock held by this thread: the other branch
        inside = g.apply("cos", (x.id,), (), (), np.dtype("float64"), role="grad")
    for nid, op, shape, dtype, role in (
        (outside, "sin", None, None, "forward"),
        (inside, "cos", (), np.dtype("float64"), "grad"),
    ):
        made = g.node(nid)
        ref = Node(op, (x.id,), (), role, shape, dtype, (op, (), (x.id,)))
        for slot in Node.__slots__:
            assert getattr(made, slot) == getattr(ref, slot), slot
        assert made == ref
    assert g.node(x.id).nusers == 2
