"""TensorFlow-style eager values: ``Variable`` and eager ``Tensor``.

Operations on Variables and eager tensors are computed at once with NumPy
(through :func:`graphad.backends.interp.run_node`, the interpreter's own kernels) and,
while a :class:`~graphad.eager.tape.GradientTape` is recording, also built as nodes
of the tape's own :class:`~graphad.Graph`.

Mechanism: :func:`graphad.ops.apply` hands any op whose arguments include an
object with ``__graphad_eager__`` to the recorder that method returns.  The
recorder here either runs the op eagerly (recording it on every active tape
that watches one of the arguments) or, while an optimizer traces a loss
function (:func:`graphad.eager.tape.tracing`), builds a symbolic node in the
trace graph with each Variable standing for an input.

Dtypes follow NumPy, not TensorFlow: ``Variable(5.0)`` is float64 (so
``tape.gradient`` returns ``np.float64(10.0)``, as the SPEC shows), while a
float32 value (``Variable(np.float32(5.0))`` or ``dtype="float32"``) stays
float32 throughout, as TensorFlow's default float32 variables do.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import ops as _ops
from ..backends.interp import run_node
from ..core.errors import DTypeError, GraphadError, ShapeError
from ..core.expr import Expr
from ..core.graph import Graph

__all__ = ["Tensor", "Variable", "convert_to_tensor"]

if TYPE_CHECKING:  # annotations only: the tape module builds on this one
    from .tape import GradientTape, _Tracer

_local = threading.local()


def _active_tapes() -> list[GradientTape]:
    tapes = getattr(_local, "tapes", None)
    if tapes is None:
        tapes = _local.tapes = []
    return tapes


def _tracer() -> _Tracer | None:
    return getattr(_local, "tracer", None)


def _as_array(value: Any, dtype: Any = None) -> np.ndarray:
    """A private, read-only float/int array for a Variable or Tensor value."""
    if isinstance(value, Variable | Tensor):
        value = value.numpy()
    elif isinstance(value, Expr):
        value = _expr_constant(value)
    if dtype is not None:
        arr = np.array(value, dtype=dtype)
    else:
        arr = np.array(value)
        if isinstance(value, int) and not isinstance(value, bool):
            arr = arr.astype(np.int64)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise DTypeError(f"expected numbers, got dtype {arr.dtype} (from {type(value).__name__})")
    arr.setflags(write=False)  # values are snapshots: never changed in place
    return arr


def _expr_constant(e: Expr) -> Any:
    """The value of an Expr made of constants alone (``ga.constant(A).T``, as TensorFlow
    computes ops on constants eagerly); one with inputs cannot mix with eager values."""
    node = e.graph.node(e.id)
    if node["op"] == "constant":
        return node["value"]
    if e.free_symbols:
        raise GraphadError(
            f"cannot mix the symbolic expression {e!r} with eager values (Variables, tensors); "
            "evaluate it first (e.eval(...)) or build everything symbolically"
        )
    return e.eval()


def _value_of(a: Any) -> Any:
    if isinstance(a, Variable):
        return a._value
    if isinstance(a, Tensor):
        return a._value
    if isinstance(a, Expr):
        return _expr_constant(a)
    return a


# -- the recorder ops.apply hands eager operations to -----------------------------------------


class _Recorder:
    """Called by :func:`graphad.ops.apply` for ops on eager values."""

    __slots__ = ()

    def record(self, op_name: str, args: tuple, params: dict) -> Any:
        tracer = _tracer()
        if tracer is not None:
            return tracer.record(op_name, args, params)
        return _run_eager(op_name, args, params, _active_tapes())


_RECORDER = _Recorder()


def _run_eager(op_name: str, args: Sequence, params: dict, tapes: Sequence[GradientTape]):
    vals = [_value_of(a) for a in args]
    with np.errstate(all="ignore"):  # as TensorFlow: inf/nan are results, not warnings
        value = run_node(op_name, params, vals)
    nodes: dict[GradientTape, int] | None = None
    for tape in tapes:
        if tape._recording and any(tape._tracks(a) for a in args):
            if nodes is None:
                nodes = {}
            nodes[tape] = tape._record(op_name, args, params, value)
    out = Tensor._make(value, nodes)
    if nodes:
        for tape, nid in nodes.items():
            tape._objects[nid] = out  # kept for replaying gradients under an outer tape
    return out


class _EagerMixin:
    """Python operators and NumPy interplay shared by Variable and Tensor."""

    __slots__ = ()
    # NumPy defers binary operators to ours (``np.float64(2) * x`` records), and
    # ufuncs such as ``np.sin(x)`` see the value through ``__array__``.
    __array_priority__ = 100

    if TYPE_CHECKING:
        # attached below from the op table; declared for type checkers (an eager
        # operation gives a Tensor; inside a traced function the op builds an Expr)
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __mod__(self, other: Any) -> Tensor: ...
        def __rmod__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __lt__(self, other: Any) -> Tensor: ...
        def __le__(self, other: Any) -> Tensor: ...
        def __gt__(self, other: Any) -> Tensor: ...
        def __ge__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __pos__(self) -> Tensor: ...

    def __graphad_eager__(self) -> _Recorder:
        return _RECORDER

    def __graphad_value__(self) -> Any:
        return _value_of(self)

    def __graphad_expr__(self, graph: Graph | None = None) -> Expr:
        return _ops.as_expr(np.asarray(_value_of(self)), graph)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        arr = np.asarray(_value_of(self))
        if dtype is not None:
            arr = arr.astype(dtype)
        return arr.copy() if copy else arr

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(_value_of(self))

    @property
    def dtype(self) -> np.dtype:
        return np.result_type(_value_of(self))

    @property
    def ndim(self) -> int:
        return np.ndim(_value_of(self))

    def numpy(self) -> Any:
        """The value as NumPy: a NumPy scalar for 0-d, else a fresh array."""
        v = np.asarray(_value_of(self))
        return v[()] if v.ndim == 0 else v.copy()

    def __float__(self) -> float:
        return float(_value_of(self))

    def __int__(self) -> int:
        return int(_value_of(self))

    def __bool__(self) -> bool:
        return bool(_value_of(self))

    def __len__(self) -> int:
        return len(_value_of(self))

    def __getitem__(self, index: Any) -> Tensor:
        # no indexing op in the op table yet: refuse rather than silently detach a gradient
        if any(t._recording and t._tracks(self) for t in _active_tapes()):
            raise GraphadError(
                "indexing a recorded tensor is not differentiable in graphad; "
                "index the result outside the tape, or use ga.sum/reshape"
            )
        return Tensor._make(np.asarray(_value_of(self))[index], None)

    def __format__(self, spec: str) -> str:
        value = self.numpy()
        return str(value) if not spec else format(value, spec)

    @property
    def T(self):
        return _ops.transpose(self)

    def sum(self, axis=None, keepdims=False):
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)


# Python operators as the op table declares them (on eager values they run eagerly);
# == and != keep their identity meaning, so Variables stay usable as dict keys
_ops.core.install_operators(_EagerMixin, exclude=frozenset({"eq", "ne"}))
_EagerMixin.__pos__ = lambda self: self  # type: ignore[attr-defined]


class Tensor(_EagerMixin):
    """An eager value: the result of an operation on Variables or tensors.

    It holds the NumPy value and, for each tape that recorded the operation,
    the node of that tape's graph.  Operators and ``ga.*`` functions on it are
    eager too.  ``.numpy()`` gives the value.

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.Variable(3.0)
    >>> y = x * x + 1
    >>> y
    <graphad.Tensor: shape=(), dtype=float64, numpy=10.0>
    >>> float(y)
    10.0
    """

    __slots__ = ("__weakref__", "_nodes", "_value")

    def __init__(self, value: Any, dtype: Any = None):
        self._value = _as_array(value, dtype)
        self._nodes: dict | None = None

    @classmethod
    def _make(cls, value: Any, nodes: dict | None) -> Tensor:
        t = object.__new__(cls)
        t._value = value
        t._nodes = nodes
        return t

    def __repr__(self) -> str:
        return (
            f"<graphad.Tensor: shape={self.shape}, dtype={self.dtype}, "
            f"numpy={np.array_repr(np.asarray(self._value)) if self.ndim else self.numpy()}>"
        )

    def __str__(self) -> str:
        return f"graphad.Tensor({self.numpy()}, shape={self.shape}, dtype={self.dtype})"


def convert_to_tensor(value: Any, dtype: Any = None) -> Tensor:
    """An eager constant tensor (``tf.constant`` / ``tf.convert_to_tensor``).

    Unlike :func:`graphad.constant`, which is a node of a symbolic graph, the
    result computes eagerly, and a tape can watch it.

    Parameters
    ----------
    value : array_like
        The value (copied).
    dtype : str or numpy dtype, optional
        Cast to it.

    Returns
    -------
    Tensor
        The eager tensor.

    Examples
    --------
    >>> import graphad as ga, numpy as np
    >>> x = ga.convert_to_tensor(np.ones((2, 2)))
    >>> with ga.GradientTape() as tape:
    ...     tape.watch(x)
    ...     z = ga.sum(x) * ga.sum(x)
    >>> tape.gradient(z, x)
    array([[8., 8.],
           [8., 8.]])
    """
    if isinstance(value, Tensor) and dtype is None:
        return value
    return Tensor(value, dtype)


class Variable(_EagerMixin):
    """A mutable tensor holding model state, as ``tf.Variable``.

    Parameters
    ----------
    initial_value : number or array_like
        The starting value.  A Python float gives float64 (NumPy's rule);
        pass ``dtype="float32"`` or a float32 array for TensorFlow's default.
    trainable : bool
        Trainable variables are watched automatically by a
        :class:`GradientTape` when they are read inside it.
    name : str, optional
    dtype : dtype, optional

    Raises
    ------
    DTypeError
        If the initial value is boolean (a Variable holds numbers).

    Examples
    --------
    >>> import graphad as ga
    >>> x = ga.Variable(3.0)
    >>> _ = x.assign_sub(0.5)
    >>> x.numpy()
    np.float64(2.5)
    >>> (x * 2).numpy()
    np.float64(5.0)
    """

    __slots__ = ("__weakref__", "_value", "_version", "name", "trainable")

    def __init__(
        self, initial_value: Any, trainable: bool = True, name: str | None = None, dtype: Any = None
    ):
        if callable(initial_value):  # tf.Variable accepts an initializer callable too
            initial_value = initial_value()
        arr = _as_array(initial_value, dtype)
        if arr.dtype.kind == "b":
            raise DTypeError("a Variable must hold numbers, not booleans")
        self._value = arr
        self._version = 0
        self.name = name or "Variable"
        self.trainable = bool(trainable)

    def value(self) -> Tensor:
        """The current value as an eager tensor (a read, recorded by watching tapes)."""
        nodes = {
            t: t._source_node(self) for t in _active_tapes() if t._recording and t._tracks(self)
        }
        return Tensor._make(self._value, nodes or None)

    def read_value(self) -> Tensor:
        return self.value()

    def _set(self, value: Any) -> None:
        arr = np.asarray(value)
        if arr.shape != self._value.shape:
            raise ShapeError(
                f"cannot assign a value of shape {arr.shape} to Variable "
                f"{self.name!r} of shape {self._value.shape}"
            )
        if arr.dtype != self._value.dtype:
            if not np.can_cast(arr.dtype, self._value.dtype, casting="same_kind"):
                raise DTypeError(
                    f"cannot assign a {arr.dtype} value to Variable {self.name!r} "
                    f"of dtype {self._value.dtype}"
                )
            arr = arr.astype(self._value.dtype)
        elif arr is value and isinstance(value, np.ndarray) and value.flags.writeable:
            arr = arr.copy()  # the caller's array may change later; ours must not
        self._value = arr
        self._version += 1

    def _replace(self, value: Any) -> None:
        """Take a freshly computed array as the new value (optimizers' fast path)."""
        arr = np.asarray(value)
        if arr.dtype != self._value.dtype:
            arr = arr.astype(self._value.dtype)
        if arr.shape != self._value.shape:
            raise ShapeError(
                f"update of shape {arr.shape} for Variable {self.name!r} of shape "
                f"{self._value.shape}"
            )
        self._value = arr
        self._version += 1

    def assign(self, value: Any) -> Variable:
        """Set the value (same shape; cast within the same kind).  Returns the Variable."""
        self._set(_value_of(value))
        return self

    def assign_add(self, delta: Any) -> Variable:
        """``self += delta``.  Returns the Variable."""
        self._set(self._value + np.asarray(_value_of(delta)))
        return self

    def assign_sub(self, delta: Any) -> Variable:
        """``self -= delta``.  Returns the Variable."""
        self._set(self._value - np.asarray(_value_of(delta)))
        return self

    def __repr__(self) -> str:
        num = np.array_repr(self._value) if self._value.ndim else str(self.numpy())
        return (
            f"<graphad.Variable '{self.name}' shape={self.shape} dtype={self.dtype}, numpy={num}>"
        )

    def __str__(self) -> str:
        return repr(self)
