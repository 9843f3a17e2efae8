"""Model replicas resident on Dask workers: ``Sequential.fit`` on a ``dask.distributed`` cluster.

:class:`ReplicaExecutor` implements the executor protocol of ``graphad.nn.fit``.
Its ``data`` persists the training arrays on the workers, asks the scheduler
which worker holds which row-chunk (``futures_of`` + ``who_has``) and starts one
replica per worker holding data, in that worker's process: the model rebuilt
from its JSON configuration (sent once), its compiled step functions
(``Sequential.step_function``), its optimizer with its state, and the
concatenation of the chunks that worker already holds (never shipped through
the client).  Beside each replica lives a mailbox, a Dask actor, where what the
others synchronize lands: they send it one-way over the batched stream Dask
keeps between two workers (``Worker.send_to_worker``, received by a stream
handler), so that an exchange costs one message per peer and no reply.

**One task per replica per fit.**  Each replica runs one long-lived task
(``_serve``) that takes the client's orders from its mailbox and posts each
result there, where the client fetches it (two actor calls, client to worker
and back: no task to schedule per epoch, which cost 20-30 ms an epoch).  Once
per epoch the order holds the rows of every batch that the replica holds
(indices into its own array) and the global batch sizes; the replica runs the
epoch's executions (``k`` = ``steps_per_execution`` batches each) without the
client or the scheduler.  After each execution the replicas exchange, worker to
worker through the mailboxes, either

* ``sync="gradients"``: each replica's gradient of the sum, over the ``k``
  batches, of its share of each batch's mean loss (plus the penalty once per
  batch).  Every replica adds the parts in replica order and applies the same
  update.  This is the *sum* of the ``k`` batch-mean gradients, the linear
  learning-rate scaling of large-batch SGD: with SGD, one update moves the
  weights as far as ``k`` in-memory steps from the same point would, so the loss
  after an epoch stays close to in-memory training; with ``k=1`` it is exactly
  one in-memory step (up to float rounding);
* ``sync="weights"`` (local SGD): each replica steps on its rows of each of the
  ``k`` batches (its compiled ``"train"`` step, as in memory), then weights and
  optimizer slots are averaged.

The epoch's batch sums come back at the end of the epoch; the client model then
takes the weights and optimizer state of the first replica (all are equal), so
validation, callbacks and checkpoints see them; if the client's weights or
optimizer settings changed since (a callback), they go with the next epoch's
order.  When a callback has batch hooks, ``fit`` calls :meth:`train_steps` once
per execution instead: an order of one execution.  ``fit`` ending (or failing)
drops the run on the workers, which ends the tasks.

**Memory.**  Dask starts its worker processes with ``MALLOC_TRIM_THRESHOLD_``
set, which fixes glibc's mmap threshold at 128 KiB: each temporary of a step
above it would be mapped, page-faulted and unmapped again, doubling the step's
CPU time.  While its replica computes, a worker raises both thresholds
(``_roomy_malloc``) and sets Dask's values again afterwards.

**Fixed shapes.**  A replica's share of a batch varies from batch to batch.  For
a model without metrics its rows are padded to one of few sizes (``_bucket``:
at most 1/8 more rows) with sample weight 0, which changes neither the loss sum
nor the gradient; with metrics (which count every row), they run in power-of-two
pieces instead.

**A worker lost.**  Before each execution a replica notes the state it starts
from.  When a replica's worker leaves the cluster, the client stops the others
(their mailboxes), finds the last execution every survivor completed, takes
that state from a survivor, starts replicas again on the workers left (Dask
recomputes the lost chunks of the persisted data from their graph), and
continues the epoch from there.

One module, though past 600 lines: the executor, the replica that lives on a
worker and the exchange between replicas are one protocol (what is sent, in which
order, what is kept for recovery after a lost worker); split, each half would
only make sense with the other open beside it.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ._common import _add, _client
from .models import _model_data, _model_spec, _pieces, _Shard

__all__ = ["ReplicaExecutor", "executor_for"]

FLOAT32 = np.dtype(np.float32)
TIMEOUT = 300.0  # seconds a replica waits for the others' parts of an execution
RECOVERIES = 3  # workers lost per fit before giving up
# seconds between a waiting replica's checks that its task is still wanted: a client that
# died (or released the fit's futures) leaves the task cancelled on the worker, and the
# replica then ends and frees what it holds instead of waiting for orders forever
POLL = 1.0

_REPLICAS: dict[tuple[str, str], _Replica] = {}
_MAILBOXES: dict[tuple[str, str], _Mailbox] = {}
_LOCK = threading.Lock()

# glibc's mallopt parameters, and a large value for both while replicas compute
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_ROOMY = 64 << 20
_MALLOC = {"users": 0, "libc": None}


@contextlib.contextmanager
def _roomy_malloc():
    """Keep the step's temporaries in the heap while replicas compute in this process.

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to give memory
    back to the OS), which also fixes glibc's mmap threshold at 128 KiB: every
    temporary of a step bigger than that (a 512 x 64 float32 activation already is)
    is then a fresh ``mmap``, page-faulted in and unmapped again, and the same
    compiled step costs about twice its CPU time (measured in one process, a replica's
    epoch: 0.08-0.13 s of CPU without the variable, 0.17-0.25 s with it).  Inside
    this block both thresholds are raised (64 MiB); on leaving the last one, Dask's
    values are set again and the heap is trimmed.  Nothing changes in a process not
    started that way (no ``MALLOC_TRIM_THRESHOLD_``: glibc then adapts its threshold
    itself) or without glibc.
    """
    import os

    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", "")
    with _LOCK:
        libc = _MALLOC["libc"]
        if libc is None:
            try:
                import ctypes

                libc = ctypes.CDLL("libc.so.6")
                libc.mallopt, libc.malloc_trim  # noqa: B018 (glibc's, or AttributeError)
            except (OSError, AttributeError):
                libc = False
            _MALLOC["libc"] = libc
        act = bool(libc) and trim.isdigit()
        if act:
            if _MALLOC["users"] == 0:
                libc.mallopt(_M_MMAP_THRESHOLD, _ROOMY)
                libc.mallopt(_M_TRIM_THRESHOLD, _ROOMY)
            _MALLOC["users"] += 1
    try:
        yield
    finally:
        if act:
            with _LOCK:
                _MALLOC["users"] -= 1
                if _MALLOC["users"] == 0:
                    mmap = os.environ.get("MALLOC_MMAP_THRESHOLD_", "")
                    libc.mallopt(_M_MMAP_THRESHOLD, int(mmap) if mmap.isdigit() else 128 << 10)
                    libc.mallopt(_M_TRIM_THRESHOLD, int(trim))
                    libc.malloc_trim(0)


def _optimizer_config(opt: Any) -> dict:
    cfg = opt.get_config()
    if cfg.get("learning_rate") is None and callable(opt.learning_rate):
        raise GraphadError(
            "training on Dask needs a learning rate that is a number or a schedule from "
            "ga.optim.schedules (a Python function cannot be sent to the workers)"
        )
    return {**cfg, "class": type(opt).__name__}


ROWS_PER_CALL = 8192  # rows per compiled call at most (see _calls)


def _calls(n: int, pad: bool) -> list[int]:
    """``n`` rows as the row counts of compiled calls: at most ``ROWS_PER_CALL`` each
    (the temporaries of bigger calls leave the cache: a replica's epoch at batch 8192,
    k=32 took 0.09 s of CPU in calls of 32,768 rows, 0.06 s in calls of 8192); the
    rest in one call when padded, else in power-of-two pieces."""
    full, rest = divmod(n, ROWS_PER_CALL)
    if not rest:
        return [ROWS_PER_CALL] * full
    return [ROWS_PER_CALL] * full + ([rest] if pad else _pieces(rest))


def _bucket(n: int) -> int:
    """``n`` rounded up to ``m * 2**e`` with ``8 <= m < 16``: at most 1/8 more, and a
    handful of sizes (compiled shapes) for shares that vary around one value."""
    e = max(0, n.bit_length() - 4)
    return -(-n >> e) << e


class _Replica:
    """One worker's copy of the model, its optimizer and its rows of the data."""

    def __init__(self, text: str, loss: Any, opt_cfg: dict, xs: list, ys: list) -> None:
        from ..optim import get as get_optimizer

        self.shard = _Shard(text, loss)
        self.model = self.shard.model
        self.opt = get_optimizer(dict(opt_cfg))
        self.model.optimizer = self.opt  # the "train" step builds this optimizer's update
        self.X = self.model.prepare_x(np.concatenate(xs))
        self.Y = self.model.prepare_y(np.concatenate(ys), len(self.X))
        self.m = 2 + sum(self.model.metric_sizes())
        # metrics count every row, sample weight or not: pad only without them
        self.pad = not self.model.metrics
        self.marks: list[tuple] = []  # (executions done, state, sums) before the last two

    def set_state(self, state: tuple) -> None:
        weights, slots, iterations, opt_cfg = state
        if opt_cfg is not None:
            from ..optim import get as get_optimizer

            self.opt = get_optimizer(dict(opt_cfg))
            self.model.optimizer = self.opt
            self.model._fns.clear()  # the fused steps hold the old optimizer's update
        for w, v in zip(self.model.weights, weights, strict=True):
            w._replace(np.array(v, w.dtype))
        self.opt.set_state(self.model.trainable_weights, slots, iterations)

    def state(self) -> list:
        train = self.model.trainable_weights
        return [[w._value for w in self.model.weights], self.opt.state_values(train)]

    def mark(self, done: int, sums: np.ndarray) -> None:
        """Note the state after ``done`` executions (kept: the last two)."""
        weights, slots = self.state()
        snap = ([np.array(w) for w in weights], [np.array(v) for v in slots])
        self.marks = [*self.marks[-1:], (done, snap, self.opt.iterations, sums.copy())]

    def _rows(self, rows: np.ndarray) -> tuple:
        """The batch of ``rows``: samples, targets and sample weights, padded when allowed."""
        n = len(rows)
        size = _bucket(n) if self.pad else n
        sw = np.ones(size, FLOAT32)
        if size > n:
            rows = np.concatenate([rows, np.zeros(size - n, rows.dtype)])
            sw[n:] = 0.0
        return self.X.take(rows, axis=0), self.Y.take(rows, axis=0), sw

    def grads_over(self, rows: np.ndarray, inv_n: float) -> list:
        """The sums over ``rows`` (the penalty once per row) and the gradient of
        ``inv_n * (loss sum + len(rows) * penalty)``."""
        ws = [w._value for w in self.model.weights]
        n = len(rows)
        total = None
        start = 0
        for piece in _calls(n, self.pad):
            idx = rows[start : start + piece]
            start += piece
            xs, ys, sw = self._rows(idx)
            fn = self.shard.function("grads", xs.shape, ys.shape)
            out = fn(xs, ys, sw, *ws, np.float32(inv_n), np.float32(inv_n * piece))
            out = [np.asarray(v) for v in out]
            out[1] = out[1] * piece
            total = out if total is None else _add(total, out)
        return [np.asarray([float(v) for v in total[: self.m]]), total[self.m :]]

    def step(self, rows: np.ndarray) -> np.ndarray:
        """One optimizer step on ``rows`` (their mean loss plus the penalty); its sums."""
        from ..nn.fit import train_call

        if self.pad:
            xs, ys, sw = self._rows(rows)
            out = train_call(self.model, xs, ys, sw, None, 1.0 / len(rows))
            sums = np.asarray(out)
        else:
            sums, grads = self.grads_over(rows, 1.0 / len(rows))
            self.apply(grads)
            sums = sums.copy()
            sums[1] /= len(rows)
        sums[1] *= len(rows)
        return sums

    def execution(self, parts: list, sizes: list, sync: str) -> list:
        """This replica's contribution to one execution: ``parts`` its rows of each
        batch, ``sizes`` the batches' global sizes."""
        if sync == "gradients":
            # the weights do not change within an execution: every batch's rows in
            # one call per batch size (1 / size weighs a row within its batch)
            out = [
                np.zeros(self.m),
                [np.zeros_like(w._value) for w in self.model.trainable_weights],
            ]
            for size in sorted(set(sizes)):
                rows = [p for p, s in zip(parts, sizes, strict=True) if s == size]
                rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
                if len(rows):
                    out = _add(out, self.grads_over(rows, 1.0 / size))
            return out
        sums = np.zeros(self.m)
        for rows in parts:
            if len(rows):
                sums += self.step(rows)
        return [sums, self.state(), self.opt.iterations]

    def combine(self, parts: list, sync: str, count: int) -> np.ndarray:
        """Take the replicas' parts (in replica order, the same on every replica)."""
        if sync == "gradients":
            total = parts[0] if len(parts) == 1 else _add(*parts)
            self.apply(total[1])
            return total[0]
        total = _add(*[p[:2] for p in parts]) if len(parts) > 1 else parts[0][:2]
        weights, slots = total[1]
        iterations = max(p[2] for p in parts)
        self.set_state(([w / count for w in weights], [v / count for v in slots], iterations, None))
        return total[0]

    def apply(self, grads: list) -> None:
        self.opt.apply_gradients(zip(grads, self.model.trainable_weights, strict=True))


