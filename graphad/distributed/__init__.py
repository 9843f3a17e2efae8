"""Scale past one machine on Dask: lazy arrays, data-parallel gradients and training,
gradient checks fanned out over a cluster.

graphad grows no distributed engine of its own.  Three layers meet Dask:

* **Compiled code on Dask arrays.**  A :class:`graphad.Function` called with
  ``dask.array`` inputs returns Dask arrays: nothing is computed until the
  caller asks (``dask.compute``).  The generated code takes its array library
  from its inputs through NumPy's own dispatch protocols (NEP 13
  ``__array_ufunc__``, NEP 18 ``__array_function__``, NEP 35 ``like=``) rather
  than through ``array_api_compat.array_namespace``.  Why: the SPEC fixes
  ``f.source`` as a module that imports NumPy alone and runs without graphad;
  with dispatch that very text runs on NumPy, Dask and CuPy (both implement
  the protocols), costs nothing on the NumPy path (a NumPy call stays a NumPy
  call; no namespace lookup per call), and needs no run-time dependency.  An
  Array-API namespace would rename half the emitted calls (``asin``,
  ``pow``, ``permute_dims``, ``concat``) and tie exported code to
  ``array_api_compat``.  Where the protocols do not reach, the op table's
  helpers avoid what materialises (``np.asarray``, ``np.size`` on a Dask
  array) and create arrays of their input's kind (``np.zeros_like``,
  ``np.asarray(a, like=x)``); an op whose NumPy form Dask cannot run lazily
  carries a second form, :attr:`graphad.ops.Op.duck_emit`, chosen per call in
  the generated code (``reshape`` goes through 1-D, which Dask can).  PyTorch
  tensors implement neither protocol: supporting them means switching the
  emits to an Array-API namespace, a change confined to the op table.
* **Data parallelism.**  :func:`grad_over_chunks` computes a gradient per
  row-chunk of a Dask dataset with the compiled NumPy code, on the workers
  holding the chunks, and sums the (small) gradients in a tree; so does
  ``model.fit`` on Dask arrays, per mini-batch (:func:`fit`).  A
  ``dask.distributed`` client, when one is active, runs the tasks; otherwise
  Dask's local scheduler does.
* **Checks.**  :func:`check_grad_many` (``ga.check_grad_many``) sends a batch
  of gradient checks to the workers.  Expressions travel as text (graphad's
  JSON graph format, or Python-syntax strings), never as pickled graphs.

Dask is imported on first use, never by ``import graphad``
(``pip install graphad[dask]``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from ..core.arrays import is_dask
from ..core.errors import GraphadError, ShapeError
from ._common import (
    _add,
    _aligned,
    _blocks,
    _cached,
    _client,
    _compute,
    _graph_key,
    _key,
    _tree,
)

__all__ = [
    "check_grad_many",
    "evaluate",
    "fit",
    "grad_over_chunks",
    "is_dask",
    "predict",
    "value_and_grad_over_chunks",
]


def _chunk_value_and_grad(key: str, fn: Callable, params: Any, xb: Any, yb: Any, weight: float):
    from ..frontends.pytree import flatten as _flatten
    from ..frontends.trace import value_and_grad_function

    vg = _cached(key, lambda: value_and_grad_function(fn, argnums=0))
    value, grads = vg(params, xb) if yb is None else vg(params, xb, yb)
    leaves, _ = _flatten(grads)
    return [value * weight, [g * weight for g in leaves]]


def value_and_grad_over_chunks(
    fn: Callable,
    params: Any,
    X: Any,
    y: Any = None,
    *,
    reduction: Literal["mean", "sum"] = "mean",
    client: Any = None,
    compute: bool = True,
) -> tuple[Any, Any]:
    """``fn(params, X, y)`` and its gradient in ``params`` over a Dask data set, chunk by chunk.

    Each row-chunk of ``X`` (with the matching rows of ``y``) becomes one task
    that runs ``ga.value_and_grad(fn)`` on NumPy blocks (traced and compiled
    once per chunk shape on each worker); the per-chunk results are summed in
    a tree on the cluster.  Only one chunk per task is ever in memory, so the
    data set may be far larger than any machine's memory.

    Parameters
    ----------
    fn : callable
        ``fn(params, X, y)`` (``fn(params, X)`` when ``y`` is None) written
        with the ``ga`` namespace, returning a scalar: the *mean* loss over
        the rows it is given (``reduction="mean"``) or their *sum* (``"sum"``).
    params : array or list, tuple, dict of arrays
        The point; gradients come back in the same structure.
    X, y : dask.array.Array or array
        Samples along the first axis (rechunked so that only that axis is
        split); ``y`` is aligned to ``X``'s row chunks.
    reduction : "mean" or "sum"
        How per-chunk values combine: a mean weighted by chunk size (the
        gradient of ``fn`` over all rows at once), or a sum.
    client : distributed.Client, optional
        Default: the active client if there is one, else Dask's local scheduler.
    compute : bool
        False: return a ``dask.delayed`` object of ``(value, grads)`` instead,
        to compute along with other work.  For data larger than memory,
        compute it alone: with other consumers of the same chunks, Dask may
        keep every chunk until all of them ran (seen: 4.4 GB for 4 GiB).

    Returns
    -------
    (value, grads), or a Delayed of it

    Raises
    ------
    GraphadError
        If ``reduction`` is neither ``"mean"`` nor ``"sum"``.
    ShapeError
        If ``X`` has no rows, or ``y``'s rows do not match ``X``'s.

    Examples
    --------
    >>> import numpy as np, dask.array as da, graphad as ga
    >>> from graphad.distributed import value_and_grad_over_chunks
    >>> X = da.from_array(np.arange(8.0).reshape(4, 2), chunks=(2, 2))
    >>> loss = lambda w, X: ga.mean(ga.square(X @ w))
    >>> value, g = value_and_grad_over_chunks(loss, np.array([1.0, -1.0]), X)
    >>> float(value), g
    (1.0, array([-6., -8.]))
    """
    from dask import delayed

    from ..frontends.pytree import flatten as _flatten

    if reduction not in ("mean", "sum"):
        raise GraphadError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    X, y = _aligned(X, y)
    n = X.shape[0]
    if n == 0:
        raise ShapeError("no samples: X has 0 rows")
    xs = _blocks(X)
    ys = _blocks(y) if y is not None else [None] * len(xs)
    key = _graph_key(fn, params, y is not None) or _key(fn)
    _, spec = _flatten(params)
    point = delayed(params, name=f"graphad-params-{uuid.uuid4().hex}", traverse=False)
    parts = [
        delayed(_chunk_value_and_grad, pure=False)(
            key, fn, point, xb, yb, rows / n if reduction == "mean" else 1.0
        )
        for xb, yb, rows in zip(xs, ys, X.chunks[0], strict=True)
    ]
    total = delayed(_finish_grads, pure=True)(_tree(parts, _add), spec)
    if not compute:
        return total
    return _compute([total], _client(client))[0]


def _finish_grads(total: list, spec: Any) -> tuple[Any, Any]:
    from ..frontends.pytree import unflatten as _unflatten

    return total[0], _unflatten(spec, total[1])


def grad_over_chunks(
    fn: Callable,
    params: Any,
    X: Any,
    y: Any = None,
    *,
    reduction: Literal["mean", "sum"] = "mean",
    client: Any = None,
) -> Any:
    """The gradient of ``fn(params, X, y)`` in ``params`` over a Dask data set, chunk by chunk.

    As :func:`value_and_grad_over_chunks`, without the value.

    Parameters
    ----------
    fn : callable
        ``fn(params, X, y)`` (``fn(params, X)`` when ``y`` is None) written
        with the ``ga`` namespace, returning the mean (or, with
        ``reduction="sum"``, the sum) of a loss over the rows it is given.
    params : array or list, tuple, dict of arrays
        The point; the gradient comes back in the same structure.
    X, y : dask.array.Array or array
        Samples along the first axis; ``y`` is aligned to ``X``'s row chunks.
    reduction : "mean" or "sum"
        How per-chunk values combine (see :func:`value_and_grad_over_chunks`).
    client : distributed.Client, optional
        Default: the active client if there is one, else Dask's local scheduler.

    Returns
    -------
    grads
        The gradient in ``params``, in the structure of ``params``.

    Raises
    ------
    GraphadError
        If ``reduction`` is neither ``"mean"`` nor ``"sum"``.
    ShapeError
        If ``X`` has no rows, or ``y``'s rows do not match ``X``'s.

    Examples
    --------
    >>> import numpy as np, dask.array as da, graphad as ga
    >>> from graphad.distributed import grad_over_chunks
    >>> X = da.from_array(np.ones((6, 2)), chunks=(2, 2))
    >>> y = da.from_array(np.arange(6.0), chunks=3)
    >>> grad_over_chunks(lambda w, X, y: ga.mean(X @ w - y), np.zeros(2), X, y)
    array([1., 1.])
    """
    return value_and_grad_over_chunks(fn, params, X, y, reduction=reduction, client=client)[1]


# -- Keras-style models on Dask data (the executor is in graphad.distributed.models) -----------


def fit(
    model: Any,
    x: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int = 32,
    validation_data: tuple | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    verbose: int = 1,
    client: Any = None,
    sync: str = "gradients",
) -> Any:
    """``model.fit`` on Dask arrays: synchronous data-parallel mini-batch training.

    ``Sequential.fit`` calls this when ``x`` or ``y`` is a Dask array.  The
    batches are those of the in-memory ``fit`` (same shuffling for the same
    ``seed``).  For each batch, every row-chunk of ``x`` holding some of its
    rows computes the loss sum and its gradient for those rows, where the
    chunk lives; the gradients are summed on the cluster and the optimizer
    steps on the client.  With a ``dask.distributed`` client the data is
    persisted on the workers first, so only weights and gradients travel.
    The weights equal those of the in-memory run up to float rounding
    (the batch's sum is added in another order).  Without a client, a chunk
    is recomputed for every step that uses it (cheap for ``da.from_array``
    data; persist generated data that fits in memory).

    Parameters
    ----------
    model : graphad.nn.Sequential
        Compiled (``model.compile``); its layers must have named activations
        and initializers (their configuration is sent to the workers).
    x, y : dask.array.Array or array
    epochs, batch_size, validation_data, shuffle, seed, verbose
        As ``Sequential.fit``.
    client : distributed.Client, optional
        Default: the active client, else Dask's local scheduler.

    Returns
    -------
    graphad.nn.History

    Examples
    --------
    >>> import numpy as np, dask.array as da, graphad as ga
    >>> ga.nn.set_random_seed(0)
    >>> X = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> t = (X[:, 0] > 0).astype(int)
    >>> model = ga.nn.Sequential([ga.nn.Dense(2, activation="softmax", input_shape=(2,))])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> h = model.fit(da.from_array(X, chunks=16), da.from_array(t, chunks=16), verbose=0)
    >>> len(h.history["loss"])
    1
    """
    from .replicas import executor_for

    return model.fit(
        x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
        shuffle=shuffle, seed=seed, verbose=verbose, sync=sync,
        executor=executor_for(x, y, client) if client is not None else None,
    )  # fmt: skip


def evaluate(model: Any, x: Any, y: Any, client: Any = None) -> Any:
    """``model.evaluate`` on Dask arrays: per-chunk loss and metric sums, summed on the cluster.

    Parameters
    ----------
    model : graphad.nn.Sequential
        A compiled model (``model.compile``).
    x, y : dask.array.Array or array
        Samples and targets along the first axis.
    client : distributed.Client, optional
        Default: the active client if there is one, else Dask's local scheduler.

    Returns
    -------
    float or list of float
        ``[loss, metric...]``, or the loss alone when the model has no metrics.

    Raises
    ------
    GraphadError
        If the model is not compiled, or ``x`` has no samples.

    Examples
    --------
    >>> import numpy as np, dask.array as da, graphad as ga
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(2,), kernel_initializer="ones")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> X = da.from_array(np.ones((4, 2), "float32"), chunks=2)
    >>> float(model.evaluate(X, da.from_array(np.full(4, 3.0), chunks=2)))
    1.0
    """
    from .models import DaskExecutor

    return model.evaluate(x, y, executor=DaskExecutor(client))


def predict(model: Any, x: Any) -> Any:
    """``model.predict`` on a Dask array: a lazy Dask array of the model's outputs.

    Each row-chunk becomes one task running the compiled forward pass where
    the chunk lives; nothing runs until the result is computed.

    Parameters
    ----------
    model : graphad.nn.Sequential
        A built model (compiling it is not needed).
    x : dask.array.Array
        Samples along the first axis.

    Returns
    -------
    dask.array.Array
        The outputs, one row per sample, chunked as ``x``'s rows.

    Examples
    --------
    >>> import numpy as np, dask.array as da, graphad as ga
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(2,), kernel_initializer="ones")])
    >>> out = model.predict(da.from_array(np.ones((4, 2), "float32"), chunks=2))
    >>> out.shape, out.compute().ravel().tolist()
    ((4, 1), [2.0, 2.0, 2.0, 2.0])
    """
    from .models import DaskExecutor

    return model.predict(x, executor=DaskExecutor())


# -- gradient checks on a cluster ---------------------------------------------------------------


def _encode(e: Any, k: int) -> tuple[str, str]:
    """An expression as text to send: ("text", Python syntax) or ("json", graphad's format)."""
    from ..core.expr import Expr

    if isinstance(e, str):
        return "text", e
    if not isinstance(e, Expr):
        raise GraphadError(
            f"check_grad_many: expression {k} is a {type(e).__name__}; give Exprs or strings "
            "(Python functions cannot be sent as text)"
        )
    try:
        from ..backends.persist import dumps
    except ImportError:  # no JSON format here: Python syntax, when it round-trips
        text = str(e)
        if "const(" in text:
            raise GraphadError(
                f"check_grad_many: expression {k} holds an array constant, which has no "
                "Python-syntax form; send it as graphad JSON (graphad.backends.persist) instead"
            ) from None
        return "text", text
    return "json", dumps(e)


def _decode(kind: str, text: str, graph: Any) -> Any:
    """The expression sent as ``text``, rebuilt in ``graph`` (a fresh graph gives the same
    node ids on the worker and on the client)."""
    if kind == "text":
        from ..frontends.builder import parse

        with graph:
            return parse(text)
    from ..backends.persist import loads

    return loads(text, graph=graph)[0]


def _encode_point(at: Any, k: int) -> dict[str, Any]:
    from ..core.expr import Expr

    if not isinstance(at, Mapping):
        raise GraphadError(
            f"check_grad_many: point {k} must map input names to values, got {type(at).__name__}"
        )
    return {
        (key.name if isinstance(key, Expr) else str(key)): np.asarray(v) for key, v in at.items()
    }


def _check_task(kind: str, text: str, at: dict, kwargs: dict) -> tuple:
    """Run one check on a worker; the report comes back without its graph (the client
    rebuilds it from the same text), and errors as text (some do not pickle)."""
    from ..check.gradcheck import check_grad
    from ..core.graph import Graph

    try:
        report = check_grad(_decode(kind, text, Graph()), at=at, **kwargs)
    except GraphadError as exc:
        return "error", type(exc).__name__, str(exc)
    report.graph = None
    return "ok", report


def _check_group(jobs: list, kwargs: dict) -> list:
    """A group of checks in one task (the per-task overhead paid once per group)."""
    return [_check_task(kind, text, at, kwargs) for kind, text, at in jobs]


def _graph_or_none(kind: str, text: str) -> Any:
    """The graph of an expression sent as text; None when it does not rebuild here (its
    check reports the error, which names the expression)."""
    from ..core.graph import Graph

    try:
        return _decode(kind, text, Graph()).graph
    except GraphadError:
        return None


GROUPS_PER_THREAD = 4  # check groups per worker thread: a slow worker takes fewer


def _groups(n: int, client: Any) -> list[tuple[int, int]]:
    """Contiguous ranges of the ``n`` checks: a few per worker thread of the cluster
    (the local scheduler's threads without a client), so that a worker slowed down by
    other work takes fewer groups while the others take more."""
    if client is not None:
        slots = sum(client.nthreads().values()) or 1
    else:
        import os

        slots = os.cpu_count() or 1
    slots = max(1, min(n, slots * GROUPS_PER_THREAD))
    edges = [round(i * n / slots) for i in range(slots + 1)]
    return [(edges[i], edges[i + 1]) for i in range(slots) if edges[i] < edges[i + 1]]


def check_grad_many(
    exprs: Sequence[Any],
    points: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    client: Any = None,
    **kwargs: Any,
) -> list[Any]:
    """Run a batch of gradient checks on a Dask cluster and gather their reports.

    The checks go in groups, one task per worker thread of the cluster (the
    per-task overhead is paid per group).  Each expression travels as text
    (graphad's JSON graph format for an Expr, as written by
    ``graphad.backends.persist``; the string itself for a string) and is rebuilt
    and checked on a worker; graphs are never pickled.  Custom ops
    (``ga.defop``) travel by name and must be registered on the workers too
    (import the module defining them there, e.g. with ``client.run``).

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
        In the order of ``exprs``; each report's graph is rebuilt on the
        client from the same text, so culprit node ids refer to it.

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
    from dask import delayed

    from ..core.graph import Graph

    items = list(exprs)
    if isinstance(points, Mapping):
        points = [points] * len(items)
    points = list(points)
    if len(points) != len(items):
        raise GraphadError(f"check_grad_many: {len(items)} expressions but {len(points)} points")
    sent = [_encode(e, k) for k, e in enumerate(items)]
    ats = [_encode_point(p, k) for k, p in enumerate(points)]
    client = _client(client)
    groups = _groups(len(items), client)
    jobs = [(kind, text, at) for (kind, text), at in zip(sent, ats, strict=True)]
    tasks = [delayed(_check_group, pure=False)(jobs[lo:hi], kwargs) for lo, hi in groups]
    if client is not None:
        # the client rebuilds the reports' graphs while the workers check (it would
        # otherwise wait idle, then parse them all one by one)
        futures = client.compute(tasks)
        graphs = [_graph_or_none(kind, text) for kind, text in sent]
        results = [res for part in client.gather(futures) for res in part]
    else:
        results = [res for part in _compute(tasks, None) for res in part]
        graphs = None
    reports = []
    for k, ((kind, text), res) in enumerate(zip(sent, results, strict=True)):
        if res[0] == "error":
            raise GraphadError(f"check_grad_many: expression {k}: {res[1]}: {res[2]}")
        report = res[1]
        graph = graphs[k] if graphs else None
        report.graph = graph if graph is not None else _decode(kind, text, Graph()).graph
        reports.append(report)
    return reports


def _register() -> None:
    """Let ``graphad.nn`` find the Dask executor (it never imports this package)."""
    from ..nn.fit import register_executor
    from .replicas import executor_for

    register_executor("dask", executor_for)


_register()
