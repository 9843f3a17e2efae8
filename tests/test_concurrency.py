"""Graphs and compiled functions used from many threads at once.

A pool of 8 threads makes a few thousand calls of ``ga.parse``, ``ga.grad``,
``Expr.eval``, ``ga.compile`` and compiled functions, all on one shared graph,
and every result is compared with a closed-form NumPy reference.  Three
deterministic tests pin the races the stress test found: a gradient's
clean-up pruning another thread's fresh nodes, two handles for one node, and
the trace cache evicting a key between lookup and reuse.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import graphad as ga
from graphad.core.expr import Expr
from graphad.transforms import autodiff

THREADS = 8
CALLS = 2000
TERMS = 24  # distinct expression texts, so threads often build the very same nodes


def _text(k: int) -> str:
    return f"sin(x*{k}) + y**2 * {k} - exp(x/{k + 1})"


def _value(k: int, x: float, y: float) -> float:
    return np.sin(x * k) + y**2 * k - np.exp(x / (k + 1))


def _dx(k: int, x: float, y: float) -> float:
    return k * np.cos(x * k) - np.exp(x / (k + 1)) / (k + 1)


def _loss(w, x):
    return ga.sum(ga.tanh(x * w) ** 2)


def test_threads_hammering_one_graph_get_correct_results():
    g = ga.Graph()
    x, y = ga.symbols("x y", graph=g)
    shared = ga.compile([ga.parse(_text(3), graph=g), ga.grad(ga.parse(_text(3), graph=g), x)])
    dloss = ga.grad(_loss, argnums=0)  # a Python callable: traced and cached per signature
    handles: dict[int, set[int]] = {k: set() for k in range(1, TERMS + 1)}
    lock = threading.Lock()

    def call(i: int) -> int:
        rng = np.random.default_rng(i)
        xv, yv = rng.uniform(-1, 1, size=2)
        k = 1 + i % TERMS
        kind = i % 10
        if kind < 4:  # parse + grad + interpret, on the shared graph
            e = ga.parse(_text(k), graph=g)
            gx, gy = ga.grad(e, ["x", y])
            with lock:
                handles[k].add(id(e))
            got = [e.eval(x=xv, y=yv), gx.eval(x=xv, y=yv), gy.eval(x=xv, y=yv)]
            want = [_value(k, xv, yv), _dx(k, xv, yv), 2 * yv * k]
        elif kind < 7:  # a compiled function shared by every thread
            got = list(shared(xv, yv))
            want = [_value(3, xv, yv), _dx(3, xv, yv)]
        elif kind == 9:  # compile inside the thread
            e = ga.parse(_text(k), graph=g)
            got = list(ga.compile([e, ga.grad(e, x)], inputs=[x, y])(xv, yv))
            want = [_value(k, xv, yv), _dx(k, xv, yv)]
        else:  # the JAX-style transform, with more signatures than its cache holds
            n = 1 + i % 40
            w, xs = np.full(n, xv), np.linspace(0, 1, n)
            t = np.tanh(xs * w)
            got, want = [dloss(w, xs)], [2 * t * (1 - t**2) * xs]
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        return kind

    with ThreadPoolExecutor(THREADS) as pool:
        kinds = list(pool.map(call, range(CALLS)))
    assert len(kinds) == CALLS and set(kinds) == set(range(10))
    # one handle per node, however many threads built it
    assert all(len(ids) == 1 for ids in handles.values())
    # the graph is whole: every argument exists, the hash-consing table points at live
    # nodes with their own keys, and each input name is one node
    nodes = g._nodes
    for n, node in nodes.items():
        assert all(a in nodes for a in node["args"]), n
    for key, n in g._cons.items():
        assert nodes[n]["key"] == key
    assert sorted(g.inputs()) == ["x", "y"]
    assert all(n in nodes and e.id == n for n, e in g.handles.items())


def test_gradient_scope_starts_and_prunes_under_one_hold_of_the_lock(monkeypatch):
    seen = []
    init, prune = autodiff._Scope.__init__, autodiff._Scope.prune

    def spy_init(self, graph):
        seen.append(("start", graph._lock._is_owned()))
        init(self, graph)

    def spy_prune(self, keep):
        seen.append(("prune", self.graph._lock._is_owned()))
        prune(self, keep)

    monkeypatch.setattr(autodiff._Scope, "__init__", spy_init)
    monkeypatch.setattr(autodiff._Scope, "prune", spy_prune)
    with ga.Graph():
        x = ga.symbols("x")
        ga.grad(ga.sin(x) * x, x)
        ga.jvp(ga.sin(x) * x, {x: 1.0})
    assert seen and all(owned for _, owned in seen), seen


def test_nodes_made_by_another_thread_during_a_gradient_survive():
    """A thread building nodes while another differentiates must keep its nodes."""
    errors = []
    with ga.Graph() as g:
        x, y = ga.symbols("x y")
        big = x
        for _ in range(300):
            big = ga.sin(big) * y
        stop = threading.Event()

        def builder():
            k = 0
            while not stop.is_set():
                k += 1
                try:
                    c = ga.constant(1000.0 + k, graph=g)  # a fresh node, not yet used...
                    e = y * c  # ...until here
                    assert float(e.eval(y=1.0)) == 1000.0 + k
                except Exception as exc:  # report any failure
                    errors.append(exc)
                    return

        t = threading.Thread(target=builder)
        t.start()
        try:
            for _ in range(15):
                ga.grad(big, [x, y])
        finally:
            stop.set()
            t.join()
    assert not errors, errors[:3]


def test_one_handle_per_node_even_when_lookups_race():
    class Racy(dict):
        def get(self, key, default=None):  # as if another thread had not stored it yet
            return default

    with ga.Graph() as g:
        x = ga.symbols("x")
        g.handles = Racy(g.handles)
        assert Expr(g, x.id) is Expr(g, x.id) is x
        e = ga.sin(x)
        assert Expr(g, e.id) is e
        assert {e: 1}[Expr(g, e.id)] == 1  # a second handle would make this raise


def test_trace_cache_survives_an_eviction_between_lookup_and_reuse():
    dloss = ga.grad(_loss, argnums=0)
    w, xs = np.full(3, 0.5), np.linspace(0, 1, 3)
    want = dloss(w, xs)

    class Evicting(OrderedDict):
        def get(self, key, default=None):
            found = super().get(key, default)
            self.pop(key, None)  # another thread's eviction lands right here
            return found

    dloss._cache = Evicting(dloss._cache)
    np.testing.assert_array_equal(dloss(w, xs), want)


@pytest.mark.parametrize("n_threads", [THREADS])
def test_same_name_from_many_threads_is_one_input(n_threads):
    g = ga.Graph()
    barrier = threading.Barrier(n_threads)

    def make(_):
        barrier.wait()
        return ga.symbol("shared_name", graph=g)

    with ThreadPoolExecutor(n_threads) as pool:
        got = list(pool.map(make, range(n_threads)))
    assert len({id(e) for e in got}) == 1 and len(g) == 1