class _Aborted(Exception):
    """The client stopped this execution (another replica's worker was lost)."""


_PART = "graphad-replica-part"  # the workers' stream handler that receives parts


def _receive_part(address: str, run: str = "", key: Any = (), value: Any = None, **_: Any) -> None:
    """A peer's part of an execution, arrived on the event loop of the worker at
    ``address``."""
    box = _MAILBOXES.get((address, run))
    if box is not None:  # (none after the run was dropped: a late part is dropped too)
        box.deliver(tuple(key), value)


def _send_parts(worker: Any, peers: list[str], run: str, key: tuple, value: Any) -> None:
    """Send ``value`` to the replicas of ``run`` on ``peers``, one-way: each worker's
    batched stream to the other (``Worker.send_to_worker``, the comms Dask uses between
    workers), with no reply to wait for or to handle.  Called from the task's thread:
    the stream is the event loop's, so the send is queued there."""
    from distributed.protocol import to_serialize

    def send() -> None:
        for peer in peers:
            worker.send_to_worker(
                peer, {"op": _PART, "run": run, "key": list(key), "value": to_serialize(value)}
            )

    worker.loop.add_callback(send)


class _Mailbox:
    """A Dask actor beside each replica: the others' parts of an execution land here.

    The parts arrive through the worker's stream handler ``_PART`` (one-way
    messages: an actor call would cost a request and a reply, and handling both
    took about 2.4 ms of a worker's CPU per exchange); ``put`` (the same, as an
    actor call) and ``abort`` are coroutines, so they run on the worker's event
    loop while the replica's ``_serve`` task occupies the worker's thread."""

    def __init__(self, run: str) -> None:
        from distributed import get_worker

        self.items: dict = {}
        self.orders: collections.deque = collections.deque()  # the client's, for _serve
        self.results: dict = {}  # _serve's, until the client fetches them
        self.waiters: dict = {}  # fetches waiting for a result (on the event loop)
        self.stopped = False
        self.cv = threading.Condition()
        worker = get_worker()
        self.loop = worker.loop
        with _LOCK:
            worker.stream_handlers.setdefault(
                _PART, functools.partial(_receive_part, worker.address)
            )
            _MAILBOXES[(worker.address, run)] = self

    def deliver(self, key: tuple, value: Any) -> None:
        with self.cv:
            self.items[key] = value
            self.cv.notify_all()

    async def put(self, key: tuple, value: Any) -> None:
        self.deliver(key, value)

    async def abort(self) -> None:
        self.stop()
        for waiter in self.waiters.values():  # nothing more will come
            if not waiter.done():
                waiter.set_result(None)

    def stop(self) -> None:
        with self.cv:
            self.stopped = True
            self.cv.notify_all()

    async def order(self, value: Any) -> None:
        """The client's next order for this replica's ``_serve`` task."""
        with self.cv:
            self.orders.append(value)
            self.cv.notify_all()

    def next_order(self, wanted: Any = None) -> Any:
        """The next order; no limit on the wait (the client may take its time between
        epochs) while ``wanted()`` says the task is still wanted, checked every
        :data:`POLL` seconds; else, or when stopped, :class:`_Aborted`."""
        with self.cv:
            while not self.cv.wait_for(lambda: self.orders or self.stopped, POLL):
                if wanted is not None and not wanted():
                    self.stopped = True
            if self.stopped:
                raise _Aborted
            return self.orders.popleft()

    def post(self, key: Any, value: Any) -> None:
        """Called by ``_serve``'s thread: ``value`` is the result of order ``key``."""
        self.loop.add_callback(self._resolve, key, value)

    def _resolve(self, key: Any, value: Any) -> None:
        self.results[key] = value
        waiter = self.waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def fetch(self, key: Any) -> Any:
        """The result of order ``key``, once ``_serve`` has it (None when stopped)."""
        import asyncio

        if key not in self.results and not self.stopped:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters[key] = waiter
            await waiter
        return self.results.pop(key, None)

    def take(self, key: tuple, timeout: float) -> Any:
        with self.cv:
            if not self.cv.wait_for(lambda: key in self.items or self.stopped, timeout):
                raise GraphadError(
                    f"a replica waited {timeout:g} s for another's part of an execution "
                    "(graphad.distributed.replicas.TIMEOUT)"
                )
            if self.stopped:
                raise _Aborted
            return self.items.pop(key)


