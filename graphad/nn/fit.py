"""The training loop of ``Sequential.fit`` (and ``evaluate``, ``predict``), the executor
protocol it runs its steps through, and its progress output.

The loop (epochs, shuffling, validation, callbacks, history, progress) is the
same wherever the computation runs; an *executor* runs the steps.
:class:`LocalExecutor` runs them in this process.  Other packages provide more
(``graphad.distributed`` runs them on a Dask cluster) and register a factory
with :func:`register_executor`, so that this package never imports them: a
factory is asked, in registration order, whether it takes the data or the
``executor=`` argument of a call (Dask arrays, a Dask ``Client``).
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core import plugins
from ..core.arrays import is_dask
from ..core.errors import GraphadError
from ._common import FLOATX, check_count, check_fraction, check_seed, generator
from .callbacks import Callback, History

__all__ = ["Executor", "LocalExecutor", "evaluate", "fit", "predict", "register_executor"]


@runtime_checkable
class Executor(Protocol):
    """Where the steps of ``fit``, ``evaluate`` and ``predict`` run.

    ``data`` checks the arrays against the model and returns a batch source
    with the number of samples as ``.n``.  ``train_step`` runs one training
    step on the rows ``rows`` of the source (the gradient of the batch's mean
    weighted loss plus the penalty, and the optimizer's update of the model's
    weights) and returns the batch's sums (``[loss_sum, penalty, *metric
    sums]``, see :meth:`Sequential.step_function`).  The update is the
    executor's to apply, because in one process it is fused into the same
    compiled function as the gradient; an executor that computes gradients
    elsewhere applies them with ``model.optimizer.apply_gradients``.
    ``evaluate`` returns the sums over a whole data set (the penalty times the
    number of samples), ``predict`` the model's outputs.

    Optional methods (looked up with ``getattr``): ``train_steps(model, source,
    batches, rng, sync)`` runs ``len(batches)`` steps in one call (the
    model's ``steps_per_execution``) and returns the sum of their sums, each
    step's penalty counted once per row (times the step's number of rows);
    ``end_epoch(model, source)`` brings the model's weights and optimizer
    state up to date before validation and the epoch's callbacks;
    ``close(source)`` releases what ``data`` set up, when ``fit`` ends;
    ``submit_steps`` (as ``train_steps``) returns at once an object whose
    ``result()`` gives the sums, so that the next call can be queued while
    this one runs (used when no callback has batch hooks);
    ``run_epoch(model, source, batches, k, sync)``, optional, runs all the
    epoch's batches, ``k`` per execution, and returns the sum of their sums
    (preferred over the others when no callback has batch hooks).

    An object with these four methods is an executor (``isinstance(obj,
    Executor)`` checks them); pass it as ``executor=`` to ``fit``, ``evaluate``
    or ``predict``, or register a factory with :func:`register_executor`.

    Examples
    --------
    An executor that counts the training steps it runs, and runs them in this
    process as :class:`LocalExecutor` does:

    >>> import numpy as np, graphad as ga
    >>> from graphad.nn import Executor, LocalExecutor
    >>> class Counting(LocalExecutor):
    ...     steps = 0
    ...     def train_step(self, model, source, rows, rng):
    ...         self.steps += 1
    ...         return super().train_step(model, source, rows, rng)
    >>> isinstance(Counting(), Executor), isinstance(object(), Executor)
    (True, False)
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(2,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> counting = Counting()
    >>> x, y = np.ones((8, 2), "float32"), np.ones(8, "float32")
    >>> _ = model.fit(x, y, batch_size=4, epochs=2, verbose=0, executor=counting)
    >>> counting.steps  # 2 batches of 4 samples, 2 epochs
    4
    """

    def data(self, model: Any, x: Any, y: Any, class_weight: dict | None = None) -> Any: ...

    def train_step(
        self, model: Any, source: Any, rows: np.ndarray, rng: np.random.Generator
    ) -> list[float]: ...

    def evaluate(self, model: Any, x: Any, y: Any, batch_size: int) -> tuple[list[float], int]: ...

    def predict(self, model: Any, x: Any, batch_size: int) -> Any: ...


@dataclass
class ArraySource:
    """In-memory training data: samples, targets (as the loss takes them), sample weights."""

    X: np.ndarray
    Y: np.ndarray
    SW: np.ndarray

    @property
    def n(self) -> int:
        return len(self.X)


def sample_weights(model: Any, Y: np.ndarray, class_weight: dict | None) -> np.ndarray:
    """Each sample's weight from ``class_weight`` (its class: the one-hot target's index,
    or the 0/1 target of a one-unit output); ones without."""
    if class_weight is None:
        return np.ones(len(Y), FLOATX)
    if not isinstance(class_weight, dict):
        raise GraphadError(f"class_weight must be a dict {{class: weight}}, got {class_weight!r}")
    classes = Y.shape[-1] if Y.ndim == 2 and Y.shape[-1] > 1 else 2
    table = np.ones(classes, np.float64)
    for c, w in class_weight.items():
        if isinstance(c, bool) or not isinstance(c, int | np.integer) or not 0 <= c < classes:
            raise GraphadError(f"class_weight: class {c!r} is not in [0, {classes - 1}]")
        if isinstance(w, bool) or not isinstance(w, int | float | np.number) or not w >= 0:
            raise GraphadError(f"class_weight: the weight of class {c} must be >= 0, got {w!r}")
        table[int(c)] = float(w)
    if Y.ndim == 2 and Y.shape[-1] > 1:
        labels = np.argmax(Y, axis=-1)
    else:
        labels = (Y.reshape(len(Y), -1)[:, 0] > 0.5).astype(np.int64)
    return table[labels].astype(FLOATX)


def train_call(
    model: Any, xb: np.ndarray, yb: np.ndarray, sw: np.ndarray, rng: Any, inv_n: float
) -> list[float]:
    """One optimizer step of ``model`` on a batch through its compiled ``"train"``
    function: the gradient of ``inv_n * sum(sw * loss) + penalty``, the update applied
    to the model's weights and optimizer.  Returns the batch's sums (the penalty once).

    ``inv_n`` is 1 / the number of rows that count: a batch padded with rows of sample
    weight 0 to a size already compiled steps as the batch without them.  ``rng``
    draws the noise of random layers (None when the model has none)."""
    ws = model.weights
    train = model.trainable_weights
    fixed = model.non_trainable_weights
    opt = model.optimizer
    noise = [rng.random(s, dtype=np.float32) for s in model.noise_shapes(xb.shape)]
    fn = model.step_function("train", xb.shape, yb.shape)
    dtype = np.dtype(np.float32) if all(w.dtype == FLOATX for w in train) else np.dtype(np.float64)
    outs = fn(
        xb, yb, sw, *noise, *[w._value for w in ws],
        np.float32(inv_n), np.float32(1.0),
        *opt.state_values(train), *opt.hyper_values(dtype),
    )  # fmt: skip
    m = 2 + sum(model.metric_sizes())
    n_slots = len(outs) - m - len(train) - len(fixed)
    opt.finish_step(
        train, outs[m : m + len(train)], outs[m + len(train) : m + len(train) + n_slots]
    )
    for w, v in zip(fixed, outs[len(outs) - len(fixed) :], strict=True):
        w._replace(v)
    return [float(v) for v in outs[:m]]


class LocalExecutor:
    """Runs every step in this process: one compiled function per batch shape.

    The executor ``fit``, ``evaluate`` and ``predict`` use for in-memory data
    (NumPy arrays) when no other is given or registered.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> from graphad.nn import LocalExecutor
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(2,), kernel_initializer="ones")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x = np.ones((3, 2), "float32")
    >>> model.predict(x, verbose=0, executor=LocalExecutor()).ravel().tolist()
    [2.0, 2.0, 2.0]
    >>> sums, n = LocalExecutor().evaluate(model, x, np.full(3, 4.0, "float32"), batch_size=2)
    >>> sums[0] / n  # the mean squared error: (2 - 4) ** 2
    4.0
    """

    def data(self, model, x, y, class_weight=None) -> ArraySource:
        X = model.prepare_x(x)
        Y = model.prepare_y(y, len(X))
        # arrays unpickled from a buffer (a Dask result) can be misaligned, and every
        # batch's ``take`` from a misaligned array is about 20 times slower: copy once
        X, Y = (a if a.flags.aligned else a.copy() for a in (X, Y))
        return ArraySource(X, Y, sample_weights(model, Y, class_weight))

    def train_step(self, model, source, rows, rng) -> list[float]:
        if len(rows) == source.n and np.array_equal(rows, np.arange(source.n)):
            xb, yb, sw = source.X, source.Y, source.SW
        else:
            xb, yb, sw = (a.take(rows, axis=0) for a in (source.X, source.Y, source.SW))
        return train_call(model, xb, yb, sw, rng, 1.0 / len(xb))

    def train_steps(self, model, source, batches, rng, sync) -> list[float]:
        """Several steps in one call: one process holds one replica, so ``sync`` changes
        nothing here."""
        total = None
        for rows in batches:
            res = self.train_step(model, source, rows, rng)
            res[1] *= len(rows)
            total = res if total is None else [a + b for a, b in zip(total, res, strict=True)]
        return total

    def evaluate(self, model, x, y, batch_size) -> tuple[list[float], int]:
        """The sums of the loss, the penalty and the metrics over ``x`` and ``y``, in
        batches of ``batch_size``, and the number of samples.

        Raises
        ------
        GraphadError
            If ``x`` has no samples (or ``x`` and ``y`` do not fit the model).
        """
        X = model.prepare_x(x)
        Y = model.prepare_y(y, len(X))
        n = len(X)
        if n == 0:
            raise GraphadError("evaluate: no samples")
        ws = [w._value for w in model.weights]
        totals: list[float] | None = None
        for lo in range(0, n, batch_size):
            xb, yb = X[lo : lo + batch_size], Y[lo : lo + batch_size]
            res = model.step_function("evaluate", xb.shape, yb.shape)(
                xb, yb, np.ones(len(xb), FLOATX), *ws
            )
            part = [float(v) for v in res]
            part[1] *= len(xb)
            totals = part if totals is None else [a + b for a, b in zip(totals, part, strict=True)]
        return totals, n

    def predict(self, model, x, batch_size) -> np.ndarray:
        X = model.prepare_x(x)
        ws = [w._value for w in model.weights]
        parts = []
        for lo in range(0, len(X), batch_size):
            xb = X[lo : lo + batch_size]
            parts.append(np.asarray(model.step_function("predict", xb.shape)(xb, *ws)[0]))
        if not parts:
            return np.zeros((0, *model.layers[-1].output_shape[1:]), FLOATX)
        return np.concatenate(parts)


# -- finding the executor -------------------------------------------------------------------------


def register_executor(name: str, factory: Callable[[Any, Any, Any], Any]) -> None:
    """Let ``fit``/``evaluate``/``predict`` run on another executor.

    ``factory(x, y, executor)`` returns an executor for this call's data and
    ``executor=`` argument, or None when it does not take them.  Registering a
    name again replaces its factory.

    Parameters
    ----------
    name : str
        The factory's name (``graphad.distributed`` registers ``"dask"``).
    factory : callable
        ``factory(x, y, executor) -> Executor or None``, asked in registration
        order for each call of ``fit``, ``evaluate`` and ``predict`` whose
        ``executor=`` is not an executor itself.

    Examples
    --------
    A factory that takes calls whose ``executor=`` is a marker object of its own
    (and declines everything else, so other calls are unchanged):

    >>> import numpy as np, graphad as ga
    >>> from graphad.nn import LocalExecutor, register_executor
    >>> class InProcess:  # the marker a user passes as executor=
    ...     pass
    >>> def factory(x, y, executor, marker=InProcess, make=LocalExecutor):
    ...     # (the defaults keep the names: the factory stays registered after this code)
    ...     return make() if isinstance(executor, marker) else None
    >>> register_executor("in-process-example", factory)
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(2,), kernel_initializer="ones")])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> x, y = np.ones((4, 2), "float32"), np.full(4, 3.0, "float32")
    >>> float(model.evaluate(x, y, verbose=0, executor=InProcess()))
    1.0
    """
    plugins.provide("executor", name, factory)


def find_executor(executor: Any, x: Any, y: Any = None) -> Any:
    """The executor of one call: ``executor`` itself when it is one, else the first
    registered factory's answer, else :class:`LocalExecutor` for in-memory data."""
    if isinstance(executor, Executor):
        return executor
    for factory in plugins.providers("executor"):
        found = factory(x, y, executor)
        if found is not None:
            return found
    if executor is not None:
        raise GraphadError(
            f"executor={executor!r} is not an executor (an object with data, train_step, "
            "evaluate and predict); for Dask, import graphad.distributed first"
        )
    if is_dask(x) or is_dask(y):
        raise GraphadError(
            "Dask arrays need graphad.distributed: `import graphad.distributed` (or "
            "`ga.distributed`) before fit, evaluate or predict"
        )
    return LocalExecutor()


