"""What every part of :mod:`graphad.nn` shares: the float type, the seeded generator,
and the checks of counts and seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import GraphadError

FLOATX = np.dtype(np.float32)
EPSILON = 1e-7
MAX_SEED = 2**32 - 1  # NumPy's legacy global generator takes seeds below 2**32
_state = {"rng": np.random.default_rng()}


def set_random_seed(seed: int | None) -> None:
    """Make a whole run reproducible, as ``keras.utils.set_random_seed`` does.

    Seeds graphad's own generator, from which everything random in graphad
    draws: weight initializers, ``fit``'s per-epoch shuffling and dropout masks
    (when ``fit`` gets no ``seed`` of its own), data-parallel ``fit`` on Dask.
    Like Keras, it also seeds Python's :mod:`random` and NumPy's global
    generator (``np.random.*``), so that initializers written with those are
    reproducible too.  Two runs that start from the same seed and make the
    same calls give bit-identical weights and histories.

    Parameters
    ----------
    seed : int in [0, 2**32 - 1], or None
        None seeds everything afresh from the operating system's entropy.

    Examples
    --------
    >>> import graphad as ga
    >>> ga.nn.set_random_seed(3)
    >>> a = ga.nn.Dense(2, input_shape=(2,)).kernel.numpy()
    >>> ga.nn.set_random_seed(3)
    >>> bool((ga.nn.Dense(2, input_shape=(2,)).kernel.numpy() == a).all())
    True
    """
    import random

    if seed is not None:
        seed = check_seed(seed, "set_random_seed: seed")
    random.seed(seed)
    np.random.seed(seed)
    _state["rng"] = np.random.default_rng(seed)


def global_rng() -> np.random.Generator:
    """graphad's generator, the one :func:`set_random_seed` seeds."""
    return _state["rng"]


def check_seed(seed: Any, what: str) -> int:
    """``seed`` as an int in [0, 2**32 - 1], else a GraphadError naming ``what``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise GraphadError(f"{what} must be an integer in [0, {MAX_SEED}], got {seed!r}")
    if not 0 <= int(seed) <= MAX_SEED:
        raise GraphadError(f"{what} must be in [0, {MAX_SEED}], got {int(seed)}")
    return int(seed)


def generator(seed: int | None = None) -> np.random.Generator:
    """The generator of one random task (a ``fit`` run's shuffling...).

    With ``seed``, its own stream; without, a stream drawn from graphad's generator,
    which :func:`set_random_seed` seeds, so the whole run stays reproducible.
    """
    if seed is not None:
        return np.random.default_rng(check_seed(seed, "seed"))
    return np.random.default_rng(int(global_rng().integers(0, 2**63)))


def check_count(value: Any, what: str, minimum: int = 1) -> int:
    """A non-bool integer ``>= minimum``, else a GraphadError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GraphadError(f"{what} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise GraphadError(f"{what} must be an integer >= {minimum}, got {int(value)}")
    return int(value)


def check_fraction(value: Any, what: str, low_open: bool = False) -> float:
    """A real number in [0, 1) (``(0, 1)`` with ``low_open``), else a GraphadError."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise GraphadError(f"{what} must be a number in [0, 1), got {value!r}")
    v = float(value)
    if not (0.0 < v < 1.0 if low_open else 0.0 <= v < 1.0):
        raise GraphadError(f"{what} must be in {'(0' if low_open else '[0'}, 1), got {v}")
    return v
