"""The README's Benchmarks table, and where issue 12's targets stand, from a results file.

``python -m benchmarks.summary [RESULTS.json]`` (default ``benchmarks/results/full.json``)
prints Markdown:

1. the headline table: per workload, graphad's **default path** (inputs without declared
   shapes or dtypes, ``ga.symbol("x")``), graphad with declared shapes and dtypes, issue 7's
   goal and every peer's figure from the same run;
2. issue 12's targets as ratios within that run, each marked met / not met / not measured.

The block is wrapped in two HTML comments (invisible on GitHub).  Once it is pasted into a
README, ``python -m benchmarks.summary RESULTS.json --readme README.md`` rewrites the block
between them in place (and nothing else); ``--readme`` on a file without the comments
replaces the table that follows the ``From `....json` ...`` line of its Benchmarks section.

Results files written before issue 12 have one graphad system, the declared path; they are
read so (their default-path cells show "not run").
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from .run import _fmt_s

PEERS = ("autograd", "torch", "jax", "pytensor", "casadi", "sympy", "sympy-cse")
DEFAULT, DECLARED = "graphad", "graphad-declared"
BEGIN = "<!-- benchmarks-table: begin (python -m benchmarks.summary) -->"
END = "<!-- benchmarks-table: end -->"
SLACK = 0.05  # "not slower than the declared path": medians of rounds, within this noise


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


# (title, workload, kind, issue 7's goal)
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
    ("scalar gradient of ~10^4 nodes: build + compile", "scaling_10000", "build", "linear"),
    ("start-up (`graphad --help` / `import X`)", "startup", "startup", "<= 0.6 s"),
]


def headline(doc: dict) -> str:
    results = doc["results"]
    lines = [
        "| workload | graphad | graphad (declared) | goal (#7) | " + " | ".join(PEERS) + " |",
        "|---|---|---|---|" + "---|" * len(PEERS),
    ]
    for title, wl, kind, goal in ROWS:
        if wl not in results:
            continue
        peers = [_describe(results, wl, p, kind) if p in results[wl] else "" for p in PEERS]
        g = _describe(results, wl, DEFAULT, kind)
        # start-up is one command for both paths: only the default column carries it
        d = _describe(results, wl, DECLARED, kind) if DECLARED in results[wl] else ""
        lines.append(f"| {title} | **{g}** | {d} | {goal} | " + " | ".join(peers) + " |")
    return "\n".join(lines) + "\n"


# -- issue 12's targets ------------------------------------------------------------------------

# (title, workload, goal): graphad's default path against hand NumPy, in one run
NUMPY_TARGETS = [
    ("Rosenbrock vector n=1000: default path vs hand NumPy", "rosen_vector_1000", 1.5),
    ("Rosenbrock vector n=10^6: default path vs hand NumPy", "rosen_vector_1000000", 0.8),
    ("MLP 784-256-128-10 step, undeclared shapes, vs hand NumPy", "mlp_step", 1.05),
]
CASADI_TARGET = (
    "Rosenbrock scalar n=1000 (1000 undeclared scalars), one gradient: default path vs CasADi",
    "rosen_scalar_1000",
    15.0,
)
# "no workload slower than the declared path": the figures compared, per workload
_BUILD = (("build_s", "build"), ("grad_s", "gradient"))
VS_DECLARED = [
    ("mlp_step", (("grad_s", "step"),)),
    ("mlp512_step", (("grad_s", "step"),)),
    ("rosen_vector_1000", (("grad_s", "gradient"),)),
    ("rosen_vector_1000000", (("grad_s", "gradient"),)),
    ("rosen_scalar_100", _BUILD),
    ("rosen_scalar_1000", _BUILD),
    ("product_100", _BUILD),
    ("product_1000", _BUILD),
    ("sin_chain_100", _BUILD),
    ("sin_chain_1000", _BUILD),
    ("scaling_10000", (("build_s", "build of a ~10^4-node scalar gradient"),)),
]


def _verdict(value: float | None, goal: float, default_cell: dict | None = None) -> str:
    """met / not met; a default path that ran and failed (wrong values, an error, a timeout)
    has not met its target; a figure missing for another reason is "not measured"."""
    if value is None:
        failed = default_cell and default_cell.get("status") not in ("ok", "skipped", "n/a")
        return "not met" if failed else "not measured"
    return "met" if value <= goal else "not met"


def _why_missing(results: dict, workload: str, systems: tuple[str, ...]) -> str:
    parts = []
    for s in systems:
        cell = _cell(results, workload, s)
        if cell.get("status") != "ok":
            parts.append(f"{s}: {_fail_text(cell)}")
    return "; ".join(parts) or "-"


def targets(doc: dict, slack: float = SLACK) -> tuple[str, dict[str, int]]:
    """Issue 12's targets as Markdown rows, and a count per verdict."""
    results = doc["results"]
    rows: list[tuple[str, str, str, str]] = []
    for title, wl, goal in NUMPY_TARGETS:
        r = _ratio(results, wl, DEFAULT)
        rd = _ratio(results, wl, DECLARED)
        if r is None:
            measured = _why_missing(results, wl, ("numpy", DEFAULT))
        else:
            measured = f"{r:.2f}x" + (f" (declared {rd:.2f}x)" if rd is not None else "")
        rows.append(
            (title, measured, f"<= {goal:g}x", _verdict(r, goal, _cell(results, wl, DEFAULT)))
        )

    title, wl, goal = CASADI_TARGET
    g = _med(_cell(results, wl, DEFAULT), "grad_s")
    c = _med(_cell(results, wl, "casadi"), "grad_s")
    gd = _med(_cell(results, wl, DECLARED), "grad_s")
    r = g / c if g is not None and c else None
    if r is None:
        measured = _why_missing(results, wl, (DEFAULT, "casadi"))
    else:
        measured = f"{r:.1f}x ({_fmt_s(g)} / {_fmt_s(c)})"
        if gd is not None:
            measured += f"; declared {gd / c:.1f}x"
    rows.append((title, measured, f"<= {goal:g}x", _verdict(r, goal, _cell(results, wl, DEFAULT))))

    for wl, figures in VS_DECLARED:
        if wl not in results:
            continue  # not part of this run (e.g. a quick run)
        parts, ratios = [], []
        for key, what in figures:
            a = _med(_cell(results, wl, DEFAULT), key)
            b = _med(_cell(results, wl, DECLARED), key)
            if a is not None and b:
                ratios.append(a / b)
                parts.append(f"{what} {a / b:.2f} ({_fmt_s(a)} / {_fmt_s(b)})")
        if len(ratios) < len(figures):
            measured, worst = _why_missing(results, wl, (DEFAULT, DECLARED)), None
        else:
            measured, worst = "; ".join(parts), max(ratios)
        rows.append(
            (
                f"`{wl}`: default / declared path",
                measured,
                f"<= 1 (+{slack:.0%} noise)",
                _verdict(worst, 1 + slack, _cell(results, wl, DEFAULT)),
            )
        )
    counts = {v: sum(1 for row in rows if row[3] == v) for v in ("met", "not met", "not measured")}
    lines = ["| issue 12 target | measured | goal | |", "|---|---|---|---|"]
    lines += [
        f"| {t} | {m} | {go} | {'**not met**' if v == 'not met' else v} |" for t, m, go, v in rows
    ]
    return "\n".join(lines) + "\n", counts


