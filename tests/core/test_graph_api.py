"""The Graph API (issue 19): typed node records, topo/users/copy/subgraph/prune/stats, and
``graph.nx`` as a networkx DiGraph that stays consistent with the graph."""

from __future__ import annotations

import re
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import graphad as ga
from graphad.core.graph import Node, ancestors


def _small():
    """x*x + sin(x*y): x*x uses x twice (one edge), sin(x*y) a second product."""
    g = ga.Graph()
    with g:
        x, y = ga.symbols("x y")
        xx = x * x
        xy = x * y
        e = xx + ga.sin(xy)
    return g, x, y, xx, xy, e


def test_node_record_reads_as_attributes_and_as_a_mapping():
    g, x, _y, xx, _xy, _e = _small()
    node = g.node(xx.id)
    assert isinstance(node, Node)
    assert node.op == node["op"] == "multiply"
    assert node.args == node["args"] == (x.id, x.id)
    assert node.role == "forward" and node.params == ()
    # optional fields read as absent while unset, as the attribute dicts did
    assert "name" not in node and node.get("name") is None and node.get("adjoint", ()) == ()
    with pytest.raises(KeyError):
        node["value"]
    assert g.node(x.id)["name"] == "x" and "name" in g.node(x.id)
    assert set(node.keys()) == {"op", "args", "params", "role", "shape", "dtype", "key"}
    assert dict(node)["op"] == "multiply"
    # marks and user keys: setdefault/pop behave as on a dict, unknown keys go aside
    marks = node.setdefault("adjoint", [])
    marks.append((1, 2))
    assert node.adjoint == [(1, 2)] and "adjoint" in node
    assert node.pop("adjoint") == [(1, 2)] and node.adjoint is None
    node["colour"] = "red"
    assert node["colour"] == "red" and "colour" in node
    del node["colour"]
    assert "colour" not in node


def test_topo_users_and_sinks():
    g, x, y, xx, xy, e = _small()
    order = g.topo([e.id])
    assert order == sorted(order)
    pos = {n: i for i, n in enumerate(order)}
    assert all(pos[a] < pos[n] for n in order for a in g.args(n))
    assert set(order) == ancestors(g, [e.id])
    assert g.topo() == sorted(g.nodes())
    # stop: included, but what it needs is not
    assert g.topo([e.id], stop={xy.id}) == sorted(set(order) - {x.id, y.id} | {x.id})
    assert g.users(x.id) == [xx.id, xy.id]  # x*x counts once
    assert g.n_users(x.id) == 2 and g.n_users(e.id) == 0
    assert g.users(y.id) == [xy.id]
    assert g.sinks() == [e.id]


def test_nx_is_a_consistent_networkx_digraph():
    g, _x, _y, xx, _xy, e = _small()
    view = g.nx
    assert isinstance(view, nx.DiGraph)
    assert set(view.nodes) == set(g.nodes())
    assert set(view.edges) == {(a, n) for n in g.nodes() for a in set(g.args(n))}
    assert nx.is_directed_acyclic_graph(view)
    assert nx.ancestors(view, e.id) | {e.id} == ancestors(g, [e.id])
    assert view.nodes[xx.id] is g.node(xx.id)  # the record itself: marks show through
    assert g.nx is view  # unchanged graph: the same view
    with g:
        z = ga.cos(e)
    assert g.nx is not view and (e.id, z.id) in g.nx.edges  # rebuilt after a change
    assert sorted(nx.topological_sort(g.nx))[-1] == z.id


def test_copy_is_exact_and_remap_rebuilds_nodes():
    g, x, y, _xx, _xy, e = _small()
    new, mapping = g.copy([e.id])
    assert len(new) == len(g.topo([e.id]))
    at = {"x": 0.7, "y": -1.3}
    want = 0.7 * 0.7 + np.sin(0.7 * -1.3)
    assert float(ga.Expr(new, mapping[e.id]).eval(at)) == pytest.approx(want, rel=1e-15)
    assert new.inputs() == {"x": mapping[x.id], "y": mapping[y.id]}
    assert [new.op(mapping[n]) for n in g.topo([e.id])] == [g.op(n) for n in g.topo([e.id])]

    def sin_to_cos(graph, nid, node, args):
        if node.op == "sin":
            return graph.apply("cos", args, (), node.shape, node.dtype)
        return None

    new2, m2 = g.copy([e.id], remap=sin_to_cos)
    got = float(ga.Expr(new2, m2[e.id]).eval(at))
    assert got == pytest.approx(0.7 * 0.7 + np.cos(0.7 * -1.3), rel=1e-15)
    assert "sin" not in {new2.op(n) for n in new2.nodes()}
    assert "sin" in {g.op(n) for n in g.nodes()}  # the original is untouched


def test_copy_carries_roles_and_adjoint_marks():
    with ga.Graph() as g:
        x = ga.symbol("x")
        f = ga.sin(x) * x
        gx = ga.grad(f, x)
    new, mapping = g.copy([f.id, gx.id])
    for n in g.topo([f.id, gx.id]):
        assert new.node(mapping[n]).role == g.node(n).role
    marks = {(mapping[o], mapping[w]) for o, w in g.node(gx.id).adjoint}
    assert marks <= set(new.node(mapping[gx.id]).adjoint)
    assert float(ga.Expr(new, mapping[gx.id]).eval(x=0.5)) == pytest.approx(
        np.cos(0.5) * 0.5 + np.sin(0.5), rel=1e-15
    )


