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
import re
import statistics
import sys


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkout", help="a directory holding the older graphad package")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--n", type=int, default=60)
    a = p.parse_args(argv)
    import random

    import sympy as sp

    from .printing import _VARS, KINDS, _degenerate, _sympy_namespace, printed_length

    for name in [m for m in sys.modules if m == "graphad" or m.startswith("graphad.")]:
        del sys.modules[name]
    sys.path.insert(0, a.checkout)
    import graphad as ga

    print(f"graphad from {ga.__file__}")
    ns = _sympy_namespace(sp)
    for kind, make in KINDS.items():
        for seed in range(a.seeds):
            rng = random.Random(seed)
            ratios: dict[bool, list[float]] = {False: [], True: []}
            done = 0
            while done < a.n:
                text = make(rng)
                used = [v for v in _VARS if re.search(rf"\b{v}\b", text)]
                if not used or _degenerate(sp, text, ns):
                    continue
                done += 1
                se = sp.parse_expr(text, local_dict=ns)  # our own generated text
                refs = {v: str(sp.diff(se, ns[v])) for v in used}
                for declared in (False, True):
                    with ga.Graph():
                        if declared:
                            for v in _VARS:
                                ga.symbol(v, shape=(), dtype="float64")
                        e = ga.parse(text)
                        for v in used:
                            ours = str(ga.grad(e, v))
                            ratios[declared].append(
                                printed_length(ours) / max(printed_length(refs[v]), 1)
                            )
            print(
                f"{kind:<9} seed {seed}: median undeclared "
                f"{statistics.median(ratios[False]):.2f}x, declared "
                f"{statistics.median(ratios[True]):.2f}x"
            )


if __name__ == "__main__":
    main()
