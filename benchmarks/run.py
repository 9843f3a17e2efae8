"""Benchmark runner: ``python -m benchmarks.run [--quick] [--systems S ...] [--workloads W ...]``.

Each (system, workload) runs in its own fresh process (``benchmarks.child``),
one thread per process; rounds are interleaved across systems so that drift of
the machine hits every system alike.  Reported per cell: median and min over
rounds, peak memory of the child (ru_maxrss), the ratio to hand-written NumPy
and t(gradient) / t(function).  Values are checked against the NumPy
reference before anything is timed.  Results go to ``benchmarks/results/``.

graphad runs as two systems on every workload: ``graphad``, its default path
(inputs without declared shapes or dtypes), and ``graphad-declared`` (shown as
"graphad (declared)"), the same graphs with every input's shape and dtype declared.

The children run under ``benchmarks/.peers-venv/bin/python`` when that
environment exists (``make bench`` creates it), else under this interpreter;
systems that are not importable there are reported as "not installed".
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .child import THREAD_ENV
from .systems import GRAPHAD_SYSTEMS, REQUIRES, label
from .workloads import BY_NAME, WORKLOADS, Workload

ROOT = Path(__file__).resolve().parent.parent
PEERS_PYTHON = ROOT / "benchmarks" / ".peers-venv" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results"
VERSION_OF = [
    "numpy", "graphad", "networkx", "sympy", "numexpr", "torch", "jax", "jaxlib", "pytensor",
    "casadi", "autograd",
]  # fmt: skip
SLOW_BUILD = 10.0  # a system whose first build took longer gets one round only


def _child_env() -> dict:
    env = dict(os.environ)
    env.update(THREAD_ENV)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PYTHONSTARTUP", None)
    return env


def _installed(python: str) -> dict[str, bool]:
    mods = sorted(set(REQUIRES.values()) | {"numexpr"})
    code = (
        "import importlib.util, json; "
        f"print(json.dumps({{m: importlib.util.find_spec(m) is not None for m in {mods!r}}}))"
    )
    out = subprocess.run(
        [python, "-c", code], capture_output=True, text=True, env=_child_env(), cwd=ROOT
    )
    return json.loads(out.stdout)


def _versions(python: str, mods: list[str]) -> dict[str, str]:
    code = (
        "import json\nfrom importlib.metadata import version\nout = {}\n"
        f"for m in {mods!r}:\n"
        "    try:\n        out[m] = version(m)\n    except Exception:\n        pass\n"
        "print(json.dumps(out))"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=_child_env())
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        return {}


def machine() -> dict:
    info = {"platform": platform.platform(), "cores": os.cpu_count()}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, val = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "L3 cache"):
                info[key.strip()] = val.strip()
    except OSError:
        pass
    return info


def run_child(python: str, system: str, w: Workload, quick: bool, timeout: float) -> dict:
    cmd = [python, "-m", "benchmarks.child", system, w.name] + (["--quick"] if quick else [])
    t = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(), cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "error": f"> {timeout:g} s", "wall_s": timeout}
    wall = time.perf_counter() - t
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            res = json.loads(line[7:])
            res["wall_s"] = wall
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"status": "error", "error": " | ".join(tail)[:500], "wall_s": wall}


def _startup_cmd(python: str, system: str) -> list[str]:
    if system == "graphad":
        script = Path(python).parent / "graphad"
        return [str(script), "--help"] if script.exists() else [python, "-m", "graphad", "--help"]
    return [python, "-c", f"import {REQUIRES[system]}"]


def run_startup(python: str, systems: list[str], rounds: int) -> dict[str, dict]:
    times: dict[str, list[float]] = {s: [] for s in systems}
    status: dict[str, str] = dict.fromkeys(systems, "ok")
    for r in range(rounds):
        order = systems[r % len(systems) :] + systems[: r % len(systems)]
        for s in order:
            if status[s] != "ok":
                continue
            t = time.perf_counter()
            proc = subprocess.run(
                _startup_cmd(python, s), capture_output=True, env=_child_env(), cwd=ROOT
            )
            dt = time.perf_counter() - t
            if proc.returncode != 0:
                status[s] = "error"
            times[s].append(dt)
    return {
        s: {"status": status[s], "startup_s": times[s]}
        if status[s] == "ok"
        else {"status": "error", "error": "exit status != 0"}
        for s in systems
    }


def _family_prediction(done: dict, w: Workload, system: str, timeout: float) -> str | None:
    """A system too slow at a smaller size of the same family is not started again."""
    if w.kind != "build":
        return None
    for other, cell in done.items():
        ow = BY_NAME[other[0]]
        if other[1] != system or ow.family != w.family or ow.size >= w.size:
            continue
        if cell["status"] == "timeout":
            return f"> {timeout:g} s (n={ow.size} already took > {timeout:g} s)"
        builds = [r["build_s"] for r in cell.get("rounds", []) if "build_s" in r]
        if builds and min(builds) * w.size / ow.size > timeout:
            return f"> {timeout:g} s predicted (n={ow.size}: {min(builds):.1f} s, at least linear)"
    return None


def aggregate(rounds: list[dict]) -> dict:
    ok = [r for r in rounds if r.get("status") == "ok"]
    if not ok:
        first = rounds[0] if rounds else {"status": "skipped"}
        cell = {"status": first.get("status"), "error": first.get("error", "")}
        if "build_s" in first:
            cell["build_s"] = {"median": first["build_s"], "min": first["build_s"]}
        return cell
    cell: dict = {"status": "ok", "n_rounds": len(ok), "version": ok[0].get("version")}
    for key in ("build_s", "import_s"):
        vals = [r[key] for r in ok if key in r]
        if vals:
            cell[key] = {"median": statistics.median(vals), "min": min(vals)}
    for key in ("grad_s", "fun_s", "startup_s"):
        meds = [statistics.median(r[key]) for r in ok if r.get(key)]
        mins = [min(r[key]) for r in ok if r.get(key)]
        if meds:
            cell[key] = {"median": statistics.median(meds), "min": min(mins)}
    if "grad_s" in cell and "fun_s" in cell:
        cell["grad_over_fun"] = cell["grad_s"]["median"] / cell["fun_s"]["median"]
    sizes = next((r["sizes"] for r in ok if r.get("sizes")), None)
    if sizes:
        cell["sizes"] = dict(sizes, ratio=sizes["grad"] / max(sizes["fun"], 1))
    rss = [r["maxrss_mb"] for r in ok if "maxrss_mb" in r]
    if rss:
        cell["maxrss_mb"] = max(rss)
    return cell


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    if v >= 1:
        return f"{v:.2f} s"
    if v >= 1e-3:
        return f"{v * 1e3:.2f} ms"
    return f"{v * 1e6:.1f} µs"


def _status_text(cell: dict) -> str:
    st = cell.get("status")
    if st == "timeout":
        return cell.get("error", "timeout")
    if st == "skipped":
        return cell.get("error", "skipped")
    return f"{st}: {cell.get('error', '')}"[:70]


def table(results: dict, systems_order: list[str]) -> str:
    """A Markdown table per workload."""
    out: list[str] = []
    for wname, cells in results.items():
        w = BY_NAME[wname]
        out.append(f"\n### {w.title}  (`{wname}`)\n")
        if w.kind == "startup":
            out.append("| system | command | median | min |")
            out.append("|---|---|---|---|")
            for s in systems_order:
                c = cells.get(s)
                if not c:
                    continue
                cmd = "graphad --help" if s == "graphad" else f"import {REQUIRES[s]}"
                if c["status"] != "ok":
                    out.append(f"| {label(s)} | `{cmd}` | {_status_text(c)} | |")
                    continue
                st = c["startup_s"]
                out.append(
                    f"| {label(s)} | `{cmd}` | {_fmt_s(st['median'])} | {_fmt_s(st['min'])} |"
                )
            continue
        base = cells.get("numpy", {})
        base_t = base.get("grad_s", {}).get("median") if base.get("status") == "ok" else None
        base_f = base.get("fun_s", {}).get("median") if base.get("status") == "ok" else None
        if w.kind == "run":
            out.append(
                "| system | gradient/step median (min) | vs hand NumPy | function | "
                "t(grad)/t(f) | build | peak MB |"
            )
            out.append("|---|---|---|---|---|---|---|")
        else:
            out.append(
                "| system | build + compile median (min) | one gradient | function | "
                "t(grad)/t(f) | ops grad/fun | peak MB |"
            )
            out.append("|---|---|---|---|---|---|---|")
        for s in systems_order:
            c = cells.get(s)
            if not c or c.get("status") == "n/a":
                continue
            if c["status"] != "ok":
                out.append(f"| {label(s)} | {_status_text(c)} | | | | | |")
                continue
            g = c.get("grad_s", {})
            f = c.get("fun_s", {})
            b = c.get("build_s", {})
            gof = c.get("grad_over_fun")
            gof_s = f"{gof:.2f}" if gof is not None else "-"
            rss = f"{c.get('maxrss_mb', 0):.0f}"
            if w.kind == "run":
                ratio = f"{g['median'] / base_t:.2f}x" if base_t and g else "-"
                if s == "numpy":
                    ratio = "1.00"
                out.append(
                    f"| {label(s)} | {_fmt_s(g.get('median'))} ({_fmt_s(g.get('min'))}) | "
                    f"{ratio} | {_fmt_s(f.get('median'))} | {gof_s} | "
                    f"{_fmt_s(b.get('median'))} | {rss} |"
                )
            else:
                sz = c.get("sizes")
                sz_s = f"{sz['grad']}/{sz['fun']} = {sz['ratio']:.2f}" if sz else "-"
                out.append(
                    f"| {label(s)} | {_fmt_s(b.get('median'))} ({_fmt_s(b.get('min'))}) | "
                    f"{_fmt_s(g.get('median'))} | {_fmt_s(f.get('median'))} | {gof_s} | "
                    f"{sz_s} | {rss} |"
                )
        del base_f
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="about a minute: graphad's two paths + NumPy"
    )
    parser.add_argument("--systems", nargs="+", help="systems to run (default: all installed)")
    parser.add_argument("--workloads", nargs="+", help="workload names or families")
    parser.add_argument("--rounds", type=int, help="rounds per cell (default 3, quick 2)")
    parser.add_argument("--timeout", type=float, help="seconds per child (default 90, quick 10)")
    parser.add_argument("--python", help="interpreter for the children")
    parser.add_argument("--out", help="JSON file to write (default benchmarks/results/)")
    args = parser.parse_args(argv)

    python = args.python or (str(PEERS_PYTHON) if PEERS_PYTHON.exists() else sys.executable)
    quick = args.quick
    timeout = args.timeout or (10.0 if quick else 90.0)
    rounds = args.rounds or (2 if quick else 3)
    build_rounds = max(1, min(rounds, 1 if quick else 2))
    budget = 40.0 if quick else 15 * 60.0  # quick: peers only while this lasts
    have = _installed(python)
    all_systems = list(dict.fromkeys(s for w in WORKLOADS for s in w.systems))
    first = ("numpy", *GRAPHAD_SYSTEMS)
    all_systems = [*first] + [s for s in all_systems if s not in first]
    wanted = args.systems or all_systems
    unknown = [s for s in wanted if s not in REQUIRES]
    if unknown:
        parser.error(f"unknown systems {unknown}; known: {all_systems}")
    missing = [s for s in wanted if not have.get(REQUIRES[s], False)]
    systems = [s for s in wanted if s not in missing]
    if args.workloads:
        chosen = [w for w in WORKLOADS if w.name in args.workloads or w.family in args.workloads]
    else:
        chosen = [w for w in WORKLOADS if w.quick or not quick]
    core = ("numpy", *GRAPHAD_SYSTEMS)
    print(f"interpreter: {python}")
    print(f"systems: {', '.join(systems)}" + (f"  (not installed: {missing})" if missing else ""))
    print(f"workloads: {', '.join(w.name for w in chosen)}")
    print(f"rounds {rounds} (build workloads {build_rounds}), timeout {timeout:g} s\n", flush=True)

    start = time.perf_counter()
    results: dict[str, dict] = {}
    done: dict[tuple[str, str], dict] = {}
    # every system of a workload runs in the same rounds (interleaved, order rotated), so that
    # drift of the machine hits all alike; past the time budget only first rounds still run
    # (in quick mode, peers are then skipped altogether)
    for w in chosen:
        cells = results.setdefault(w.name, {})
        todo = [s for s in systems if s in w.systems]
        if not todo:
            continue
        if w.kind == "startup":
            if quick:  # the reference the goal names; importing every peer takes long
                todo = [s for s in todo if s in ("graphad", "sympy")]
            cells.update(run_startup(python, todo, rounds + 2))
            for s in todo:
                cells[s] = aggregate([cells[s]]) if cells[s]["status"] == "ok" else cells[s]
            print(f"  {w.name}: done", flush=True)
            continue
        per: dict[str, list[dict]] = {s: [] for s in todo}
        active = list(todo)
        for s in todo:
            why = _family_prediction(done, w, s, timeout)
            if why:
                per[s].append({"status": "timeout", "error": why})
                active.remove(s)
        n_rounds = rounds if w.kind == "run" else build_rounds
        for r in range(n_rounds):
            k = r % max(len(active), 1)
            for s in active[k:] + active[:k]:
                over = time.perf_counter() - start > budget
                needed = s in core or s in w.quick_peers
                if over and (per[s] or (quick and not needed)):
                    if not per[s]:
                        per[s].append({"status": "skipped", "error": "time budget spent"})
                    continue
                # quick mode keeps peers short; graphad and NumPy always get the full time
                limit = max(timeout, 60.0) if s in core else timeout
                res = run_child(python, s, w, quick, limit)
                per[s].append(res)
                line = f"  {w.name:22s} {s:10s} round {r + 1}: {res.get('status')}"
                if res.get("status") == "ok":
                    line += f"  build {_fmt_s(res.get('build_s'))}"
                    line += f"  grad {_fmt_s(res.get('grad_med'))}"
                elif res.get("error"):
                    line += f"  {res['error'][:100]}"
                print(line, flush=True)
            # one round is enough for a system that failed or builds slowly
            active = [
                s
                for s in active
                if per[s]
                and per[s][-1].get("status") == "ok"
                and per[s][-1].get("build_s", 0) <= SLOW_BUILD
            ]
        for s in todo:
            cells[s] = aggregate(per[s])
            cells[s]["rounds"] = per[s]
            done[(w.name, s)] = cells[s]
    elapsed = time.perf_counter() - start

    versions = _versions(
        python,
        VERSION_OF,
    )
    versions["python"] = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    ).stdout.strip()
    order = all_systems
    for cells in results.values():
        for c in cells.values():
            c.pop("rounds", None) if quick else None
    doc = {
        "command": "python -m benchmarks.run "
        + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "threads": THREAD_ENV | {"torch": "set_num_threads(1)"},
        "versions": versions,
        "interpreter": python,
        "not_installed": missing,
        "elapsed_s": elapsed,
        # which graphad system is which path (files written before issue 12 have only
        # "graphad", and it was the declared path: benchmarks.summary reads them so)
        "graphad_paths": {"graphad": "default", "graphad-declared": "declared"},
        "results": results,
    }
    md = table(results, order)
    print(md)
    print(f"total {elapsed:.0f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / ("quick.json" if quick else "full.json")
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    out.with_suffix(".md").write_text(
        f"Command: `{doc['command'].strip()}`  ({doc['date']})\n\n"
        f"Machine: {doc['machine'].get('Model name', '?')}, {doc['machine']['cores']} cores; "
        f"one thread per process.\n\nVersions: "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + "\n"
        + md
    )
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
