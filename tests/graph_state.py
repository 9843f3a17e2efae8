"""What a failed call must leave exactly as it was: shared by the tests of transactions
and of failed loads, parses and gradients."""

from __future__ import annotations


def graph_state(g):
    """Every node's facts, the input table, the hash-cons table and the pinned constants."""
    nodes = []
    for n in sorted(g.nodes()):
        node = g.node(n)
        facts = ("op", "args", "params", "role", "shape", "dtype", "name", "adjoint")
        nodes.append((n, *(repr(node.get(f)) for f in facts)))
    return nodes, g.inputs(), dict(g._cons), len(g._pinned)
