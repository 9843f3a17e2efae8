"""``ga.compile``: the :class:`Function`, which specializes, optimizes and runs a graph per
input signature; and ``ga.export``.

A Function keeps the user's graph untouched.  On a call it looks up the
signature of its arguments (shapes, dtypes, array kinds), specializes and
optimizes a copy of the graph for it once (:mod:`graphad.transforms.specialize`),
generates its straight-line NumPy source (:mod:`graphad.backends.codegen`) or,
with Numba, its register-VM program (:mod:`graphad.backends.kernels`), and caches
the result.

One module, though past 600 lines: ``_Compiled`` (one specialization and how it runs),
``Function`` (the per-signature cache and dispatch in front of it) and ``export``
(the same program written to a file) share the program, the caller and the lazy
NumPy source, and change together.
"""

from __future__ import annotations

import builtins
import linecache
import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core._atomic import atomic_write_many
from ..core.errors import GraphadError, MissingInputError, UnknownNameError
from ..core.graph import Graph, gc_paused, topo_order
from .callers import _make_caller
from .codegen import BODY_NAME, EXPORT_INLINE_MAX, FUNCTION_NAME, Program, _counter, generate
from .interp import not_numbers

__all__ = ["Function", "compile", "export"]


class _Compiled:
    """One specialization of a Function: an optimized graph, its program and its caller.

    Where the Numba VM runs the graph, the NumPy source (``program``, ``source``, ``fn``)
    is generated and compiled only when first needed: when read, or when a call falls
    back to NumPy (another library's arrays).  CPython's ``compile`` of that source cost
    about 45 us per line, most of the build time of a 1,000-op chain the VM never needs
    it for.  Where NumPy runs the graph, it is made at once, as the caller needs it.

    With ``kernel`` (a scalar VM program ``graphad.backends._scalar_vm.build_scalar``
    made from the user's graph directly), ``graph`` holds only the inputs the caller
    checks, and the optimized graph itself (``graph``, ``output_ids``, ``input_ids``)
    is made by ``lazy()`` when first read: most compiled scalar graphs never need it.
    """

    def __init__(
        self,
        graph: Graph,
        outputs: Sequence[int],
        inputs: Sequence[int],
        single: bool,
        names: Sequence[str],
        header: Any = "",
        backend: str = "numpy",
        parallel: bool = False,
        *,
        kernel: Any = None,
        lazy: Any = None,
    ) -> None:
        self._spec: tuple | None = None
        self._lazy = lazy
        if lazy is None:
            self._spec = (graph, tuple(outputs), tuple(inputs))
        self._header = header
        self._lazy_lock = threading.Lock()
        self._spec_lock = threading.Lock()
        self._program: Program | None = None
        self._source: str | None = None
        self._fn: Any = None
        self._backend = "numpy"
        self._runner: Any = None  # a scalar VM kernel's kernels.Runner (which VM runs it)
        self._kernel: Any = None  # the Numba VM's program (backend="numba"), if it runs this
        self._fused_source: str | None = None  # or the runner of its fused array loops
        # a caller for calls whose arguments are all Python floats (Function._dispatch)
        self.floats_key: tuple | None = None
        self.floats_call: Any = None
        self.unsorted_call: Any = None  # for values of any type (no dispatch before it)
        made = None
        if backend != "numpy":  # the Numba backend where it runs this graph, else NumPy
            from . import kernels

            made = kernels.attach(
                graph,
                outputs,
                inputs,
                single,
                self._numpy_body,
                auto=backend == "auto",
                kernel=kernel,
            )
            points = made is not None and made.kernel.mode == "points"
            if points or (made is None and backend == "numba"):
                # fused elementwise loops (backends/fused.py): for array graphs, and for a
                # scalar graph at many points where every operation fuses (one loop beat
                # the VM's blocks there, benchmarks/numba_backend.py)
                from . import fused

                loops = fused.attach(
                    graph, outputs, inputs, self._numpy_body, parallel=parallel, whole=points
                )
                if loops is not None:
                    made = None
                    body, self._fused_source = loops
                    floats_ok, self._backend = self.program.batched, "numba"
        if made is not None:
            body, self._kernel, self._runner = made.body, made.kernel, made.runner
            floats_ok, self._backend = True, "numba"
        elif self._fused_source is None:
            body, floats_ok = self._compile()[1], self.program.batched
        self.call, call_file = _make_caller(graph, inputs, single, body, names, floats_ok)
        if made is not None and made.fast is not None:
            # unchecked fast paths; they hand anything unusual to the checked caller
            checked = self.call
            self.call = made.fast(checked)
            self.floats_call = made.floats(checked)
            self.unsorted_call = made.fast(checked, guard=True)
            self.floats_key = (float,) * len(inputs)
        weakref.finalize(self, linecache.cache.pop, call_file, None)

    @property
    def backend(self) -> str:
        """``"numba"``, ``"vm"`` (the VM's program run by the Python VM, until it moves to
        Numba's: ``kernels.Runner``) or ``"numpy"``."""
        runner = self._runner
        return self._backend if runner is None else runner.tier

    def _specialized(self) -> tuple:
        """(graph, output ids, input ids) of the optimized graph (made now if lazy)."""
        spec = self._spec
        if spec is None:
            with self._spec_lock:
                if self._spec is None:
                    new, outs, ins = self._lazy()
                    self._spec = (new, tuple(outs), tuple(ins))
                spec = self._spec
        return spec

    @property
    def graph(self) -> Graph:
        return self._specialized()[0]

    @property
    def output_ids(self) -> tuple[int, ...]:
        return self._specialized()[1]

    @property
    def input_ids(self) -> tuple[int, ...]:
        return self._specialized()[2]

    def _compile(self) -> tuple[Any, Any]:
        """The generated NumPy module's function and straight-line body (made once)."""
        with self._lazy_lock:
            if self._fn is None:
                program = generate(self.graph, self.output_ids, self.input_ids)
                first, rest = program.module().split("\n", 1)  # the docstring stays first
                header = self._header() if callable(self._header) else self._header
                source = first + "\n" + header + rest
                filename = f"<graphad-compiled-{next(_counter)}>"
                ns: dict[str, Any] = {"__name__": "graphad_compiled"}
                ns.update(program.constants)
                ns.update(program.impls)
                code = builtins.compile(source, filename, "exec")
                linecache.cache[filename] = (
                    len(source),
                    None,
                    source.splitlines(True),
                    filename,
                )
                weakref.finalize(self, linecache.cache.pop, filename, None)
                exec(code, ns)  # our generated text: every name in it is generated
                self._program, self._source, self.filename = program, source, filename
                self._body = ns[BODY_NAME]
                self._fn = ns[FUNCTION_NAME]
            return self._fn, self._body

    def _numpy_body(self, *xs: Any) -> Any:
        """The NumPy code's body (what the VM hands values it must not convert)."""
        return self._compile()[1](*xs)

    @property
    def program(self) -> Program:
        self._compile()
        return self._program  # type: ignore[return-value]

    @property
    def source(self) -> str:
        self._compile()
        return self._source  # type: ignore[return-value]

    @property
    def fn(self) -> Any:
        return self._compile()[0]

    @property
    def kernels(self) -> str | None:
        """The VM's instruction listing (made when first read: 10^4 lines take a while),
        or the fused loops' source."""
        if self._kernel is None:
            return self._fused_source
        return self._kernel.listing()


