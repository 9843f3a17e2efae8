"""Keras-style models on Dask data: the work behind :func:`graphad.distributed.fit`
and :func:`graphad.distributed.evaluate`.

A worker rebuilds the model's structure from its layers' JSON configuration
and compiles per-shard functions (loss sum, metric sums, gradient of the
loss sum) once per shape; only weights, row indices and gradients travel per
step.  This module imports :mod:`graphad.distributed`, never the reverse at
import time (a worker unpickling a task imports this module first).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import numpy as np

from .core.errors import GraphadError, ShapeError
from .distributed import (
    _add,
    _aligned,
    _blocks,
    _cached,
    _client,
    _compute,
    _dask_array,
    _key,
    _rows,
    _tree,
)

__all__ = ["evaluate_model", "fit_model", "predict_model"]


def _model_spec(model: Any) -> tuple[str, Any, str]:
    """What a worker needs to rebuild ``model``'s graphs: its layers as JSON, a callable loss
    (shipped by Dask's serialization, as any task argument), and a key for its cache."""
    if not model.built:
        raise GraphadError("the model is not built yet")
    layers = [layer.get_config() for layer in model.layers]  # raises for Python activations
    loss = model.loss if callable(model.loss) else None
    text = json.dumps(
        {
            "input_shape": list(model._input_shape[1:]),
            "layers": layers,
            "loss": None if loss is not None else model.loss,
            "metrics": list(model.metrics),
        },
        sort_keys=True,
    )
    return text, loss, text + ("" if loss is None else _key(loss))


class _Shard:
    """A worker's copy of a model's structure and its compiled per-shard functions.

    A shard function returns the *sum* over its rows of the per-sample loss,
    the metric sums and (for training) the gradient of that sum: sums of
    shards are the batch's sums, whatever the split.
    """

    def __init__(self, text: str, loss: Any) -> None:
        from . import nn

        cfg = json.loads(text)
        # the weights come with every task: build with zeros, not with draws from the
        # generator set_random_seed seeded (with the threaded scheduler, the client's own)
        nn._feed.placeholders = True
        try:
            model = nn.Sequential([nn.Input(cfg["input_shape"])])
            for lc in cfg["layers"]:
                lc = dict(lc)
                model.add(nn._LAYERS[lc.pop("class")](**lc))
        finally:
            nn._feed.placeholders = False
        model.loss = loss if loss is not None else cfg["loss"]
        model.metrics = cfg["metrics"]
        self.model = model
        self.fns: dict[tuple, Any] = {}
        self.lock = threading.Lock()

    def function(self, grad: bool | None, x_shape: tuple, y_shape: tuple | None) -> Any:
        key = (grad, x_shape, y_shape)
        with self.lock:
            fn = self.fns.get(key)
            if fn is None:
                fn = self.fns[key] = self._make(grad, x_shape, y_shape)
        return fn

    def _make(self, grad: bool | None, x_shape: tuple, y_shape: tuple | None) -> Any:
        """grad True: loss sum, metric sums, gradients; False: the sums; None: outputs."""
        from . import nn
        from . import ops as _ops
        from .backends.codegen import compile as ga_compile
        from .core.expr import symbol
        from .core.graph import Graph
        from .transforms.autodiff import vjp

        m = self.model
        with Graph():
            X = symbol("X", x_shape, nn.FLOATX)
            params = [symbol(f"p{k}", w.shape, w.dtype) for k, w in enumerate(m.weights)]
            out, pre = m._forward(X, params)
            if grad is None:
                return ga_compile([out], inputs=[X, *params])
            Y = symbol("Y", y_shape, nn.FLOATX)
            loss = _ops.sum(nn._loss_per_sample(m.loss, m._last_activation(), Y, out, pre))
            sums = [nn._metric_sum(k, m.loss, Y, out, pre) for k in m.metrics]
            grads = vjp(loss, params) if grad else []
            return ga_compile([loss, *sums, *grads], inputs=[X, Y, *params])

    def __call__(self, weights: list, xb: Any, yb: Any, rows: Any, grad: bool) -> list:
        m = self.model
        if rows is not None:
            xb, yb = xb[rows], yb[rows]
        X = m._prepare_x(xb)
        Y = m._prepare_y(yb, len(X))
        total = None
        # rows in power-of-two pieces: a mini-batch's shard of any size needs at most
        # log2(batch) + 1 compiled shapes per worker
        start = 0
        for piece in _pieces(len(X)) if grad else [len(X)]:
            xs, ys = X[start : start + piece], Y[start : start + piece]
            start += piece
            out = self.function(grad, xs.shape, ys.shape)(xs, ys, *weights)
            out = [np.asarray(v) for v in out]
            total = out if total is None else _add(total, out)
        return total


def _predict_task(key: str, text: str, loss: Any, weights: list, xb: Any) -> np.ndarray:
    shard = _cached(key, lambda: _Shard(text, loss))
    X = shard.model._prepare_x(xb)
    return np.asarray(shard.function(None, X.shape, None)(X, *weights)[0])


def predict_model(model: Any, x: Any) -> Any:
    """The work of :func:`graphad.distributed.predict` (see there)."""
    from dask import delayed

    da = _dask_array()
    X = _rows(x, "x")
    model._need_built(X)
    want = tuple(model._input_shape[1:])
    if tuple(X.shape[1:]) != want:
        raise ShapeError(f"the model expects samples of shape {want}, got {tuple(X.shape[1:])}")
    text, loss, key = _model_spec(model)
    weights = _weights_task(model)
    tail = tuple(model.layers[-1].output_shape[1:])
    parts = [
        da.from_delayed(
            delayed(_predict_task, pure=False)(key, text, loss, weights, xb),
            shape=(rows, *tail),
            dtype=np.float32,
        )
        for xb, rows in zip(_blocks(X), X.chunks[0], strict=True)
    ]
    return da.concatenate(parts)


def _pieces(n: int) -> list[int]:
    return [1 << b for b in range(n.bit_length() - 1, -1, -1) if n >> b & 1]


def _shard_task(key: str, text: str, loss: Any, weights: list, xb, yb, rows, grad: bool):
    shard = _cached(key, lambda: _Shard(text, loss))
    return shard(weights, xb, yb, rows, grad)


def _model_data(model: Any, x: Any, y: Any) -> tuple[Any, Any]:
    X, Y = _aligned(x, y)
    model._need_built(X)
    want = tuple(model._input_shape[1:])
    if tuple(X.shape[1:]) != want:
        raise ShapeError(f"the model expects samples of shape {want}, got {tuple(X.shape[1:])}")
    return X, Y


def _weights_task(model: Any) -> Any:
    from dask import delayed

    ws = [w._value for w in model.weights]
    return delayed(ws, name=f"graphad-weights-{uuid.uuid4().hex}", traverse=False)


def fit_model(
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
) -> Any:
    """The work of :func:`graphad.distributed.fit` (see there)."""
    from dask import delayed

    from . import nn

    model._need_compiled()
    epochs = nn._check_count(epochs, "fit: epochs", minimum=0)
    batch_size = nn._check_count(32 if batch_size is None else batch_size, "fit: batch_size")
    rng = nn._generator(seed)  # without a seed, from the one set_random_seed seeds
    X, Y = _model_data(model, x, y)
    n = X.shape[0]
    if n == 0:
        raise GraphadError("fit: no samples")
    client = _client(client)
    if client is not None:  # the data stays on the workers; steps move weights and gradients
        X, Y = client.persist([X, Y])
    xs, ys = _blocks(X), _blocks(Y)
    bounds = np.concatenate([[0], np.cumsum(X.chunks[0])])
    text, loss, key = _model_spec(model)
    steps = -(-n // batch_size)
    history = nn.History()
    names = ["loss", *model.metrics]
    ws = model.weights
    for epoch in range(epochs):
        start = time.perf_counter()
        perm = rng.permutation(n) if shuffle else None
        totals = [0.0] * len(names)
        bar = nn._progress(verbose, steps, epoch, epochs)
        for i in range(steps):
            lo, hi = i * batch_size, min(n, (i + 1) * batch_size)
            idx = np.arange(lo, hi) if perm is None else perm[lo:hi]
            which = np.searchsorted(bounds, idx, side="right") - 1
            weights = _weights_task(model)
            parts = []
            for j in np.unique(which):
                rows = idx[which == j] - bounds[j]
                parts.append(
                    delayed(_shard_task, pure=False)(
                        key, text, loss, weights, xs[j], ys[j], rows, True
                    )
                )
            # a batch touches few chunks: their sums come back and are added here (a
            # reduction task would add a hop to every step's latency)
            res = _add(*_compute(parts, client))
            m = len(names)
            for k in range(m):
                totals[k] += float(res[k])
            grads = [g / np.asarray(hi - lo, g.dtype) for g in res[m:]]
            model.optimizer.apply_gradients(zip(grads, ws, strict=True))
            if bar is not None:
                bar.update(1)
        logs = {k: t / n for k, t in zip(names, totals, strict=True)}
        if validation_data is not None:
            vx, vy = validation_data
            vals = evaluate_model(model, vx, vy, client=client)
            vals = vals if isinstance(vals, list) else [vals]
            logs.update({f"val_{k}": v for k, v in zip(names, vals, strict=True)})
        seconds = time.perf_counter() - start
        history._append(epoch, logs, seconds)
        if bar is not None:
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=True)
            bar.close()
        elif verbose:
            print(nn._epoch_line(epoch, epochs, steps, seconds, logs), flush=True)
    return history


def evaluate_model(model: Any, x: Any, y: Any, client: Any = None) -> Any:
    """The work of :func:`graphad.distributed.evaluate` (see there)."""
    from dask import delayed

    model._need_compiled()
    X, Y = _model_data(model, x, y)
    n = X.shape[0]
    if n == 0:
        raise GraphadError("evaluate: no samples")
    text, loss, key = _model_spec(model)
    weights = _weights_task(model)
    parts = [
        delayed(_shard_task, pure=False)(key, text, loss, weights, xb, yb, None, False)
        for xb, yb in zip(_blocks(X), _blocks(Y), strict=True)
    ]
    (res,) = _compute([_tree(parts, _add)], _client(client))
    out = [float(v) / n for v in res]
    return out if model.metrics else out[0]
