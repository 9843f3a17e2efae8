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
    assert by_name["sin"][1] == "numpy.sin" and by_name["sin"][2] == "1"
    assert by_name["abs"][1] == "numpy.absolute"
    assert "relu'(0) = 0" in by_name["relu"][4]  # the convention comes from the op's doc


def test_api_page_names_every_public_name():
    text = _ext("apipage").api_rst()
    listed = {line.strip().removeprefix("graphad.") for line in text.splitlines()}
    missing = [n for n in ga.__all__ if n not in listed]
    assert not missing, f"docs/api.rst does not list {missing}"