def test_subgraph_keeps_ids_and_contracts_arguments():
    g, x, y, xx, xy, e = _small()
    keep = [n for n in g.topo([e.id]) if n != xy.id]
    sin_id = g.users(xy.id)[0]

    def args(n, node):
        return (y.id,) if n == sin_id else node.args

    view = g.subgraph(keep, args=args)
    assert sorted(view.nodes()) == sorted(keep)
    assert view.args(sin_id) == (y.id,) and view.args(xx.id) == (x.id, x.id)
    assert view.users(y.id) == [sin_id] and view.n_users(x.id) == 1
    assert view.next_id == g.next_id


def _counts(g):
    """stats() but the id counter (ids are never reused) and the byte estimate (tables
    keep their room)."""
    return {k: v for k, v in g.stats().items() if k not in ("next_id", "bytes")}


def test_prune_and_transaction_leave_the_graph_as_it_was():
    g, x, _y, _xx, xy, e = _small()
    before = _counts(g)
    start = g.next_id
    with g:
        dead = ga.exp(ga.cos(xy))
        live = ga.tan(e)
    assert g.prune([live.id], since=start) == 2
    assert dead.id not in g and live.id in g
    assert g.n_users(xy.id) == 1 and g.n_users(e.id) == 1
    g.remove(live.id)
    assert _counts(g) == before
    with pytest.raises(ValueError), g.transaction():
        with g:
            ga.sinh(e) + ga.symbol("w")
        raise ValueError("rolled back")
    assert _counts(g) == before and "w" not in g.inputs()
    with pytest.raises(ga.GraphadError, match="still used"):
        g.remove(x.id)


def test_stats_counts_by_hand():
    g, _x, _y, _xx, _xy, _e = _small()
    s = g.stats()
    # nodes: x, y, x*x, x*y, sin, add; edges: x->xx, x->xy, y->xy, xy->sin, xx->add, sin->add
    assert s["nodes"] == 6 and s["edges"] == 6 and s["inputs"] == 2 and s["constants"] == 0
    assert s["ops"] == {"input": 2, "multiply": 2, "sin": 1, "add": 1}
    assert s["roles"] == {"input": 2, "forward": 4}
    assert s["next_id"] == 6 and s["bytes"] > 0


def test_large_chain_copies_and_orders_without_recursion():
    n = 100_000
    with ga.Graph() as g:
        x = ga.symbol("x")
        f = x
        for _ in range(n // 2):
            f = ga.sin(f) * 0.5
    order = g.topo([f.id])
    assert len(order) == len(g) and order[-1] == f.id
    new, mapping = g.copy([f.id])
    assert len(new) == len(g)
    assert new.n_users(mapping[x.id]) == 1 and new.sinks() == [mapping[f.id]]


_PRIVATE = re.compile(
    r"\._succ\b|\._pred\b|\._adj\b|nx\._node\b|"
    r"\b(?:graph|g|new|view|copy|target)\.(?:_nodes|_lock|_next|_new|_cons|_pinned|_inputs"
    r"|_role_stack|_exprs|_version|_caches)\b"
)


def test_no_module_reaches_into_graph_or_networkx_privates():
    root = Path(ga.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix() == "core/graph.py":
            continue
        for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _PRIVATE.search(line):
                found.append(f"{path.relative_to(root)}:{k}: {line.strip()}")
    assert not found, "\n".join(found)


def test_content_hash_follows_what_the_outputs_compute():
    def build(scale=2.0, name="x", extra=False, big=False):
        with ga.Graph() as g:
            if extra:  # nodes the output does not need, built first: other ids
                ga.cos(ga.symbol("u")) + 1.0
            x = ga.symbol(name)
            c = ga.constant(np.arange(70_000.0) if big else np.arange(3.0))
            out = ga.sum(ga.sin(x) * scale + c)
            return g.content_hash([out.id])

    base = build()
    assert len(base) == 64 and int(base, 16) >= 0
    assert build(extra=True) == base  # ids and unrelated nodes do not enter it
    assert build(scale=3.0) != base  # a constant
    assert build(scale=-0.0) != build(scale=0.0)  # -0.0 is another constant
    assert build(name="z") != base  # an input's name
    assert build(big=True) != base and build(big=True) == build(big=True)  # by content
    with ga.Graph() as g:
        x = ga.symbol("x")
        a, b = ga.sin(x), ga.cos(x)
        assert g.content_hash([a.id, b.id]) != g.content_hash([b.id, a.id])  # output order


def test_prune_keeps_exactly_what_keep_needs_on_random_graphs():
    """prune without a walk from ``keep`` removes the nodes (id >= since) that no kept
    node needs, as the ancestors of ``keep`` say, on seeded random DAGs."""
    from graphad.core.graph import ancestors

    rng = np.random.default_rng(19)
    for trial in range(20):
        with ga.Graph() as g:
            pool = [ga.symbol(f"a{i}") for i in range(3)]
            for _ in range(60):
                i, j = rng.integers(0, len(pool), size=2)
                k = rng.integers(0, 3)
                e = pool[i] + pool[j] if k == 0 else (ga.sin(pool[i]) if k == 1 else pool[i] * 2.0)
                pool.append(e)
        ids = sorted({p.id for p in pool})
        since = ids[len(ids) // 3]
        keep = [int(x) for x in rng.choice(ids, size=4, replace=False)]
        before = set(g.records())
        live = set(ancestors(g, keep))
        want = {n for n in before if n >= since and n not in live}
        removed = g.prune(keep, since=since)
        after = set(g.records())
        assert before - after == want, trial
        assert removed == len(want)
        for n in after:  # every survivor's users are counted right
            assert g.n_users(n) == sum(n in set(g.records()[m].args) for m in after)
