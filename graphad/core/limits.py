"""Resource limits for untrusted input, in one place.

graphad is meant to be pointed at text from other people: a web form, a
shared notebook, a configuration file.  Every stage that reads such input is
bounded by the limits here, and each breach raises an error that names the
limit                    (``max_nodes=250000``), so that the fix is obvious:

=======================  ==============  ==============================================
limit                    default         what it bounds
=======================  ==============  ==============================================
``max_length``           1,000,000       characters of expression text (``ga.parse``)
``max_depth``            10,000          nesting depth of brackets and calls
``max_tokens``           2,000,000       tokens of expression text
``max_literal_digits``   400             digits of one numeric literal
``max_nodes``            250,000         graph nodes one ``ga.parse`` or ``ga.load`` adds
``max_elements``         100,000,000     elements of a static shape in text or a file
``max_file_bytes``       268,435,456     size of a file ``ga.load`` reads (256 MiB)
``max_ndim``             32              dimensions of one array in a file
``max_live_elements``    1,000,000,000   array elements alive at once while evaluating
=======================  ==============  ==============================================

The parser's limits are :class:`ParseLimits`; the others are
enforced by ``ga.parse`` (nodes, elements) and ``ga.load`` (nodes, bytes).
The file readers of :mod:`graphad.nn` (``ga.nn.load``) and
:mod:`graphad.datasets` (``read_idx``, ``load_mnist``) check every size a file
declares (array shapes in its headers, a model's layer sizes) against
``max_ndim``, ``max_elements`` and ``max_file_bytes`` (the file itself, and the
data it holds once decompressed) before they allocate anything, and read
compressed data with that bound.  A ``Dense`` layer refuses a kernel of more
than ``max_elements`` elements.  Evaluation and compilation check the whole
computation, not one tensor: once a graph is specialized to its inputs' shapes,
the peak of elements its schedule holds alive at once (intermediates are freed
after their last use; views and constants cost nothing) must stay within
``max_live_elements``, checked before anything runs.
Integer literals must also fit in int64 (write larger numbers as floats,
``1e30``), and integer powers of constants fold to floats (``9**9**9`` is
``inf``), so no big-integer arithmetic ever runs on user input.

For text from strangers, tighter limits are a good idea::

    with ga.limits.override(max_length=10_000, max_nodes=5_000):
        e = ga.parse(untrusted_text)

Examples
--------
>>> import graphad as ga
>>> ga.limits.current().max_nodes
250000
>>> with ga.Graph(), ga.limits.override(max_nodes=3):
...     ga.parse("x + y + z")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
graphad.ParseError: the expression needs more than 3 graph nodes; ...max_nodes=3...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

__all__ = ["Limits", "configure", "current", "override"]


@dataclass(frozen=True)
class ParseLimits:
    """Resource limits for :func:`parse`; exceeding one raises ``ParseError``.

    Parameters
    ----------
    max_length : int, default 1_000_000
        Characters of input.
    max_depth : int, default 10_000
        Nesting depth of brackets (parentheses, calls, lists).
    max_tokens : int, default 2_000_000
        Tokens (numbers, names, operators, brackets, commas).
    max_literal_digits : int, default 400
        Digits in one numeric literal (underscores and prefixes not counted).
    """

    max_length: int = 1_000_000
    max_depth: int = 10_000
    max_tokens: int = 2_000_000
    max_literal_digits: int = 400

    def __post_init__(self) -> None:
        for field_name in ("max_length", "max_depth", "max_tokens", "max_literal_digits"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ParseLimits.{field_name} must be a positive int, got {value!r}")


@dataclass(frozen=True)
class Limits:
    """Every resource limit graphad enforces on untrusted input (see the module docstring).

    Parameters
    ----------
    max_length, max_depth, max_tokens, max_literal_digits : int
        The parser's limits (:class:`ParseLimits`).
    max_nodes : int, default 250_000
        Graph nodes one ``ga.parse`` or ``ga.load`` call may add (about 1.6 kB each).
    max_elements : int, default 100_000_000
        Elements of a tensor whose static shape expression text or a loaded
        file fixes (``broadcast_to(1.0, (100000, 100000))`` describes 80 GB).
    max_file_bytes : int, default 256 MiB
        Size of a file ``ga.load``, ``ga.nn.load`` or ``graphad.datasets.read_idx``
        accepts, and of the data a compressed file may expand to.
    max_ndim : int, default 32
        Dimensions of one array declared by a file (an ``.npy`` header inside
        a model file, an IDX header).
    max_live_elements : int, default 1_000_000_000
        Array elements an evaluation may hold alive at once, estimated from the
        schedule of the graph specialized to its inputs (8 GB of float64).

    Raises
    ------
    ValueError
        If a limit is not a positive int.

    Examples
    --------
    >>> from graphad.core.limits import Limits
    >>> Limits(max_nodes=1000).parse_limits().max_depth
    10000
    """

    max_length: int = 1_000_000
    max_depth: int = 10_000
    max_tokens: int = 2_000_000
    max_literal_digits: int = 400
    max_nodes: int = 250_000
    max_elements: int = 100_000_000
    max_file_bytes: int = 256 * 1024 * 1024
    max_ndim: int = 32
    max_live_elements: int = 1_000_000_000

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{f.name} must be a positive int, got {value!r}")

    def parse_limits(self) -> Any:
        """The parser's share of these limits, as a :class:`ParseLimits`."""
        return ParseLimits(
            max_length=self.max_length,
            max_depth=self.max_depth,
            max_tokens=self.max_tokens,
            max_literal_digits=self.max_literal_digits,
        )


