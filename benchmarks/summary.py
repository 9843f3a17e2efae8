"""The headline table (one row per goal of issue 7) from a results file.

``python -m benchmarks.summary [benchmarks/results/full.json]`` prints Markdown:
graphad's figure, its goal, whether it is met, and every peer's figure from
the same run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .run import _fmt_s

PEERS = ("autograd", "torch", "jax", "pytensor", "casadi", "sympy", "sympy-cse")


def _cell(results: dict, workload: str, system: str) -> dict:
    return results.get(workload, {}).get(system, {})


def _med(cell: dict, key: str) -> float | None:
    v = cell.get(key)
    return v["median"] if cell.get("status") == "ok" and v else None


def _ratio(results: dict, workload: str, system: str) -> float | None:
    g = _med(_cell(results, workload, system), "grad_s")
    h = _med(_cell(results, workload, "numpy"), "grad_s")
    return g / h if g is not None and h else None


def _fail_text(cell: dict) -> str:
    if not cell:
        return "not run"
    st = cell.get("status")
    if st in ("timeout", "skipped"):
        return cell.get("error", st).split(" (")[0]  # "> 90 s", without the reason
    return str(st)


def _describe(results: dict, workload: str, system: str, kind: str) -> str:
    cell = _cell(results, workload, system)
    if cell.get("status") != "ok":
        return _fail_text(cell)
    if kind == "ratio":
        r = _ratio(results, workload, system)
        return f"{r:.2f}x" if r is not None else "-"
    if kind == "build":
        return _fmt_s(_med(cell, "build_s"))
    if kind == "build+grad":
        return f"{_fmt_s(_med(cell, 'build_s'))} / {_fmt_s(_med(cell, 'grad_s'))}"
    if kind == "build+size":
        size = cell.get("sizes", {}).get("ratio")
        return (
            f"{_fmt_s(_med(cell, 'build_s'))}, {size:.2f}"
            if size
            else _fmt_s(_med(cell, "build_s"))
        )
    if kind == "gof":
        v = cell.get("grad_over_fun")
        return f"{v:.2f}" if v is not None else "-"
    if kind == "startup":
        return _fmt_s(_med(cell, "startup_s"))
    return "-"


ROWS = [
    ("MLP step 784-256-128-10 vs hand NumPy", "mlp_step", "ratio", "<= 0.85x"),
    ("MLP step 784-512-10 vs hand NumPy", "mlp512_step", "ratio", "(notebook's)"),
    ("Rosenbrock scalar n=100: build + compile", "rosen_scalar_100", "build", "<= 30 ms"),
    (
        "Rosenbrock scalar n=1000: build + compile / one gradient",
        "rosen_scalar_1000",
        "build+grad",
        "<= 0.3 s / <= 200 µs",
    ),
    (
        "x1*...*xn n=1000: build + compile, size ratio",
        "product_1000",
        "build+size",
        "<= 50 ms, <= 3",
    ),
    (
        "sin chain depth 1000: build + compile, size ratio",
        "sin_chain_1000",
        "build+size",
        "<= 30 ms, <= 3",
    ),
    ("Rosenbrock vector n=1000 vs hand NumPy", "rosen_vector_1000", "ratio", "<= 0.6x"),
    ("Rosenbrock vector n=10^6 vs hand NumPy", "rosen_vector_1000000", "ratio", "<= 0.2x"),
    ("t(gradient)/t(function), vector n=1000", "rosen_vector_1000", "gof", "<= 3"),
    ("t(gradient)/t(function), vector n=10^6", "rosen_vector_1000000", "gof", "<= 3"),
    ("t(gradient)/t(function), scalar n=1000", "rosen_scalar_1000", "gof", "<= 3"),
    ("start-up (`graphad --help` / `import X`)", "startup", "startup", "<= 0.6 s"),
]


def headline(doc: dict) -> str:
    results = doc["results"]
    lines = [
        "| workload | graphad | goal | " + " | ".join(PEERS) + " |",
        "|---|---|---|" + "---|" * len(PEERS),
    ]
    for title, wl, kind, goal in ROWS:
        if wl not in results:
            continue
        peers = [_describe(results, wl, p, kind) if p in results[wl] else "" for p in PEERS]
        g = _describe(results, wl, "graphad", kind)
        lines.append(f"| {title} | **{g}** | {goal} | " + " | ".join(peers) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else Path(__file__).parent / "results" / "full.json"
    doc = json.loads(path.read_text())
    print(
        f"From `{path.name}` ({doc['date']}, {doc['machine'].get('Model name', '?')}, "
        f"{doc['machine'].get('cores')} cores, one thread per process):\n"
    )
    print(headline(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
