"""Learning-rate schedules with Keras' names and formulas: ``ExponentialDecay``,
``PiecewiseConstantDecay``, ``CosineDecay``.

A schedule is called with the optimizer's step count (``iterations``, 0 for
the first update) and returns the learning rate of that update; pass one as
``learning_rate=`` to any optimizer.  Schedules are saved with a model (their
configuration, not code).

Examples
--------
>>> import graphad as ga
>>> s = ga.optim.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> s(0), s(10), s(20)
(0.1, 0.05, 0.025)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from ..core.errors import GraphadError

__all__ = [
    "CosineDecay",
    "ExponentialDecay",
    "LearningRateSchedule",
    "PiecewiseConstantDecay",
    "deserialize",
]


def _positive(value: Any, what: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (value >= 0 if allow_zero else value > 0) or not math.isfinite(value):
        raise GraphadError(f"{what} must be a {'non-negative' if allow_zero else 'positive'} "
                           f"number, got {value!r}")  # fmt: skip
    return float(value)


def _step(step: Any) -> float:
    if isinstance(step, bool) or not isinstance(step, int | float) or step < 0:
        raise GraphadError(f"a schedule's step must be a non-negative number, got {step!r}")
    return float(step)


class LearningRateSchedule:
    """Base class: ``schedule(step) -> learning rate``, ``get_config()``.

    An optimizer given a schedule as its ``learning_rate`` calls it with its step
    count (``iterations``) before each update.

    Examples
    --------
    >>> import graphad as ga
    >>> class Halving(ga.optim.schedules.LearningRateSchedule):
    ...     def __call__(self, step):
    ...         return 1.0 / 2 ** int(step)
    ...     def get_config(self):
    ...         return {}
    >>> [Halving()(k) for k in range(3)]
    [1.0, 0.5, 0.25]
    """

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "class")
        return f"{type(self).__name__}({args})"


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase``
    the exponent is ``floor(step / decay_steps)``
    (``keras.optimizers.schedules.ExponentialDecay``).

    Parameters
    ----------
    initial_learning_rate : float
        The rate at step 0.
    decay_steps : int
        Steps over which the rate is multiplied by ``decay_rate`` once (> 0).
    decay_rate : float
        The factor per ``decay_steps``.
    staircase : bool
        Decay in whole steps of ``decay_steps``.

    Examples
    --------
    >>> import graphad as ga
    >>> s = ga.optim.schedules.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    >>> s(0), s(10), round(s(15), 6)
    (1.0, 0.5, 0.353553)
    >>> ga.optim.schedules.ExponentialDecay(1.0, 10, 0.5, staircase=True)(15)
    0.5
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ):
        self.initial_learning_rate = _positive(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.decay_rate = _positive(decay_rate, "decay_rate")
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        p = _step(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate**p

    def get_config(self) -> dict[str, Any]:
        return {
            "class": "ExponentialDecay",
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.

    Parameters
    ----------
    boundaries : sequence of float
        Increasing step boundaries.
    values : sequence of float
        The rates, one more than ``boundaries``.

    Raises
    ------
    GraphadError
        If ``values`` does not hold one more entry than ``boundaries``, or the
        boundaries do not increase.

    Examples
    --------
    >>> import graphad as ga
    >>> s = ga.optim.schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    >>> [s(k) for k in (0, 10, 11, 20, 21)]
    [1.0, 1.0, 0.5, 0.5, 0.1]
    """

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]):
        bounds = [float(_step(b)) for b in boundaries]
        vals = [_positive(v, "values", allow_zero=True) for v in values]
        if len(vals) != len(bounds) + 1:
            raise GraphadError(
                f"PiecewiseConstantDecay: {len(bounds)} boundaries need {len(bounds) + 1} "
                f"values, got {len(vals)}"
            )
        if any(b >= c for b, c in itertools.pairwise(bounds)):
            raise GraphadError("PiecewiseConstantDecay: boundaries must increase")
        self.boundaries = bounds
        self.values = vals

    def __call__(self, step: int) -> float:
        s = _step(step)
        for b, v in zip(self.boundaries, self.values, strict=False):
            if s <= b:
                return v
        return self.values[-1]

    def get_config(self) -> dict[str, Any]:
        return {
            "class": "PiecewiseConstantDecay",
            "boundaries": self.boundaries,
            "values": self.values,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (``keras.optimizers.schedules.CosineDecay``).

    Without warmup: ``initial_learning_rate * ((1 - alpha) * c + alpha)`` with
    ``c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``.  With
    ``warmup_steps``: a linear rise from ``initial_learning_rate`` to
    ``warmup_target`` over the first ``warmup_steps`` steps, then the decay
    from ``warmup_target`` over ``step - warmup_steps``.

    Parameters
    ----------
    initial_learning_rate : float
        The rate at step 0.
    decay_steps : int
        Steps of the decay (> 0).
    alpha : float
        The final rate, as a fraction of the rate the decay starts from.
    warmup_target : float, optional
        The rate the warmup rises to (``None``: no warmup).
    warmup_steps : int
        Steps of the warmup.

    Examples
    --------
    >>> import graphad as ga
    >>> s = ga.optim.schedules.CosineDecay(1.0, decay_steps=100, alpha=0.1)
    >>> s(0), round(s(50), 6), s(100), s(500)
    (1.0, 0.55, 0.1, 0.1)
    """

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        alpha: float = 0.0,
        warmup_target: float | None = None,
        warmup_steps: int = 0,
    ):
        self.initial_learning_rate = _positive(
            initial_learning_rate, "initial_learning_rate", allow_zero=True
        )
        self.decay_steps = _positive(decay_steps, "decay_steps")
        self.alpha = _positive(alpha, "alpha", allow_zero=True)
        self.warmup_target = (
            None if warmup_target is None else _positive(warmup_target, "warmup_target")
        )
        self.warmup_steps = _positive(warmup_steps, "warmup_steps", allow_zero=True)

    def _decay(self, start: float, step: float) -> float:
        c = 0.5 * (1.0 + math.cos(math.pi * min(step, self.decay_steps) / self.decay_steps))
        return start * ((1.0 - self.alpha) * c + self.alpha)

    def __call__(self, step: int) -> float:
        s = _step(step)
        if self.warmup_target is None or self.warmup_steps == 0:
            return self._decay(self.initial_learning_rate, s)
        if s < self.warmup_steps:
            rise = (self.warmup_target - self.initial_learning_rate) * s / self.warmup_steps
            return self.initial_learning_rate + rise
        return self._decay(self.warmup_target, s - self.warmup_steps)

    def get_config(self) -> dict[str, Any]:
        return {
            "class": "CosineDecay",
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


_CLASSES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def deserialize(config: dict) -> LearningRateSchedule:
    """A schedule from its ``get_config()``.

    Parameters
    ----------
    config : dict
        ``get_config()`` of a schedule (its ``"class"`` names which).

    Returns
    -------
    LearningRateSchedule
        An equal schedule.

    Raises
    ------
    GraphadError
        For a config that names no schedule of this module.

    Examples
    --------
    >>> import graphad as ga
    >>> s = ga.optim.schedules.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.5)
    >>> ga.optim.schedules.deserialize(s.get_config())(10)
    0.5
    """
    if not isinstance(config, dict) or config.get("class") not in _CLASSES:
        raise GraphadError(f"unknown learning-rate schedule {config!r}")
    cfg = dict(config)
    return _CLASSES[cfg.pop("class")](**cfg)
