"""Weight penalties added to the training loss, with Keras' names and defaults.

``l1(0.01)`` adds ``0.01 * sum(|w|)``, ``l2(0.01)`` adds ``0.01 * sum(w**2)``
(no factor 1/2, as in Keras), ``l1_l2(l1, l2)`` both.  Layers take them as
``kernel_regularizer=`` and ``bias_regularizer=``, by object or by name
(``"l1"``, ``"l2"``, ``"l1_l2"`` with Keras' default factors).

Examples
--------
>>> import graphad as ga, numpy as np
>>> float(ga.nn.regularizers.l2(0.5)(np.array([1.0, 2.0])).eval())
2.5
"""

from __future__ import annotations

from typing import Any

from .. import ops as _ops
from ..core.errors import GraphadError

__all__ = ["L1", "L1L2", "L2", "Regularizer", "get", "l1", "l1_l2", "l2"]


def _factor(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GraphadError(f"{what} must be a non-negative number, got {value!r}")
    if not float(value) >= 0.0:
        raise GraphadError(f"{what} must be a non-negative number, got {value!r}")
    return float(value)


class Regularizer:
    """A penalty ``l1 * sum(|w|) + l2 * sum(w**2)`` on one weight."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, w: Any) -> Any:
        terms = []
        if self.l1:
            terms.append(self.l1 * _ops.sum(_ops.abs(w)))
        if self.l2:
            terms.append(self.l2 * _ops.sum(_ops.square(w)))
        if not terms:
            return 0.0 * _ops.sum(w)
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1(Regularizer):
    """``l1 * sum(|w|)`` (Keras' default factor 0.01)."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)


class L2(Regularizer):
    """``l2 * sum(w**2)`` (Keras' default factor 0.01)."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)


class L1L2(Regularizer):
    """Both penalties (Keras' ``L1L2``, factors 0 by default)."""


l1 = L1
l2 = L2


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:
    """``L1L2`` with Keras' default factors of the ``l1_l2`` shortcut (0.01 each)."""
    return L1L2(l1=l1, l2=l2)


def get(spec: Any) -> Regularizer | None:
    """A regularizer from None, a name (``"l1"``, ``"l2"``, ``"l1_l2"``), a config dict
    ``{"l1": ..., "l2": ...}`` or an instance."""
    if spec is None or isinstance(spec, Regularizer):
        return spec
    if isinstance(spec, str) and spec in ("l1", "l2", "l1_l2"):
        return {"l1": L1, "l2": L2, "l1_l2": l1_l2}[spec]()
    if isinstance(spec, dict) and set(spec) <= {"l1", "l2"}:
        return Regularizer(**spec)
    raise GraphadError(
        f"unknown regularizer {spec!r}; use 'l1', 'l2', 'l1_l2', "
        "ga.nn.regularizers.l2(0.01) or None"
    )