def _type_text(shape: tuple[int, ...], dtype: np.dtype) -> str:
    return f"{np.dtype(dtype).name}{list(shape)}"


class Function:
    """A compiled graph: call it with NumPy values, read its generated ``source``.

    Made by :func:`compile`.  Called positionally (in the order of
    ``input_names``) or by name; returns a tuple of outputs (a single value
    when ``compile`` was given a single Expr rather than a list).

    Like ``jax.jit``, a Function is specialized to the types of the values it
    is called with: each new signature (shape and dtype of every input whose
    shape or dtype was not declared, and whether an input is NumPy's or
    another library's array) specializes the graph to those types
    (:mod:`graphad.transforms.specialize`), optimizes and compiles it, and caches the result
    (the :data:`~graphad.transforms.specialize.CACHE_SIZE` most recent signatures).  Inputs
    declared with both shape and dtype are fixed: a Function whose inputs are
    all declared is compiled once, when it is made.

    Attributes
    ----------
    source : str
        The generated module of the specialization last called: it imports
        NumPy as ``np`` and defines ``graphad_function(x0, x1, ...)`` returning
        the tuple of outputs; its first line names the input types it is for.
        Before the first call, inputs without declared types are taken as
        float64 scalars where the graph allows it, else the source is the
        generic (shape-polymorphic) program.  :meth:`source_for` gives the
        source for other argument types, :attr:`signatures` lists those cached.
    graph : Graph
        The optimized graph ``source`` was generated from.
    input_names, output_names : tuple of str

    Parameters
    ----------
    graph : Graph
        The graph holding the outputs (not changed: each specialization is made
        in a copy of it).
    outputs : sequence of int
        Node ids of the outputs, in the order the call returns them.
    inputs : sequence of int
        Node ids of the inputs, in positional-argument order.
    single : bool
        Return the one output itself rather than a 1-tuple.
    optimize : bool
        Rewrite each specialized graph (:func:`graphad.optimize`) before
        generating code.
    backend : {"auto", "numba", "numpy"}
        What runs the program (see :func:`graphad.compile`).

    Raises
    ------
    GraphadError
        If ``backend`` is not one of the names above, or is ``"numba"`` where
        Numba is not installed.

    Examples
    --------
    Made by :func:`graphad.compile`; called positionally or by input name:

    >>> import numpy as np, graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> f = ga.compile(x * y + 1.0, [x, y])
    >>> f.input_names
    ('x', 'y')
    >>> float(f(2.0, 3.0))
    7.0
    >>> f(x=np.array([1.0, 2.0]), y=3.0)
    array([4., 7.])
    >>> print(f.source.splitlines()[1])
    # specialized for x0: float64[2], x1: float64[]
    """

    def __init__(
        self,
        graph: Graph,
        outputs: Sequence[int],
        inputs: Sequence[int],
        single: bool = False,
        *,
        optimize: bool = True,
        backend: str = "auto",
        parallel: bool = False,
    ) -> None:
        from collections import OrderedDict

        nodes = graph.records()
        self._user_graph = graph
        self._outputs = tuple(outputs)
        self._inputs = tuple(inputs)
        self._optimize = optimize
        self._backend = _check_backend(backend)
        if not isinstance(parallel, bool):
            raise GraphadError(f"compile: parallel={parallel!r}; expected True or False")
        self._parallel = parallel
        self.input_names = tuple(nodes[i].name for i in inputs)
        self.output_names = tuple(graph.label(o) for o in outputs)
        self._single = single
        self._positions = {name: k for k, name in enumerate(self.input_names)}
        self._n = len(inputs)
        # per input: its declared (shape, dtype) when both are declared, else None
        self._fixed = tuple(
            (nodes[i].shape, nodes[i].dtype)
            if nodes[i].shape is not None and nodes[i].dtype is not None
            else None
            for i in inputs
        )
        self._cache: OrderedDict[tuple, _Compiled] = OrderedDict()
        self._by_types: dict[tuple, _Compiled] = {}  # all-scalar calls: keyed by type alone
        self._by_arrays: dict[tuple, _Compiled] = {}  # all-ndarray calls: (shape, dtype) each
        self._current: _Compiled | None = None
        self._generic: _Compiled | None = None
        self._current_only = all(f is not None for f in self._fixed)
        if self._current_only:
            self._current = self._specialization(tuple((*f, False) for f in self._fixed))
            # one signature: no dispatch at all (the values' types are not known yet)
            self._call = self._current.unsorted_call or self._current.call
        else:
            self._call = self._dispatch

    # -- specializations ------------------------------------------------------------------
    def _specialization(self, key: tuple) -> _Compiled:
        found = self._cache.get(key)
        if found is not None:
            return found
        # the cyclic collector paused for the whole build (specialize, optimize, kernels,
        # caller): it found nothing to free in these objects, and each of its full passes
        # also walks every object of the process (Numba's loaded compiler is a large part)
        with gc_paused():
            return self._specialize(key)

    def _specialize(self, key: tuple) -> _Compiled:
        from ..transforms.rewrite import optimize_specialized
        from ..transforms.specialize import CACHE_SIZE

        graph = self._user_graph
        types = [(shape, dtype) for shape, dtype, _ in key]

        def optimized() -> tuple:
            with graph.lock:  # specialized and optimized in one copy, from a consistent snapshot
                return optimize_specialized(
                    graph, self._outputs, self._inputs, types, rewrite=self._optimize
                )

        compiled = self._scalar_vm(key, optimized)
        if compiled is None:
            compiled = self._compiled(key, *optimized())
        self._cache[key] = compiled
        while len(self._cache) > CACHE_SIZE:
            _, old = self._cache.popitem(last=False)
            self._by_types = {k: v for k, v in self._by_types.items() if v is not old}
            self._by_arrays = {k: v for k, v in self._by_arrays.items() if v is not old}
        return compiled

    def _scalar_vm(self, key: tuple, optimized: Any) -> _Compiled | None:
        """Float64 scalars in, the VM to run them: its program straight from the user's graph
        (``_scalar_vm.build_scalar``, one walk), the optimized graph made
        only if read (``f.graph``, ``f.source``); None where the general path decides."""
        if self._backend == "numpy" or any(k != _SCALAR_KEY for k in key):
            return None
        from . import _scalar_vm

        graph = self._user_graph
        with graph.lock:
            kernel = _scalar_vm.build_scalar(graph, self._outputs, self._inputs)
        if kernel is None:
            return None
        if self._backend == "auto" and kernel.code.shape[0] < _SCALAR_VM_MIN_INSTRUCTIONS:
            return None  # small graphs: the general path (the rewrites may leave NumPy's lines)
        inputs_graph = Graph()  # what the caller checks: the inputs, declared as specialized
        in_ids = [inputs_graph.input(name, (), _F64) for name in self.input_names]
        compiled = _Compiled(
            inputs_graph,
            (),
            in_ids,
            self._single,
            self.input_names,
            header=self._header_for(key),
            backend=self._backend,
            kernel=kernel,
            lazy=optimized,
        )
        return compiled if compiled.backend != "numpy" else None

    def _header_for(self, key: tuple) -> Any:
        def header() -> str:  # made with the source (1,000 inputs' types took a while)
            # generated parameter names only: input names are user text, never in source
            text = "# specialized for " + ", ".join(
                f"x{k}: {_type_text(shape, dtype)}{' (not NumPy)' if duck else ''}"
                for k, (shape, dtype, duck) in enumerate(key)
            )
            return (text if self._n else "# no inputs") + "\n"

        return header

    def _compiled(self, key: tuple, new: Graph, outs: list, new_inputs: list) -> _Compiled:
        from ..transforms.specialize import check_live_elements

        check_live_elements(new, outs)

        compiled = _Compiled(
            new,
            outs,
            new_inputs,
            self._single,
            self.input_names,
            header=self._header_for(key),
            # another library's arrays (Dask) stay lazy: only NumPy code runs them
            backend="numpy" if any(d for _, _, d in key) else self._backend,
            parallel=self._parallel,
        )
        duck = [k for k, (_, _, d) in enumerate(key) if d]
        if duck:  # outputs that depend on no input (a zero gradient) take the inputs' kind
            compiled.call = _same_kind(compiled.call, duck[0], self._single)
        return compiled

    def _key(self, args: Sequence[Any]) -> tuple:
        key = []
        for v, fixed, name in zip(args, self._fixed, self.input_names, strict=True):
            if fixed is not None:
                key.append((*fixed, False))
                continue
            key.append(_value_key(v, name))
        return tuple(key)

    def _dispatch(self, *args: Any) -> Any:
        tkey = tuple(map(type, args))
        compiled = self._by_types.get(tkey)
        if compiled is not None and compiled.floats_key == tkey:
            # Python floats only, for a float64 kernel: packed without per-value checks
            self._current = compiled
            return compiled.floats_call(*args)
        if compiled is None:
            key = []
            for v, fixed in zip(args, self._fixed, strict=True):  # the common kinds inline
                if fixed is not None:
                    key.append((*fixed, False))
                elif type(v) is np.ndarray:
                    key.append((v.shape, v.dtype, False))
                else:
                    key = None
                    break
            key = self._key(args) if key is None else tuple(key)
            compiled = self._cache.get(key)
            if compiled is None:
                compiled = self._specialization(key)
                if _SCALAR_TYPES.issuperset(tkey):
                    self._by_types[tkey] = compiled  # the types alone fix the signature
            elif tkey[:1] != (np.ndarray,) and _SCALAR_TYPES.issuperset(tkey):
                self._by_types[tkey] = compiled
            if all(t is np.ndarray for t in tkey):
                self._by_arrays[tuple([(a.shape, a.dtype) for a in args])] = compiled
        self._current = compiled
        return compiled.call(*args)

    def _default(self) -> _Compiled:
        """The specialization ``source`` shows before any call (see the class docstring)."""
        if self._current is not None:
            return self._current
        key = tuple((*f, False) if f is not None else ((), _F64, False) for f in self._fixed)
        try:
            return self._specialization(key)
        except GraphadError:
            return self._generic_program()

    def _generic_program(self) -> _Compiled:
        if self._generic is None:
            from ..transforms.rewrite import optimize_ids

            graph = self._user_graph
            new, outs, mapping = optimize_ids(
                graph, self._outputs, self._inputs, rewrite=self._optimize
            )
            self._generic = _Compiled(
                new,
                outs,
                [mapping[i] for i in self._inputs],
                self._single,
                self.input_names,
                header="# generic: runs for inputs of any shape (not specialized)\n",
            )
        return self._generic

    def source_for(self, *args: Any, **kwargs: Any) -> str:
        """The generated source specialized to the types of these arguments (not run)."""
        if kwargs or len(args) != self._n:
            args = tuple(self._bind(args, kwargs))
        return self._specialization(self._key(args)).source

    @property
    def signatures(self) -> list[str]:
        """The cached specializations, oldest first, as ``"x: float64[3], y: float64[]"``."""
        return [
            ", ".join(
                f"{name}: {_type_text(shape, dtype)}"
                for name, (shape, dtype, _) in zip(self.input_names, key, strict=True)
            )
            for key in self._cache
        ]

    @property
    def source(self) -> str:
        return self._default().source

    @property
    def graph(self) -> Graph:
        return self._default().graph

    @property
    def backend(self) -> str:
        """What runs the current specialization: ``"numba"``, ``"vm"`` (the register VM's
        program in the Python interpreter, until it moves to Numba's) or ``"numpy"``."""
        return self._default().backend

    @property
    def kernels(self) -> str | None:
        """The compiled kernels of the current specialization as readable text (the Numba
        VM's instruction listing, or the runner and generated loops of fused array
        kernels), or None where the NumPy code of ``source`` runs."""
        return self._default().kernels

    @property
    def output_ids(self) -> tuple[int, ...]:
        return self._default().output_ids

    @property
    def input_ids(self) -> tuple[int, ...]:
        return self._default().input_ids

    @property
    def _program(self) -> Program:
        return self._default().program

    @property
    def _fn(self) -> Any:
        return self._default().fn

    # -- calling ------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != self._n:
            args = self._bind(args, kwargs)
        if self._current_only:
            return self._call(*args)
        for a in args:  # NumPy arrays only: the signature is their shapes and dtypes
            if type(a) is not np.ndarray:
                return self._call(*args)
        compiled = self._by_arrays.get(tuple([(a.shape, a.dtype) for a in args]))
        if compiled is None:
            return self._call(*args)
        self._current = compiled
        return compiled.call(*args)

    def _bind(self, args: tuple, kwargs: dict) -> list:
        if len(args) > self._n:
            raise GraphadError(
                f"this function takes {self._n} input(s) {list(self.input_names)}, got {len(args)}"
            )
        bound: list[Any] = list(args) + [_MISSING] * (self._n - len(args))
        for key, v in kwargs.items():
            k = self._positions.get(key)
            if k is None:
                raise UnknownNameError(
                    f"unknown input {key!r}; this function takes {list(self.input_names)}"
                )
            if bound[k] is not _MISSING:
                raise GraphadError(f"input {key!r} given twice")
            bound[k] = v
        missing = [self.input_names[k] for k, v in enumerate(bound) if v is _MISSING]
        if missing:
            raise MissingInputError(f"no value given for input(s) {', '.join(map(repr, missing))}")
        return bound

    def __repr__(self) -> str:
        ins = ", ".join(self.input_names)
        lines = self._default().program.body
        return (
            f"<graphad.Function ({ins}) -> {len(self._outputs)} output(s), "
            f"{sum(1 for ln in lines if ' = ' in ln)} lines>"
        )

    def _repr_svg_(self) -> str | None:
        try:
            from ..core.expr import Expr
            from .render import render

            compiled = self._default()
            return render(
                [Expr(compiled.graph, o) for o in compiled.output_ids]
            )._repr_image_svg_xml()
        except Exception:  # no renderer or no dot program: Jupyter shows the repr
            return None


