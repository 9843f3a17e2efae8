"""The package's layers, as DESIGN.md draws them: no cycles, no upward imports.

Imports inside functions count too (a lazy import is still a dependency), and
so do imports of the top-level package.  Imports under ``if TYPE_CHECKING:`` do
not: they never run.
"""

from __future__ import annotations

import ast
import pathlib

import networkx as nx
import pytest

import graphad

PACKAGE = pathlib.Path(graphad.__file__).parent

# lowest first; a module may import its own layer and the ones before it
LAYERS = [
    "core",
    "ops",
    "transforms",
    "backends",
    "frontends",
    "check",
    "eager",
    "optim",
    "nn",
    "distributed",
    "cli",
]
# modules above every layer: the public namespace and what it attaches
TOP = {"graphad", "graphad._methods", "graphad.testing", "graphad.__main__"}
# layers that use the public namespace itself: the command line is a client of ``ga``
USES_TOP = {"cli"}
# single-module members of a layer
MEMBERS = {"graphad.datasets": "nn"}


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["graphad", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> int | None:
    """Index in LAYERS, or None for the top."""
    if module in TOP:
        return None
    name = MEMBERS.get(module) or module.split(".")[1]
    return LAYERS.index(name)


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_edges() -> list[tuple[str, str, int]]:
    """(importer, imported graphad module, line) for every import that can run."""
    modules = _modules()
    edges = []
    for name, path in sorted(modules.items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
                targets = subs or [target]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name:
                    edges.append((name, target, node.lineno))
    return edges


def test_every_module_has_a_layer():
    for name in _modules():
        if name not in TOP:
            assert (MEMBERS.get(name) or name.split(".")[1]) in LAYERS, name


def _own(src: str, dst: str) -> bool:
    """A package importing its own modules (the root package is everyone's, so not counted).

    The other direction, a module importing its package's ``__init__``, is an edge like any
    other: with the package importing the module back it is a cycle.
    """
    return src != "graphad" and dst.startswith(src + ".")


def test_no_upward_imports():
    upward = []
    for src, dst, line in import_edges():
        if _own(src, dst):
            continue
        s, d = layer_of(src), layer_of(dst)
        if s is None:
            continue  # the top may use everything
        if (d is None and LAYERS[s] not in USES_TOP) or (d is not None and d > s):
            upward.append(f"{src}:{line} imports {dst}")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = nx.DiGraph()
    for src, dst, _ in import_edges():
        if not _own(src, dst):
            g.add_edge(src, dst)
    cycles = sorted(sorted(c) for c in nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize(
    ("module", "layer"),
    [("graphad.core.graph", "core"), ("graphad.backends.codegen", "backends")],
)
def test_layer_of_names_the_folder(module, layer):
    assert LAYERS[layer_of(module)] == layer


def test_the_checker_sees_a_planted_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "graphad"
    (fake / "core").mkdir(parents=True)
    (fake / "backends").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "backends" / "__init__.py").write_text("")
    (fake / "backends" / "codegen.py").write_text("")
    (fake / "core" / "graph.py").write_text("def f():\n    from ..backends import codegen\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert ("graphad.core.graph", "graphad.backends.codegen", 2) in import_edges()
    with pytest.raises(AssertionError, match=r"core\.graph:2 imports graphad\.backends\.codegen"):
        test_no_upward_imports()
