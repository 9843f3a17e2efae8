"""Shared by the test suite and the doctests of the package (``pytest --doctest-modules``)."""

from __future__ import annotations

import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _doctest_graph(request):
    """Each docstring example runs on a fresh default graph, as if on its own.

    Examples declare inputs by name (``ga.symbol("x", shape=(4,))``), and a name is
    declared once per graph, so examples sharing one graph would see each other's.
    """
    if isinstance(request.node, DoctestItem):
        import graphad as ga

        with ga.Graph():
            yield
    else:
        yield
