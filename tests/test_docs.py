"""The reference documentation's generated parts read the code they describe."""

from __future__ import annotations

import pathlib
import sys

import graphad as ga
from graphad.ops import OPS

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def _ext(name: str):
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_op_table_page_lists_every_public_op_once():
    rows = list(_ext("optable")._rows())
    names = [r[0] for r in rows]
    public_ops = {n for n in ga.__all__ if n in OPS and not OPS[n].internal}
    # ops of a sub-namespace are listed by their full name (linalg.inv)
    public_ops |= {f"{op.namespace}.{n}" for n, op in OPS.items() if op.namespace and op.public}
    assert sorted(names) == sorted(public_ops)
    by_name = {r[0]: r for r in rows}
    header = _ext("optable").HEADER
    assert header[:5] == [
        "op", "NumPy equivalent", "arguments", "differentiable arguments", "kink convention"
    ]  # fmt: skip
    assert all(len(r) == len(header) for r in rows)
    assert by_name["sin"][1:4] == ["numpy.sin", "x", "x"]
    assert by_name["abs"][1] == "numpy.abs"
    assert by_name["std"][1] == "numpy.std"  # from the numpy facet, not the implementation
    assert "relu'(0) = 0" in by_name["relu"][4]  # the kink convention is the op's own
    assert by_name["sin"][4] == "-" and by_name["sin"][5] == "Elementwise ``np.sin``."


def test_op_table_page_names_the_arguments_gradients_reach():
    by_name = {r[0]: r for r in _ext("optable")._rows()}
    # where(condition, x, y): nothing flows to the boolean condition
    assert by_name["where"][2:4] == ["condition, x, y", "x, y (not condition)"]
    # floor is differentiable but piecewise constant: its gradient is 0
    assert by_name["floor"][3] == "none (its gradient is 0)"
    assert by_name["argmax"][3] == "none"  # not differentiable at all (an index)
    assert by_name["clip"][3] == "x, lo, hi"  # the active bound gets the gradient
    assert by_name["matmul"][2:4] == ["a, b", "a, b"]
    assert by_name["stack"][3] == "arrays (each array)"
    # static parameters are arguments but never differentiable ones
    assert by_name["sum"][2:4] == ["x, axis, keepdims", "x"]


def test_api_page_names_every_public_name():
    text = _ext("apipage").api_rst()
    listed = {line.strip().removeprefix("graphad.") for line in text.splitlines()}
    missing = [n for n in ga.__all__ if n not in listed]
    assert not missing, f"docs/api.rst does not list {missing}"
