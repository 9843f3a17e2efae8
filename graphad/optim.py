"""Optimizers with Keras 3's names, defaults and update rules: SGD, RMSprop, Adagrad, Adam.

Each optimizer writes its update rule once, as graph-building code
(:meth:`Optimizer.update_rule`); that rule is compiled with :func:`graphad.compile`
into the step of :meth:`Optimizer.apply_gradients`, of :meth:`Optimizer.minimize`
(together with the loss and its gradient) and of :meth:`graphad.nn.Sequential.fit`.
Compiled steps are cached by the shapes and dtypes of the variables, so a
training loop compiles once and then only feeds new values: the graphs do not
grow with the number of steps.

As in Keras, the learning rate and the step count ``t = iterations + 1`` are
cast to the variables' dtype (float32 variables are updated in float32), and
``iterations`` counts calls of ``apply_gradients``.

Examples
--------
>>> import graphad as ga
>>> x = ga.Variable(3.0)
>>> opt = ga.optim.SGD(learning_rate=0.1)
>>> float(opt.minimize(lambda: x**2 + x - 1, var_list=[x]))   # f at the old x
11.0
>>> round(float(x.numpy()), 6)
2.3
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .core.errors import GraphadError
from .core.expr import Expr, symbol
from .core.graph import Graph
from .eager.tape import GradientTape, Tensor, Variable, tracing

__all__ = ["SGD", "Adagrad", "Adam", "Optimizer", "RMSprop", "get"]


def _step_dtype(dtypes: Iterable[np.dtype]) -> np.dtype:
    """The dtype of lr and t: float32 when every variable is float32 (as Keras casts)."""
    dts = list(dtypes)
    return (
        np.dtype(np.float32) if dts and all(d == np.float32 for d in dts) else np.dtype(np.float64)
    )


@dataclass
class UpdateGraph:
    """The update rule applied to symbolic parameters: inputs and results.

    ``slot_inputs`` and ``new_slots`` are flat, parameter-major lists; ``lr`` and
    ``t`` are scalar inputs of the step dtype.
    """

    slot_inputs: list[Expr]
    lr: Expr
    t: Expr
    new_params: list[Expr]
    new_slots: list[Expr]


class Optimizer:
    """Base class: state (slots per variable, ``iterations``) and the compiled steps.

    Subclasses define :meth:`slot_specs` and :meth:`update_rule`.
    """

    def __init__(self, learning_rate: float | Callable[[int], float], name: str):
        self.learning_rate = learning_rate
        self.name = name
        self.iterations = 0
        self._slots: dict[int, tuple[Variable, list[np.ndarray]]] = {}
        self._cache: dict[tuple, Any] = {}

    # -- what subclasses define -------------------------------------------------------------
    def slot_specs(self) -> list[tuple[str, float]]:
        """Names and initial values of the per-variable state arrays."""
        return []

    def update_rule(
        self, w: Expr, g: Expr, slots: list[Expr], lr: Expr, t: Expr
    ) -> tuple[Expr, list[Expr]]:
        """The new value of ``w`` and of its slots, as graph nodes."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        lr = self.learning_rate
        return {"name": self.name, "learning_rate": lr if not callable(lr) else None}

    # -- shared machinery ---------------------------------------------------------------------
    def _config_key(self) -> tuple:
        cfg = self.get_config()
        cfg.pop("learning_rate", None)
        return (type(self).__name__, tuple(sorted(cfg.items())))

    def _current_lr(self) -> float:
        lr = self.learning_rate
        return float(lr(self.iterations) if callable(lr) else lr)

    def _hyper_values(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.asarray(self._current_lr(), dtype=dtype),
            np.asarray(self.iterations + 1, dtype=dtype),
        )

    def build_update(self, params: Sequence[Expr], grads: Sequence[Expr]) -> UpdateGraph:
        """Add this optimizer's update of ``params`` to their graph.

        Creates the inputs ``opt_lr``, ``opt_t`` and one input per slot and
        parameter (``opt_<slot><k>``).
        """
        graph = params[0].graph
        dtype = _step_dtype(p.dtype for p in params)
        lr = symbol("opt_lr", (), dtype, graph=graph)
        t = symbol("opt_t", (), dtype, graph=graph)
        slot_inputs: list[Expr] = []
        new_params: list[Expr] = []
        new_slots: list[Expr] = []
        with graph:
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                slots = [
                    symbol(f"opt_{name}{k}", p.shape, p.dtype, graph=graph)
                    for name, _ in self.slot_specs()
                ]
                w, s = self.update_rule(p, g, slots, lr, t)
                slot_inputs += slots
                new_params.append(w)
                new_slots += s
        return UpdateGraph(slot_inputs, lr, t, new_params, new_slots)

    def _slots_for(self, var: Variable) -> list[np.ndarray]:
        entry = self._slots.get(id(var))
        if entry is None or entry[0] is not var:
            shape, dtype = var._value.shape, var._value.dtype
            entry = (var, [np.full(shape, init, dtype) for _, init in self.slot_specs()])
            self._slots[id(var)] = entry
        return entry[1]

    def state_values(self, variables: Sequence[Variable]) -> list[np.ndarray]:
        """The slot arrays of ``variables``, flat and parameter-major (as ``build_update``)."""
        out: list[np.ndarray] = []
        for v in variables:
            out += self._slots_for(v)
        return out

    def finish_step(
        self, variables: Sequence[Variable], new_params: Sequence[Any], new_slots: Sequence[Any]
    ) -> None:
        """Store the results of one compiled step and count it."""
        n = len(self.slot_specs())
        for k, (v, w) in enumerate(zip(variables, new_params, strict=True)):
            v._replace(w)
            if n:
                self._slots[id(v)] = (v, [np.asarray(s) for s in new_slots[k * n : (k + 1) * n]])
        self.iterations += 1

    @property
    def variables(self) -> list[np.ndarray]:
        """The state arrays (slots) of every variable seen so far."""
        return [s for _, slots in self._slots.values() for s in slots]

    # -- public steps ---------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> int:
        """One update from ``(gradient, variable)`` pairs (``None`` gradients are skipped).

        Returns the new ``iterations`` count.

        Examples
        --------
        >>> import graphad as ga, numpy as np
        >>> w = ga.Variable(np.array([1.0, 2.0]))
        >>> opt = ga.optim.SGD(learning_rate=0.5)
        >>> opt.apply_gradients([(np.array([1.0, 1.0]), w)])
        1
        >>> w.numpy()
        array([0.5, 1.5])
        """
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            raise GraphadError("apply_gradients: every gradient is None; nothing to update")
        for _, v in pairs:
            if not isinstance(v, Variable):
                raise GraphadError(
                    f"apply_gradients: expected (gradient, Variable) pairs, got "
                    f"a {type(v).__name__} as the variable"
                )
        variables = [v for _, v in pairs]
        grads = []
        for g, v in pairs:
            arr = np.asarray(g.numpy() if isinstance(g, Tensor | Variable) else g)
            if arr.shape != v.shape:
                raise GraphadError(
                    f"apply_gradients: gradient of shape {arr.shape} for variable "
                    f"{v.name!r} of shape {v.shape}"
                )
            grads.append(arr.astype(v.dtype, copy=False))
        key = ("apply", tuple((v.shape, v.dtype) for v in variables), self._config_key())
        fn = self._cache.get(key)
        if fn is None:
            fn = self._cache[key] = self._compile_apply(variables)
        dtype = _step_dtype(v.dtype for v in variables)
        outs = fn(
            *[v._value for v in variables],
            *grads,
            *self.state_values(variables),
            *self._hyper_values(dtype),
        )
        n = len(variables)
        self.finish_step(variables, outs[:n], outs[n:])
        return self.iterations

    def _compile_apply(self, variables: Sequence[Variable]):
        from .backends.codegen import compile as ga_compile

        with Graph():
            ps = [symbol(f"w{k}", v.shape, v.dtype) for k, v in enumerate(variables)]
            gs = [symbol(f"g{k}", v.shape, v.dtype) for k, v in enumerate(variables)]
            up = self.build_update(ps, gs)
        return ga_compile(
            [*up.new_params, *up.new_slots], inputs=[*ps, *gs, *up.slot_inputs, up.lr, up.t]
        )

    def minimize(
        self, loss: Any, var_list: Sequence[Variable], tape: GradientTape | None = None
    ) -> Any:
        """One step minimizing ``loss``: returns the loss at the variables' old values.

        ``loss`` is a function of no arguments computing the loss from the
        Variables in ``var_list`` (Keras and TensorFlow's form).  It is traced
        into a graph whose inputs are those Variables and any arrays it reads
        (fed anew at each call, never baked in); the loss, its gradient and this
        optimizer's update are compiled into one function, cached by the traced
        structure and shapes.  Each call runs ``loss`` once more under the
        tracer (cheap: no evaluation) to check that structure, so a closure over
        new data is never stale, and the cached graph does not grow.

        Given a loss *value* recorded on ``tape``, it uses ``tape.gradient`` instead.

        Examples
        --------
        >>> import graphad as ga
        >>> x = ga.Variable(10.0)
        >>> opt = ga.optim.RMSprop(learning_rate=0.1)
        >>> _ = opt.minimize(lambda: x**2 / 2.0, [x])
        >>> round(float(x.numpy()), 6)
        9.683772
        """
        var_list = list(var_list)
        if not var_list or not all(isinstance(v, Variable) for v in var_list):
            raise GraphadError("minimize: var_list must be a non-empty list of ga.Variable")
        if not callable(loss):
            if tape is None:
                raise GraphadError(
                    "minimize: give a loss function of no arguments, or a loss "
                    "value together with the tape that recorded it"
                )
            if not isinstance(loss, Tensor | Variable):
                raise GraphadError(
                    f"minimize: a loss value must be a tensor recorded on the tape, "
                    f"got a {type(loss).__name__}"
                )
            grads = tape.gradient(loss, var_list)
            self.apply_gradients(zip(grads, var_list, strict=True))
            return np.asarray(loss)[()]
        with tracing(Graph(), var_list) as tracer:
            result = loss()
            _check_loss_result(result)
            out = tracer.expr_of(result)
        _check_traced_loss(tracer, out)
        graph = tracer.graph
        key = ("minimize", _signature(graph, out.id), self._config_key())
        entry = self._cache.get(key)
        if entry is None:
            entry = self._cache[key] = self._compile_minimize(tracer, out)
        fn = entry[0]
        dtype = _step_dtype(v.dtype for v in var_list)
        outs = fn(
            *[v._value for v in var_list],
            *tracer.captured_values(),
            *self.state_values(var_list),
            *self._hyper_values(dtype),
        )
        n = len(var_list)
        self.finish_step(var_list, outs[1 : n + 1], outs[n + 1 :])
        return outs[0]

    def _compile_minimize(self, tracer, out: Expr):
        from .backends.codegen import compile as ga_compile
        from .transforms.autodiff import vjp

        graph = tracer.graph
        params = tracer.var_inputs
        caps = [graph.input_id(f"cap{k}") for k in range(len(tracer.captured))]
        grads = vjp(out, params)
        up = self.build_update(params, grads)
        fn = ga_compile(
            [out, *up.new_params, *up.new_slots],
            inputs=[*params, *[Expr(graph, c) for c in caps], *up.slot_inputs, up.lr, up.t],
        )
        return fn, graph

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _check_loss_result(result: Any) -> None:
    """What a loss function returned must be numbers (an expression, a tensor, an array)."""
    ok = isinstance(result, Expr | Tensor | Variable | int | float | np.ndarray | np.generic)
    if isinstance(result, bool | np.bool_) or not ok:
        shown = repr(result)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise GraphadError(
            f"minimize: the loss function returned a {type(result).__name__} ({shown}); "
            "it must return a number computed from the variables in var_list"
        )


