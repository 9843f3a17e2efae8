"""``python -m benchmarks.peer_suite [--only SUBSTR] [--out PATH]``: run and report."""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .items import ITEMS
from .runner import Result, run

STATUSES = ("pass", "wrong", "crash", "unsupported")


def report(results: list[Result], seconds: float, cpu: float) -> str:
    counted = [r for r in results if r.status != "n/a"]
    total = collections.Counter(r.status for r in counted)
    lines = [
        "# Peer suite (issue 14's measure)",
        "",
        "autograd's test_systematic, test_numpy, test_scalar_ops, test_binary_ops, test_graphs",
        "and test_wrappers, micrograd's test_engine and JAX's lax_autodiff_test / lax_numpy_test",
        "grad records, re-expressed as data in `benchmarks/peer_suite/items.py` (which function,",
        "which arguments, which derivative orders) and checked by",
        "`benchmarks/peer_suite/runner.py`: values against NumPy, every derivative up to the",
        "item's order (reverse, forward, nested) against finite differences.",
        "",
        f"Reproduce: `python -m benchmarks.peer_suite` ({seconds:.0f} s wall, {cpu:.0f} s CPU",
        f"on this run; Python {platform.python_version()}, NumPy {np.__version__}).",
        "",
        f"**{len(counted)} items: {total['pass']} pass, {total['wrong']} wrong, "
        f"{total['crash']} crash, {total['unsupported']} unsupported.**"
        + (
            f" ({len(results) - len(counted)} combinations NumPy itself rejects are not counted.)"
            if len(results) > len(counted)
            else ""
        ),
        "",
        "| suite | items | pass | wrong | crash | unsupported |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    by_suite: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in counted:
        by_suite[r.item.suite][r.status] += 1
    for suite, c in by_suite.items():
        lines.append(
            f"| {suite} | {sum(c.values())} | " + " | ".join(str(c[s]) for s in STATUSES) + " |"
        )
    cplx = sum(1 for r in counted if r.status == "unsupported" and r.item.complex)
    lines += [
        "",
        f"Of the unsupported items, {cplx} are complex-number items (complex arguments, or "
        f"JAX's lax.complex of real ones: out of scope for issue 14); "
        f"{total['unsupported'] - cplx} are not.",
        "",
        "JAX's grad tests are sampled by its own test harness; here every dtype (float32,",
        "float64, complex64, complex128) and shape combination of a record is an item.",
        "",
    ]
    for status in ("wrong", "crash", "unsupported"):
        bad = [r for r in counted if r.status == status]
        if not bad:
            continue
        lines += [f"## {status} ({len(bad)})", ""]
        groups: dict[str, list[Result]] = collections.defaultdict(list)
        for r in bad:
            key = (
                r.detail.split(":")[0]
                if status == "unsupported" and r.item.complex
                else r.item.name.split("[")[0]
            )
            groups[key if not r.item.complex else "complex arguments"].append(r)
        lines += ["| test | items | first detail |", "|---|---:|---|"]
        for key, rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            detail = rs[0].detail.replace("|", "\\|").replace("\n", " ")[:160]
            lines.append(
                f"| {key} | {len(rs)} | {rs[0].item.name.split('[', 1)[-1][:40]}: {detail} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.peer_suite", description=__doc__)
    p.add_argument("--only", default="", help="run items whose name contains this text")
    p.add_argument("--out", default="benchmarks/results/peer_suite.md")
    p.add_argument("--list", action="store_true", help="print the failing items")
    args = p.parse_args(argv)
    items = [it for it in ITEMS if args.only in it.name]
    t0, c0 = time.perf_counter(), time.process_time()
    results = run(items, progress=True)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    text = report(results, wall, cpu)
    if args.only:
        print(text)
    else:
        Path(args.out).write_text(text + "\n")
        print(text.split("\n\n")[3])
    if args.list:
        for r in results:
            if r.status not in ("pass", "n/a"):
                print(f"{r.status:11s} {r.item.name}: {r.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
