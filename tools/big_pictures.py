"""Draw the two big example graphs of issue 16 and print their picture sizes.

Usage: python3 tools/big_pictures.py [outdir]   (writes big_sum.png and deep_mlp_gradient.png)

A 40-term sum (238 nodes) and the gradient of a 40-layer tanh MLP (499 nodes),
both on the default path (symbols without shapes).  For each it prints the size
of the SVG drawn with every node (max_nodes=None) and with the default grouping.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, not an install
import graphad as ga
from graphad.core.graph import ancestors


def big_sum() -> list:
    x, y = ga.symbols("x y")
    e = ga.sin(x + y)
    for k in range(2, 41):
        e = e + ga.sin(k * x + y) * k
    return [e]


def deep_mlp_gradient(layers: int = 40) -> list:
    X, Y = ga.symbols("X Y")
    Ws = [ga.symbol(f"W{i}") for i in range(layers)]
    bs = [ga.symbol(f"b{i}") for i in range(layers)]
    h = X
    for W, b in zip(Ws, bs, strict=True):
        h = ga.tanh(h @ W + b)
    loss = -(Y * ga.log_softmax(h)).sum(axis=-1).mean()
    return [loss, *ga.grad(loss, Ws + bs)]


def size(dot) -> tuple[int, int]:
    svg = dot.pipe(format="svg").decode()
    w, h = re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', svg).groups()
    return int(w), int(h)


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else None
    for name, make in (("big_sum", big_sum), ("deep_mlp_gradient", deep_mlp_gradient)):
        with ga.Graph():
            exprs = make()
            n = len(ancestors(exprs[0].graph, [e.id for e in exprs]))
            for label, max_nodes in (("every node", None), ("default", 200)):
                dot = ga.render(exprs, max_nodes=max_nodes)
                w, h = size(dot)
                print(f"{name}: {n} nodes, {label}: {w}x{h} pt (w/h {w / h:.2f})")
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                (out / f"{name}.png").write_bytes(dot.pipe(format="png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
