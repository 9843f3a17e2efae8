"""The optimizer machinery: state (slots, ``iterations``), the compiled steps of
:meth:`Optimizer.apply_gradients` and :meth:`Optimizer.minimize`, and the update
graph that ``Sequential.fit`` fuses into its training step."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import GraphadError
from ..core.expr import Expr, symbol
from ..core.graph import Graph
from ..eager.tape import GradientTape, tracing
from ..eager.tensor import Tensor, Variable

__all__ = ["Optimizer", "UpdateGraph"]


def _spec_shape(spec: tuple, shape: tuple) -> tuple:
    """The shape of the slot ``spec`` for a variable of ``shape``."""
    return tuple(spec[2]) if len(spec) > 2 else tuple(shape)


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
    ``t`` are scalar inputs of the step dtype.  Made by
    :meth:`Optimizer.build_update`; ``Sequential.fit`` compiles it into its
    training step.

    Parameters
    ----------
    slot_inputs : list of Expr
        One input per state array (slot) and parameter, named ``opt_<slot><k>``.
    lr : Expr
        The learning rate input (``opt_lr``).
    t : Expr
        The step number input (``opt_t``, 1 at the first step).
    new_params : list of Expr
        Each parameter's value after the step.
    new_slots : list of Expr
        Each slot's value after the step, in the order of ``slot_inputs``.

    Examples
    --------
    SGD with momentum on one parameter: one slot (the velocity) per parameter.

    >>> import numpy as np, graphad as ga
    >>> p = ga.symbol("p", shape=(2,), dtype=np.float64)
    >>> g = ga.symbol("g", shape=(2,), dtype=np.float64)
    >>> up = ga.optim.SGD(learning_rate=0.1, momentum=0.9).build_update([p], [g])
    >>> up.lr.name, up.t.name, [s.name for s in up.slot_inputs]
    ('opt_lr', 'opt_t', ['opt_momentum0'])
    >>> feed = {"p": np.ones(2), "g": np.array([1.0, 2.0]), "opt_lr": 0.1, "opt_t": 1.0,
    ...         "opt_momentum0": np.zeros(2)}
    >>> up.new_params[0].eval(**feed)  # p - lr * g from a zero velocity
    array([0.9, 0.8])
    """

    slot_inputs: list[Expr]
    lr: Expr
    t: Expr
    new_params: list[Expr]
    new_slots: list[Expr]


