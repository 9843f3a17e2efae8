"""What type checkers see: the README's and the example notebook's code check clean.

``x, y = ga.symbols("x y")``, operators on Exprs (attached at import time, declared
for checkers on the class), the lazily loaded names (``ga.compile``, ``ga.nn``...)
and the package found from an editable install (``make venv`` installs it in
compat mode, which mypy follows; py.typed marks it as typed).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import pathlib
import re
import shutil
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
                declared.update(a.asname or a.name for a in imp.names if a.name != "*")
    assert declared == set(graphad._LAZY)


def _op_stub_tool():
    spec = importlib.util.spec_from_file_location(
        "gen_op_types", ROOT / "tools" / "gen_op_types.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_op_stub_matches_the_op_table():
    """graphad/_opfunctions.pyi declares every public op function with its signature:
    regenerate it (python3 tools/gen_op_types.py) after adding or changing an op."""
    tool = _op_stub_tool()
    current = (ROOT / "graphad" / "_opfunctions.pyi").read_text(encoding="utf-8")
    assert current == tool.render(), "run: python3 tools/gen_op_types.py"
    tree = ast.parse(current)
    stubbed = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    from graphad.ops import TOP_LEVEL

    assert stubbed == set(TOP_LEVEL) - set(graphad._LAZY)
    for f in tree.body:
        if isinstance(f, ast.FunctionDef):
            assert ast.unparse(f.returns) == "Expr", f.name
            sig = inspect.signature(getattr(graphad, f.name))
            assert [a.arg for a in f.args.args] == [
                p.name for p in sig.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD
            ], f.name
    # the op functions are imported from it for checkers
    init = ast.parse((ROOT / "graphad" / "__init__.py").read_text(encoding="utf-8"))
    stars = [
        imp.module
        for node in init.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for imp in node.body
        if isinstance(imp, ast.ImportFrom) and imp.names[0].name == "*"
    ]
    assert stars == ["_opfunctions"]


def test_the_stub_tool_notices_a_stale_stub(tmp_path, monkeypatch):
    tool = _op_stub_tool()
    stale = tmp_path / "_opfunctions.pyi"
    stale.write_text(tool.render().replace("def sin(", "def sine("), encoding="utf-8")
    monkeypatch.setattr(tool, "STUB", stale)
    assert tool.main(["--check"]) == 1
    assert tool.main([]) == 0 and tool.main(["--check"]) == 0
    assert "def sin(x: Expr | ArrayLike) -> Expr: ..." in stale.read_text(encoding="utf-8")


def test_py_typed_marker_ships():
    assert (ROOT / "graphad" / "py.typed").exists()


def _examples_code() -> str:
    """The README's Python blocks, the notebook's code cells (in a function) and the
    lines a newcomer writes first, with ``reveal_type`` of what they should be."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = "\n".join(re.findall(r"```python\n(.*?)```", readme, re.S))
    notebook = json.loads((ROOT / "examples" / "tour.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    code += "\n\n\ndef _notebook() -> None:\n" + textwrap.indent("\n".join(cells), "    ") + "\n"
    # plus the lines a newcomer writes first, with the types they should get
    code += (
        "\nx2, y2 = ga.symbols('x2 y2')\n"
        "reveal_type(x2)\n"
        "reveal_type(x2 * y2 + 1)\n"
        "reveal_type(ga.compile)\n"
        "reveal_type(ga.nn.Sequential)\n"
        "reveal_type(ga.sin(x2))\n"
        "reveal_type(ga.sum(ga.hypot(x2, 1.0), axis=0))\n"
        "reveal_type(ga.stack([x2, y2]))\n"
    )
    return code


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is in the test extra")
def test_readme_examples_type_check(tmp_path):
    code = _examples_code()
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
    # the op functions, generated at import time, are typed too (graphad/_opfunctions.pyi)
    revealed = [ln for ln in lines if "Revealed type" in ln]
    assert all('"graphad.core.expr.Expr"' in ln for ln in revealed[-3:]), revealed[-3:]
    assert "def (" in notes and "graphad.backends.function.Function" in notes  # not Any
    assert "graphad.nn" in notes


#: pyright reports these in the README's Dask lines: dask leaves ``chunks`` and
#: ``dashboard_address`` unannotated, and pyright takes the type of an unannotated
#: parameter of a typed package from its default value (a str), so the README's tuple
#: and None are "errors" there; mypy takes them as Any.  (parameter, function) pairs.
_DASK_INFERRED = {("chunks", "random"), ("dashboard_address", "__init__")}


@pytest.mark.skipif(
    importlib.util.find_spec("pyright") is None, reason="pyright is in the test extra"
)
def test_readme_examples_type_check_with_pyright(tmp_path):
    """The same code under pyright (the checker the issue names), beside mypy above.

    The ``pyright`` wheel runs pyright's npm package with the machine's Node.js."""
    if shutil.which("node") is None:
        if os.environ.get("GRAPHAD_REQUIRE_BROWSER"):  # make test installs Node.js
            pytest.fail("pyright needs Node.js (node) on PATH; `make browser` installs it")
        pytest.skip("pyright needs Node.js (node) on PATH, and this machine has none")
    (tmp_path / "readme_examples.py").write_text(_examples_code(), encoding="utf-8")
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps({"pythonVersion": "3.11", "typeCheckingMode": "standard"}), encoding="utf-8"
    )
    out = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable,
         "readme_examples.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads(out.stdout)
    lines = (tmp_path / "readme_examples.py").read_text(encoding="utf-8").splitlines()
    errors = []
    for d in report["generalDiagnostics"]:
        if d["severity"] != "error":
            continue
        m = re.match(r'.*parameter "(\w+)" of type "str" in function "(\w+)"', d["message"])
        line = lines[d["range"]["start"]["line"]]
        if (
            m
            and (m.group(1), m.group(2)) in _DASK_INFERRED
            and ("rng." in line or "Cluster(" in line)
        ):
            continue
        errors.append(f"{d['range']['start']['line'] + 1}: {d['message']}")
    assert not errors, "\n".join(errors)
    assert report["summary"]["filesAnalyzed"] == 1
    revealed = [
        d["message"] for d in report["generalDiagnostics"] if d["message"].startswith("Type of")
    ]
    # x2, y2 = ga.symbols(...): each an Expr, and so are arithmetic on them and op functions
    assert revealed[:2] == ['Type of "x2" is "Expr"', 'Type of "x2 * y2 + 1" is "Expr"'], revealed
    assert all(r.endswith('is "Expr"') for r in revealed[-3:]), revealed
    assert "-> Function" in revealed[2] and "type[Sequential]" in revealed[3], revealed