# -- progress -----------------------------------------------------------------------------------


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def _progress(verbose: int, steps: int, epoch: int, epochs: int):
    """A tqdm bar while an epoch runs, for verbose=1 on a terminal; None otherwise.

    In a notebook no bar is made: a widget would be left behind as "Loading
    widget..." in a saved notebook; the per-epoch lines are printed instead."""
    if verbose != 1 or _in_notebook() or not sys.stdout.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=steps,
        desc=f"Epoch {epoch + 1}/{epochs}",
        unit="batch",
        file=sys.stdout,
        leave=False,
        dynamic_ncols=True,
    )


def epoch_lines(
    epoch: int, epochs: int, steps: int, seconds: float, logs: dict, width: int | None = None
) -> list[str]:
    """The epoch's summary, wrapped between metrics to ``width`` columns (the
    terminal's, 80 when unknown) so that nothing is cut off."""
    if width is None:
        width = shutil.get_terminal_size((80, 24)).columns
    width = max(40, width)
    head = (
        f"Epoch {epoch + 1}/{epochs} - {steps}/{steps} - {seconds:.2f}s - "
        f"{1000 * seconds / max(steps, 1):.1f}ms/step"
    )
    lines, line = [], head
    for k, v in logs.items():
        item = f"{k}: {v:.4f}"
        if len(line) + 3 + len(item) > width:
            lines.append(line)
            line = "    " + item
        else:
            line += " - " + item
    lines.append(line)
    return lines