def _here(run: str) -> tuple[_Replica, _Mailbox]:
    from distributed import get_worker

    key = (get_worker().address, run)
    return _REPLICAS[key], _MAILBOXES[key]


# -- tasks run on the workers ------------------------------------------------------------------


def _create(run: str, text: str, loss: Any, opt_cfg: dict, state: tuple, n: int, *chunks) -> int:
    from distributed import get_worker

    rep = _Replica(text, loss, opt_cfg, list(chunks[:n]), list(chunks[n:]))
    rep.set_state(state)
    with _LOCK:
        _REPLICAS[(get_worker().address, run)] = rep
    return len(rep.X)


def _drop(run: str, address: str | None = None) -> None:
    """Forget the replicas of ``run`` (on the worker at ``address`` only, if given)."""
    with _LOCK:
        for table in (_REPLICAS, _MAILBOXES):
            for key in [k for k in table if k[1] == run and address in (None, k[0])]:
                if table is _MAILBOXES:
                    table[key].stop()  # its _serve task returns
                del table[key]


def _still_wanted(worker: Any) -> Any:
    """A check, for the task running in this thread, that it has not been cancelled:
    the client released its future, or left the cluster without saying so (its
    process died).  Reads the worker's task state (``distributed.worker``'s thread
    state names the task); where that cannot be read, the task counts as wanted."""
    from distributed.worker import thread_state

    key = getattr(thread_state, "key", None)
    tasks = getattr(getattr(worker, "state", None), "tasks", None)
    if key is None or tasks is None:
        return None

    def wanted() -> bool:
        task = tasks.get(key)
        return task is not None and task.state != "cancelled"

    return wanted


