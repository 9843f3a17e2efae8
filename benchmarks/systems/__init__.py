"""One module per system, each exposing ``version()`` and ``build(workload, data)``.

``build`` does what a user of that system would do to get a gradient (trace,
differentiate, compile) and returns a :class:`Built`; the child process times
it and then times the calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# system name -> module (sympy and sympy-cse share one module, and so do graphad's two paths)
MODULES = {
    "numpy": "numpy_sys",
    "graphad": "graphad_sys",
    "graphad-declared": "graphad_sys",
    "graphad-numba": "graphad_sys",
    "graphad-numba-declared": "graphad_sys",
    "graphad-numba-mt": "graphad_sys",
    "autograd": "autograd_sys",
    "torch": "torch_sys",
    "jax": "jax_sys",
    "pytensor": "pytensor_sys",
    "sympy": "sympy_sys",
    "sympy-cse": "sympy_sys",
    "casadi": "casadi_sys",
}
# what each system needs importable (the runner checks before starting children)
REQUIRES = {
    "numpy": "numpy",
    "graphad": "graphad",
    "graphad-declared": "graphad",
    "graphad-numba": "numba",
    "graphad-numba-declared": "numba",
    "graphad-numba-mt": "numba",
    "autograd": "autograd",
    "torch": "torch",
    "jax": "jax",
    "pytensor": "pytensor",
    "sympy": "sympy",
    "sympy-cse": "sympy",
    "casadi": "casadi",
}

# systems that are a module with flags set (the child sets them before building)
VARIANTS = {
    "sympy-cse": (("CSE", True),),
    "graphad-declared": (("DECLARED", True),),
    "graphad-numba": (("BACKEND", "numba"),),
    "graphad-numba-declared": (("BACKEND", "numba"), ("DECLARED", True)),
    # the one multi-threaded system: fused loops with Numba's parallel=True, on Numba's
    # own thread pool (every other system is pinned to one thread)
    "graphad-numba-mt": (("BACKEND", "numba"), ("PARALLEL", True)),
}
# "graphad-numba" is the default path run by the compiled Numba backend (issue 18);
# graphad's two paths: "graphad" is the default path (inputs without declared shapes or dtypes,
# as a user writes ``ga.symbol("x")``); "graphad-declared" declares every input's shape and dtype
GRAPHAD_SYSTEMS = ("graphad", "graphad-declared", "graphad-numba")
# how a system is named in tables (the key stays a plain word for the command line)
LABELS = {
    "graphad-declared": "graphad (declared)",
    "graphad-numba": "graphad (numba)",
    "graphad-numba-declared": "graphad (numba, declared)",
    "graphad-numba-mt": "graphad (numba, threads)",
}


def label(system: str) -> str:
    return LABELS.get(system, system)


class NotSupported(Exception):
    """This system has no way to express the workload (reported, not an error)."""


@dataclass
class Built:
    """What a build returns.

    grad : the timed call (one gradient, or one training step); returns native values
    convert : native values -> list of NumPy arrays, compared with the reference
    fun : the plain function, when the workload has one (for t(gradient) / t(function))
    sizes : callable giving {"grad": ops, "fun": ops} (operation counts), or None
    """

    grad: Callable[[], Any]
    convert: Callable[[Any], list]
    fun: Callable[[], Any] | None = None
    fun_convert: Callable[[Any], Any] | None = None
    sizes: Callable[[], dict] | None = None
