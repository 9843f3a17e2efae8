"""The graphad error hierarchy.

Every error graphad raises on purpose derives from :class:`GraphadError`, so a
caller can catch one class.  The subclasses also derive from the built-in
exception a NumPy user would expect (``ValueError`` for bad text or shapes,
``TypeError`` for wrong dtypes, ``KeyError``-like lookups are ``ValueError``
with the missing name in the message).
"""

from __future__ import annotations

__all__ = [
    "GraphadError",
    "ParseError",
    "ShapeError",
    "DTypeError",
    "MissingInputError",
    "UnknownNameError",
    "GradientCheckError",
    "LimitError",
]


class GraphadError(Exception):
    """Base class of every error graphad raises deliberately.

    Examples
    --------
    >>> import graphad as ga
    >>> try:
    ...     ga.parse("x +")
    ... except ga.GraphadError as exc:
    ...     print(type(exc).__name__)
    ParseError
    """


class ParseError(GraphadError, ValueError):
    """Text that is not a valid graphad expression.

    Parameters
    ----------
    reason : str
        What is wrong.
    text : str
        The input text.
    position : int
        0-based index into ``text`` of the fault.

    Attributes
    ----------
    text : str
        The input text.
    position : int
        0-based index into ``text`` of the fault.
    reason : str
        The message without the caret display.

    Examples
    --------
    >>> import graphad as ga
    >>> try:
    ...     ga.parse("2x + 1")
    ... except ga.ParseError as exc:
    ...     print(exc.position)
    ...     print(exc)
    1
    missing operator between '2' and 'x'; to multiply, write 2*x (at position 1)
      2x + 1
       ^
    """

    def __init__(self, reason: str, text: str = "", position: int = 0):
        self.reason = reason
        self.text = text
        self.position = max(0, min(position, len(text)))
        super().__init__(self._format())

    def _format(self) -> str:
        if not self.text:
            return self.reason
        line_start = self.text.rfind("\n", 0, self.position) + 1
        line_end = self.text.find("\n", self.position)
        if line_end < 0:
            line_end = len(self.text)
        line = self.text[line_start:line_end]
        col = self.position - line_start
        # Keep very long inputs readable: show a window around the fault.
        if len(line) > 120:
            lo = max(0, col - 60)
            hi = min(len(line), lo + 120)
            prefix = "..." if lo > 0 else ""
            suffix = "..." if hi < len(line) else ""
            line = prefix + line[lo:hi] + suffix
            col = col - lo + len(prefix)
        # one display character per input character keeps the caret aligned
        shown = "".join(
            ch if ch.isprintable() else "\N{SYMBOL FOR NULL}" if ch == "\0" else " " for ch in line
        )
        return f"{self.reason} (at position {self.position})\n  {shown}\n  {' ' * col}^"


class ShapeError(GraphadError, ValueError):
    """Operand shapes an op cannot combine; the message names the op and shapes.

    Examples
    --------
    >>> import graphad as ga
    >>> a, b = ga.symbol("a", shape=(2, 3)), ga.symbol("b", shape=(4, 5))
    >>> a @ b
    Traceback (most recent call last):
    ...
    graphad.ShapeError: matmul: ...
    """


class DTypeError(GraphadError, TypeError):
    """A value of a dtype an input or op does not accept.

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.symbol("x", dtype="float32")
    >>> (2 * x).eval(x="text")
    Traceback (most recent call last):
    ...
    graphad.DTypeError: ...
    """


class MissingInputError(GraphadError, ValueError):
    """A value for an input the expression needs was not given.

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> (x * y).eval(x=1.0)
    Traceback (most recent call last):
    ...
    graphad.MissingInputError: ...'y'...
    """


class UnknownNameError(GraphadError, ValueError):
    """A name (input, function, option) that graphad does not know.

    Examples
    --------
    >>> import graphad as ga
    >>> ga.parse("sinn(x)")
    Traceback (most recent call last):
    ...
    graphad.ParseError: unknown function 'sinn'...
    >>> issubclass(ga.UnknownNameError, ValueError)
    True
    """


class LimitError(GraphadError, ValueError):
    """A configured resource limit (input length, nodes, depth, literal size) was exceeded.

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.limits.override(max_nodes=3):
    ...     ga.parse("x + y + z + 1")
    Traceback (most recent call last):
    ...
    graphad.ParseError: the expression needs more than 3 graph nodes; ...max_nodes=3...
    """


class GradientCheckError(GraphadError, AssertionError):
    """A gradient check failed; ``.report`` holds the full report.

    Parameters
    ----------
    message : str
        The verdict, in words.
    report : GradCheckReport, optional
        The check's report.

    Examples
    --------
    >>> import numpy as np, graphad as ga
    >>> bad = ga.defop("badsin", np.sin, vjp=lambda g, x: [g * 1.1 * ga.cos(x)])
    >>> x = ga.symbols("x")
    >>> try:
    ...     ga.assert_grad(bad(x), at={"x": 0.3})
    ... except ga.GradientCheckError as exc:
    ...     print(exc.report.ok)
    False
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


# Users meet these as ``graphad.ParseError`` (tracebacks, reprs, pickles): the
# package re-exports them, so that is their public home, not this module.
for _cls in (
    GraphadError,
    ParseError,
    ShapeError,
    DTypeError,
    MissingInputError,
    UnknownNameError,
    LimitError,
    GradientCheckError,
):
    _cls.__module__ = "graphad"
del _cls
