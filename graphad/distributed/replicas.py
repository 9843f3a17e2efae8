"""Model replicas resident on Dask workers: ``Sequential.fit`` on a ``dask.distributed`` cluster.

:class:`ReplicaExecutor` implements the executor protocol of ``graphad.nn.fit``.
Its ``data`` persists the training arrays on the workers, asks the scheduler
which worker holds which row-chunk (``futures_of`` + ``who_has``) and starts one
replica per worker holding data, in that worker's process: the model rebuilt
from its JSON configuration (sent once), its compiled step functions
(``Sequential.step_function``), its optimizer with its state, and the
concatenation of the chunks that worker already holds (never shipped through
the client).  A replica lives in a module-level table keyed by
``(worker address, run id)`` until ``fit`` ends.

The client sends, per execution (``steps_per_execution`` mini-batches), only
row indices local to each replica, and gets back only the batch sums (loss,
penalty, metrics).  Weights travel at synchronization, between workers:

* ``sync="gradients"``: each replica sums the gradients of its rows of the
  ``k`` batches; the sums are added in a tree of Dask tasks on the workers
  and every replica applies the same update (one per execution).
* ``sync="weights"``: each replica steps on its own rows of each batch; after
  the ``k`` batches the weights and optimizer slots are averaged in the same
  kind of tree and every replica takes the average.

At the end of each epoch the client model takes the weights and optimizer
state of the first replica (the replicas are equal then), so validation,
callbacks and checkpoints see them; if the client's weights or optimizer
settings changed since (a callback), they are sent back before the next step.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ._common import FANIN, _add, _client
from .models import _model_data, _model_spec, _pieces, _Shard

__all__ = ["ReplicaExecutor", "executor_for"]

FLOAT32 = np.dtype(np.float32)

_REPLICAS: dict[tuple[str, str], _Replica] = {}
_LOCK = threading.Lock()


def _optimizer_config(opt: Any) -> dict:
    cfg = opt.get_config()
    if cfg.get("learning_rate") is None and callable(opt.learning_rate):
        raise GraphadError(
            "training on Dask needs a learning rate that is a number or a schedule from "
            "ga.optim.schedules (a Python function cannot be sent to the workers)"
        )
    return {**cfg, "class": type(opt).__name__}


class _Replica:
    """One worker's copy of the model, its optimizer and its rows of the data."""

    def __init__(self, text: str, loss: Any, opt_cfg: dict, xs: list, ys: list) -> None:
        from ..optim import get as get_optimizer

        self.shard = _Shard(text, loss)
        self.model = self.shard.model
        self.opt = get_optimizer(dict(opt_cfg))
        self.X = self.model.prepare_x(np.concatenate(xs))
        self.Y = self.model.prepare_y(np.concatenate(ys), len(self.X))
        self.m = 2 + sum(self.model.metric_sizes())

    def set_state(self, state: tuple) -> None:
        weights, slots, iterations, opt_cfg = state
        if opt_cfg is not None:
            from ..optim import get as get_optimizer

            self.opt = get_optimizer(dict(opt_cfg))
        for w, v in zip(self.model.weights, weights, strict=True):
            w._replace(np.asarray(v, w.dtype))
        self.opt.set_state(self.model.trainable_weights, slots, iterations)

    def state(self) -> list:
        train = self.model.trainable_weights
        return [[w._value for w in self.model.weights], self.opt.state_values(train)]

    def sums_and_grads(self, rows: np.ndarray, inv_n: float, frac: float) -> list:
        """Batch sums (penalty times ``frac * len(rows)``) and the gradient of
        ``inv_n * loss_sum + frac * len(rows) * penalty`` over ``rows``."""
        ws = [w._value for w in self.model.weights]
        X, Y = self.X, self.Y
        total = None
        start = 0
        # power-of-two pieces: a replica's share of a batch varies from batch to batch,
        # and this needs at most log2(share) + 1 compiled shapes
        for piece in _pieces(len(rows)):
            idx = rows[start : start + piece]
            start += piece
            xs, ys = X.take(idx, axis=0), Y.take(idx, axis=0)
            fn = self.shard.function("grads", xs.shape, ys.shape)
            share = np.float32(frac * piece)
            out = fn(xs, ys, np.ones(piece, FLOAT32), *ws, np.float32(inv_n), share)
            out = [np.asarray(v) for v in out]
            out[1] = out[1] * share
            total = out if total is None else _add(total, out)
        return total

    def zeros(self) -> list:
        """A contribution of no rows: zero sums and zero gradients."""
        return [np.zeros(self.m), [np.zeros_like(w._value) for w in self.model.trainable_weights]]

    def apply(self, grads: list) -> None:
        self.opt.apply_gradients(zip(grads, self.model.trainable_weights, strict=True))


