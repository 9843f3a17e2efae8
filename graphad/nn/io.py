"""Model files: :func:`save` (architecture, weights and optimizer state in one ``.npz``),
:func:`save_weights` / :func:`load_weights`, and the bounded reading of such files
(:mod:`.saving` builds models from them).

The files hold no pickled objects (they load with ``allow_pickle=False``);
every size they declare is checked against :mod:`graphad.core.limits` before
anything is allocated, and they are written atomically (a temporary file
renamed over the path).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from ..core.errors import GraphadError, LimitError

__all__ = ["load_weights", "read_checked", "save", "save_weights"]

_NPY_MAGIC = b"\x93NUMPY"


def _write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a temporary file renamed over it)."""
    from ..core._atomic import atomic_write

    atomic_write(path, lambda f: np.savez(f, **arrays))


def _optimizer_arrays(model: Any) -> dict[str, np.ndarray]:
    """The optimizer's state, so that training resumes exactly after :func:`load`."""
    opt = model.optimizer
    if opt is None or not isinstance(model.loss, str):
        return {}
    arrays = {"optimizer_iterations": np.asarray(opt.iterations, np.int64)}
    for k, s in enumerate(opt.state_values(model.trainable_weights)):
        arrays[f"optimizer_slot_{k}"] = np.asarray(s)
    return arrays


def save(model: Any, path: str | os.PathLike) -> None:
    """Write ``model``'s architecture (JSON), weights and optimizer state (its slots and
    step count) to one ``.npz`` file, atomically.

    A model saved after ``fit`` and loaded again continues training exactly as
    the original would have: same weights, same optimizer state.
    """
    model.ensure_built()
    arrays = {f"weight_{k}": w for k, w in enumerate(model.get_weights())}
    arrays["architecture"] = np.frombuffer(json.dumps(model.get_config()).encode(), np.uint8)
    arrays.update(_optimizer_arrays(model))
    _write_npz(os.fspath(path), arrays)


def save_weights(model: Any, path: str | os.PathLike) -> None:
    """Write only the weights of ``model`` to an ``.npz`` file, atomically."""
    model.ensure_built()
    _write_npz(os.fspath(path), {f"weight_{k}": w for k, w in enumerate(model.get_weights())})


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Set ``model``'s weights from a file of :func:`save_weights` or :func:`save`."""
    model.ensure_built()
    path = os.fspath(path)
    _, weights, _ = read_checked(path, "weights file", architecture=False)
    try:
        model.set_weights(weights)
    except GraphadError as exc:
        raise type(exc)(f"cannot load weights file {path!r}: {exc}") from None


def read_checked(path: str, what: str, architecture: bool) -> tuple[Any, list, dict]:
    """:func:`_read_model_file`, every failure a GraphadError naming the file."""
    import zipfile

    try:
        return _read_model_file(path, architecture)
    except LimitError as exc:
        raise LimitError(f"cannot load {what} {path!r}: {exc}") from None
    except GraphadError as exc:
        raise GraphadError(f"cannot load {what} {path!r}: {exc}") from None
    except FileNotFoundError:
        raise GraphadError(f"no such {what}: {path!r}") from None
    except (
        OSError,
        ValueError,
        EOFError,
        KeyError,
        UnicodeDecodeError,
        RecursionError,  # JSON nested thousands deep
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
    ) as exc:
        raise GraphadError(
            f"cannot read {what} {path!r}: it is truncated, corrupt or not "
            f"a graphad model ({type(exc).__name__}: {exc})"
        ) from None


def _read_model_file(path: str, architecture: bool = True) -> tuple[Any, list, dict]:
    """The architecture (parsed JSON, or None when not asked for), the weights and the
    optimizer's arrays of a model or weights file, read with bounds."""
    import zipfile

    from ..core.limits import current

    limits = current()
    size = os.stat(path).st_size
    if size > limits.max_file_bytes:
        raise LimitError(
            f"the file has {size:,} bytes, more than max_file_bytes={limits.max_file_bytes}"
        )
    with open(path, "rb") as f:
        head = f.read(len(_NPY_MAGIC))
    if head == _NPY_MAGIC:
        raise GraphadError(
            "it is a single NumPy array (.npy), not a graphad model file "
            "(the .npz that Sequential.save writes)"
        )
    with zipfile.ZipFile(path) as zf:
        members = {info.filename: info for info in zf.infolist()}
        expands = sum(info.file_size for info in members.values())
        if expands > limits.max_file_bytes:
            raise LimitError(
                f"its members expand to {expands:,} bytes, more than "
                f"max_file_bytes={limits.max_file_bytes}"
            )
        cfg = None
        if architecture:
            if "architecture.npy" not in members:
                raise GraphadError("it is not a graphad model file (no architecture)")
            # the JSON text: bounded by max_file_bytes (checked above), not by max_elements
            arch = _read_npy_member(zf, members["architecture.npy"], limits, weight=False)
            if arch.dtype != np.uint8 or arch.ndim != 1:
                raise GraphadError("the architecture is not a JSON text")
            cfg = json.loads(arch.tobytes().decode())
        count = sum(1 for name in members if name.startswith("weight_"))
        weights = []
        for k in range(count):
            info = members.get(f"weight_{k}.npy")
            if info is None:
                raise GraphadError(f"weight_{k} is missing")
            weights.append(_read_npy_member(zf, info, limits))
        extra = {}
        if architecture:
            for name, info in members.items():
                if name.startswith("optimizer_") and name.endswith(".npy"):
                    extra[name[: -len(".npy")]] = _read_npy_member(zf, info, limits)
    return cfg, weights, extra


def _read_npy_member(zf: Any, info: Any, limits: Any, weight: bool = True) -> np.ndarray:
    """One ``.npy`` member of a zip file, its header checked before its data is read
    (a weight against ``max_elements`` too)."""
    from numpy.lib import format as npy

    name = info.filename
    with zf.open(info) as fp:
        try:
            version = npy.read_magic(fp)
            if version == (1, 0):
                shape, fortran_order, dtype = npy.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran_order, dtype = npy.read_array_header_2_0(fp)
            else:
                raise GraphadError(f"{name}: unsupported .npy format version {version}")
        except GraphadError:
            raise
        except Exception as exc:  # NumPy parses the header text: TokenError, SyntaxError...
            raise GraphadError(
                f"{name}: unreadable .npy header ({type(exc).__name__}: {exc})"
            ) from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise GraphadError(f"{name}: arrays of dtype {dtype} are not weights")
        if len(shape) > limits.max_ndim:
            raise LimitError(
                f"{name} declares {len(shape)} dimensions, more than max_ndim={limits.max_ndim}"
            )
        if any(d < 0 for d in shape):
            raise GraphadError(f"{name} declares the shape {shape}")
        count = math.prod(shape)
        if weight and count > limits.max_elements:
            raise LimitError(
                f"{name} declares the shape {shape} ({count:,} elements), more than "
                f"max_elements={limits.max_elements}"
            )
        nbytes = count * dtype.itemsize
        held = info.file_size - fp.tell()
        if nbytes != held:
            raise GraphadError(
                f"{name} declares {nbytes:,} bytes of data (shape {shape}) but holds {held:,}"
            )
        data = fp.read(nbytes)  # at most what the member holds, itself within the limits
    if len(data) != nbytes:
        raise GraphadError(f"{name} is truncated")
    order = "F" if fortran_order else "C"
    return np.frombuffer(data, dtype).reshape(shape, order=order).copy()
