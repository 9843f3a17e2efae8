"""The :class:`Sequential` model: structure, compile, the one step builder, and the
Keras methods that delegate to :mod:`.fit` (training loop) and :mod:`.io` (files).

Training builds one graph per batch shape: the forward pass, the loss, its
gradient (``ga.vjp``) and the optimizer's update, with static-shape float32
inputs, compiled by :func:`graphad.compile` into one straight-line NumPy
function that is then called once per batch (the last, partial batch is a
second shape).  Nothing is rebuilt per step.  :meth:`Sequential.step_function`
is the only place that builds these graphs; the executors that run them
(in-process, or on a Dask cluster) call it.

One module, though past 600 lines: almost all of it is the one class whose
public surface is Keras's (``compile``, ``fit``, ``evaluate``, ``predict``,
``summary``, ``get_weights`` ... about forty methods, each documented with an
example).  The work behind those methods already lives elsewhere (training in
:mod:`.fit`, files in :mod:`.io`, layers in :mod:`.layers`); what is left here
is the documented surface and the step builder, which belong together.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from .. import ops as _ops
from ..core.errors import GraphadError, ShapeError
from ..core.expr import symbol
from ..core.graph import Graph
from ..eager.tensor import Variable
from ..optim import Optimizer
from ..optim import get as _get_optimizer
from . import losses as _losses
from . import metrics as _metrics
from ._common import FLOATX, check_count, generator
from .layers import Context, Input, Layer, _check_weight_arrays

__all__ = ["Sequential"]

StepKind = Literal["predict", "evaluate", "grads", "train"]


class Sequential:
    """A stack of layers (``keras.Sequential``): compile, fit, evaluate, predict, save.

    Parameters
    ----------
    layers : sequence of Layer, optional
        The layers, first to last (more can be added with ``add``).
    name : str
        The model's name.

    Examples
    --------
    >>> import graphad as ga
    >>> model = ga.nn.Sequential([ga.nn.Dense(512, activation="relu", input_shape=(784,)),
    ...                          ga.nn.Dense(10, activation="softmax")])
    >>> model.count_params()
    407050
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str = "sequential"):
        self.name = name
        self.layers: list[Layer] = []
        self.optimizer: Optimizer | None = None
        self.loss: Any = None
        self.metrics: list[str] = []
        self.stop_training = False
        self.steps_per_execution = 1
        self._fns: dict[tuple, Any] = {}
        self._metric_sizes: list[int] | None = None
        self._input_shape: tuple | None = None
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append ``layer`` (built at once when the input shape is known).

        Raises
        ------
        GraphadError
            If ``layer`` is not a layer, or is an ``Input`` that is not the first.
        ShapeError
            If building it for the model's input shape fails.
        """
        if not isinstance(layer, Layer):
            raise GraphadError(f"Sequential.add expects a layer, got {type(layer).__name__}")
        if isinstance(layer, Input):
            if self.layers:
                raise GraphadError("Input must be the first layer")
            self._input_shape = layer.output_shape
            return
        if layer.name is None:
            taken = {ly.name for ly in self.layers}
            base, k = layer.kind, 0
            layer.name = base
            while layer.name in taken:
                k += 1
                layer.name = f"{base}_{k}"
        self.layers.append(layer)
        if self._input_shape is None and layer.built:
            self._input_shape = layer.input_shape
        self._fns.clear()
        if self._input_shape is not None:
            self.build(self._input_shape)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Create the weights for inputs of shape ``(None, features...)``.

        Raises
        ------
        ShapeError
            If a layer already built was built for other inputs, or a layer cannot
            take the shape it is given.
        """
        shape = tuple(input_shape)
        self._input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            elif layer.input_shape[1:] != shape[1:]:
                raise ShapeError(
                    f"layer {layer.name!r} was built for inputs {layer.input_shape}, not {shape}"
                )
            shape = layer.output_shape

    @property
    def input_shape(self) -> tuple | None:
        return self._input_shape

    @property
    def output_shape(self) -> tuple | None:
        return self.layers[-1].output_shape if self.built else None

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def weights(self) -> list[Variable]:
        """Every weight, layer by layer (each layer's trainable ones first)."""
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    trainable_variables = trainable_weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight's value, in the order of :attr:`weights`."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, arrays: Sequence[Any]) -> None:
        """Set every weight; all shapes and dtypes are checked first, so a failed call
        changes nothing."""
        ws = self.weights
        checked = _check_weight_arrays(ws, arrays, "set_weights")
        for w, a in zip(ws, checked, strict=True):
            w.assign(a)

    def count_params(self) -> int:
        return sum(int(np.prod(w.shape)) for w in self.weights)

    def ensure_built(self, X: Any = None) -> None:
        """Build the model for samples like ``X`` if it is not built; error without ``X``.

        Raises
        ------
        GraphadError
            If the model has no layers, or is not built and no ``X`` is given.
        """
        if not self.layers:
            raise GraphadError("the model has no layers")
        if not self.built:
            if X is None:
                raise GraphadError(
                    "the model is not built yet: give the first layer "
                    "input_shape=..., start with ga.nn.Input(shape=...), or fit it"
                )
            self.build((None, *np.shape(X)[1:]))

    _need_built = ensure_built

    def forward(self, x: Any, params: Sequence[Any], ctx: Context | None = None) -> tuple:
        """``(output, last pre-activation)`` of the model for ``x`` with weight values ``params``
        (in the order of :attr:`weights`)."""
        ctx = ctx if ctx is not None else Context()
        pre = None
        k = 0
        for layer in self.layers:
            n = len(layer.weights)
            x, pre = layer.forward(x, params[k : k + n], ctx)
            k += n
        return x, pre

    def penalty(self, params: Sequence[Any]) -> Any:
        """The sum of the layers' regularization terms (None when no layer has one)."""
        terms = []
        k = 0
        for layer in self.layers:
            n = len(layer.weights)
            term = layer.penalty(params[k : k + n])
            if term is not None:
                terms.append(term)
            k += n
        return sum(terms[1:], terms[0]) if terms else None

    def noise_shapes(self, x_shape: tuple) -> list[tuple[int, ...]]:
        """The uniform random arrays a training step on a batch of ``x_shape`` takes."""
        shapes: list[tuple[int, ...]] = []
        shape = tuple(x_shape)
        for layer in self.layers:
            shapes += layer.noise_shapes(shape)
            shape = (shape[0], *layer.output_shape[1:])
        return shapes

    def __call__(self, x: Any, training: bool = False) -> Any:
        """The model applied to ``x``: eager (recorded by an active tape) or symbolic."""
        if isinstance(x, np.ndarray) and x.dtype != FLOATX:
            x = x.astype(FLOATX)
        self.ensure_built(x)
        return self.forward(x, self.weights, Context(training))[0]

    # -- compile / the step builder ------------------------------------------------------------
    def compile(
        self,
        optimizer: str | Optimizer = "rmsprop",
        loss: str | Callable = "mse",
        metrics: Sequence[str] | None = None,
        steps_per_execution: int = 1,
    ) -> None:
        """Choose the optimizer (a Keras name or instance), the loss and the metrics.

        ``steps_per_execution`` (Keras's knob) is how many training steps one call of
        the executor runs: callbacks' batch hooks and the progress bar see one call
        per ``k`` steps.  In memory the steps are the same; on Dask it is the number
        of mini-batches between two synchronizations of the replicas (see
        ``Sequential.fit``'s ``sync``).
        """
        k = check_count(steps_per_execution, "compile: steps_per_execution")
        opt = _get_optimizer(optimizer)
        loss = _losses.get(loss)
        for m in metrics or []:
            _metrics.get(m)
        self.optimizer = opt
        self.loss = loss
        self.metrics = list(metrics or [])
        self.steps_per_execution = k
        self._fns.clear()
        self._metric_sizes = None

    def need_compiled(self) -> None:
        """Check that :meth:`compile` was called.

        Raises
        ------
        GraphadError
            If the model has no optimizer and loss yet.
        """
        if self.optimizer is None:
            raise GraphadError("call model.compile(optimizer=..., loss=...) first")

    _need_compiled = need_compiled

    def last_activation(self) -> Any:
        return getattr(self.layers[-1], "activation", None)

    def step_function(self, kind: StepKind, x_shape: tuple, y_shape: tuple | None = None):
        """The compiled function of one step on a batch of these shapes (cached).

        Signatures (``ws``: every weight, in the order of :attr:`weights`;
        ``sums``: ``loss_sum, penalty, *metric sums``, ``loss_sum`` being the
        sum over the batch of the per-sample loss times the sample weight ``SW``):

        - ``"predict"``: ``(X, *ws) -> [output]`` (inference mode)
        - ``"evaluate"``: ``(X, Y, SW, *ws) -> [*sums]`` (inference mode)
        - ``"grads"``: ``(X, Y, SW, *noise, *ws, inv_n, frac) -> [*sums, *grads,
          *new non-trainable]``, the gradients (of the trainable weights) of
          ``inv_n * loss_sum + frac * penalty`` (training mode)
        - ``"train"``: ``(X, Y, SW, *noise, *ws, inv_n, frac, *slots, lr, t) ->
          [*sums, *new trainable, *new slots, *new non-trainable]``: the gradients
          and the optimizer's update in one function.
        """
        key = (kind, tuple(x_shape), None if y_shape is None else tuple(y_shape))
        fn = self._fns.get(key)
        if fn is None:
            fn = self._fns[key] = self._build_step(kind, tuple(x_shape), y_shape)
        return fn

    def _build_step(self, kind: StepKind, x_shape: tuple, y_shape: tuple | None):
        from ..backends.function import compile as ga_compile
        from ..transforms.autodiff import vjp

        ws = self.weights
        trainable = {id(w) for w in self.trainable_weights}
        with Graph():
            X = symbol("X", x_shape, FLOATX)
            params = [symbol(f"p{k}", w.shape, w.dtype) for k, w in enumerate(ws)]
            if kind == "predict":
                return ga_compile([self.forward(X, params)[0]], inputs=[X, *params])
            training = kind in ("grads", "train")
            noise = [symbol(f"u{k}", s, FLOATX) for k, s in enumerate(self.noise_shapes(x_shape))]
            feed = iter(noise)
            ctx = Context(training, noise=lambda shape: next(feed))
            out, pre = self.forward(X, params, ctx)
            Y = symbol("Y", y_shape, FLOATX)
            per_sample = _losses.per_sample(self.loss, self.last_activation(), Y, out, pre)
            SW = symbol("SW", (x_shape[0],), FLOATX)
            loss_sum = _ops.sum(per_sample * SW)
            penalty = self.penalty(params)
            sums = [loss_sum, _ops.zeros_like(loss_sum) if penalty is None else penalty]
            for name in self.metrics:
                sums += _metrics.get(name).sums(self.loss, Y, out, pre)
            if not training:
                return ga_compile(sums, inputs=[X, Y, SW, *params])
            inv_n = symbol("inv_n", (), FLOATX)
            frac = symbol("frac", (), FLOATX)
            objective = inv_n * loss_sum
            if penalty is not None:
                objective = objective + frac * penalty
            train_params = [p for p, w in zip(params, ws, strict=True) if id(w) in trainable]
            grads = vjp(objective, train_params)
            head = [X, Y, SW, *noise, *params, inv_n, frac]
            if kind == "grads":
                return ga_compile([*sums, *grads, *ctx.updates], inputs=head)
            up = self.optimizer.build_update(train_params, grads)
            return ga_compile(
                [*sums, *up.new_params, *up.new_slots, *ctx.updates],
                inputs=[*head, *up.slot_inputs, up.lr, up.t],
            )

    def metric_sizes(self) -> list[int]:
        """How many batch sums each metric has (the step's outputs after loss and penalty)."""
        if self._metric_sizes is not None:
            return self._metric_sizes
        with Graph():
            sizes = []
            for name in self.metrics:
                # the number of sums does not depend on the shapes: probe with scalars
                y = symbol("y", (2, 2), FLOATX)
                sizes.append(len(_metrics.get(name).sums(self.loss, y, y, None)))
        self._metric_sizes = sizes  # compile() clears it
        return sizes

    def results(self, totals: Sequence[float], n: int, weight_total: float | None = None) -> dict:
        """The epoch's values ``{"loss": ..., metric: ...}`` from the totals of the step's sums
        over ``n`` samples (``totals[1]``: the penalty summed per sample)."""
        logs = {"loss": (totals[0] + totals[1]) / n}
        k = 2
        for name, size in zip(self.metrics, self.metric_sizes(), strict=True):
            logs[name] = _metrics.get(name).result(list(totals[k : k + size]), n)
            k += size
        return logs

    # -- data ---------------------------------------------------------------------------------
    def prepare_x(self, X: Any) -> np.ndarray:
        """``X`` as a float32 array of samples the model takes (built for them if needed).

        Raises
        ------
        GraphadError
            If ``X`` does not hold numbers.
        ShapeError
            If ``X`` is not ``(samples, features...)`` of the model's sample shape.
        """
        X = np.asarray(X.numpy() if isinstance(X, Variable) else X)
        if X.dtype.kind not in "biuf":
            raise GraphadError(f"inputs must be numbers, got dtype {X.dtype}")
        if X.ndim < 2:
            raise ShapeError(f"inputs must have shape (samples, features...), got {X.shape}")
        self.ensure_built(X)
        if X.shape[1:] != tuple(self._input_shape[1:]):
            raise ShapeError(
                f"the model expects samples of shape {tuple(self._input_shape[1:])}"
                f", got {X.shape[1:]}"
            )
        return np.ascontiguousarray(X, dtype=FLOATX)

    def prepare_y(self, y: Any, n: int) -> np.ndarray:
        """The targets as the float32 array the loss takes (one-hot for sparse labels).

        Raises
        ------
        ShapeError
            If there are not ``n`` targets, or their shape does not fit the model's
            output (or the loss).
        """
        y = np.asarray(y)
        if len(y) != n:
            raise ShapeError(f"{n} input samples but {len(y)} targets")
        units = self.layers[-1].output_shape[-1]
        if self.loss == "sparse_categorical_crossentropy":
            if y.ndim > 1 and y.shape[1:] != (1,):
                raise ShapeError(
                    f"sparse_categorical_crossentropy expects integer labels of "
                    f"shape ({n},), got {y.shape}; for one-hot targets use "
                    "categorical_crossentropy"
                )
            return _losses.to_categorical(y, units, FLOATX)
        if y.ndim == 1 and units == 1:
            y = y[:, None]
        if y.shape[1:] != tuple(self.layers[-1].output_shape[1:]):
            raise ShapeError(
                f"targets of shape {y.shape} do not match the model's output (samples, {units})"
            )
        return np.ascontiguousarray(y, dtype=FLOATX)

    _prepare_x = prepare_x
    _prepare_y = prepare_y

    # -- one batch ------------------------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any, return_dict: bool = False) -> Any:
        """One optimizer step on one batch; returns the loss (and metrics, as a list)."""
        from .fit import LocalExecutor

        self.need_compiled()
        ex = LocalExecutor()
        source = ex.data(self, x, y)
        rows = np.arange(source.n)
        totals = ex.train_step(self, source, rows, generator())  # dropout: the seeded stream
        return _shape_result(self.results(totals, source.n), return_dict)

    def test_on_batch(self, x: Any, y: Any, return_dict: bool = False) -> Any:
        """The loss (and metrics) on one batch, without updating anything."""
        return self.evaluate(x, y, batch_size=max(1, len(x)), return_dict=return_dict)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        """The model's outputs for one batch, in one call of the compiled forward pass."""
        X = self.prepare_x(x)
        if len(X) == 0:
            return np.zeros((0, *self.layers[-1].output_shape[1:]), FLOATX)
        ws = [w._value for w in self.weights]
        return np.asarray(self.step_function("predict", X.shape)(X, *ws)[0])

    # -- the Keras loop (in .fit) ---------------------------------------------------------------
    def fit(
        self,
        x: Any,
        y: Any,
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
    ):
        """Train for ``epochs`` passes over the data in mini-batches (``keras.Model.fit``).

        Parameters
        ----------
        x, y : arrays
            Samples and targets (integer labels for ``sparse_categorical_crossentropy``).
            Dask arrays train data-parallel on the chunks, on the active
            ``dask.distributed`` client if any (see ``graphad.distributed``).
        epochs, batch_size : int
            ``epochs`` is the index of the last epoch, counted from ``initial_epoch``.
        verbose : 0, 1 or 2
            0 silent; 1 a progress bar per epoch (tqdm) on a terminal, and one
            persistent line per epoch; 2 one line per epoch.  Lines wrap at the
            terminal's width (80 columns when unknown) between metrics.
        callbacks : list of ``ga.nn.callbacks.Callback``
        validation_split : float in [0, 1)
            The last fraction of ``x``, ``y`` (before shuffling) is held out and
            evaluated after each epoch, as in Keras.
        validation_data : (x_val, y_val), optional
            Evaluated after each epoch ("val_loss", "val_accuracy"...); takes
            precedence over ``validation_split``.
        shuffle : bool
            Reshuffle the samples every epoch (with ``seed``, reproducibly).
        class_weight : dict, optional
            ``{class: weight}``: each sample's loss is weighted by its class's weight.
        initial_epoch : int
            The epoch to start at (to resume a run).
        seed : int, optional
            The seed of the shuffling and dropout of this run.
        executor : optional
            Where the steps run: an object with ``data``, ``train_step``,
            ``evaluate`` and ``predict`` (``graphad.nn.fit.Executor``), or a Dask
            ``Client``.  By default in this process, or on Dask for Dask arrays.
        sync : "gradients" or "weights"
            How data-parallel replicas (on Dask) agree, every ``steps_per_execution``
            (``k``) mini-batches: ``"gradients"`` sums the gradients of the ``k``
            batches over every replica and applies one update everywhere, the sum
            of the ``k`` batch-mean gradients (``k`` SGD steps taken from one point:
            the learning rate scaled by ``k``); with ``k=1`` this is in-memory
            training up to float rounding.  ``"weights"`` (local SGD) lets each
            replica step on its own rows of each batch and averages weights and
            optimizer state every ``k`` batches: ``k`` times more updates per epoch
            than ``"gradients"``, each on a smaller batch, whose average drifts
            from in-memory training as ``k`` grows.  In memory both are the same.

        Returns
        -------
        History
        """
        from .fit import fit

        return fit(
            self, x, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
            callbacks=callbacks, validation_split=validation_split,
            validation_data=validation_data, shuffle=shuffle, class_weight=class_weight,
            initial_epoch=initial_epoch, seed=seed, executor=executor, sync=sync,
        )  # fmt: skip

    def evaluate(
        self,
        x: Any,
        y: Any,
        batch_size: int = 32,
        verbose: int = 0,
        return_dict: bool = False,
        executor: Any = None,
    ) -> Any:
        """The loss (and metrics) over a data set: ``[loss, accuracy]``, or the loss alone;
        ``{"loss": ..., "accuracy": ...}`` with ``return_dict=True``.

        Dask arrays are evaluated chunk by chunk on the cluster (``batch_size`` unused)."""
        from .fit import evaluate

        logs = evaluate(self, x, y, batch_size=batch_size, executor=executor)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return _shape_result(logs, return_dict)

    def predict(self, x: Any, batch_size: int = 32, verbose: int = 0, executor: Any = None):
        """The model's outputs for ``x``, computed in batches by the compiled forward pass.

        A Dask array gives a lazy Dask array (one task per row-chunk, ``batch_size`` unused)."""
        from .fit import predict

        return predict(self, x, batch_size=batch_size, executor=executor)

    # -- display ----------------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print a Keras-like table of layers, output shapes and parameter counts."""
        names = [f"{ly.name} ({type(ly).__name__})" for ly in self.layers]
        width = max([28, *(len(n) + 2 for n in names)])  # long class names stay in their column
        rule = "_" * (width + 37)
        lines = [
            f'Model: "{self.name}"',
            rule,
            f" {'Layer (type)':<{width}}{'Output Shape':<26}{'Param #':>10}",
            "=" * len(rule),
        ]
        for name, layer in zip(names, self.layers, strict=True):
            shape = str(layer.output_shape) if layer.built else "?"
            count = sum(int(np.prod(w.shape)) for w in layer.weights)
            lines.append(f" {name:<{width}}{shape:<26}{count:>10,}")
        total = self.count_params()
        fixed = sum(int(np.prod(w.shape)) for w in self.non_trainable_weights)
        lines += [
            "=" * len(rule),
            f"Total params: {total:,}",
            f"Trainable params: {total - fixed:,}",
            f"Non-trainable params: {fixed:,}",
            rule,
        ]
        for line in lines:
            print_fn(line)

    # -- configuration and files (in .io) ------------------------------------------------------
    def get_config(self) -> dict:
        cfg: dict[str, Any] = {
            "format": "graphad.nn.Sequential",
            "version": 1,
            "name": self.name,
            "input_shape": None if self._input_shape is None else list(self._input_shape[1:]),
            "layers": [layer.get_config() for layer in self.layers],
        }
        if self.optimizer is not None and isinstance(self.loss, str):
            opt = {"class": type(self.optimizer).__name__, **self.optimizer.get_config()}
            cfg["compile"] = {"optimizer": opt, "loss": self.loss, "metrics": self.metrics}
        return cfg

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as JSON text (``keras.Model.to_json``); rebuild it with
        :func:`graphad.nn.model_from_json` (weights are not included)."""
        cfg = self.get_config()
        cfg.pop("compile", None)
        return json.dumps(cfg, **kwargs)

    def save(self, path: str | os.PathLike) -> None:
        """Write the architecture (JSON), the weights and the optimizer's state to one
        ``.npz`` file, atomically (see :func:`graphad.nn.io.save`)."""
        from .io import save

        save(self, path)

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write only the weights to an ``.npz`` file, atomically (``model.save_weights``).

        Unlike :meth:`save` it needs no JSON form of the layers, so models with
        Python activations or initializers can keep their weights too.

        Examples
        --------
        >>> import graphad as ga, numpy as np, os, tempfile
        >>> a = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,), activation=ga.tanh)])
        >>> p = os.path.join(tempfile.mkdtemp(), "w.npz")
        >>> a.save_weights(p)
        >>> b = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,), activation=ga.tanh)])
        >>> b.load_weights(p)
        >>> all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))
        True
        """
        from .io import save_weights

        save_weights(self, path)

    def load_weights(self, path: str | os.PathLike) -> None:
        """Set the weights from a file of :meth:`save_weights` or :meth:`save`.

        The file is read with the limits of :func:`graphad.nn.load` (every
        ``.npy`` header checked before its data is read), and its arrays must
        match this model's weights in number and shape; otherwise nothing changes.
        """
        from .io import load_weights

        load_weights(self, path)

    def __repr__(self) -> str:
        return f"<graphad.nn.Sequential {self.name!r}: {len(self.layers)} layers>"


def _shape_result(logs: dict, return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = list(logs.values())
    return values if len(values) > 1 else values[0]


def check_batch_size(batch_size: Any, who: str) -> int:
    return check_count(32 if batch_size is None else batch_size, f"{who}: batch_size")
