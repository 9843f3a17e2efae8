"""What type checkers see: the README's and the example notebook's code check clean.

``x, y = ga.symbols("x y")``, operators on Exprs (attached at import time, declared
for checkers on the class), the lazily loaded names (``ga.compile``, ``ga.nn``...)
and the package found from an editable install (``make venv`` installs it in
compat mode, which mypy follows; py.typed marks it as typed).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import graphad

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_lazy_names_are_declared_for_type_checkers():
    tree = ast.parse((ROOT / "graphad" / "__init__.py").read_text(encoding="utf-8"))
    declared = set()
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imp in node.body:
                declared.update(a.asname or a.name for a in imp.names)
    assert declared == set(graphad._LAZY)


def test_py_typed_marker_ships():
    assert (ROOT / "graphad" / "py.typed").exists()


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is in the test extra")
def test_readme_examples_type_check(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))
    notebook = json.loads((ROOT / "examples" / "tour.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    code += "\n\n\ndef _notebook() -> None:\n" + textwrap.indent("\n".join(cells), "    ") + "\n"
    # plus the lines a newcomer writes first, with the types they should get
    code += (
        "\nx2, y2 = ga.symbols('x2 y2')\n"
        "reveal_type(x2 * y2 + 1)\n"
        "reveal_type(ga.compile)\n"
        "reveal_type(ga.nn.Sequential)\n"
    )
    (tmp_path / "readme_examples.py").write_text(code, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".mypy_cache"),
         "--no-error-summary", "--allow-redefinition", "readme_examples.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    lines = out.stdout.splitlines()
    errors = [ln for ln in lines if ": error:" in ln]
    assert not errors, "\n".join(errors)
    notes = "\n".join(ln for ln in lines if "Revealed type" in ln)
    assert 'Revealed type is "graphad.core.expr.Expr"' in notes
    assert "def (" in notes and "graphad.backends.function.Function" in notes  # not Any
    assert "graphad.nn" in notes