def _serve(run: str, r: int, workers: list, timeout: float) -> int:
    """The replica's one task for the whole ``fit``: it runs the client's orders from
    its mailbox (an epoch's executions, or a copy of its state) and posts each result
    there for the client to fetch, until the run is stopped or dropped, or its task is
    cancelled (the client released it, or died: then it drops its replica itself).  No task is
    scheduled per epoch: an order and its result are one message each, client to
    worker and back.  The task secedes from the worker's thread pool (Dask's way for
    a long-running task), so that other tasks still run on the worker while it waits
    for orders: validation between epochs, a callback's computation.  Returns the
    number of orders it ran."""
    from distributed import get_worker, secede

    rep, box = _here(run)
    worker = get_worker()
    wanted = _still_wanted(worker)
    secede()
    ran = 0
    with _roomy_malloc():
        while True:
            try:
                kind, tag, state, payload = box.next_order(wanted)
            except _Aborted:
                if wanted is not None and not wanted():  # abandoned: nobody will drop it
                    _drop(run, worker.address)
                return ran
            if state is not None:
                rep.set_state(state)
            if kind == "epoch":
                out = _epoch(rep, box, worker, run, tag, r, workers, *payload, timeout)
            else:  # "pull"
                out = {"state": _pull(run)}
            box.post(tag, out)
            ran += 1
            if out.get("aborted"):
                return ran


