"""Graphs pickle (issue 21): the lock and the per-process caches are dropped and made anew,
and large constants, hash-consed by the identity of their array, are keyed again."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest

import graphad as ga

BIG = 70_000  # elements: past the size up to which constants are keyed by content


def _graph():
    with ga.Graph() as g:
        x, y = ga.symbols("x y")
        big = ga.constant(np.linspace(-1.0, 1.0, BIG))
        ex = ga.exp(x)
        e = ga.sum(ga.sin(x * big) * y) + ex * 2.0
        g.nx  # noqa: B018 - a networkx view and the users cache exist before pickling
        g.users(x.id)
    return g, x, ex, big, e


def test_a_graph_round_trips_through_pickle():
    g, _, _, _, e = _graph()
    h = pickle.loads(pickle.dumps(g))
    assert len(h) == len(g) and h.content_hash([e.id]) == g.content_hash([e.id])
    assert h.lock is not g.lock and isinstance(h.lock, type(threading.RLock()))
    with h.lock, h.lock:  # a working re-entrant lock
        pass
    # the same ids, records and values; evaluated against NumPy by hand
    assert [h.node(n).op for n in h.records()] == [g.node(n).op for n in g.records()]
    out = ga.Expr(h, e.id).eval(x=0.3, y=-2.0)
    ref = np.sum(np.sin(0.3 * np.linspace(-1.0, 1.0, BIG)) * -2.0) + np.exp(0.3) * 2.0
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert sorted(h.nx.nodes) == sorted(h.records())  # the networkx view is rebuilt


def test_hash_consing_goes_on_in_the_unpickled_graph():
    g, x, ex, big, _ = _graph()
    h = pickle.loads(pickle.dumps(g))
    value = h.node(big.id).value
    assert value is not g.node(big.id).value
    np.testing.assert_array_equal(value, np.linspace(-1.0, 1.0, BIG))
    # the large constant is keyed by the identity of the array it holds now, not the old one
    assert h.node(big.id).key == ("constant", "id", id(value))
    assert not value.flags.writeable  # constants stay private and read-only
    assert h.adopt_constant(value) == big.id
    other = value.copy()  # same content, another array: another node (keyed by identity)
    assert h.constant(other) not in (big.id, None)
    n = len(h)
    with h:
        hx = ga.symbol("x")
        assert hx.id == x.id and ga.exp(hx).id == ex.id  # found, not made again
        made = ga.sin(hx * 3.0)  # new nodes (the constant 3.0, the product, sin) get new ids
    assert len(h) == n + 3 and made.id > max(g.records())
    assert len(g) == n - 1  # the original is untouched (h also has the copy of the array)


def test_a_gradient_check_report_pickles():
    # the regression: pickle.dumps(report) failed, its graph holding an RLock
    x, y = ga.symbols("x y")
    report = ga.check_grad(ga.sin(x * y) + x**3, {"x": 0.5, "y": -1.5}, sympy=False)
    back = pickle.loads(pickle.dumps(report))
    assert back.verdict == "pass" and back.label == report.label
    (ex,) = back.input("x").elements
    assert ex.ad == report.input("x").elements[0].ad
    assert ex.ad == pytest.approx(np.cos(0.5 * -1.5) * -1.5 + 3 * 0.5**2, rel=1e-14)  # by hand
    assert back.graph.content_hash(back.outputs) == report.graph.content_hash(report.outputs)
