"""Callbacks with Keras' names and semantics: History, EarlyStopping, ModelCheckpoint,
ReduceLROnPlateau, LambdaCallback.

``fit`` calls, on each callback in order: ``set_model``, ``set_params``
(``{"verbose", "epochs", "steps"}``), ``on_train_begin``, then per epoch
``on_epoch_begin(epoch)``, ``on_train_batch_begin/end(batch, logs)``,
``on_epoch_end(epoch, logs)`` (``logs`` holds "loss", the metrics and the
"val_" entries), and ``on_train_end``.  Setting ``model.stop_training = True``
ends training after the current epoch.

Examples
--------
>>> import graphad as ga, numpy as np
>>> ga.nn.set_random_seed(0)
>>> X = np.linspace(-1, 1, 32, dtype="float32")[:, None]
>>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(1,))])
>>> model.compile(optimizer=ga.optim.SGD(0.0), loss="mse")   # learns nothing
>>> stop = ga.nn.callbacks.EarlyStopping(monitor="loss", patience=2)
>>> h = model.fit(X, 2 * X, epochs=10, callbacks=[stop], verbose=0)
>>> len(h.epoch), stop.stopped_epoch     # no improvement after epoch 0: stops at epoch 2
(3, 2)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ._common import check_count

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
]


class Callback:
    """Base class: every hook does nothing.

    ``fit`` sets ``model`` (:meth:`set_model`) and ``params`` before training;
    a hook may set ``model.stop_training = True`` to end it after the epoch.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> class StopAfterOne(ga.nn.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         self.model.stop_training = True
    >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(8, 1)
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(1,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> model.fit(x, 2 * x, epochs=5, verbose=0, callbacks=[StopAfterOne()]).epoch
    [0]
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """What ``fit`` returns: ``.history`` maps "loss", "accuracy", "val_loss"... to
    per-epoch lists, ``.epoch`` lists the epochs run, ``.params`` holds
    ``{"verbose", "epochs", "steps"}`` (steps per epoch), as in Keras.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(8, 1)
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(1,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> h = model.fit(x, 2 * x, epochs=3, batch_size=4, verbose=0)
    >>> h.epoch, h.params["steps"], len(h.history["loss"])
    ([0, 1, 2], 2, 3)
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.times: list[float] = []

    def on_train_begin(self, logs=None) -> None:
        self.epoch = []
        self.times = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epoch.append(epoch)
        seconds = (logs or {}).get("_seconds")
        if seconds is not None:
            self.times.append(seconds)
        for k, v in (logs or {}).items():
            if not k.startswith("_"):
                self.history.setdefault(k, []).append(v)

    def plot(self, path: str | os.PathLike | None = None):
        """Draw the loss (and metric) curves per epoch with matplotlib; save to ``path``.

        Returns a :class:`~graphad.nn.history.Plot`, which a notebook displays as a
        PNG image (in a fresh kernel too, no ``%matplotlib inline`` needed) and
        which passes attribute access on to the matplotlib Figure.
        """
        from .history import plot_history

        return plot_history(self, path)

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v[-1]:.4g}" for k, v in self.history.items() if v)
        return f"<graphad.nn.History {len(self.epoch)} epochs: {last}>"


def _mode(mode: str, monitor: str, who: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise GraphadError(f"{who}: mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    # Keras: "max" for accuracies (and auc/precision/recall), "min" otherwise
    name = monitor.removeprefix("val_")
    grows = ("acc", "accuracy", "precision", "recall", "auc")
    return "max" if name in grows or name.endswith("accuracy") else "min"


def _number(value: Any, what: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise GraphadError(f"{what} must be a number, got {value!r}")
    if not float(value) >= minimum:
        raise GraphadError(f"{what} must be >= {minimum}, got {value!r}")
    return float(value)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Keras' rule: an epoch improves when ``current + min_delta < best`` (mode
    "min"; ``current - min_delta > best`` in mode "max"), that is by more than
    ``min_delta``.  ``wait`` counts the
    epochs since the last improvement (it restarts only if the value also beats
    ``baseline``, when given); training stops at the end of the first epoch
    ``> 0`` with ``wait >= patience``.  With ``restore_best_weights`` the
    model gets the weights of the best epoch back when it stops.  Epochs before
    ``start_from_epoch`` are not watched.

    Parameters
    ----------
    monitor : str
        The logged quantity to watch (``"val_loss"``, ``"accuracy"``...).
    min_delta : float
        The smallest change that counts as an improvement.
    patience : int
        Epochs without improvement before stopping.
    verbose : int
        Accepted for Keras compatibility; nothing is printed.
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better ("auto": larger for accuracy-like names).
    baseline : float, optional
        A value the quantity must beat for ``wait`` to restart.
    restore_best_weights : bool
        Give the model the best epoch's weights back when stopping.
    start_from_epoch : int
        Epochs to let pass before watching.

    Examples
    --------
    The rule on a sequence of losses (``fit`` calls these hooks each epoch):

    >>> import types, graphad as ga
    >>> es = ga.nn.callbacks.EarlyStopping(monitor="loss", patience=2)
    >>> model = types.SimpleNamespace(stop_training=False)
    >>> es.set_model(model)
    >>> es.on_train_begin()
    >>> for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.55, 0.4]):
    ...     es.on_epoch_end(epoch, {"loss": loss})
    ...     if model.stop_training:
    ...         break
    >>> epoch   # two epochs without beating 0.5
    3
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ):
        super().__init__()
        self.monitor = str(monitor)
        self.min_delta = abs(_number(min_delta, "EarlyStopping: min_delta", -math.inf))
        self.patience = check_count(patience, "EarlyStopping: patience", minimum=0)
        self.verbose = verbose
        self.mode = _mode(mode, self.monitor, "EarlyStopping")
        self.baseline = None if baseline is None else float(baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = check_count(start_from_epoch, "EarlyStopping: start_from_epoch", 0)
        self.on_train_begin()

    def _improves(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None) -> None:
        current = (logs or {}).get(self.monitor)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (``keras.callbacks.ReduceLROnPlateau``).

    Keras' rule: an epoch improves when ``current < best - min_delta`` (mode
    "min"); otherwise, outside the ``cooldown`` epochs after a reduction,
    ``wait`` grows, and at ``wait >= patience`` the rate becomes
    ``max(lr * factor, min_lr)`` (when ``lr > min_lr``) and ``wait`` restarts.
    ``logs["learning_rate"]`` records the rate of each epoch.

    Parameters
    ----------
    monitor : str
        The logged quantity to watch.
    factor : float
        The rate is multiplied by it (< 1).
    patience : int
        Epochs without improvement before a reduction.
    verbose : int
        Accepted for Keras compatibility; nothing is printed.
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better ("auto": larger for accuracy-like names).
    min_delta : float
        The smallest change that counts as an improvement.
    cooldown : int
        Epochs after a reduction during which ``wait`` stays 0.
    min_lr : float
        The rate never goes below it.

    Raises
    ------
    GraphadError
        If ``factor`` is not a number < 1, ``patience`` or ``cooldown`` is not an int >=
        0, ``mode`` is unknown, or ``min_delta`` or ``min_lr`` is not a number; and, at
        the end of an epoch, if the optimizer's learning rate is a schedule, not a fixed
        number.

    Examples
    --------
    >>> import types, graphad as ga
    >>> opt = ga.optim.SGD(learning_rate=0.1)
    >>> cb = ga.nn.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1)
    >>> cb.set_model(types.SimpleNamespace(optimizer=opt))
    >>> cb.on_train_begin()
    >>> rates = []
    >>> for epoch, loss in enumerate([1.0, 1.0, 1.0, 0.5]):
    ...     logs = {"loss": loss}
    ...     cb.on_epoch_end(epoch, logs)
    ...     rates.append(logs["learning_rate"])
    >>> rates, opt.learning_rate
    ([0.1, 0.1, 0.05, 0.025], 0.025)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ):
        super().__init__()
        self.monitor = str(monitor)
        self.factor = _number(factor, "ReduceLROnPlateau: factor")
        if not self.factor < 1.0:
            raise GraphadError(f"ReduceLROnPlateau: factor must be < 1, got {factor}")
        self.patience = check_count(patience, "ReduceLROnPlateau: patience", minimum=0)
        self.verbose = verbose
        self.mode = _mode(mode, self.monitor, "ReduceLROnPlateau")
        self.min_delta = _number(min_delta, "ReduceLROnPlateau: min_delta")
        self.cooldown = check_count(cooldown, "ReduceLROnPlateau: cooldown", minimum=0)
        self.min_lr = _number(min_lr, "ReduceLROnPlateau: min_lr")
        self.on_train_begin()

    def on_train_begin(self, logs=None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def _improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None) -> None:
        """Record the learning rate in ``logs`` and lower it after ``patience`` epochs
        without improvement (then wait ``cooldown`` epochs).

        Raises
        ------
        GraphadError
            If the optimizer's learning rate is a schedule (it has no fixed value to
            lower).
        """
        opt = self.model.optimizer
        if callable(opt.learning_rate):
            raise GraphadError("ReduceLROnPlateau needs a fixed learning rate, not a schedule")
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(opt.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(opt.learning_rate)
                if old > self.min_lr:
                    opt.learning_rate = max(old * self.factor, self.min_lr)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([^{}]*))?\}")
_SPEC = re.compile(r"[<>^=]?[+\- ]?0?\d{0,3}(\.\d{1,3})?[dfegs%]?\Z")


def _fill(template: str, values: dict[str, Any]) -> str:
    """``template`` with ``{name}`` / ``{name:.4f}`` fields filled from ``values``: names
    and format specs only (no attribute or item access, unlike ``str.format``)."""

    def one(m: re.Match) -> str:
        name, spec = m.group(1), m.group(2) or ""
        if name not in values:
            raise GraphadError(f"ModelCheckpoint: the file path names {name!r}, not in the logs")
        if not _SPEC.match(spec):
            raise GraphadError(f"ModelCheckpoint: unsupported format {spec!r} for {name!r}")
        try:
            return format(values[name], spec)
        except (TypeError, ValueError) as exc:
            raise GraphadError(
                f"ModelCheckpoint: cannot format {name!r} as {spec!r}: {exc}"
            ) from None

    return _FIELD.sub(one, template)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of each epoch.

    ``filepath`` may hold fields such as ``"m-{epoch:02d}-{val_loss:.3f}.npz"``
    (epoch counted from 1, as Keras).  With ``save_best_only`` a file is
    written only when ``monitor`` improves on the best so far.

    Parameters
    ----------
    filepath : str or os.PathLike
        Where to save (a format string of ``epoch`` and the logged values).
    monitor : str
        The logged quantity ``save_best_only`` watches.
    verbose : int
        Accepted for Keras compatibility; nothing is printed.
    save_best_only : bool
        Save only when ``monitor`` improves.
    save_weights_only : bool
        Save the weights (``save_weights``), not the whole model (``save``).
    mode : {"auto", "min", "max"}
        Whether smaller or larger is better ("auto": larger for accuracy-like names).

    Examples
    --------
    >>> import os, tempfile, numpy as np, graphad as ga
    >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(8, 1)
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(1,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> folder = tempfile.mkdtemp()
    >>> save = ga.nn.callbacks.ModelCheckpoint(
    ...     os.path.join(folder, "m-{epoch:02d}.npz"), save_weights_only=True)
    >>> _ = model.fit(x, 2 * x, epochs=2, verbose=0, callbacks=[save])
    >>> sorted(os.listdir(folder))
    ['m-01.npz', 'm-02.npz']
    """

    def __init__(
        self,
        filepath: str | os.PathLike,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
    ):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = str(monitor)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.mode = _mode(mode, self.monitor, "ModelCheckpoint")
        self.best = math.inf if self.mode == "min" else -math.inf
        _fill(self.filepath, _AnyValue())  # a bad template fails here, not after an epoch

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = {k: v for k, v in (logs or {}).items() if not k.startswith("_")}
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                return
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            self.best = current
        path = _fill(self.filepath, {**logs, "epoch": epoch + 1})
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class _AnyValue(dict):
    """Stands for the logs when a template is checked: every name has the value 0."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> int:
        return 0


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Takes ``on_epoch_begin``, ``on_epoch_end``, ``on_train_batch_begin``,
    ``on_train_batch_end`` (``(index, logs)``) and ``on_train_begin``,
    ``on_train_end`` (``(logs)``); also ``on_batch_begin``/``on_batch_end`` as
    Keras' older names of the batch hooks.

    Parameters
    ----------
    **hooks : callable
        The hooks by name; those not given do nothing.

    Raises
    ------
    GraphadError
        For a name that is not a hook, or a hook that is not callable.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> x = np.linspace(-1, 1, 8, dtype="float32").reshape(8, 1)
    >>> model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(1,))])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> seen = []
    >>> log = ga.nn.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    >>> _ = model.fit(x, 2 * x, epochs=3, verbose=0, callbacks=[log])
    >>> seen
    [0, 1, 2]
    """

    _HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
              "on_train_begin", "on_train_end")  # fmt: skip

    def __init__(self, **hooks: Callable | None):
        super().__init__()
        for old, new in (
            ("on_batch_begin", "on_train_batch_begin"),
            ("on_batch_end", "on_train_batch_end"),
        ):
            if old in hooks:
                hooks[new] = hooks.pop(old)
        for name, fn in hooks.items():
            if name not in self._HOOKS:
                raise GraphadError(
                    f"LambdaCallback: unknown hook {name!r}; use {list(self._HOOKS)}"
                )
            if fn is not None and not callable(fn):
                raise GraphadError(f"LambdaCallback: {name} must be callable")
            if fn is not None:
                setattr(self, name, fn)