# -- the loop -----------------------------------------------------------------------------------


def _split(x: Any, y: Any, fraction: float) -> tuple:
    """Keras' validation_split: the last ``fraction`` of the samples, before shuffling."""
    n = len(x) if not is_dask(x) else x.shape[0]
    at = math.ceil(n * (1.0 - fraction))
    if at == 0 or at == n:
        raise GraphadError(
            f"validation_split={fraction} leaves {at} training and {n - at} validation "
            f"samples of {n}; both need at least one"
        )
    if not is_dask(x):
        x, y = np.asarray(x), np.asarray(y)
    return (x[:at], y[:at]), (x[at:], y[at:])


def _check_callbacks(callbacks: Sequence[Any] | None) -> list[Callback]:
    cbs = list(callbacks or [])
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise GraphadError(
                f"callbacks must be ga.nn.callbacks.Callback objects, got {type(cb).__name__}"
            )
    return cbs


def fit(
    model: Any,
    x: Any,
    y: Any,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    verbose: int = 1,
    callbacks: Sequence[Any] | None = None,
    validation_split: float = 0.0,
    validation_data: tuple | None = None,
    shuffle: bool = True,
    class_weight: dict | None = None,
    initial_epoch: int = 0,
    seed: int | None = None,
    executor: Any = None,
    sync: str = "gradients",
) -> History:
    """The work of :meth:`Sequential.fit` (see there)."""
    model.need_compiled()
    if sync not in ("gradients", "weights"):
        raise GraphadError(f"fit: sync must be 'gradients' or 'weights', got {sync!r}")
    epochs = check_count(epochs, "fit: epochs", minimum=0)
    initial_epoch = check_count(initial_epoch, "fit: initial_epoch", minimum=0)
    batch_size = check_count(32 if batch_size is None else batch_size, "fit: batch_size")
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise GraphadError(f"fit: verbose must be 0, 1 or 2, got {verbose!r}")
    if seed is not None:
        seed = check_seed(seed, "fit: seed")
    cbs = _check_callbacks(callbacks)
    validation_split = check_fraction(validation_split, "fit: validation_split")
    if validation_data is not None:
        if not isinstance(validation_data, tuple | list) or len(validation_data) != 2:
            raise GraphadError("fit: validation_data must be a pair (x_val, y_val)")
    elif validation_split > 0:
        (x, y), validation_data = _split(x, y, validation_split)
    ex = find_executor(executor, x, y)
    source = ex.data(model, x, y, class_weight)
    try:
        return _fit_loop(
            model, ex, source, cbs, epochs, initial_epoch, batch_size, verbose,
            validation_data, shuffle, seed, executor, sync,
        )  # fmt: skip
    finally:
        close = getattr(ex, "close", None)
        if close is not None:
            close(source)


