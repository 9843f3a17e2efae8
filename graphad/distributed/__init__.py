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
* **Checks.**  :func:`check_grad_many` (``ga.check_grad_many``, in
  :mod:`graphad.distributed.checking`) sends a batch of gradient checks to the
  workers, a few tasks per worker thread.  Expressions travel as text (graphad's
  JSON graph format, or Python-syntax strings), never as pickled graphs.

Dask is imported on first use, never by ``import graphad``
(``pip install graphad[dask]``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Literal

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
from .checking import _groups as _groups
from .checking import check_grad_many

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


def _register() -> None:
    """Let ``graphad.nn`` find the Dask executor (it never imports this package)."""
    from ..nn.fit import register_executor
    from .replicas import executor_for

    register_executor("dask", executor_for)


_register()
