"""Helpers the distributed package's modules share: the client, task trees, caches, row blocks.

Kept apart from the package's ``__init__`` so that its modules import them from here
and the package imports its modules, never the other way round.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.arrays import is_dask
from ..core.errors import GraphadError, ShapeError

FANIN = 8  # partial results summed per reduction task


def _dask_array():
    try:
        import dask.array as da
    except ImportError:
        raise GraphadError(
            "this needs Dask: pip install 'graphad[dask]'  (dask[array] and distributed)"
        ) from None
    return da


def _client(client: Any) -> Any:
    """The given client, else the active ``dask.distributed`` client, else None."""
    if client is not None:
        return client
    import sys

    if "distributed" not in sys.modules:  # no client can exist without it
        return None
    from distributed import default_client

    try:
        return default_client()
    except ValueError:
        return None


def _compute(tasks: list, client: Any) -> list:
    """Compute Dask collections on ``client`` (or the active one, or the local scheduler)."""
    import dask

    if client is not None:
        return list(client.gather(client.compute(tasks)))
    return list(dask.compute(*tasks))


def _tree(parts: list, combine: Callable) -> Any:
    """Reduce delayed partial results ``FANIN`` at a time (a tree, not a chain)."""
    from dask import delayed

    while len(parts) > 1:
        parts = [
            delayed(combine, pure=True)(*parts[i : i + FANIN]) for i in range(0, len(parts), FANIN)
        ]
    return parts[0]


def _add(*parts: Any) -> Any:
    """Sum nested lists of arrays elementwise (``parts`` have the same structure)."""
    first = parts[0]
    if isinstance(first, list | tuple):
        return [_add(*items) for items in zip(*parts, strict=True)]
    total = first
    for p in parts[1:]:
        total = total + p
    return total


# -- keys for functions: the workers cache what they compiled per key -----------------------

_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16


def _graph_key(fn: Callable, params: Any, with_y: bool) -> str | None:
    """A key naming ``fn(params, X[, y])`` by the content of its graph
    (:meth:`Graph.content_hash`): ``fn`` traced on the client with undeclared symbols
    for ``X`` and ``y`` and symbols shaped like ``params``' leaves.  Two Python
    functions building the same graph share the workers' compiled code; closure
    values that change the graph (constants) change the key.  None when ``fn`` does
    not trace on symbols (it computes with NumPy on its inputs, say)."""
    from ..core.expr import Expr, symbol
    from ..core.graph import Graph
    from ..frontends.pytree import flatten as _flatten
    from ..frontends.pytree import unflatten as _unflatten

    leaves, spec = _flatten(params)
    try:
        with Graph() as graph:
            ps = [symbol(f"p{k}", np.shape(v), np.asarray(v).dtype) for k, v in enumerate(leaves)]
            args = [_unflatten(spec, ps), symbol("X")] + ([symbol("y")] if with_y else [])
            out = fn(*args)
            if not isinstance(out, Expr):
                return None
            return "graphad-graph-" + graph.content_hash([out.id])
    except Exception:  # not traceable on symbols: keyed by its pickled code instead
        return None


def _key(fn: Any) -> str:
    """A key naming ``fn`` by its content: a hash of the function as Dask would send it
    (cloudpickle: its code, constants and closure values, or its module and name).  A
    lambda recreated on every call gets the same key, so the workers compile it once;
    a fresh key when it cannot be pickled (the task will fail to send anyway)."""
    import hashlib

    try:
        import cloudpickle

        blob = cloudpickle.dumps(fn)
    except Exception:  # what cannot be pickled cannot be cached by content
        return f"graphad-{uuid.uuid4().hex}"
    return "graphad-" + hashlib.sha256(blob).hexdigest()


def _cached(key: str, make: Callable[[], Any]) -> Any:
    """The object ``make()`` built for ``key`` in this process (worker), LRU-bounded."""
    with _CACHE_LOCK:
        value = _CACHE.get(key)
        if value is not None:
            _CACHE.move_to_end(key)
            return value
    value = make()
    with _CACHE_LOCK:
        _CACHE[key] = value
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return value


# -- row-chunked data ---------------------------------------------------------------------------


def _rows(X: Any, name: str, chunks: tuple | None = None) -> Any:
    """``X`` as a Dask array chunked along the first axis only (rows as ``chunks``)."""
    da = _dask_array()
    if not is_dask(X):
        X = np.asarray(X)
    if X.ndim == 0:
        raise ShapeError(f"{name} must have a first (samples) axis, got a 0-d array")
    if not is_dask(X):
        X = da.from_array(X, chunks=(chunks or (max(1, len(X)),), *X.shape[1:]))
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ShapeError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first")
    spec: dict[int, Any] = {i: -1 for i in range(1, X.ndim)}
    if chunks is not None:
        spec[0] = chunks
    return X.rechunk(spec) if spec else X


def _blocks(X: Any) -> list:
    return list(X.to_delayed(optimize_graph=False).reshape(-1))


def _aligned(X: Any, y: Any) -> tuple[Any, Any]:
    X = _rows(X, "X")
    if y is None:
        return X, None
    if len(y) != X.shape[0]:
        raise ShapeError(f"{X.shape[0]} input samples but {len(y)} targets")
    return X, _rows(y, "y", X.chunks[0])


# -- gradients over chunks -----------------------------------------------------------------------