def _epoch(
    rep: _Replica, box: _Mailbox, worker: Any, run: str, tag: int, r: int, workers: list,
    rows: np.ndarray, counts: np.ndarray, sizes: list, k: int, sync: str, timeout: float,
) -> dict:  # fmt: skip
    """Run executions of ``k`` batches on this replica (``r`` of ``len(workers)``),
    exchanging each execution's part with the others through their mailboxes.
    Returns the batch sums and how many executions completed (fewer when stopped)."""
    peers = [w for j, w in enumerate(workers) if j != r]
    clock = time.perf_counter
    began, cpu = clock(), time.thread_time()
    waited = 0.0
    ends = np.cumsum(counts)
    starts = ends - counts
    total = np.zeros(rep.m)
    count = len(workers)
    done = 0
    rep.marks = []
    aborted = False
    try:
        for first in range(0, len(sizes), k):
            rep.mark(done, total)
            last = min(len(sizes), first + k)
            parts_mine = [rows[starts[b] : ends[b]] for b in range(first, last)]
            mine = rep.execution(parts_mine, list(sizes[first:last]), sync)
            parts: list = [None] * count
            parts[r] = mine
            _send_parts(worker, peers, run, (tag, done, r), mine)
            t0 = clock()
            for j in range(count):
                if j != r:
                    parts[j] = box.take((tag, done, j), timeout)
            waited += clock() - t0
            total = total + rep.combine(parts, sync, count)
            done += 1
        rep.mark(done, total)
    except _Aborted:
        aborted = True
    seconds = (clock() - began, waited, time.thread_time() - cpu)
    # the first replica's state comes back with its sums (end_epoch needs no task)
    state = _pull(run) if r == 0 and not aborted else None
    out = {"sums": total, "done": done, "seconds": seconds, "state": state}
    return {**out, "aborted": aborted}