_F64 = np.dtype(np.float64)
_SCALAR_KEY = ((), _F64, False)
# Function._scalar_vm runs from this many instructions on (backend="auto"): the general
# path's rewrites could bring a smaller graph under kernels.AUTO_MIN_INSTRUCTIONS, where
# NumPy's lines run it
_SCALAR_VM_MIN_INSTRUCTIONS = 64
_SCALAR_TYPES = frozenset({float, int, bool})


def _same_kind(call: Any, ref: int, single: bool) -> Any:
    """Wrap a caller so NumPy outputs come back as arrays of argument ``ref``'s library
    (NEP 35's ``like=``): with Dask inputs every output is a lazy Dask array."""

    def convert(v: Any, like: Any) -> Any:
        if isinstance(v, np.ndarray | np.generic):
            return np.asarray(v, like=like)
        return v

    def wrapped(*args: Any) -> Any:
        out = call(*args)
        like = args[ref]
        if single:
            return convert(out, like)
        return tuple(convert(v, like) for v in out)

    return wrapped


def _value_key(v: Any, name: str) -> tuple:
    """(shape, dtype, not NumPy's) of input ``name``'s argument, as the caller will see it."""
    t = type(v)
    if t is np.ndarray:
        if v.dtype.kind not in "biuf":
            raise not_numbers(f"input {name!r}", v.dtype, v)
        return (v.shape, v.dtype, False)
    if t is float:
        return ((), _F64, False)
    to_array = getattr(v, "__graphad_value__", None)  # a tape Variable
    if to_array is not None:
        v = to_array()
    if hasattr(v, "__array_function__") and not isinstance(v, np.ndarray | np.generic):
        dt = np.dtype(v.dtype)
        if dt.kind == "c":  # refused by its dtype, still lazy
            raise not_numbers(f"input {name!r}", dt, v)
        return (tuple(v.shape), dt, True)  # a Dask array stays lazy
    arr = np.asarray(v)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise not_numbers(f"input {name!r}", arr.dtype, v)
    return (arr.shape, arr.dtype, False)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