def _check_traced_loss(tracer: Any, out: Expr) -> None:
    """The traced loss must be floating and depend on at least one variable of var_list."""
    from .core.errors import DTypeError
    from .core.graph import ancestors

    dtype = out.dtype
    if dtype is not None and dtype.kind not in "fc":
        raise DTypeError(f"minimize: the loss has dtype {dtype}; it must be floating")
    used = ancestors(tracer.graph, [out.id])
    if not any(v.id in used for v in tracer.var_inputs):
        raise GraphadError(
            "minimize: the loss does not depend on any variable in var_list, so it has no "
            "gradient to follow (TensorFlow: 'No gradients provided for any variable')"
        )


def _signature(graph: Graph, out: int) -> tuple:
    """A structural key of a traced graph: ops, params, wiring, literals, input shapes."""
    nodes = graph.nx.nodes
    rows = []
    for n in sorted(graph.nodes()):
        node = nodes[n]
        if node["op"] == "input":
            rows.append(("input", node["name"], node["shape"], str(node["dtype"])))
        else:
            rows.append(node["key"])
    return (tuple(rows), out)


class SGD(Optimizer):
    """Gradient descent, with optional (Nesterov) momentum (``keras.optimizers.SGD``).

    Update for a variable ``w`` with gradient ``g`` (Keras 3's rule):

    - ``momentum == 0``: ``w = w - learning_rate * g``
    - otherwise: ``m = momentum * m - learning_rate * g``, then
      ``w = w + m`` (plain) or ``w = w + momentum * m - learning_rate * g`` (Nesterov),
      with ``m`` starting at 0.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.SGD(learning_rate=0.1, momentum=0.9)
    >>> _ = opt.apply_gradients([(np.array([1.0]), w)])
    >>> _ = opt.apply_gradients([(np.array([1.0]), w)])
    >>> w.numpy()   # 1 - 0.1 - (0.9*0.1 + 0.1)
    array([0.71])
    """

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
    ):
        if not 0.0 <= float(momentum) <= 1.0:
            raise GraphadError(f"SGD: momentum must be in [0, 1], got {momentum}")
        super().__init__(learning_rate, name)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def slot_specs(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def update_rule(self, w, g, slots, lr, t):
        if self.momentum == 0:
            return w - lr * g, []
        (m,) = slots
        m = m * self.momentum - g * lr
        if self.nesterov:
            return w + (m * self.momentum - g * lr), [m]
        return w + m, [m]

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop (``keras.optimizers.RMSprop``), plain momentum, optionally centered.

    Keras 3's rule, ``v`` (and ``a``, ``mom``) starting at 0::

        v = rho * v + (1 - rho) * g**2
        a = rho * a + (1 - rho) * g                      # centered only
        d = v - a**2 + epsilon   if centered   else   v + epsilon
        inc = learning_rate * g / sqrt(d)
        mom = momentum * mom + inc; w = w - mom          # momentum > 0
        w = w - inc                                      # otherwise

    Examples
    --------
    >>> import graphad as ga
    >>> v = ga.Variable(10.0)
    >>> opt = ga.optim.RMSprop(learning_rate=0.1)
    >>> _ = opt.minimize(lambda: (v ** 2) / 2.0, [v])   # Keras docs: 9.683772
    >>> round(float(v.numpy()), 6)
    9.683772
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "rmsprop",
    ):
        super().__init__(learning_rate, name)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)

    def slot_specs(self):
        specs = [("velocity", 0.0)]
        if self.momentum > 0:
            specs.append(("momentum", 0.0))
        if self.centered:
            specs.append(("average_gradient", 0.0))
        return specs

    def update_rule(self, w, g, slots, lr, t):
        from .ops import sqrt, square

        it = iter(slots)
        v = next(it)
        mom = next(it) if self.momentum > 0 else None
        avg = next(it) if self.centered else None
        rho = self.rho
        v = rho * v + (1 - rho) * square(g)
        new = [v]
        if self.centered:
            avg = rho * avg + (1 - rho) * g
            denominator = v - square(avg) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = lr * g / sqrt(denominator)
        if mom is not None:
            mom = self.momentum * mom + increment
            new.insert(1, mom)
            w = w - mom
        else:
            w = w - increment
        if self.centered:
            new.append(avg)
        return w, new

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad (``keras.optimizers.Adagrad``).

    Keras 3's rule, the accumulator starting at ``initial_accumulator_value``::

        acc = acc + g**2
        w = w - learning_rate * g / sqrt(acc + epsilon)

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.Adagrad(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(np.array([0.3]), w)])
    >>> round(float(w.numpy()[0]), 6)   # 1 - 0.1 * 0.3 / sqrt(0.1 + 0.09 + 1e-7)
    0.931175
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        name: str = "adagrad",
    ):
        if initial_accumulator_value < 0:
            raise GraphadError("Adagrad: initial_accumulator_value must be non-negative")
        super().__init__(learning_rate, name)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)

    def slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def update_rule(self, w, g, slots, lr, t):
        from .ops import sqrt, square

        (acc,) = slots
        acc = acc + square(g)
        return w - lr * g / sqrt(acc + self.epsilon), [acc]

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class Adam(Optimizer):
    """Adam, optionally AMSGrad (``keras.optimizers.Adam``).

    Keras 3's rule, with ``t = iterations + 1`` and ``m``, ``v`` (``v_hat``) starting at 0::

        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m = m + (g - m) * (1 - beta_1)
        v = v + (g**2 - v) * (1 - beta_2)
        v_hat = maximum(v_hat, v)                        # amsgrad only (then used for v)
        w = w - m * alpha / (sqrt(v) + epsilon)

    ``epsilon`` is the "epsilon hat" of Kingma and Ba (added after the bias
    correction folded into ``alpha``), as in Keras.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> w = ga.Variable(np.array([1.0]))
    >>> opt = ga.optim.Adam(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(np.array([5.0]), w)])
    >>> round(float(w.numpy()[0]), 6)    # the first Adam step moves by about lr
    0.9
    """

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "adam",
    ):
        super().__init__(learning_rate, name)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)

    def slot_specs(self):
        specs = [("m", 0.0), ("v", 0.0)]
        if self.amsgrad:
            specs.append(("v_hat", 0.0))
        return specs

    def update_rule(self, w, g, slots, lr, t):
        from .ops import maximum, sqrt, square

        m, v = slots[0], slots[1]
        alpha = lr * sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m = m + (g - m) * (1 - self.beta_1)
        v = v + (square(g) - v) * (1 - self.beta_2)
        new = [m, v]
        denom_v = v
        if self.amsgrad:
            v_hat = maximum(slots[2], v)
            new.append(v_hat)
            denom_v = v_hat
        return w - (m * alpha) / (sqrt(denom_v) + self.epsilon), new

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adam": Adam}


def get(identifier: str | Optimizer | dict) -> Optimizer:
    """An optimizer from its Keras name (``"rmsprop"``...), a config dict, or an instance.

    Examples
    --------
    >>> import graphad as ga
    >>> ga.optim.get("adam").beta_2
    0.999
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        cfg = dict(identifier)
        cls = _BY_NAME.get(str(cfg.pop("class", cfg.get("name", ""))).lower())
        if cls is None:
            raise GraphadError(f"unknown optimizer config {identifier!r}")
        if cfg.get("learning_rate") is None:
            cfg.pop("learning_rate", None)
        return cls(**cfg)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise GraphadError(
        f"unknown optimizer {identifier!r}; use one of {sorted(_BY_NAME)} or an optimizer instance"
    )
