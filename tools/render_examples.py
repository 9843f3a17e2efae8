"""Draw the example backprop pictures under docs/ (run from the repository root).

Usage: python3 tools/render_examples.py [outdir]   (default: docs)

Writes backprop_quadratic.svg, backprop_sin.svg and backprop_mlp.svg; the
output is deterministic, so re-running it changes nothing unless rendering did.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, not an install
import graphad as ga


def quadratic(out: Path) -> None:
    """The notebook's f(x) = x**2 + x - 1 and its gradient at x = 3 (f = 11, f' = 7)."""
    with ga.Graph():
        x = ga.symbols("x")
        f = x**2 + x - 1
        ga.render([f, ga.grad(f, x)], out / "backprop_quadratic.svg", at={"x": 3.0})


def sin_xy(out: Path) -> None:
    """sin(x*y) + x**2 with its gradient with respect to x and y at (3, 2)."""
    with ga.Graph():
        x, y = ga.symbols("x y")
        f = ga.sin(x * y) + x**2
        ga.render([f, *ga.grad(f, [x, y])], out / "backprop_sin.svg", at={"x": 3.0, "y": 2.0})


def mlp(out: Path) -> None:
    """A 2-layer MLP's softmax cross-entropy loss and its gradients, static shapes."""
    rng = np.random.default_rng(0)
    with ga.Graph():
        X = ga.symbol("X", shape=(5, 4))
        Y = ga.symbol("Y", shape=(5, 2))  # one-hot labels
        W1, b1 = ga.symbol("W1", shape=(4, 3)), ga.symbol("b1", shape=(3,))
        W2, b2 = ga.symbol("W2", shape=(3, 2)), ga.symbol("b2", shape=(2,))
        h = ga.relu(X @ W1 + b1)
        logits = h @ W2 + b2
        loss = -(Y * ga.log_softmax(logits)).sum(axis=-1).mean()
        grads = ga.grad(loss, [W1, b1, W2, b2])
        at = {
            "X": rng.normal(size=(5, 4)),
            "Y": np.eye(2)[[0, 1, 1, 0, 1]],
            "W1": rng.normal(scale=0.5, size=(4, 3)),
            "b1": np.full(3, 0.1),
            "W2": rng.normal(scale=0.5, size=(3, 2)),
            "b2": np.zeros(2),
        }
        named = {
            "loss": loss,
            **{f"d{w.name}": g for w, g in zip([W1, b1, W2, b2], grads, strict=True)},
        }
        ga.render(named, out / "backprop_mlp.svg", at=at)


def main(argv: list[str]) -> int:
    out = Path(argv[0] if argv else "docs")
    out.mkdir(parents=True, exist_ok=True)
    for make in (quadratic, sin_xy, mlp):
        make(out)
    print("\n".join(str(p) for p in sorted(out.glob("backprop_*.svg"))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