_BACKENDS = ("auto", "numba", "numpy")


def _check_backend(backend: Any) -> str:
    if not isinstance(backend, str) or backend not in _BACKENDS:
        raise GraphadError(f"compile: backend={backend!r}; expected one of {list(_BACKENDS)}")
    if backend == "numba":
        from . import kernels

        if not kernels.available():
            raise GraphadError(
                "compile: backend='numba' needs Numba, which is not installed "
                "(pip install 'graphad[fast]'); backend='auto' falls back to NumPy"
            )
    return backend


def compile(
    outputs: Any,
    inputs: Sequence[Any] | None = None,
    *,
    optimize: bool = True,
    backend: str = "auto",
    parallel: bool = False,
) -> Function:
    """Compile expressions into a Python function running generated NumPy code.

    Parameters
    ----------
    outputs : Expr or sequence of Expr
        What to compute.  A list gives a tuple result; a single Expr a single value.
    inputs : sequence of Expr or str, optional
        The function's parameters, in order.  Default: every input the
        outputs use, in sorted name order.  Inputs the outputs do not use are
        allowed (their values are checked, then ignored).
    optimize : bool
        Rewrite the graph first (CSE, constant folding, algebraic
        simplification, dead nodes); the user's graph is never modified.
    backend : {"auto", "numba", "numpy"}
        What runs each specialization.  ``"numpy"``: the generated NumPy code
        (``source``).  ``"numba"``: compiled kernels (:mod:`graphad.backends.kernels`;
        needs Numba, the ``graphad[fast]`` extra) for the graphs they cover, float64
        scalar graphs and scalar graphs evaluated at many points; other graphs run
        on NumPy.  ``"auto"`` (default): the kernels' register VM where it was
        measured faster (scalar graphs of at least
        :data:`~graphad.backends.kernels.AUTO_MIN_INSTRUCTIONS` operations), else
        ``"numpy"``; the VM's program first runs in the Python interpreter
        (``"vm"``, :mod:`graphad.backends._python_vm`) and moves to Numba's VM
        (``"numba"``) once the process has spent about as long interpreting as
        loading Numba costs, so a few calls never import Numba.  ``Function.backend``
        tells which one runs, ``Function.kernels`` shows the kernels.  With
        ``"numba"``, array graphs run their elementwise operations as fused compiled
        loops (:mod:`graphad.backends.fused`).
    parallel : bool
        Let the fused array loops of ``backend="numba"`` run on several threads
        (Numba's ``parallel=True``; the thread count is Numba's, e.g.
        ``NUMBA_NUM_THREADS``).  Default False: one thread.

    Returns
    -------
    Function

    Raises
    ------
    GraphadError
        If there is no output, an output is not an Expr, the outputs (or an input)
        belong to different graphs, an input is not an input symbol, or ``backend`` is
        unknown (or ``"numba"`` without Numba).

    Examples
    --------
    >>> import graphad as ga
    >>> x, y = ga.symbols("x y")
    >>> e = x * y + ga.sin(x)
    >>> f = ga.compile([e, ga.grad(e, x)], inputs=[x, y])
    >>> [round(float(v), 4) for v in f(0.0, 2.0)]
    [0.0, 3.0]
    >>> [round(float(v), 4) for v in f(x=0.0, y=2.0)]
    [0.0, 3.0]
    """
    from ..core.expr import Expr
    from ..core.graph import gc_paused

    single = isinstance(outputs, Expr)
    outs = [outputs] if single else list(outputs)
    if not outs:
        raise GraphadError("compile needs at least one output")
    if not all(isinstance(o, Expr) for o in outs):
        raise GraphadError("compile: outputs must be graphad Exprs")
    graph = outs[0].graph
    if any(o.graph is not graph for o in outs):
        raise GraphadError("compile: outputs belong to different graphs")
    out_ids = [o.id for o in outs]
    in_ids = _input_ids(graph, out_ids, inputs)
    with gc_paused():
        return Function(
            graph,
            out_ids,
            in_ids,
            single=single,
            optimize=optimize,
            backend=backend,
            parallel=parallel,
        )