def _here(run: str) -> _Replica:
    from distributed import get_worker

    return _REPLICAS[(get_worker().address, run)]


# -- tasks run on the workers ------------------------------------------------------------------


def _create(run: str, text: str, loss: Any, opt_cfg: dict, state: tuple, n: int, *chunks) -> int:
    from distributed import get_worker

    rep = _Replica(text, loss, opt_cfg, list(chunks[:n]), list(chunks[n:]))
    rep.set_state(state)
    with _LOCK:
        _REPLICAS[(get_worker().address, run)] = rep
    return len(rep.X)


def _drop(run: str) -> None:
    with _LOCK:
        for key in [k for k in _REPLICAS if k[1] == run]:
            del _REPLICAS[key]


def _set(run: str, state: tuple, after: Any = None) -> None:
    _here(run).set_state(state)


def _local_grads(run: str, batches: list, sizes: list, after: Any = None) -> list:
    """``sync="gradients"``: this replica's sums over its rows of the ``k`` batches and
    the gradient of their share of the mean loss over all the batches' rows.

    The weights do not change within an execution, so all the rows go through the
    compiled step together (in power-of-two pieces), not batch by batch."""
    rep = _here(run)
    total_rows = float(sum(sizes))
    rows = np.concatenate(batches) if batches else np.zeros(0, np.int64)
    if not len(rows):
        return rep.zeros()
    out = rep.sums_and_grads(rows, 1.0 / total_rows, 1.0 / total_rows)
    # penalty * rows / total_rows here; fit counts the penalty once per row of each step
    out[1] = out[1] * total_rows
    return [np.asarray([float(v) for v in out[: rep.m]]), out[rep.m :]]


def _apply_grads(run: str, first: bool, *parts: Any) -> Any:
    """Every replica adds the parts in the same order and applies the same update."""
    rep = _here(run)
    total = parts[0] if len(parts) == 1 else _add(*parts)
    rep.apply(total[1])
    return total[0] if first else None


def _local_sgd(run: str, batches: list, sizes: list, after: Any = None) -> list:
    """``sync="weights"``: step on this replica's rows of each batch; return the sums
    and the resulting weights and slots (to be averaged)."""
    rep = _here(run)
    sums = np.zeros(rep.m)
    for rows in batches:
        if not len(rows):
            continue
        out = rep.sums_and_grads(rows, 1.0 / len(rows), 1.0 / len(rows))
        # the penalty counted once per row of the step, whichever replica holds the row
        out[1] = out[1] * len(rows)
        sums += [float(v) for v in out[: rep.m]]
        rep.apply(out[rep.m :])
    return [sums, rep.state(), rep.opt.iterations]


def _sum_parts(*parts: Any) -> list:
    """Add partial results (an inner node of the tree between workers); the
    iteration counts, when present, take their maximum."""
    if len(parts[0]) == 3:
        return [*_add(*[p[:2] for p in parts]), max(p[2] for p in parts)]
    return _add(*parts)