class Optimizer:
    """Base class: state (slots per variable, ``iterations``) and the compiled steps.

    Subclasses define :meth:`slot_specs` and :meth:`update_rule`; the base
    class compiles the rule into :meth:`apply_gradients`, :meth:`minimize` and
    the training step of ``Sequential.fit``, and keeps the state.

    Parameters
    ----------
    learning_rate : float or callable
        The step size, or a schedule: ``learning_rate(iterations) -> float``
        (such as those of :mod:`graphad.optim.schedules`).
    name : str
        The optimizer's name (saved in its config).

    Examples
    --------
    A new optimizer: signSGD, which steps by the sign of the gradient (no state).

    >>> import numpy as np, graphad as ga
    >>> class SignSGD(ga.optim.Optimizer):
    ...     def __init__(self, learning_rate=0.1):
    ...         super().__init__(learning_rate, "SignSGD")
    ...     def update_rule(self, w, g, slots, lr, t):
    ...         return w - lr * ga.sign(g), []
    >>> w = ga.Variable(np.array([1.0, -2.0]))
    >>> opt = SignSGD(0.5)
    >>> opt.apply_gradients([(np.array([3.0, -0.1]), w)])
    1
    >>> w.numpy()
    array([ 0.5, -1.5])
    """

    def __init__(self, learning_rate: float | Callable[[int], float], name: str):
        self.learning_rate = learning_rate
        self.name = name
        self.iterations = 0
        self._slots: dict[int, tuple[Variable, list[np.ndarray]]] = {}
        self._cache: dict[tuple, Any] = {}

    # -- what subclasses define -------------------------------------------------------------
    def slot_specs(self) -> list[tuple]:
        """Names and initial values of the per-variable state arrays: ``(name, init)`` for
        an array of the variable's shape, ``(name, init, ())`` for a scalar."""
        return []

    def update_rule(
        self, w: Expr, g: Expr, slots: list[Expr], lr: Expr, t: Expr
    ) -> tuple[Expr, list[Expr]]:
        """The new value of ``w`` and of its slots, as graph nodes."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        lr = self.learning_rate
        if callable(lr):  # a schedule saves as its own config; a Python function cannot
            lr = lr.get_config() if hasattr(lr, "get_config") else None
        return {"name": self.name, "learning_rate": lr}

    # -- shared machinery ---------------------------------------------------------------------
    def _config_key(self) -> tuple:
        cfg = self.get_config()
        cfg.pop("learning_rate", None)
        return (type(self).__name__, tuple(sorted(cfg.items())))

    def _current_lr(self) -> float:
        lr = self.learning_rate
        return float(lr(self.iterations) if callable(lr) else lr)

    def hyper_values(self, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """The step's ``lr`` and ``t`` inputs (see :meth:`build_update`) in ``dtype``."""
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
                    symbol(f"opt_{spec[0]}{k}", _spec_shape(spec, p.shape), p.dtype, graph=graph)
                    for spec in self.slot_specs()
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
            entry = (
                var,
                [np.full(_spec_shape(spec, shape), spec[1], dtype) for spec in self.slot_specs()],
            )
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

    def set_state(
        self, variables: Sequence[Variable], slots: Sequence[Any], iterations: int
    ) -> None:
        """Restore a state that :meth:`state_values` (for the same ``variables``) and
        ``iterations`` gave, as a saved model does; all is checked first, so a
        failed call changes nothing.

        Parameters
        ----------
        variables : sequence of Variable
            The variables the state belongs to.
        slots : sequence of array_like
            Their slot arrays, flat and parameter-major (as :meth:`state_values`).
        iterations : int
            The step count to resume from.

        Raises
        ------
        GraphadError
            If the number of arrays, or one array's shape or dtype, does not fit
            the variables and this optimizer's slots.

        Examples
        --------
        >>> import numpy as np, graphad as ga
        >>> w = ga.Variable(np.array([1.0, 2.0]))
        >>> opt = ga.optim.SGD(learning_rate=0.1, momentum=0.9)
        >>> opt.set_state([w], [np.array([0.5, 0.5])], iterations=7)
        >>> opt.iterations, opt.state_values([w])
        (7, [array([0.5, 0.5])])
        """
        specs = self.slot_specs()
        if len(slots) != len(specs) * len(variables):
            raise GraphadError(
                f"{type(self).__name__}: the state holds {len(slots)} arrays, "
                f"{len(specs) * len(variables)} expected ({len(specs)} per variable)"
            )
        checked = []
        for k, v in enumerate(variables):
            for j, spec in enumerate(specs):
                name = spec[0]
                arr = np.asarray(slots[k * len(specs) + j])
                want = _spec_shape(spec, tuple(v._value.shape))
                if arr.shape != want or arr.dtype.kind != "f":
                    raise GraphadError(
                        f"{type(self).__name__}: the {name} state of {v.name!r} has shape "
                        f"{arr.shape} and dtype {arr.dtype}, expected {want} floats"
                    )
                checked.append(arr.astype(v.dtype))
        for k, v in enumerate(variables):
            own = checked[k * len(specs) : (k + 1) * len(specs)]
            self._slots[id(v)] = (v, own)
        self.iterations = int(iterations)

    @property
    def variables(self) -> list[np.ndarray]:
        """The state arrays (slots) of every variable seen so far."""
        return [s for _, slots in self._slots.values() for s in slots]

    # -- public steps ---------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> int:
        """One update from ``(gradient, variable)`` pairs (``None`` gradients are skipped).

        Returns the new ``iterations`` count.

        Raises
        ------
        GraphadError
            If every gradient is None, a variable is not a ``ga.Variable``, or a
            gradient's shape is not its variable's.

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
            *self.hyper_values(dtype),
        )
        n = len(variables)
        self.finish_step(variables, outs[:n], outs[n:])
        return self.iterations

    def _compile_apply(self, variables: Sequence[Variable]):
        from ..backends.function import compile as ga_compile

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

        Raises
        ------
        GraphadError
            If ``var_list`` is empty or holds something other than Variables, a loss
            value comes without its tape, the loss function returns something other than
            a number, or the loss does not depend on ``var_list``.
        DTypeError
            If the traced loss is not floating.

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
            *self.hyper_values(dtype),
        )
        n = len(var_list)
        self.finish_step(var_list, outs[1 : n + 1], outs[n + 1 :])
        return outs[0]

    def _compile_minimize(self, tracer, out: Expr):
        from ..backends.function import compile as ga_compile
        from ..transforms.autodiff import vjp

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
    from ..core.errors import DTypeError
    from ..core.graph import ancestors

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
    nodes = graph.records()
    rows = []
    for n in sorted(graph.nodes()):
        node = nodes[n]
        if node["op"] == "input":
            rows.append(("input", node["name"], node["shape"], str(node["dtype"])))
        else:
            rows.append(node["key"])
    return (tuple(rows), out)