def _marks(run: str) -> list:
    return _here(run)[0].marks


def _pull(run: str) -> tuple:
    rep = _here(run)[0]
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
    boxes: list = field(default_factory=list)  # the mailboxes (actors), per replica
    actors: list = field(default_factory=list)  # their futures (keep the actors alive)
    sent: Any = None  # the state the replicas hold, as the client last saw it
    arrays: tuple = ()  # the (persisted) x and y, to start replicas again
    tag: int = 0  # orders sent so far: names each one's messages and result
    pulled: Any = None  # the first replica's state after the last epoch
    recoveries: int = 0
    serving: list = field(default_factory=list)  # the replicas' _serve tasks (futures)
    push: Any = None  # a state for the replicas to take with their next order


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


def _assign(sizes: Sequence[int], holders: list[list[str]], workers: list[str]) -> dict:
    """Chunks to replicas: each chunk where it already is, unless that worker has its
    share of the rows already (``n / len(workers)``, within 1/8) and another has less;
    then it moves to the worker with the fewest rows (once, when the replicas start).
    Data persisted on one worker of two is thus trained on by two replicas."""
    if not workers:
        raise GraphadError("fit on Dask: the cluster has no workers")
    share = sum(sizes) / len(workers)
    rows = dict.fromkeys(workers, 0)
    mine: dict[str, list[int]] = {}
    for j in sorted(range(len(sizes)), key=lambda j: -sizes[j]):
        fits = [w for w in holders[j] if w in rows and rows[w] + sizes[j] <= share * 1.125]
        w = min(fits or rows, key=lambda w: (rows[w], w))
        rows[w] += sizes[j]
        mine.setdefault(w, []).append(j)
    return {w: sorted(js) for w, js in mine.items()}


