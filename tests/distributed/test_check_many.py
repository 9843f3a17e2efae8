"""check_grad_many (issue 21): a few tasks per worker thread, checks spread by estimated cost,
the reports check_grad gives, graphs rebuilt on the client only when read."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest

import graphad as ga

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from graphad.distributed import checking  # noqa: E402

XY = {"x": 0.7, "y": -1.3}


def _exprs():
    """Strings of several sizes, and Exprs (one with an array input, one with an array
    constant), with points: a shared mapping object for most, its own for the arrays."""
    with ga.Graph():
        v = ga.symbol("v")
        c = ga.constant(np.array([1.0, -2.0, 0.5]))
        arrays = [ga.sum(ga.tanh(v * c)), ga.sum(ga.exp(v) * v) / 3.0]
    vpoint = {"v": np.array([0.3, 0.1, -0.4])}
    strings = [
        "x**2 + sin(x*y)",
        "exp(x) / y",
        "tanh(x) * cos(y) * exp(-x*y) + log(1 + x**2) / (2 + sin(y))",
        "x * y",
        "sqrt(1 + x**2 + y**2) * hypot(y, x) - x**3 * y**2 + cosh(x - y)",
    ]
    exprs = strings + arrays + strings[::-1]
    points = [XY] * len(strings) + [vpoint, vpoint] + [XY] * len(strings)
    return exprs, points


def _loop(exprs, points, **kwargs):
    """The same checks one by one, each expression in a fresh graph as check_grad_many does."""
    out = []
    for e, p in zip(exprs, points, strict=True):
        with ga.Graph():
            expr = ga.parse(e) if isinstance(e, str) else e
            out.append(ga.check_grad(expr, at=p, **kwargs))
    return out


def test_balance_spreads_cost_and_covers_every_check_once():
    # by hand: largest first onto the least loaded group
    assert checking._balance([5, 4, 3, 3, 3], 2) == [[0, 3], [1, 2, 4]]
    rng = np.random.default_rng(0)
    for slots in (1, 2, 3, 8):
        costs = list(rng.gamma(2.0, 10.0, size=57))
        groups = checking._balance(costs, slots)
        assert sorted(k for g in groups for k in g) == list(range(57))
        assert all(g == sorted(g) for g in groups)  # each group keeps the checks' order
        loads = [sum(costs[k] for k in g) for g in groups]
        assert len(groups) == slots and max(loads) - min(loads) <= max(costs)
    assert checking._balance([1.0, 2.0], 4) == [[1], [0]]  # the largest first; no empty groups


def test_heads_stay_on_their_threads_and_the_rest_goes_in_small_tails():
    rng = np.random.default_rng(1)
    costs = list(rng.gamma(2.0, 10.0, size=200))
    groups = checking._balance(costs, 2)
    heads, tails = checking._split_tails(groups, costs, 2)
    assert len(heads) == 2 and len(tails) == 2 * checking.TAILS_PER_SLOT
    assert sorted(k for g in heads + tails for k in g) == list(range(200))
    for head, group in zip(heads, groups, strict=True):
        assert head == group[: len(head)]  # a prefix of the thread's group
        share = sum(costs[k] for k in head) / sum(costs[k] for k in group)
        assert checking.HEAD_SHARE - 0.05 < share <= checking.HEAD_SHARE
    tail_costs = [sum(costs[k] for k in t) for t in tails]
    assert max(tail_costs) - min(tail_costs) <= max(costs)
    # one check costing more than a head may hold: no head, all of it in the tails
    heads, tails = checking._split_tails([[0], [1]], [100.0, 1.0], 2)
    assert heads == [[], []] and sorted(tails) == [[0], [1]]


def test_cost_estimates_follow_the_graph_and_the_elements_compared():
    for text in ("x**2 + sin(x*y)", "exp(-x) * log(1 + y**2) / (2 + cos(x*y))", "x"):
        with ga.Graph() as g:
            ga.parse(text)
        assert checking._text_nodes(text) == len(g)  # no shared subexpressions here
    # against check_grad's own CPU time: a big graph costs more than a small one, and an
    # input of 60 elements more than one of 3 (measured: 6.2 / 1.2 ms and 12.7 / 1.6 ms)
    at2 = {"x": np.asarray(0.3), "y": np.asarray(0.2)}
    assert 3 < checking._cost(34, at2, 64) / checking._cost(3, at2, 64) < 8
    v3, v60 = {"v": np.ones(3)}, {"v": np.ones(60)}
    assert 4 < checking._cost(4, v60, 64) / checking._cost(4, v3, 64) < 12
    # by hand: (5 + nodes) * (7 + elements), integers compared too, an input past max_full
    # as 8 elements
    assert checking._cost(10, {}, 64) == 15 * 7
    assert checking._cost(10, {"n": np.asarray(3), "x": np.zeros(2)}, 64) == 15 * 10
    assert checking._cost(10, {"x": np.zeros(100)}, 64) == 15 * 15


def test_a_task_sends_each_point_once():
    exprs, points = _exprs()
    sent = [checking._encode(e, k) for k, e in enumerate(exprs)]
    distinct, point_of = [points[0], points[5]], [0] * 5 + [1, 1] + [0] * 5
    jobs, pts = checking._task_args(range(5, 12), sent, point_of, distinct)
    assert pts == distinct[::-1] and [p for _, _, p in jobs] == [0, 0, 1, 1, 1, 1, 1]
    assert [text for _, text, _ in jobs[2:]] == exprs[7:]  # strings travel as they are
    assert [kind for kind, _, _ in jobs] == ["json"] * 2 + ["text"] * 5


def _sympy_imported():
    return "sympy" in sys.modules


def test_on_a_cluster_the_reports_are_check_grads():
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", worker_dashboard_address=None, silence_logs=40,
    )  # fmt: skip
    try:
        with distributed.Client(cluster) as client:
            exprs, points = _exprs()
            with distributed.get_task_stream(client) as stream:
                reports = ga.check_grad_many(exprs, points, client=client, sympy=False, seed=2)
            # a head per worker thread and two small tails per thread (after one warm-up
            # task per worker, this once)
            names = [t["key"] for t in stream.data]
            assert sum("_check_group" in str(k) for k in names) == 2 + 2 * 2
            assert sum("_warm_worker" in str(k) for k in names) == 2
            assert checking._WARMED[client] == dict.fromkeys(client.nthreads(), 1)
            with distributed.get_task_stream(client) as stream:
                again = ga.check_grad_many(exprs[:3], points[:3], client=client, sympy=False)
            assert not any("_warm_worker" in str(t["key"]) for t in stream.data)
            assert [r.verdict for r in again] == ["pass"] * 3
            # SymPy-free checks leave SymPy unimported on the workers
            assert not any(client.run(_sympy_imported).values())
            # checks with SymPy warm it on every worker first, once
            (with_sympy,) = ga.check_grad_many(["x * y"], XY, client=client)
            assert with_sympy.input("x").elements[0].sympy == pytest.approx(XY["y"], rel=1e-15)
            assert checking._WARMED[client] == dict.fromkeys(client.nthreads(), 2)
            assert all(client.run(_sympy_imported).values())
    finally:
        cluster.close()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    loop = _loop(exprs, points, sympy=False, seed=2)
    assert [r.to_dict() for r in reports] == [r.to_dict() for r in loop]
    assert [r.verdict for r in reports] == ["pass"] * len(exprs)
    # independent references: d/dx (x**2 + sin(xy)) = 2x + y cos(xy); d/dy = x cos(xy)
    (dx,) = reports[0].input("x").elements
    (dy,) = reports[0].input("y").elements
    x, y = XY["x"], XY["y"]
    assert dx.ad == pytest.approx(2 * x + y * np.cos(x * y), rel=1e-14)
    assert dy.ad == pytest.approx(x * np.cos(x * y), rel=1e-14)
    v = np.array([0.3, 0.1, -0.4])
    ad = [e.ad for e in reports[5].input("v").elements]
    np.testing.assert_allclose(ad, np.array([1.0, -2.0, 0.5]) / np.cosh(v * [1, -2, 0.5]) ** 2)
    # the graph is rebuilt on the client when first read, then kept
    r = reports[2]
    assert callable(r.__dict__["_graph"])
    graph = r.graph
    assert r.graph is graph and not callable(r.__dict__["_graph"])
    assert graph.content_hash(r.outputs) == loop[2].graph.content_hash(loop[2].outputs)
    back = pickle.loads(pickle.dumps(reports[6]))  # a deferred graph is built to pickle
    assert back.graph.content_hash(back.outputs) == loop[6].graph.content_hash(loop[6].outputs)


def test_local_scheduler_gives_the_same_reports():
    exprs, points = _exprs()
    reports = ga.check_grad_many(exprs[:7], points[:7], sympy=False, seed=1)
    assert [r.to_dict() for r in reports] == [
        r.to_dict() for r in _loop(exprs[:7], points[:7], sympy=False, seed=1)
    ]
    with pytest.raises(ga.GraphadError, match="point 5 must map"):
        ga.check_grad_many(exprs[:7], [*points[:5], 0.5, points[6]])