def _take_average(run: str, count: int, first: bool, *parts: Any) -> Any:
    rep = _here(run)
    total = parts[0] if len(parts) == 1 else _sum_parts(*parts)
    weights, slots = total[1]
    rep.set_state(([w / count for w in weights], [s / count for s in slots], total[2], None))
    return total[0] if first else None


def _pull(run: str, after: Any = None) -> tuple:
    rep = _here(run)
    weights, slots = rep.state()
    return weights, slots, rep.opt.iterations


# -- the client side ---------------------------------------------------------------------------


@dataclass
class ReplicaSource:
    """Where the rows are: per global row its replica and its index there."""

    run: str
    workers: list[str]
    owner: np.ndarray
    local: np.ndarray
    n: int
    client: Any
    last: dict = field(default_factory=dict)  # per worker, the future the next task waits for
    sent: Any = None  # the state the replicas hold, as the client last saw it


def _snapshot(model: Any) -> tuple:
    opt = model.optimizer
    return (
        [w.numpy() for w in model.weights],
        [np.array(s) for s in opt.state_values(model.trainable_weights)],
        opt.iterations,
        _optimizer_config(opt),
    )


def _same(a: tuple, b: tuple) -> bool:
    return (
        a[2] == b[2]
        and a[3] == b[3]
        and all(np.array_equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True))
    )


class _Sums:
    """The sums of a queued execution, as floats once they are back."""

    def __init__(self, future: Any) -> None:
        self.future = future

    def result(self) -> list[float]:
        return [float(v) for v in self.future.result()]


