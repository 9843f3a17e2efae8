"""Keras-style models on Dask data: the executor that runs ``Sequential.fit``,
``evaluate`` and ``predict`` on a cluster (:class:`DaskExecutor`).

It implements :class:`graphad.nn.fit.Executor`, and ``graphad.nn`` finds it
through :func:`graphad.nn.fit.register_executor` (registered when this package
is imported, and by ``graphad`` itself when ``graphad.nn`` is), never by
importing this package.  A worker rebuilds the model's structure from its
layers' JSON configuration and compiles the model's own step functions
(``Sequential.step_function``: "grads", "evaluate", "predict") once per shape;
only weights, row indices and gradients travel per step.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import GraphadError, ShapeError
from ..nn import initializers as _init
from ..nn.layers import Input, from_config
from ..nn.model import Sequential
from ._common import (
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

__all__ = ["DaskExecutor"]

FLOAT32 = np.dtype(np.float32)


def _model_spec(model: Any) -> tuple[str, Any, str]:
    """What a worker needs to rebuild ``model``'s graphs: its layers as JSON, a callable loss
    (shipped by Dask's serialization, as any task argument), and a key for its cache."""
    model.ensure_built()
    if model.non_trainable_weights or any(
        layer.noise_shapes((1, *layer.input_shape[1:])) for layer in model.layers
    ):
        raise GraphadError(
            "training on Dask does not support layers with random numbers or moving "
            "statistics (Dropout, BatchNormalization) yet; train such a model in memory"
        )
    layers = [layer.get_config() for layer in model.layers]  # raises for Python activations
    loss = model.loss if callable(model.loss) else None
    text = json.dumps(
        {
            "input_shape": list(model.input_shape[1:]),
            "layers": layers,
            "loss": None if loss is not None else model.loss,
            "metrics": list(model.metrics),
        },
        sort_keys=True,
    )
    return text, loss, text + ("" if loss is None else _key(loss))


class _Shard:
    """A worker's copy of a model's structure; its step functions are the model's own.

    A shard's results are *sums* over its rows (loss sum, the penalty's share,
    metric sums, and gradients of its share of the batch's objective): sums of
    shards are the batch's sums, whatever the split.
    """

    def __init__(self, text: str, loss: Any) -> None:
        cfg = json.loads(text)
        # the weights come with every task: build with zeros, not with draws from the
        # generator set_random_seed seeded (with the threaded scheduler, the client's own)
        with _init.placeholders():
            model = Sequential([Input(cfg["input_shape"])])
            for lc in cfg["layers"]:
                model.add(from_config(lc))
        if loss is not None or cfg["loss"] is not None:  # predict needs no loss
            loss = loss if loss is not None else cfg["loss"]
            model.compile(optimizer="sgd", loss=loss, metrics=cfg["metrics"])
        self.model = model
        self.lock = threading.Lock()

    def function(self, kind: str, x_shape: tuple, y_shape: tuple | None = None) -> Any:
        with self.lock:  # one compile per shape, even with threaded workers
            return self.model.step_function(kind, x_shape, y_shape)

    def __call__(self, weights, xb, yb, rows, batch: int | None) -> list:
        """``batch`` None: evaluation sums; else the gradient sums for a batch of that size."""
        m = self.model
        if rows is not None:
            xb, yb = xb[rows], yb[rows]
        X = m.prepare_x(xb)
        Y = m.prepare_y(yb, len(X))
        total = None
        start = 0
        # rows in power-of-two pieces: a mini-batch's shard of any size needs at most
        # log2(batch) + 1 compiled shapes per worker
        for piece in _pieces(len(X)) if batch else [len(X)]:
            xs, ys = X[start : start + piece], Y[start : start + piece]
            start += piece
            sw = np.ones(piece, FLOAT32)
            if batch:
                share = np.float32(piece / batch)
                fn = self.function("grads", xs.shape, ys.shape)
                out = fn(xs, ys, sw, *weights, np.float32(1.0 / batch), share)
                out = [np.asarray(v) for v in out]
                out[1] = out[1] * share  # this piece's share of the penalty
            else:
                out = self.function("evaluate", xs.shape, ys.shape)(xs, ys, sw, *weights)
                out = [np.asarray(v) for v in out]
                out[1] = out[1] * piece  # the penalty counted once per sample
            total = out if total is None else _add(total, out)
        return total


def _pieces(n: int) -> list[int]:
    return [1 << b for b in range(n.bit_length() - 1, -1, -1) if n >> b & 1]


def _shard_task(key: str, text: str, loss: Any, weights: list, xb, yb, rows, batch):
    shard = _cached(key, lambda: _Shard(text, loss))
    return shard(weights, xb, yb, rows, batch)


def _predict_task(key: str, text: str, loss: Any, weights: list, xb: Any) -> np.ndarray:
    shard = _cached(key, lambda: _Shard(text, loss))
    X = shard.model.prepare_x(xb)
    return np.asarray(shard.function("predict", X.shape)(X, *weights)[0])


def _weights_task(model: Any) -> Any:
    from dask import delayed

    ws = [w.numpy() for w in model.weights]
    return delayed(ws, name=f"graphad-weights-{uuid.uuid4().hex}", traverse=False)


def _model_data(model: Any, x: Any, y: Any) -> tuple[Any, Any]:
    X, Y = _aligned(x, y)
    model.ensure_built(X)
    want = tuple(model.input_shape[1:])
    if tuple(X.shape[1:]) != want:
        raise ShapeError(f"the model expects samples of shape {want}, got {tuple(X.shape[1:])}")
    return X, Y


@dataclass
class DaskSource:
    """Row-chunked training data on a cluster: the chunks and where each one starts."""

    xs: list
    ys: list
    bounds: np.ndarray
    spec: tuple[str, Any, str]
    n: int


class DaskExecutor:
    """Synchronous data-parallel steps on Dask: per batch, every row-chunk holding some
    of its rows computes the loss sum and its gradient for those rows where the
    chunk lives; the sums come back and the optimizer steps on the client."""

    def __init__(self, client: Any = None):
        self.client = client

    def data(self, model, x, y, class_weight=None) -> DaskSource:
        if class_weight is not None:
            raise GraphadError("class_weight is not supported on Dask yet; train in memory")
        X, Y = _model_data(model, x, y)
        spec = _model_spec(model)
        client = _client(self.client)
        if client is not None:  # the data stays on the workers; steps move weights and gradients
            X, Y = client.persist([X, Y])
        bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        return DaskSource(_blocks(X), _blocks(Y), bounds, spec, int(X.shape[0]))

    def train_step(self, model, source, rows, rng) -> list[float]:
        from dask import delayed

        key, (text, loss, _) = source.spec[2], source.spec
        weights = _weights_task(model)
        which = np.searchsorted(source.bounds, rows, side="right") - 1
        parts = []
        for j in np.unique(which):
            local = rows[which == j] - source.bounds[j]
            parts.append(
                delayed(_shard_task, pure=False)(
                    key, text, loss, weights, source.xs[j], source.ys[j], local, len(rows)
                )
            )
        # a batch touches few chunks: their sums come back and are added here (a
        # reduction task would add a hop to every step's latency)
        res = _add(*_compute(parts, _client(self.client)))
        m = len(res) - len(model.trainable_weights)
        model.optimizer.apply_gradients(zip(res[m:], model.trainable_weights, strict=True))
        return [float(v) for v in res[:m]]

    def evaluate(self, model, x, y, batch_size) -> tuple[list[float], int]:
        from dask import delayed

        X, Y = _model_data(model, x, y)
        n = int(X.shape[0])
        if n == 0:
            raise GraphadError("evaluate: no samples")
        text, loss, key = _model_spec(model)
        weights = _weights_task(model)
        parts = [
            delayed(_shard_task, pure=False)(key, text, loss, weights, xb, yb, None, None)
            for xb, yb in zip(_blocks(X), _blocks(Y), strict=True)
        ]
        (res,) = _compute([_tree(parts, _add)], _client(self.client))
        return [float(v) for v in res], n

    def predict(self, model, x, batch_size) -> Any:
        from dask import delayed

        da = _dask_array()
        X = _rows(x, "x")
        model.ensure_built(X)
        want = tuple(model.input_shape[1:])
        if tuple(X.shape[1:]) != want:
            raise ShapeError(f"the model expects samples of shape {want}, got {tuple(X.shape[1:])}")
        text, loss, key = _model_spec(model)
        weights = _weights_task(model)
        tail = tuple(model.output_shape[1:])
        parts = [
            da.from_delayed(
                delayed(_predict_task, pure=False)(key, text, loss, weights, xb),
                shape=(rows, *tail),
                dtype=np.float32,
            )
            for xb, rows in zip(_blocks(X), X.chunks[0], strict=True)
        ]
        return da.concatenate(parts)
