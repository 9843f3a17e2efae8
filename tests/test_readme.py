"""The README's Python examples run as written (one shared namespace, in order)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_examples():
    assert len(_blocks()) >= 5


def test_readme_examples_run(tmp_path, monkeypatch):
    import graphad as ga

    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    with ga.Graph():
        for block in _blocks():
            if "ga.render(" in block and shutil.which("dot") is None:
                continue  # drawing to SVG needs Graphviz; tested in test_render.py
            # our own documentation, executed as the user would paste it
            exec(compile(block, str(README), "exec"), namespace)
    # the numbers and texts the README states
    assert str(namespace["gx"]) == "2 * x + cos(x * y) * y"
    assert str(namespace["h"][0][1]) == "cos(x * y) - y * sin(x * y) * x"
    assert namespace["J"].eval(x=np.array([0.5, -0.5])).shape == (3, 2)
    assert float(namespace["g"](2.0, np.array([1.0, 2.0, 3.0]))) == 6.0
    assert float(namespace["gx"].eval(x=3.0, y=2.0)) == pytest.approx(2 * 3 + 2 * np.cos(6))
    assert namespace["value"] == pytest.approx(9 + np.sin(6) - 1)
    assert float(namespace["x"].numpy()) == pytest.approx(1.292, rel=1e-6)
    assert namespace["gW1"].shape == (4, 5) and namespace["gW2"].shape == (5, 3)
    assert namespace["report"].ok
