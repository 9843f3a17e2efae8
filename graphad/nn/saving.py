"""Models from files and from JSON: :func:`load` (what :meth:`Sequential.save` wrote)
and :func:`model_from_json` (what :meth:`Sequential.to_json` gave)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..core.errors import GraphadError, LimitError
from . import initializers as _init
from .io import read_checked
from .layers import Input, from_config
from .model import Sequential

__all__ = ["load", "model_from_json"]


def _from_config(cfg: Any, weights: list[np.ndarray] | None) -> Any:
    """A model from its configuration, its layers built from ``weights`` (or initialized
    afresh without them)."""
    if not isinstance(cfg, dict) or cfg.get("format") != "graphad.nn.Sequential":
        raise GraphadError("unknown format")
    name = cfg.get("name", "sequential")
    if not isinstance(name, str):
        raise GraphadError("the model's name is not a string")
    model = Sequential(name=name)
    if cfg.get("input_shape") is not None:
        model.add(Input(cfg["input_shape"]))
    layers = cfg["layers"]
    if not isinstance(layers, list):
        raise GraphadError("the layers are not a list")
    for lc in layers:
        model.add(from_config(lc))
    return model


def model_from_json(text: str | bytes) -> Any:
    """A new model of the architecture ``model.to_json()`` describes (``keras.models.
    model_from_json``); its weights are initialized afresh.

    The text is at most ``max_file_bytes`` (:mod:`graphad.core.limits`) and is only
    parsed as JSON: names select among graphad's own layer classes.

    Parameters
    ----------
    text : str or bytes
        The JSON text ``model.to_json()`` returned.

    Returns
    -------
    Sequential
        A model with that architecture and fresh weights.

    Raises
    ------
    GraphadError
        If ``text`` is not JSON text, or not a valid architecture (the message says what
        is wrong).
    LimitError
        If ``text`` is longer than ``ga.limits`` ``max_file_bytes``.

    Examples
    --------
    >>> import graphad as ga
    >>> m = ga.nn.Sequential([ga.nn.Dense(3, "relu", input_shape=(2,)), ga.nn.Dropout(0.5)])
    >>> [type(ly).__name__ for ly in ga.nn.model_from_json(m.to_json()).layers]
    ['Dense', 'Dropout']
    """
    from ..core.limits import current

    if not isinstance(text, str | bytes):
        raise GraphadError(f"model_from_json takes JSON text, got {type(text).__name__}")
    limit = current().max_file_bytes
    if len(text) > limit:
        raise LimitError(
            f"the JSON text has {len(text):,} characters, more than max_file_bytes={limit}"
        )
    try:
        return _from_config(json.loads(text), None)
    except LimitError:
        raise
    except GraphadError as exc:
        raise GraphadError(f"model_from_json: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        raise GraphadError(
            f"model_from_json: the architecture is invalid ({type(exc).__name__}: {exc})"
        ) from None


def _restore_optimizer(model: Any, cfg: dict, extra: dict[str, np.ndarray]) -> None:
    c = cfg["compile"]
    model.compile(optimizer=c["optimizer"], loss=c["loss"], metrics=c["metrics"])
    if "optimizer_iterations" not in extra:
        return  # a file of an older version: the state starts afresh
    slots = []
    k = 0
    while f"optimizer_slot_{k}" in extra:
        slots.append(extra[f"optimizer_slot_{k}"])
        k += 1
    iterations = extra["optimizer_iterations"]
    if iterations.shape != () or iterations.dtype.kind not in "iu" or int(iterations) < 0:
        raise GraphadError("the optimizer's step count is not a non-negative integer")
    model.optimizer.set_state(model.trainable_weights, slots, int(iterations))


def load(path: str | os.PathLike) -> Any:
    """Read a model written by :meth:`Sequential.save` (compiled again if it was, with its
    optimizer's state).

    Every size the file declares is checked against :mod:`graphad.core.limits`
    before anything is allocated: the file's size and the size its members
    expand to (``max_file_bytes``), each weight's ``.npy`` header
    (``max_ndim``, ``max_elements``, and the bytes the member really holds),
    and each layer the architecture describes (a ``Dense`` kernel is at most
    ``max_elements``).  The layers are built directly from the file's weights:
    no initializer runs.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file ``save`` wrote.

    Returns
    -------
    Sequential
        The model, with its weights (and optimizer state, when compiled).

    Raises
    ------
    GraphadError
        If the file is missing, truncated, corrupt or not a graphad model
        (``LimitError`` when it declares more than a limit allows).

    Examples
    --------
    >>> import graphad as ga, numpy as np, os, tempfile
    >>> m = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,))])
    >>> path = os.path.join(tempfile.mkdtemp(), "m.npz")
    >>> m.save(path)
    >>> np.array_equal(ga.nn.load(path).get_weights()[0], m.get_weights()[0])
    True
    """
    path = os.fspath(path)
    cfg, weights, extra = read_checked(path, "model file", architecture=True)
    try:
        with _init.from_arrays(weights) as left:  # the builds take these, no initializer runs
            model = _from_config(cfg, weights)
            if left:
                raise GraphadError(
                    f"the file holds {len(weights)} weight arrays, the architecture uses "
                    f"{len(weights) - len(left)}"
                )
        model.set_weights(weights)  # in the model's order, whatever order the layers built in
        if "compile" in cfg:
            _restore_optimizer(model, cfg, extra)
    except LimitError as exc:
        raise LimitError(f"cannot load model file {path!r}: {exc}") from None
    except GraphadError as exc:
        raise GraphadError(f"cannot load model file {path!r}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise GraphadError(
            f"cannot load model file {path!r}: its architecture is invalid "
            f"({type(exc).__name__}: {exc})"
        ) from None
    return model