_process_wide = Limits()
_overridden: ContextVar[Limits | None] = ContextVar("graphad_limits", default=None)


def current() -> Limits:
    """The limits in force here: the innermost :func:`override`, else the process-wide ones.

    Returns
    -------
    Limits
        A frozen record of every limit.

    Examples
    --------
    >>> import graphad as ga
    >>> ga.limits.current().max_depth
    10000
    """
    found = _overridden.get()
    return found if found is not None else _process_wide


def configure(**changes: int) -> Limits:
    """Change the process-wide limits (every thread); returns the previous ones.

    Parameters
    ----------
    **changes : int
        New values by limit name (positive ints; ``Limits`` lists the names).

    Returns
    -------
    Limits
        The limits in force before the change.

    Raises
    ------
    UnknownNameError
        For a name that is not a limit (nothing changes).
    ValueError
        For a value that is not a positive int (nothing changes).

    Examples
    --------
    >>> import graphad as ga
    >>> before = ga.limits.configure(max_length=50_000)
    >>> ga.limits.current().max_length
    50000
    >>> _ = ga.limits.configure(**vars(before))  # restore
    """
    global _process_wide
    previous = _process_wide
    _process_wide = _replace(previous, changes)
    return previous


@contextmanager
def override(**changes: int) -> Iterator[Limits]:
    """Change limits inside a ``with`` block, for this thread (or async task) only.

    Parameters
    ----------
    **changes : int
        New values by limit name (positive ints; ``Limits`` lists the names).

    Yields
    ------
    Limits
        The limits in force inside the block.

    Raises
    ------
    UnknownNameError
        For a name that is not a limit (nothing changes).
    ValueError
        For a value that is not a positive int (nothing changes).

    Examples
    --------
    >>> import graphad as ga
    >>> with ga.limits.override(max_depth=3) as lim:
    ...     lim.max_depth
    3
    """
    token = _overridden.set(_replace(current(), changes))
    try:
        yield _overridden.get()
    finally:
        _overridden.reset(token)


def _replace(base: Limits, changes: dict[str, Any]) -> Limits:
    names = {f.name for f in dataclasses.fields(Limits)}
    unknown = sorted(set(changes) - names)
    if unknown:
        from .errors import UnknownNameError

        raise UnknownNameError(
            f"unknown limit(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(names))}"
        )
    return dataclasses.replace(base, **changes)
