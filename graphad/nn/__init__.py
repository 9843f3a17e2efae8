"""Keras-style networks: layers, losses, metrics, callbacks and a ``Sequential`` model.

The package's parts: :mod:`.layers`, :mod:`.initializers`, :mod:`.regularizers`,
:mod:`.losses`, :mod:`.metrics`, :mod:`.model` (``Sequential`` and its one step
builder), :mod:`.fit` (the training loop and the executor protocol),
:mod:`.callbacks` (``History``, ``EarlyStopping``...), :mod:`.history`
(plots), :mod:`.io` (files) and :mod:`.saving` (models from files and JSON).
``graphad.distributed`` runs the same steps on a Dask cluster; this package
does not import it.

Examples
--------
>>> import graphad as ga, numpy as np
>>> ga.nn.set_random_seed(0)
>>> X = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
>>> y = (X[:, 0] > 0).astype(int)
>>> model = ga.nn.Sequential([ga.nn.Dense(8, activation="relu"),
...                          ga.nn.Dense(2, activation="softmax")])
>>> model.compile(optimizer=ga.optim.Adam(0.05), loss="sparse_categorical_crossentropy",
...               metrics=["accuracy"])
>>> history = model.fit(X, y, epochs=20, verbose=0)
>>> history.history["accuracy"][-1] > 0.9
True
"""

from __future__ import annotations

from . import callbacks, initializers, losses, metrics, regularizers
from ._common import FLOATX, set_random_seed
from .callbacks import History
from .fit import Executor, LocalExecutor, register_executor
from .layers import (
    Activation,
    BatchNormalization,
    Dense,
    Dropout,
    Flatten,
    Input,
    Layer,
    Reshape,
)
from .losses import (
    binary_crossentropy,
    categorical_crossentropy,
    hinge,
    huber,
    kl_divergence,
    mean_absolute_error,
    mean_squared_error,
    mse,
    sparse_categorical_crossentropy,
    to_categorical,
)
from .metrics import accuracy, precision, recall, top_k_categorical_accuracy
from .model import Sequential
from .saving import load, model_from_json

__all__ = [
    "FLOATX",
    "Activation",
    "BatchNormalization",
    "Dense",
    "Dropout",
    "Executor",
    "Flatten",
    "History",
    "Input",
    "Layer",
    "LocalExecutor",
    "Reshape",
    "Sequential",
    "accuracy",
    "binary_crossentropy",
    "callbacks",
    "categorical_crossentropy",
    "hinge",
    "huber",
    "initializers",
    "kl_divergence",
    "load",
    "losses",
    "mean_absolute_error",
    "mean_squared_error",
    "metrics",
    "model_from_json",
    "mse",
    "precision",
    "recall",
    "regularizers",
    "register_executor",
    "set_random_seed",
    "sparse_categorical_crossentropy",
    "to_categorical",
    "top_k_categorical_accuracy",
]
