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

from importlib import import_module
from typing import TYPE_CHECKING, Any

from . import _methods
from . import ops as _ops
from .backends.sympy import from_sympy, to_sympy
from .core import plugins as _plugins
from .core.arrays import is_dask
from .core.errors import (
    DTypeError,
    GradientCheckError,
    GraphadError,
    LimitError,
    MissingInputError,
    ParseError,
    ShapeError,
    UnknownNameError,
)  # fmt: skip
from .core.expr import Expr, symbol, symbols
from .core.graph import Graph, get_default_graph, reset_default_graph
from .core.version import __version__ as __version__
from .frontends.builder import parse
from .frontends.trace import (
    grad,
    hessian,
    jacfwd,
    jacobian,
    jacrev,
    jit,
    jvp,
    value_and_grad,
    vjp,
    vmap,
)  # fmt: skip
from .ops import TOP_LEVEL as _OP_FUNCTIONS
from .ops import constant, defop
from .transforms.autodiff import substitute

_methods.install()  # eval, str and the notebook displays of Expr (they use the backends)


if TYPE_CHECKING:  # what the lazy names below are, for type checkers and editors
    from . import datasets as datasets
    from . import distributed as distributed
    from . import nn as nn
    from . import optim as optim
    from . import testing as testing
    from .backends.function import Function as Function
    from .backends.function import compile as compile
    from .backends.function import export as export
    from .backends.persist import load as load
    from .backends.persist import save as save
    from .backends.printing import latex as latex
    from .backends.render import render as render
    from .check import GradCheckReport as GradCheckReport
    from .check import assert_grad as assert_grad
    from .check import check_grad as check_grad
    from .core import limits as limits
    from .distributed import check_grad_many as check_grad_many
    from .eager.tape import GradientTape as GradientTape
    from .eager.tensor import Variable as Variable
    from .eager.tensor import convert_to_tensor as convert_to_tensor
    from .ops import getitem as getitem
    from .ops import linalg_ops as linalg  # noqa: F401  (ga.linalg)
    from .transforms.rewrite import optimize as optimize

# Names served from modules that are imported on first use, so that
# ``import graphad`` stays fast (SymPy, graphviz, matplotlib are never loaded here).
_LAZY: dict[str, tuple[str, str | None]] = {
    "compile": (".backends.function", "compile"),
    "export": (".backends.function", "export"),
    "Function": (".backends.function", "Function"),
    "optimize": (".transforms.rewrite", "optimize"),
    "getitem": (".ops", "getitem"),
    "render": (".backends.render", "render"),
    "check_grad": (".check", "check_grad"),
    "assert_grad": (".check", "assert_grad"),
    "GradCheckReport": (".check", "GradCheckReport"),
    "check_grad_many": (".distributed", "check_grad_many"),
    "Variable": (".eager.tensor", "Variable"),
    "GradientTape": (".eager.tape", "GradientTape"),
    "convert_to_tensor": (".eager.tensor", "convert_to_tensor"),
    "optim": (".optim", None),
    "nn": (".nn", None),
    "distributed": (".distributed", None),
    "datasets": (".datasets", None),
    "testing": (".testing", None),
    "save": (".backends.persist", "save"),
    "load": (".backends.persist", "load"),
    "limits": (".core.limits", None),
    "latex": (".backends.printing", "latex"),
    "linalg": (".ops.linalg_ops", None),
}

# the op functions (ga.sin ...) come from the op table: one declaration per op
if TYPE_CHECKING:  # typed, for checkers: a stub written from the op table by
    # tools/gen_op_types.py (tests/test_types.py fails when it is not current)
    from ._opfunctions import *  # noqa: F403
globals().update({_name: getattr(_ops, _name) for _name in _OP_FUNCTIONS})

__all__ = [
    "Expr", "Graph", "get_default_graph", "symbols", "symbol", "constant", "parse",
    "reset_default_graph",
    "grad", "vjp", "jvp", "jacobian", "hessian", "value_and_grad", "substitute", "defop",
    "jit", "jacfwd", "jacrev", "vmap",
    "to_sympy", "from_sympy",
    "GraphadError", "ParseError", "ShapeError", "DTypeError", "MissingInputError",
    "UnknownNameError", "LimitError", "GradientCheckError",
    *(name for name in _OP_FUNCTIONS if name not in _LAZY),
    *_LAZY,
]  # fmt: skip


def _dask_executor(x: Any, y: Any, executor: Any) -> Any:
    """nn's executor for Dask data or a Dask client (graphad.distributed), loaded when needed."""
    dask_data = is_dask(x) or is_dask(y)
    if executor is None and not dask_data:
        return None  # in-memory data: Dask is not involved (and not imported)
    from .distributed.replicas import executor_for

    return executor_for(x, y, executor)


# nn never imports the distributed layer above it; it asks for executors instead
_plugins.provide("executor", "dask", _dask_executor)


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
