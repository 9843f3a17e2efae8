"""Gradient checks on a cluster: :func:`check_grad_many`.

Where a batch of checks loses time on a cluster, and what this module does about it:

* **Per-task overhead** (a scheduler round trip and the task's transitions, in the
  client's process for a ``LocalCluster``): a few tasks per worker thread, not one per
  expression.
* **Imbalance**: the checks are spread by an estimated cost (expression size times the
  elements the check compares, plus a fixed part), largest first onto the least loaded
  worker thread.  Each thread gets the first ``HEAD_SHARE`` of its share as one task; the
  rest goes in small tasks to whichever thread is free first, so that a thread slowed
  down by other work on the machine takes fewer of them and the threads finish together.
* **What travels**: expressions as text (the string given, or graphad's JSON graph format
  for an Expr), one copy of each distinct point per task; reports come back without their
  graphs.
* **Client work**: none while the workers check.  A report's graph is rebuilt from the
  text the client sent when it is first read (most batch users only read verdicts).
* **Worker first use** (imports, the op table's rules): paid once per worker and client,
  before the first batch, so that a fresh worker does not lag behind the others.
"""

from __future__ import annotations

import functools
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ._common import _client, _compute

GROUPS_PER_THREAD = 4  # check groups per thread on Dask's local scheduler (no client)
# a check's estimated cost, (FIXED_NODES + nodes) * (FIXED_ELEMENTS + elements compared),
# fitted to check_grad's CPU time on graphs of 3-34 nodes and inputs of 1-60 elements (within
# 1.7x of it there; an input past max_full counts as BIG_INPUT elements)
FIXED_NODES, FIXED_ELEMENTS, BIG_INPUT = 5, 7, 8
HEAD_SHARE = 0.6  # of a thread's checks, sent to it; the rest go to whichever thread is free
TAILS_PER_SLOT = 2  # tasks per thread for those

# per client, the worker addresses it has warmed: to 1 without SymPy, to 2 with it (a worker
# that leaves and comes back at the same address is not warmed again: it then pays its first
# use in its first group)
_WARMED: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()
_WARMED_LOCK = threading.Lock()


def _encode(e: Any, k: int) -> tuple[str, str, int]:
    """An expression as text to send, ``(kind, text, nodes)``: kind "text" (Python syntax)
    or "json" (graphad's format), and its number of nodes (estimated for text)."""
    from ..core.expr import Expr
    from ..core.graph import topo_order

    if isinstance(e, str):
        return "text", e, _text_nodes(e)
    if not isinstance(e, Expr):
        raise GraphadError(
            f"check_grad_many: expression {k} is a {type(e).__name__}; give Exprs or strings "
            "(Python functions cannot be sent as text)"
        )
    nodes = len(topo_order(e.graph, [e.id]))
    try:
        from ..backends.persist import dumps
    except ImportError:  # no JSON format here: Python syntax, when it round-trips
        text = str(e)
        if "const(" in text:
            raise GraphadError(
                f"check_grad_many: expression {k} holds an array constant, which has no "
                "Python-syntax form; send it as graphad JSON (graphad.backends.persist) instead"
            ) from None
        return "text", text, nodes
    return "json", dumps(e), nodes


