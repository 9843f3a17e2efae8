"""graphad: a symbolic computational-graph compiler for Python.

An expression becomes a networkx DAG; the chain rule is a graph
transformation that adds gradient nodes to it; graphs are evaluated with
NumPy, compiled to NumPy source, rendered with graphviz and checked against
finite differences and SymPy.

Examples
--------
>>> import graphad as ga
>>> x, y = ga.symbols("x y")
>>> e = ga.parse("x**2 + sin(x*y) - 1")
>>> float(ga.grad(e, x).eval(x=3.0, y=0.0))
6.0
"""

from __future__ import annotations

import copyreg
import sys
import types
from importlib import import_module
from typing import Any

from . import ops as _ops
from .autodiff import grad, hessian, jacobian, jvp, substitute, value_and_grad, vjp
from .errors import (
    DTypeError,
    GradientCheckError,
    GraphadError,
    LimitError,
    MissingInputError,
    ParseError,
    ShapeError,
    UnknownNameError,
)  # fmt: skip
from .expr import Expr, constant, parse, symbol, symbols
from .graph import Graph, get_default_graph
from .ops import PUBLIC as _OP_FUNCTIONS
from .ops import defop
from .sympy_bridge import from_sympy, to_sympy

__version__ = "0.1.0"

# Names served from modules that are imported on first use, so that
# ``import graphad`` stays fast (SymPy, graphviz, matplotlib are never loaded here).
_LAZY: dict[str, tuple[str, str | None]] = {
    "compile": (".codegen", "compile"),
    "export": (".codegen", "export"),
    "Function": (".codegen", "Function"),
    "optimize": (".rewrite", "optimize"),
    "jit": (".trace", "jit"),
    "render": (".render", "render"),
    "check_grad": (".check", "check_grad"),
    "assert_grad": (".check", "assert_grad"),
    "GradCheckReport": (".check", "GradCheckReport"),
    "check_grad_many": (".distributed", "check_grad_many"),
    "Variable": (".tape", "Variable"),
    "GradientTape": (".tape", "GradientTape"),
    "convert_to_tensor": (".tape", "convert_to_tensor"),
    "optim": (".optim", None),
    "nn": (".nn", None),
    "distributed": (".distributed", None),
    "datasets": (".datasets", None),
    "testing": (".testing", None),
    "save": (".persist", "save"),
    "load": (".persist", "load"),
    "limits": (".limits", None),
    "latex": (".printing", "latex"),
}

# the op functions (ga.sin ...) come from the op table: one declaration per op
globals().update({_name: getattr(_ops, _name) for _name in _OP_FUNCTIONS})

__all__ = [
    "Expr", "Graph", "get_default_graph", "symbols", "symbol", "constant", "parse",
    "grad", "vjp", "jvp", "jacobian", "hessian", "value_and_grad", "substitute", "defop",
    "to_sympy", "from_sympy",
    "GraphadError", "ParseError", "ShapeError", "DTypeError", "MissingInputError",
    "UnknownNameError", "LimitError", "GradientCheckError",
    *_OP_FUNCTIONS,
    *_LAZY,
]  # fmt: skip


# Submodules named like the public function they define (``graphad.parse``,
# ``graphad.render``): importing a submodule sets it as an attribute of the
# package, which would hide the function. The package keeps the function.
_FUNCTION_MODULES = frozenset({"parse", "render"})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTION_MODULES and isinstance(value, types.ModuleType):
            return  # the submodule stays importable through sys.modules
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def _reduce_package(module: types.ModuleType) -> tuple:
    # pickled by reference, as modules are: cloudpickle (Dask, multiprocessing) sends a
    # function from __main__ with its globals, and `ga` is one of them
    return import_module, (module.__name__,)


copyreg.pickle(_Package, _reduce_package)


def __getattr__(name: str) -> Any:
    spec = _LAZY.get(name)
    if spec is None:
        raise AttributeError(f"module 'graphad' has no attribute {name!r}")
    module = import_module(spec[0], __name__)
    value = module if spec[1] is None else getattr(module, spec[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