def _fit_loop(
    model, ex, source, cbs, epochs, initial_epoch, batch_size, verbose, validation_data,
    shuffle, seed, executor, sync,
) -> History:  # fmt: skip
    n = source.n
    if n == 0:
        raise GraphadError("fit: no samples")
    steps = -(-n // batch_size)
    rng = generator(seed)
    history = History()
    cbs.append(history)
    model.stop_training = False
    for cb in cbs:
        cb.set_model(model)
        cb.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
    for cb in cbs:
        cb.on_train_begin({})
    for epoch in range(initial_epoch, epochs):
        for cb in cbs:
            cb.on_epoch_begin(epoch, {})
        start = time.perf_counter()
        logs = _run_epoch(
            model, ex, source, cbs, rng, epoch, epochs, steps, batch_size, verbose, shuffle, sync
        )
        end_epoch = getattr(ex, "end_epoch", None)
        if end_epoch is not None:
            end_epoch(model, source)
        if validation_data is not None:
            vals = evaluate(model, *validation_data, batch_size=batch_size, executor=executor)
            logs.update({f"val_{k}": v for k, v in vals.items()})
        seconds = time.perf_counter() - start
        history.times.append(seconds)
        for cb in cbs:
            cb.on_epoch_end(epoch, logs)
        if verbose:
            for line in epoch_lines(epoch, epochs, steps, seconds, logs):
                print(line, flush=True)
        if model.stop_training:
            break
    for cb in cbs:
        cb.on_train_end({})
    return history


def _run_epoch(
    model, ex, source, cbs, rng, epoch, epochs, steps, batch_size, verbose, shuffle, sync
):
    n = source.n
    perm = rng.permutation(n) if shuffle else None
    totals: list[float] | None = None
    bar = _progress(verbose, steps, epoch, epochs)
    batch_hooks = [cb for cb in cbs if _overrides(cb, "on_train_batch_begin", "on_train_batch_end")]
    k = getattr(model, "steps_per_execution", 1)
    many = getattr(ex, "train_steps", None)
    # an executor that can start the next execution before the last one's sums are back
    # does so when no batch hook needs to see each execution end before the next begins
    submit = None if batch_hooks else getattr(ex, "submit_steps", None)

    def record(res: list, first: int, last: int) -> None:
        nonlocal totals
        totals = res if totals is None else [a + b for a, b in zip(totals, res, strict=True)]
        hi = min(n, (last + 1) * batch_size)
        if batch_hooks or (bar is not None and (first // k % 8 == 0 or last == steps - 1)):
            running = model.results(totals, hi)
            for cb in batch_hooks:
                cb.on_train_batch_end(last, dict(running))
            if bar is not None:
                bar.set_postfix({m: f"{v:.4f}" for m, v in running.items()}, refresh=False)
        if bar is not None:
            bar.update(last + 1 - first)

    whole = None if batch_hooks else getattr(ex, "run_epoch", None)
    pending = None
    try:
        if whole is not None:
            # the executor runs the epoch's executions itself (a task per replica)
            batches = [
                np.arange(i * batch_size, min(n, (i + 1) * batch_size))
                if perm is None
                else perm[i * batch_size : (i + 1) * batch_size]
                for i in range(steps)
            ]
            record(list(whole(model, source, batches, k, sync)), 0, steps - 1)
            return model.results(totals, n)
        for first in range(0, steps, k):
            last = min(steps, first + k) - 1
            batches = []
            for i in range(first, last + 1):
                lo, hi = i * batch_size, min(n, (i + 1) * batch_size)
                batches.append(np.arange(lo, hi) if perm is None else perm[lo:hi])
            if submit is not None:
                handle = submit(model, source, batches, rng, sync)
                if pending is not None:
                    record(list(pending[0].result()), pending[1], pending[2])
                pending = (handle, first, last)
                continue
            # as in Keras, the batch hooks see one call per execution (the index of its last step)
            for cb in batch_hooks:
                cb.on_train_batch_begin(first, {})
            if many is not None:
                record(list(many(model, source, batches, rng, sync)), first, last)
            else:
                res = None
                for rows in batches:
                    one = list(ex.train_step(model, source, rows, rng))
                    one[1] *= len(rows)
                    res = one if res is None else [a + b for a, b in zip(res, one, strict=True)]
                record(res, first, last)
        if pending is not None:
            record(list(pending[0].result()), pending[1], pending[2])
    finally:
        if bar is not None:
            bar.close()
    return model.results(totals, n)


def _overrides(cb: Callback, *names: str) -> bool:
    return any(
        getattr(type(cb), name) is not getattr(Callback, name) or name in vars(cb) for name in names
    )


def evaluate(model: Any, x: Any, y: Any, *, batch_size: int = 32, executor: Any = None) -> dict:
    """The work of :meth:`Sequential.evaluate`: ``{"loss": ..., metric: ...}``."""
    model.need_compiled()
    batch_size = check_count(32 if batch_size is None else batch_size, "evaluate: batch_size")
    totals, n = find_executor(executor, x, y).evaluate(model, x, y, batch_size)
    return model.results(totals, n)


def predict(model: Any, x: Any, *, batch_size: int = 32, executor: Any = None) -> Any:
    """The work of :meth:`Sequential.predict`."""
    batch_size = check_count(32 if batch_size is None else batch_size, "predict: batch_size")
    return find_executor(executor, x).predict(model, x, batch_size)


__all__ += ["ArraySource", "epoch_lines", "find_executor", "sample_weights", "train_call"]
