"""Training curves: :meth:`History.plot` draws them, :class:`Plot` shows them in a notebook.

The figure is drawn on matplotlib's Agg canvas directly, so it needs no display
and never changes the backend of an interactive session; a notebook shows the
returned :class:`Plot` through its ``_repr_png_``, in a fresh kernel too.
"""

from __future__ import annotations

import io
import os
from typing import Any

from ..core.errors import GraphadError

__all__ = ["Plot", "plot_history"]


class Plot:
    """A drawn figure that Jupyter displays as a PNG image.

    Attribute access goes on to the matplotlib ``Figure`` (``plot.savefig(...)``,
    ``plot.axes``); ``plot.figure`` is the Figure itself.
    """

    def __init__(self, figure: Any):
        self.figure = figure

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        return buf.getvalue()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_repr_") or name == "figure":
            raise AttributeError(name)  # only the PNG form is offered to a notebook
        return getattr(self.figure, name)

    def __repr__(self) -> str:
        n = len(self.figure.axes)
        return f"<graphad.nn.Plot: {n} panel{'s' if n != 1 else ''} (a PNG image in a notebook)>"


def plot_history(history: Any, path: str | os.PathLike | None = None) -> Plot:
    """The loss and metric curves of ``history`` (validation dashed), one panel each."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise GraphadError("plotting needs matplotlib: pip install graphad[plot]") from None
    groups = [k for k in history.history if not k.startswith("val_") and k != "learning_rate"]
    fig = Figure(figsize=(5 * max(1, len(groups)), 3.6))
    FigureCanvasAgg(fig)
    epochs = [e + 1 for e in history.epoch]
    for i, key in enumerate(groups):
        ax = fig.add_subplot(1, len(groups), i + 1)
        ax.plot(epochs, history.history[key], "o-", label=f"training {key}")
        if f"val_{key}" in history.history:
            ax.plot(epochs, history.history[f"val_{key}"], "s--", label=f"validation {key}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    if path is not None:
        path = os.fspath(path)
        try:
            fig.savefig(path)
        except ValueError as exc:  # a suffix matplotlib has no writer for
            raise GraphadError(f"cannot write the plot to {path!r}: {exc}") from None
    return Plot(fig)