def _input_ids(graph: Graph, outputs: list[int], inputs: Sequence[Any] | None) -> list[int]:
    from ..core.expr import Expr

    nodes = graph.records()
    if inputs is None:
        used = [n for n in topo_order(graph, outputs) if nodes[n].op == "input"]
        return sorted(used, key=lambda n: nodes[n].name)
    if isinstance(inputs, Expr | str):
        inputs = [inputs]
    ids: list[int] = []
    seen: set[int] = set()
    for x in inputs:
        if isinstance(x, Expr):
            if x.graph is not graph:
                raise GraphadError("compile: an input belongs to a different graph")
            if x.op != "input":
                raise GraphadError(f"compile: inputs must be input symbols, not {x!r}")
            nid = x.id
        elif isinstance(x, str):
            found = graph.input_id(x)
            if found is None:  # a typo must not become a new input of the user's graph
                raise UnknownNameError(
                    f"compile: no input named {x[:100]!r} in the outputs' graph; "
                    "declare it first (ga.symbols) to take a value the outputs do not use"
                )
            nid = found
        else:
            raise GraphadError(
                f"compile: expected an Expr or an input name, got {type(x).__name__}"
            )
        if nid in seen:
            raise GraphadError(f"compile: input {nodes[nid]['name']!r} listed twice")
        seen.add(nid)
        ids.append(nid)
    return ids