class ReplicaExecutor:
    """Data-parallel training with model replicas resident on the workers (see the module)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def data(self, model, x, y, class_weight=None) -> ReplicaSource:
        from distributed import futures_of, wait

        if class_weight is not None:
            raise GraphadError("class_weight is not supported on Dask yet; train in memory")
        X, Y = _model_data(model, x, y)
        text, loss, _ = _model_spec(model)
        state = _snapshot(model)
        client = self.client
        X, Y = client.persist([X, Y])
        fx, fy = futures_of(X), futures_of(Y)
        wait(fx + fy)
        # futures_of lists the chunks in key order; index them by block
        xs = {f.key[1:]: f for f in fx}
        ys = {f.key[1:]: f for f in fy}
        nblocks = len(X.chunks[0])
        xs = [xs[(j,) + (0,) * (X.ndim - 1)] for j in range(nblocks)]
        ys = [ys[(j,) + (0,) * (Y.ndim - 1)] for j in range(nblocks)]
        where = client.who_has(xs)
        bounds = np.concatenate([[0], np.cumsum(X.chunks[0])]).astype(np.int64)
        mine: dict[str, list[int]] = {}
        for j, f in enumerate(xs):
            holders = sorted(where.get(f.key, ()))
            if not holders:
                raise GraphadError(f"chunk {j} of the training data is on no worker")
            mine.setdefault(holders[0], []).append(j)
        run = f"graphad-run-{uuid.uuid4().hex}"
        workers = sorted(mine)
        n = int(X.shape[0])
        owner = np.empty(n, np.int32)
        local = np.empty(n, np.int64)
        made = []
        for r, w in enumerate(workers):
            offset = 0
            for j in mine[w]:
                lo, hi = bounds[j], bounds[j + 1]
                owner[lo:hi] = r
                local[lo:hi] = np.arange(offset, offset + hi - lo)
                offset += hi - lo
            chunks = [xs[j] for j in mine[w]] + [ys[j] for j in mine[w]]
            made.append(
                client.submit(
                    _create,
                    run,
                    text,
                    loss,
                    state[3],
                    state,
                    len(mine[w]),
                    *chunks,
                    workers=[w],
                    allow_other_workers=False,
                    pure=False,
                )
            )
        try:
            client.gather(made)
        except BaseException:
            client.run(_drop, run, workers=workers)
            raise
        source = ReplicaSource(run, workers, owner, local, n, client)
        source.last = dict(zip(workers, made, strict=True))
        source.sent = state
        return source

    def _push_if_changed(self, model, source) -> None:
        now = _snapshot(model)
        if _same(now, source.sent):
            return
        source.last = {
            w: source.client.submit(
                _set,
                source.run,
                now,
                source.last[w],
                workers=[w],
                allow_other_workers=False,
                pure=False,
            )
            for w in source.workers
        }
        source.sent = now

    def train_steps(self, model, source, batches, rng, sync) -> list[float]:
        return self.submit_steps(model, source, batches, rng, sync).result()

    def submit_steps(self, model, source, batches, rng, sync) -> _Sums:
        """Queue one execution on the replicas; the next one may be queued before
        its sums are back (each replica runs its tasks in order: every task waits
        for that replica's previous one)."""
        client = source.client
        self._push_if_changed(model, source)
        sizes = [len(b) for b in batches]
        parts = []
        for r, w in enumerate(source.workers):
            mine = [source.local[b[source.owner[b] == r]] for b in batches]
            task = _local_grads if sync == "gradients" else _local_sgd
            parts.append(
                client.submit(
                    task,
                    source.run,
                    mine,
                    sizes,
                    source.last[w],
                    workers=[w],
                    allow_other_workers=False,
                    pure=False,
                )
            )
        # between the workers: with few replicas each one adds all the parts itself
        # (one hop less per synchronization); with many, a tree of additions first
        while len(parts) > FANIN:
            parts = [
                client.submit(_sum_parts, *parts[i : i + FANIN], pure=False)
                for i in range(0, len(parts), FANIN)
            ]
        done = {}
        for r, w in enumerate(source.workers):
            if sync == "gradients":
                args = (_apply_grads, source.run, r == 0, *parts)
            else:
                args = (_take_average, source.run, len(source.workers), r == 0, *parts)
            done[w] = client.submit(*args, workers=[w], allow_other_workers=False, pure=False)
        source.last = done
        return _Sums(done[source.workers[0]])

    def end_epoch(self, model, source) -> None:
        w = source.workers[0]
        weights, slots, iterations = source.client.submit(
            _pull, source.run, source.last[w], workers=[w], allow_other_workers=False, pure=False
        ).result()
        model.set_weights(weights)
        model.optimizer.set_state(model.trainable_weights, slots, iterations)
        source.sent = _snapshot(model)

    def close(self, source) -> None:
        # a worker gone took its replicas with it
        with contextlib.suppress(Exception):
            source.client.run(_drop, source.run, workers=source.workers)

    def train_step(self, model, source, rows, rng) -> list[float]:
        res = self.train_steps(model, source, [rows], rng, "gradients")
        res[1] /= len(rows)  # train_step reports the penalty itself
        return res

    def evaluate(self, model, x, y, batch_size):
        from .models import DaskExecutor

        return DaskExecutor(self.client).evaluate(model, x, y, batch_size)

    def predict(self, model, x, batch_size):
        from .models import DaskExecutor

        return DaskExecutor(self.client).predict(model, x, batch_size)


def _is_client(value: Any) -> bool:
    """A ``dask.distributed`` Client (checked by its class, without importing it)."""
    return any(
        c.__module__.split(".")[0] == "distributed" and c.__name__ == "Client"
        for c in type(value).__mro__
    )


def executor_for(x: Any, y: Any, executor: Any) -> Any:
    """The Dask executor for this call: replicas on the workers of a Dask ``Client``
    (given as ``executor=``, or the active one for Dask arrays), else the task-per-batch
    :class:`~graphad.distributed.models.DaskExecutor` on Dask's local scheduler; None
    when neither applies (another executor takes the call)."""
    from ..core.arrays import is_dask
    from .models import DaskExecutor

    if executor is not None:
        return ReplicaExecutor(executor) if _is_client(executor) else None
    if is_dask(x) or is_dask(y):
        client = _client(None)
        return ReplicaExecutor(client) if client is not None else DaskExecutor()
    return None