def block(doc: dict, name: str, slack: float = SLACK) -> str:
    """The README block: where the figures come from, the headline table, the targets."""
    machine = doc.get("machine", {})
    tgt, counts = targets(doc, slack)
    return (
        f"{BEGIN}\n"
        f"From `{name}` ({doc['date']}, {machine.get('Model name', '?')}, "
        f"{machine.get('cores')} cores, one thread per process; "
        f"command `{doc.get('command', '?').strip()}`):\n\n"
        + headline(doc)
        + "\n`graphad` is the default path (inputs declared with no shape or dtype, "
        '`ga.symbol("x")`; the scalar workloads use one such symbol per scalar), '
        "`graphad (declared)` the same graphs with every input's shape and dtype declared. "
        'Both columns run the generated NumPy code (`backend="numpy"`); `graphad (numba)`, '
        "the same default path on the Numba VM, is in the results file, and "
        "`python -m benchmarks.compile_scaling --only build` times `ga.compile`'s own "
        'default (`backend="auto"`) beside CasADi.\n\n'
        + tgt
        + f"\nIssue 12's targets: {counts['met']} met, {counts['not met']} not met, "
        f"{counts['not measured']} not measured (all ratios from this one run).\n"
        f"{END}\n"
    )


def _normalize(doc: dict) -> dict:
    """Read a results file written before issue 12: its one graphad system is the declared path."""
    if "graphad_paths" in doc:
        return doc
    results = {}
    for wl, cells in doc.get("results", {}).items():
        cells = dict(cells)
        if wl != "startup" and DEFAULT in cells:
            cells[DECLARED] = cells.pop(DEFAULT)
        results[wl] = cells
    return dict(doc, results=results)


def rewrite_readme(text: str, new_block: str) -> str:
    """``text`` with its benchmarks block (between the markers, or the table after the
    ``From `...json` (...)`` line of the Benchmarks section) replaced by ``new_block``."""
    if BEGIN in text and END in text:
        start = text.index(BEGIN)
        stop = text.index(END, start) + len(END)
        if text[stop : stop + 1] == "\n":
            stop += 1
        return text[:start] + new_block + text[stop:]
    section = re.search(r"^## Benchmarks\s*$", text, re.M)
    if section is None:
        raise SystemExit("no '## Benchmarks' section and no benchmarks-table markers")
    lines = text[section.end() :].split("\n")
    base = section.end()
    offset = 0
    for k, line in enumerate(lines):
        if line.startswith("## "):
            break
        if line.startswith("From `") and ".json`" in line:
            # the From line, blank lines and table rows up to the next paragraph
            end = k + 1
            while end < len(lines) and (lines[end].startswith("|") or not lines[end].strip()):
                end += 1
            while end > k + 1 and not lines[end - 1].strip():
                end -= 1  # keep the blank line before the next paragraph
            start_pos = base + offset
            stop_pos = base + sum(len(x) + 1 for x in lines[:end])
            return text[:start_pos] + new_block + text[stop_pos:]
        offset += len(line) + 1
    raise SystemExit("no 'From `....json` (...)' line in the Benchmarks section")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "results",
        nargs="?",
        default=str(Path(__file__).parent / "results" / "full.json"),
        help="results file of benchmarks.run (default benchmarks/results/full.json)",
    )
    parser.add_argument(
        "--readme", help="rewrite this file's benchmarks block in place instead of printing"
    )
    parser.add_argument(
        "--slack",
        type=float,
        default=SLACK,
        help=f"noise allowed for 'not slower than the declared path' (default {SLACK})",
    )
    args = parser.parse_args(argv)
    path = Path(args.results)
    doc = _normalize(json.loads(path.read_text()))
    text = block(doc, path.name, args.slack)
    if args.readme:
        readme = Path(args.readme)
        readme.write_text(rewrite_readme(readme.read_text(), text))
        print(f"rewrote the benchmarks block of {readme} from {path}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