def _on(client: Any, w: str, fn: Any, *args: Any) -> Any:
    return client.submit(fn, *args, workers=[w], allow_other_workers=False, pure=False)


class ReplicaExecutor:
    """Data-parallel training with model replicas resident on the workers (see the module)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # per epoch order to the replicas, per replica: seconds of its executions, of
        # them waiting for the others' parts, and the task thread's CPU seconds
        self.seconds: list[list[tuple[float, float, float]]] = []
        self.recovered: list[int] = []  # per lost worker, the executions its call had done

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
        everyone = sorted(client.scheduler_info()["workers"])
        mine = _assign(X.chunks[0], [sorted(where.get(f.key, ())) for f in xs], everyone)
        run = f"graphad-run-{uuid.uuid4().hex}"
        workers = sorted(mine)
        n = int(X.shape[0])
        owner = np.empty(n, np.int32)
        # a replica's rows travel every epoch: 4 bytes each where that suffices
        local = np.empty(n, np.int32 if n < 2**31 else np.int64)
        made, actors = [], []
        for r, w in enumerate(workers):
            offset = 0
            for j in mine[w]:
                lo, hi = bounds[j], bounds[j + 1]
                owner[lo:hi] = r
                local[lo:hi] = np.arange(offset, offset + hi - lo)
                offset += hi - lo
            chunks = [xs[j] for j in mine[w]] + [ys[j] for j in mine[w]]
            made.append(
                _on(client, w, _create, run, text, loss, state[3], state, len(mine[w]), *chunks)
            )
            actors.append(
                client.submit(_Mailbox, run, workers=[w], allow_other_workers=False, actor=True)
            )
        try:
            client.gather(made)
            boxes = client.gather(actors)
        except BaseException:
            client.run(_drop, run, workers=workers)
            raise
        serving = [_on(client, w, _serve, run, r, workers, TIMEOUT) for r, w in enumerate(workers)]
        return ReplicaSource(
            run, workers, owner, local, n, client, boxes, actors, state, (X, Y), serving=serving
        )

    def _push_if_changed(self, model, source) -> None:
        source.pulled = None
        now = _snapshot(model)
        if _same(now, source.sent):
            return
        source.push = now  # goes with the next order
        source.sent = now

    def _order(self, source, kind: str, payloads: list) -> list:
        """Send each replica (``payloads[r]`` None: not this one) an order; returns the
        futures (actor calls) of their results."""
        source.tag += 1
        tag, state = source.tag, source.push
        source.push = None
        fetches = []
        for box, payload in zip(source.boxes, payloads, strict=True):
            if payload is not None:
                box.order((kind, tag, state, payload))
                fetches.append(box.fetch(tag))
        return fetches

    def run_epoch(self, model, source, batches, k, sync) -> list[float]:
        """All of ``batches``, ``k`` per execution: one order to each replica."""
        self._push_if_changed(model, source)
        sizes = [len(b) for b in batches]
        total = np.zeros(2 + sum(model.metric_sizes()))
        first = 0
        while True:
            out, done = self._executions(model, source, batches[first:], sizes[first:], k, sync)
            total = total + out
            if done is None:
                return [float(v) for v in total]
            first += done * k  # a worker was lost after ``done`` executions of these

    def _executions(self, model, source, batches, sizes, k, sync) -> tuple[Any, int | None]:
        nb = len(batches)
        if nb == 0:
            return 0.0, None
        every = np.concatenate(batches)
        owner, local = source.owner[every], source.local[every]
        starts = np.cumsum(sizes) - sizes  # every batch has rows
        payloads = []
        for r in range(len(source.workers)):
            sel = owner == r
            counts = np.add.reduceat(sel.view(np.int8), starts, dtype=np.int64)
            payloads.append((local[sel], counts, sizes, k, sync))
        res = self._results(model, source, self._order(source, "epoch", payloads))
        if not isinstance(res, list):
            return res  # (sums, done) of a recovery
        self.seconds.append([r["seconds"] for r in res])
        source.pulled = res[0]["state"]
        return res[0]["sums"], None

    def _results(self, model, source, fetches: list) -> Any:
        """The replicas' results of an order; or, when a worker was lost meanwhile, what
        :meth:`_recover` returns."""
        client = source.client
        res = []
        while len(res) < len(fetches):
            try:
                res.append(fetches[len(res)].result(timeout=0.5))
                continue
            except TimeoutError:  # still running: is every replica's worker still there?
                failed = None
            except Exception as exc:  # the actor's worker could not be reached
                failed = exc
            alive = set(client.scheduler_info()["workers"])
            lost = [w for w in source.workers if w not in alive]
            if lost:
                return self._recover(model, source, source.serving, lost)
            errors = [f for f in source.serving if f.status == "error"]
            if errors or failed is not None:
                for r in range(len(source.workers)):  # the others wait for its parts
                    with contextlib.suppress(Exception):
                        source.boxes[r].abort().result()
                if errors:
                    errors[0].result()  # raises the replica's error
                raise failed
        return res

    def _recover(self, model, source, futs, lost) -> tuple[Any, int]:
        """A replica's worker left: stop the others, restart from the last execution
        every survivor completed, on the workers left."""
        client = source.client
        source.recoveries += 1
        if source.recoveries > RECOVERIES:
            raise GraphadError(
                f"fit on Dask: lost a worker {source.recoveries} times "
                "(graphad.distributed.replicas.RECOVERIES)"
            )
        alive = [(r, w) for r, w in enumerate(source.workers) if w not in lost]
        for r, _ in alive:
            with contextlib.suppress(Exception):
                source.boxes[r].abort().result()
        with contextlib.suppress(Exception):  # the survivors' _serve return on the abort
            from distributed import wait

            wait([source.serving[r] for r, _ in alive], timeout=30)
        marks = []
        for _, w in alive:
            with contextlib.suppress(Exception):
                marks.append(_on(client, w, _marks, source.run).result())
        marks = [m for m in marks if m]
        client.cancel([futs[r] for r, w in enumerate(source.workers) if w in lost])
        with contextlib.suppress(Exception):  # (a run on a lost worker waits for a timeout)
            client.run(_drop, source.run, workers=[w for _, w in alive])
        if marks:
            done = min(m[-1][0] for m in marks)
            mark = next(x for m in marks for x in m if x[0] == done)
            _, (weights, slots), iterations, sums = mark
            model.set_weights(weights)
            model.optimizer.set_state(model.trainable_weights, slots, iterations)
        else:  # no survivor: the start of this call, which the client's model holds
            done, sums = 0, 0.0
            model.set_weights(source.sent[0])
            model.optimizer.set_state(model.trainable_weights, source.sent[1], source.sent[2])
        self.recovered.append(done)
        fresh = self.data(model, *source.arrays)
        for name in ("run", "workers", "owner", "local", "boxes", "actors", "sent", "serving"):
            setattr(source, name, getattr(fresh, name))
        source.push = None
        return sums, done

    def train_steps(self, model, source, batches, rng, sync) -> list[float]:
        return self.run_epoch(model, source, batches, len(batches), sync)

    def end_epoch(self, model, source) -> None:
        if source.pulled is not None:
            weights, slots, iterations = source.pulled
        else:  # (no epoch ran since the last push: ask the first replica)
            payloads = [()] + [None] * (len(source.workers) - 1)
            (res,) = self._results(model, source, self._order(source, "pull", payloads))
            weights, slots, iterations = res["state"]
        model.set_weights(weights)
        model.optimizer.set_state(model.trainable_weights, slots, iterations)
        source.sent = _snapshot(model)

    def close(self, source) -> None:
        # a worker gone took its replicas with it (and a run on it would wait for a timeout)
        with contextlib.suppress(Exception):
            alive = set(source.client.scheduler_info()["workers"])
            here = [w for w in source.workers if w in alive]
            source.client.run(_drop, source.run, workers=here)  # (their _serve tasks return)
        with contextlib.suppress(Exception):  # fit returns with the workers' threads free
            from distributed import wait

            wait(source.serving, timeout=10)

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
