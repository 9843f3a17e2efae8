"""The printing benchmark's expressions printed by an older graphad: the baseline
issue 20 was measured against (median 3.65x SymPy's length undeclared, 1.91x declared).

Run from the repository root, with an older checkout beside it::

    git worktree add /tmp/graphad-before b380508   # main before the second wave
    python -m benchmarks.printing_before /tmp/graphad-before [--seeds 3]

It prints ``str(ga.grad(...))`` of that checkout's graphad (its printer had no
names) against SymPy's ``diff``, measured as :mod:`benchmarks.printing` measures.
"""

from __future__ import annotations

import argparse
import statistics
import sys


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkout", help="a directory holding the older graphad package")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n", type=int, default=60)
    a = p.parse_args(argv)
    from .printing import KINDS, measure

    for name in [m for m in sys.modules if m == "graphad" or m.startswith("graphad.")]:
        del sys.modules[name]
    sys.path.insert(0, a.checkout)
    import graphad as ga

    print(f"graphad from {ga.__file__}")
    for kind in KINDS:
        for seed in range(a.seeds):
            # that printer had no names: str() is its one text
            rows = measure(a.n, seed, kind, ga=ga, show=lambda g, names: str(g))
            med = {
                d: statistics.median(
                    r["ratio"] for r in rows if r["declared"] == d and not r["names"]
                )
                for d in (False, True)
            }
            print(
                f"{kind:<9} seed {seed}: median undeclared {med[False]:.2f}x, "
                f"declared {med[True]:.2f}x"
            )


if __name__ == "__main__":
    main()