# -- export ---------------------------------------------------------------------------------


def export(f: Any, path: str | os.PathLike) -> None:
    """Write a compiled function as a standalone module that imports only NumPy.

    Where every input of ``f`` has a declared shape and dtype, the module is the
    code specialized to them; otherwise it is the generic program, which runs
    for inputs of any shape (a specialization would be right only for its own).
    Small array constants are written as literals; larger ones go into a
    sibling ``.npz`` file (same name, ``.npz`` suffix) loaded when the module
    is imported.  Files are written atomically.  The module defines
    ``graphad_function(x0, x1, ...)`` taking the inputs in ``f.input_names`` order.

    Parameters
    ----------
    f : Function, Expr or list of Expr
        A compiled function (Exprs are compiled first).
    path : str or path-like

    Raises
    ------
    GraphadError
        If the function uses custom ops (``ga.defop``), whose Python implementations
        cannot be written into a standalone module.

    Examples
    --------
    >>> import graphad as ga, tempfile, os
    >>> x = ga.symbols("x")
    >>> path = os.path.join(tempfile.mkdtemp(), "square.py")
    >>> ga.export(ga.compile(x * x), path)
    >>> "def graphad_function(x0):" in open(path).read()
    True
    """
    if not isinstance(f, Function):
        f = compile(f)
    # a module runs with whatever it is given: specialized code only where the inputs
    # are declared, else the generic program, right for every shape
    fixed = all(t is not None for t in f._fixed)
    prog = (f._default() if fixed else f._generic_program()).program
    if prog.impls:
        raise GraphadError(
            "export: the function uses custom op(s) (ga.defop) whose Python "
            "implementations cannot be written into a standalone module"
        )
    path = os.fspath(path)
    src = prog.module(EXPORT_INLINE_MAX, npz=True)
    big = {k: v for k, v in prog.constants.items() if v.size > EXPORT_INLINE_MAX}
    files: list = []
    if big:
        files.append((os.path.splitext(path)[0] + ".npz", lambda fh: np.savez(fh, **big)))
    files.append((path, lambda fh: fh.write(src.encode("utf-8"))))
    # all or nothing: a module that cannot be written leaves no new .npz behind
    atomic_write_many(files)
