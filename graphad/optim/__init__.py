"""Optimizers with Keras 3's names, defaults and update rules: SGD, RMSprop, Adagrad,
Adam, AdamW, Nadam, Adadelta, and learning-rate schedules (:mod:`.schedules`).

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

from ..core.errors import GraphadError
from . import schedules
from .base import Optimizer, UpdateGraph
from .optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, Nadam, RMSprop

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "UpdateGraph",
    "get",
    "schedules",
]

_BY_NAME = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adam": Adam,
    "adamw": AdamW,
    "nadam": Nadam,
    "adadelta": Adadelta,
}


def get(identifier: str | Optimizer | dict) -> Optimizer:
    """An optimizer from its Keras name (``"rmsprop"``...), a config dict, or an instance.

    Parameters
    ----------
    identifier : str, dict or Optimizer
        A name (``"sgd"``, ``"adam"``...), a ``get_config()`` dict with its
        ``"class"``, or an optimizer (returned as is).

    Returns
    -------
    Optimizer
        The optimizer.

    Raises
    ------
    GraphadError
        For an unknown name or config.

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
        elif isinstance(cfg["learning_rate"], dict):
            cfg["learning_rate"] = schedules.deserialize(cfg["learning_rate"])
        return cls(**cfg)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise GraphadError(
        f"unknown optimizer {identifier!r}; use one of {sorted(_BY_NAME)} or an optimizer instance"
    )