_CALL = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\s*\(")
_LEAF = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|[0-9][0-9.]*(?:[eE][-+]?[0-9]+)?")
_OPERATOR = re.compile(r"\*\*|[-+*/@%<>&|^~]|==|!=")


def _text_nodes(text: str) -> int:
    """About how many nodes ``text`` parses to: a node per call and operator, one per
    distinct name or number (an input or constant is made once)."""
    calls = _CALL.findall(text)
    leaves = set(_LEAF.findall(_CALL.sub("(", text)))
    return len(calls) + len(leaves) + len(_OPERATOR.findall(text))


def _decode(kind: str, text: str, graph: Any) -> Any:
    """The expression sent as ``text``, rebuilt in ``graph`` (a fresh graph gives the same
    node ids on the worker and on the client)."""
    if kind == "text":
        from ..frontends.builder import parse

        with graph:
            return parse(text)
    from ..backends.persist import loads

    return loads(text, graph=graph)[0]


def _rebuilt_graph(kind: str, text: str) -> Any:
    """The graph of an expression sent as text, rebuilt on the client when a report's graph
    is first read (so that culprit node ids refer to it)."""
    from ..core.graph import Graph

    return _decode(kind, text, Graph()).graph


def _encode_point(at: Any, k: int) -> dict[str, Any]:
    from ..core.expr import Expr

    if not isinstance(at, Mapping):
        raise GraphadError(
            f"check_grad_many: point {k} must map input names to values, got {type(at).__name__}"
        )
    return {
        (key.name if isinstance(key, Expr) else str(key)): np.asarray(v) for key, v in at.items()
    }


def _cost(nodes: int, at: dict[str, Any], max_full: int) -> float:
    """A check's estimated cost: the graph is run a few times per compared element (every
    element of an input up to ``max_full``, a few directions beyond), on top of a fixed part
    (the gradient graph, the rounding analysis, the label)."""
    compared = 0
    for v in at.values():
        if v.dtype.kind in "biufc":  # check_grad compares integer inputs too, as floats
            compared += v.size if v.size <= max_full else BIG_INPUT
    return (FIXED_NODES + nodes) * (FIXED_ELEMENTS + compared)


def _check_one(kind: str, text: str, at: dict, kwargs: dict) -> tuple:
    """Run one check on a worker; the report comes back without its graph (the client
    rebuilds it from the same text when asked), and errors as text (some do not pickle)."""
    from ..check.gradcheck import check_grad
    from ..core.graph import Graph

    try:
        report = check_grad(_decode(kind, text, Graph()), at=at, **kwargs)
    except GraphadError as exc:
        return "error", type(exc).__name__, str(exc)
    report.graph = None
    return "ok", report


def _check_group(jobs: list, points: list, kwargs: dict) -> list:
    """A group of checks in one task: ``jobs`` are ``(kind, text, index into points)``."""
    return [_check_one(kind, text, points[p], kwargs) for kind, text, p in jobs]


def _warm_worker(sympy: bool) -> None:
    """Pay a worker's first-use costs (imports, the rules of common ops and, when the
    checks use SymPy, its child process) before it checks; SymPy-free checks never
    touch SymPy."""
    from ..check.gradcheck import check_grad
    from ..core.graph import Graph
    from ..frontends.builder import parse

    with Graph():
        check_grad(parse("sin(x) * exp(-x) / (1 + x**2)"), at={"x": 0.5}, sympy=sympy)


def _warm(client: Any, workers: Sequence[str], sympy: bool) -> None:
    """Warm the workers this client has not warmed yet (once per client and worker)."""
    level = 2 if sympy else 1
    with _WARMED_LOCK:
        done = _WARMED.setdefault(client, {})
        new = [w for w in workers if done.get(w, 0) < level]
    if not new:
        return
    futures = [
        client.submit(_warm_worker, sympy, pure=False, workers=[w], allow_other_workers=False)
        for w in new
    ]
    client.gather(futures)
    with _WARMED_LOCK:
        done.update(dict.fromkeys(new, level))


def _balance(costs: Sequence[float], slots: int) -> list[list[int]]:
    """The checks' positions in ``slots`` groups of about equal total cost: largest first,
    each onto the least loaded group (each group keeps the checks' order)."""
    groups: list[list[int]] = [[] for _ in range(slots)]
    load = [0.0] * slots
    for k in sorted(range(len(costs)), key=lambda k: (-costs[k], k)):
        g = min(range(slots), key=load.__getitem__)
        groups[g].append(k)
        load[g] += costs[k]
    return [sorted(g) for g in groups if g]


def _split_tails(
    groups: list[list[int]], costs: Sequence[float], slots: int
) -> tuple[list[list[int]], list[list[int]]]:
    """Each thread's group cut into a head (at most ``HEAD_SHARE`` of its cost, maybe
    empty, run where it was placed) and the rest, pooled into ``TAILS_PER_SLOT`` small
    groups per thread that go to whichever thread is free first: a thread slowed down by
    other work on the machine then takes fewer of them, while the heads keep the number
    of tasks small."""
    heads: list[list[int]] = []
    rest: list[int] = []
    for g in groups:
        budget = HEAD_SHARE * sum(costs[k] for k in g)
        cut, spent = 0, 0.0
        while cut < len(g) and spent + costs[g[cut]] <= budget:
            spent += costs[g[cut]]
            cut += 1
        heads.append(g[:cut])
        rest += g[cut:]
    rest.sort()
    tails = _balance([costs[k] for k in rest], TAILS_PER_SLOT * slots) if rest else []
    return heads, [[rest[i] for i in t] for t in tails]


def _groups(n: int, client: Any) -> list[tuple[int, int]]:
    """Contiguous ranges of the ``n`` checks for Dask's local scheduler: a few per thread
    (``os.cpu_count()``), so that a thread slowed down by other work takes fewer."""
    if client is not None:
        slots = sum(client.nthreads().values()) or 1
    else:
        import os

        slots = os.cpu_count() or 1
    slots = max(1, min(n, slots * GROUPS_PER_THREAD))
    edges = [round(i * n / slots) for i in range(slots + 1)]
    return [(edges[i], edges[i + 1]) for i in range(slots) if edges[i] < edges[i + 1]]


def _task_args(positions: Sequence[int], sent: list, point_of: list[int], ats: list) -> tuple:
    """A group's jobs, and the distinct points they use (each sent once per task)."""
    local: dict[int, int] = {}
    points: list[dict] = []
    jobs = []
    for k in positions:
        p = point_of[k]
        if p not in local:
            local[p] = len(points)
            points.append(ats[p])
        jobs.append((sent[k][0], sent[k][1], local[p]))
    return jobs, points


def check_grad_many(
    exprs: Sequence[Any],
    points: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    client: Any = None,
    **kwargs: Any,
) -> list[Any]:
    """Run a batch of gradient checks on a Dask cluster and gather their reports.

    The checks go in a few tasks per worker thread, spread by their estimated
    cost (the graph's size and the elements compared) so that the threads finish
    together.  Each expression travels as text (graphad's JSON graph format for
    an Expr, as written by ``graphad.backends.persist``; the string itself for a
    string) and is rebuilt and checked on a worker; graphs are never pickled.
    Custom ops (``ga.defop``) travel by name and must be registered on the
    workers too (import the module defining them there, e.g. with ``client.run``).
    A worker's first use (imports) is paid once per client, before its first batch.

    Parameters
    ----------
    exprs : sequence of Expr or str
        Expressions (strings are parsed with ``ga.parse``).
    points : mapping or sequence of mappings
        Input values by name: one mapping per expression, or one for all.
    client : distributed.Client, optional
        Default: the active client, else Dask's local scheduler (threads).
    **kwargs
        Passed to :func:`graphad.check_grad` (``rtol``, ``seed``, ``sympy`` ...).

    Returns
    -------
    list of GradCheckReport
        In the order of ``exprs``, the reports :func:`graphad.check_grad` gives.
        A report's graph is rebuilt on the client from the text that was sent,
        when first read (``report.graph``, printing a culprit, rendering), so
        culprit node ids refer to it.

    Raises
    ------
    GraphadError
        If an expression cannot be sent or a check fails to run (the first
        such error, naming the expression's position).

    Examples
    --------
    >>> import graphad as ga
    >>> reports = ga.check_grad_many(["x**2 + sin(x*y)", "exp(x) / y"], {"x": 0.5, "y": 2.0})
    >>> [r.verdict for r in reports]
    ['pass', 'pass']
    """
    items = list(exprs)
    if isinstance(points, Mapping):
        point_list: list[Any] = [points]
        point_of = [0] * len(items)
    else:
        given = list(points)
        if len(given) != len(items):
            raise GraphadError(f"check_grad_many: {len(items)} expressions but {len(given)} points")
        index: dict[int, int] = {}  # the same mapping object, given for many: sent once
        point_list, point_of = [], []
        for p in given:
            if id(p) not in index:
                index[id(p)] = len(point_list)
                point_list.append(p)
            point_of.append(index[id(p)])
    sent = [_encode(e, k) for k, e in enumerate(items)]
    first_use = {}
    for k, p in enumerate(point_of):
        first_use.setdefault(p, k)
    ats = [_encode_point(p, first_use[i]) for i, p in enumerate(point_list)]
    client = _client(client)
    if client is None:
        from dask import delayed

        tasks = [
            delayed(_check_group, pure=False)(
                *_task_args(range(lo, hi), sent, point_of, ats), kwargs
            )
            for lo, hi in _groups(len(items), None)
        ]
        results = [res for part in _compute(tasks, None) for res in part]
    else:
        slots = [w for w, n in client.nthreads().items() for _ in range(n)]
        if not slots:
            raise GraphadError("check_grad_many: the client's cluster has no workers")
        _warm(client, sorted(set(slots)), bool(kwargs.get("sympy", True)))
        max_full = kwargs.get("max_full", 64)
        costs = [_cost(nodes, ats[point_of[k]], max_full) for k, (_, _, nodes) in enumerate(sent)]
        groups = _balance(costs, len(slots))
        heads, tails = _split_tails(groups, costs, len(slots))
        # the heads go to their threads (a soft pin: a task moves if its worker goes), the
        # tails to whichever thread is free first
        placed = [(g, w) for g, w in zip(heads, slots, strict=False) if g]
        placed += [(g, None) for g in tails]
        groups = [g for g, _ in placed]
        futures = [
            client.submit(
                _check_group, *_task_args(g, sent, point_of, ats), kwargs, pure=False,
                workers=None if w is None else [w], allow_other_workers=w is not None,
            )
            for g, w in placed
        ]  # fmt: skip
        results = [None] * len(items)
        for g, part in zip(groups, client.gather(futures), strict=True):
            for k, res in zip(g, part, strict=True):
                results[k] = res
    reports = []
    for k, ((kind, text, _), res) in enumerate(zip(sent, results, strict=True)):
        if res[0] == "error":
            raise GraphadError(f"check_grad_many: expression {k}: {res[1]}: {res[2]}")
        report = res[1]
        report.graph = functools.partial(_rebuilt_graph, kind, text)
        reports.append(report)
    return reports
