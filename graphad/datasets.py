"""Data sets for the examples: scikit-learn's handwritten digits, and MNIST from IDX files.

Both return ``((x_train, y_train), (x_test, y_test))`` as
``keras.datasets.mnist.load_data()`` does.  Nothing is downloaded: the digits
ship with scikit-learn (``pip install graphad[datasets]``), and MNIST is read
from the standard IDX files a user already has.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import Any

import numpy as np

from .core.errors import GraphadError

__all__ = ["load_digits", "load_mnist", "read_idx", "write_idx"]

Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def load_digits(
    test_size: float = 0.2, seed: int = 0, flatten: bool = True, normalize: bool = True
) -> Split:
    """scikit-learn's 1,797 8x8 handwritten digits, split into training and test sets.

    Parameters
    ----------
    test_size : float
        Fraction of the images held out for testing (stratified by class).
    seed : int
        Seed of the split.
    flatten : bool
        Images as rows of 64 pixels (else 8x8 arrays).
    normalize : bool
        Pixels as float32 in [0, 1] (else the raw 0..16 integers).

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        Labels are int64 class numbers 0..9.

    Raises
    ------
    GraphadError
        If ``test_size`` is not strictly between 0 and 1, or scikit-learn is not
        installed.

    Examples
    --------
    >>> import graphad as ga
    >>> (x, y), (xt, yt) = ga.datasets.load_digits()
    >>> x.shape, xt.shape, x.dtype.name
    ((1437, 64), (360, 64), 'float32')
    """
    if not 0.0 < float(test_size) < 1.0:
        raise GraphadError(f"test_size must be between 0 and 1, got {test_size}")
    try:
        from sklearn.datasets import load_digits as _sk_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise GraphadError(
            "the digits data set comes with scikit-learn: "
            "pip install graphad[datasets]  (or: pip install scikit-learn)"
        ) from None
    bunch = _sk_digits()
    images = bunch.images if not flatten else bunch.data
    x = (images / 16.0).astype(np.float32) if normalize else images.astype(np.int64)
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_size, random_state=seed, stratify=y
    )
    return (x_tr, y_tr), (x_te, y_te)


# -- IDX files ----------------------------------------------------------------------------------

# IDX type codes (the third byte of the magic number) -> big-endian NumPy dtypes
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_NUMPY_MAX_NDIM = 64
_CHUNK = 1 << 20  # compressed data is read 1 MiB at a time, never past what the header claims


def _open(path: str):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb"), gz


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (raw or gzip-compressed), validating its header and length.

    The header is checked against :mod:`graphad.core.limits` before any data is
    read: at most ``max_ndim`` dimensions, ``max_elements`` elements and
    ``max_file_bytes`` bytes of data (and of file).  A raw file's length must
    match the header; compressed data is read in bounded chunks and never past
    what the header claims, so a small gzip that expands to gigabytes is
    refused after reading one byte more than its header allows.

    Parameters
    ----------
    path : str or os.PathLike
        The file, raw or gzip-compressed (told apart by its first bytes).

    Returns
    -------
    ndarray
        The array, with the file's dtype and shape.

    Raises
    ------
    GraphadError
        For a missing file, a bad magic number, or a truncated or corrupt file
        (``LimitError``, naming the limit, for a header that claims too much).

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from graphad.datasets import read_idx, write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "t.idx")
    >>> write_idx(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    from .core.errors import LimitError
    from .core.limits import current

    limits = current()
    path = os.fspath(path)
    try:
        size = os.stat(path).st_size
        if size > limits.max_file_bytes:
            raise LimitError(
                f"{path!r} has {size:,} bytes, more than max_file_bytes={limits.max_file_bytes}"
            )
        handle, compressed = _open(path)
        with handle as f:
            head = f.read(4)
            if len(head) < 4:
                raise GraphadError(f"{path!r} is too short to be an IDX file")
            if head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES:
                raise GraphadError(f"{path!r} is not an IDX file (bad magic number 0x{head.hex()})")
            ndim = head[3]
            if ndim == 0:
                raise GraphadError(
                    f"{path!r}: its IDX header declares 0 dimensions; an IDX array has 1 or more"
                )
            if ndim > limits.max_ndim:
                raise LimitError(
                    f"{path!r}: its IDX header declares {ndim} dimensions, more than "
                    f"max_ndim={limits.max_ndim}"
                )
            if ndim > _NUMPY_MAX_NDIM:  # only when max_ndim was raised past NumPy's own limit
                raise GraphadError(
                    f"{path!r}: its IDX header declares {ndim} dimensions; NumPy arrays have "
                    f"at most {_NUMPY_MAX_NDIM}"
                )
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise GraphadError(f"{path!r} is truncated inside its header")
            dims = tuple(int(d) for d in np.frombuffer(raw_dims, ">u4"))
            dtype = np.dtype(_IDX_TYPES[head[2]])
            count = math.prod(dims)
            if count > limits.max_elements:
                raise LimitError(
                    f"{path!r}: its IDX header claims the shape {dims} ({count:,} elements), "
                    f"more than max_elements={limits.max_elements}"
                )
            nbytes = count * dtype.itemsize
            if nbytes > limits.max_file_bytes:
                raise LimitError(
                    f"{path!r}: its IDX header claims {nbytes:,} bytes of data, more than "
                    f"max_file_bytes={limits.max_file_bytes}"
                )
            if not compressed and size != 4 + 4 * ndim + nbytes:
                found = size - 4 - 4 * ndim
                what = "truncated" if found < nbytes else "longer than its header says"
                raise GraphadError(
                    f"{path!r} is {what}: the header promises {nbytes} bytes of data "
                    f"for shape {dims}, found {found}"
                )
            data = _read_bounded(f, nbytes + 1)  # one byte more detects a longer stream
    except GraphadError:
        raise
    except FileNotFoundError:
        raise GraphadError(f"no such file: {path!r}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise GraphadError(
            f"cannot read {path!r}: corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from None
    if len(data) != nbytes:
        what = "truncated" if len(data) < nbytes else "longer than its header says"
        raise GraphadError(
            f"{path!r} is {what}: the header promises {nbytes} bytes of data "
            f"for shape {dims}, found {min(len(data), nbytes + 1)}"
            f"{'+' if len(data) > nbytes else ''}"
        )
    return np.frombuffer(data, dtype).astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _read_bounded(f: Any, limit: int) -> bytearray:
    """At most ``limit`` bytes of ``f``, read in chunks (the buffer grows with the data
    actually there, not with what a header claims)."""
    data = bytearray()
    while len(data) < limit:
        chunk = f.read(min(_CHUNK, limit - len(data)))
        if not chunk:
            break
        data += chunk
    return data


def write_idx(path: str | os.PathLike, array: Any, compress: bool | None = None) -> None:
    """Write an array as an IDX file (gzip-compressed if ``compress`` or the name ends .gz).

    Parameters
    ----------
    path : str or os.PathLike
        Where to write.
    array : array_like
        The data (a dtype IDX can hold: uint8, int8, int16, int32, float32, float64).
    compress : bool, optional
        Gzip the file; ``None``: when the name ends ``.gz``.

    Raises
    ------
    GraphadError
        If ``array`` is 0-d or of a dtype an IDX file cannot hold.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from graphad.datasets import read_idx, write_idx
    >>> p = os.path.join(tempfile.mkdtemp(), "t.idx.gz")
    >>> write_idx(p, np.array([1.5, -2.0], dtype=np.float32))
    >>> read_idx(p)
    array([ 1.5, -2. ], dtype=float32)
    """
    arr = np.asarray(array)
    code = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}.get(
        arr.dtype.newbyteorder("=")
    )
    if code is None or arr.ndim == 0:
        raise GraphadError(
            f"IDX files hold 1-D or more arrays of {sorted(_IDX_TYPES.values())}, "
            f"not {arr.dtype} of shape {arr.shape}"
        )
    path = os.fspath(path)
    body = (
        bytes([0, 0, code, arr.ndim])
        + np.asarray(arr.shape, ">u4").tobytes()
        + arr.astype(_IDX_TYPES[code]).tobytes()
    )
    if compress if compress is not None else path.endswith(".gz"):
        body = gzip.compress(body)
    with open(path, "wb") as f:
        f.write(body)


_MNIST_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find(directory: str, names: tuple[str, ...]) -> str:
    for name in names:
        for candidate in (name, name + ".gz"):
            p = os.path.join(directory, candidate)
            if os.path.isfile(p):
                return p
    raise GraphadError(
        f"no {names[0]}[.gz] in {directory!r}: load_mnist reads the four "
        "standard MNIST IDX files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)"
    )


def load_mnist(path: str | os.PathLike, flatten: bool = False, normalize: bool = False) -> Split:
    """MNIST from the four standard IDX files in directory ``path`` (raw or ``.gz``).

    Returns uint8 images of shape (n, 28, 28) and uint8 labels, as
    ``keras.datasets.mnist.load_data()``; ``flatten`` gives rows of 784 pixels
    and ``normalize`` float32 pixels in [0, 1].

    Parameters
    ----------
    path : str or os.PathLike
        The directory holding ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte`` (each may end ``.gz``; the names with a dot
        before ``idx``, as some mirrors spell them, are found too).
    flatten : bool
        Images as rows of 784 pixels (else 28x28 arrays).
    normalize : bool
        Pixels as float32 in [0, 1] (else the raw uint8 0..255).

    Returns
    -------
    ((x_train, y_train), (x_test, y_test)) : tuple of tuples of ndarray
        The images and their digit labels (uint8, 0..9).

    Raises
    ------
    GraphadError
        If ``path`` is not a directory, a file is missing, corrupt or
        truncated, or the files do not fit together (image and label counts,
        labels outside 0..9).

    Examples
    --------
    Four small files in the MNIST layout (three training images, two test
    images), written with :func:`write_idx`:

    >>> import os, tempfile, numpy as np
    >>> from graphad.datasets import load_mnist, write_idx
    >>> d = tempfile.mkdtemp()
    >>> images = np.arange(5 * 28 * 28, dtype=np.uint8).reshape(5, 28, 28)
    >>> write_idx(os.path.join(d, "train-images-idx3-ubyte.gz"), images[:3])
    >>> write_idx(os.path.join(d, "train-labels-idx1-ubyte"), np.array([3, 1, 4], np.uint8))
    >>> write_idx(os.path.join(d, "t10k-images-idx3-ubyte"), images[3:])
    >>> write_idx(os.path.join(d, "t10k-labels-idx1-ubyte"), np.array([1, 5], np.uint8))
    >>> (x_train, y_train), (x_test, y_test) = load_mnist(d, flatten=True, normalize=True)
    >>> x_train.shape, x_train.dtype, y_train.tolist(), x_test.shape
    ((3, 784), dtype('float32'), [3, 1, 4], (2, 784))
    >>> float(x_train[0, 255])
    1.0
    """
    directory = os.fspath(path)
    if not os.path.isdir(directory):
        raise GraphadError(f"load_mnist: {directory!r} is not a directory")
    arrays = {key: read_idx(_find(directory, names)) for key, names in _MNIST_FILES.items()}
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or y.ndim != 1:
            raise GraphadError(
                f"MNIST {part} images must be 3-D and labels 1-D, got shapes "
                f"{x.shape} and {y.shape}"
            )
        if len(x) != len(y):
            raise GraphadError(f"MNIST {part} set: {len(x)} images but {len(y)} labels")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise GraphadError(f"MNIST {part} labels must be digits 0..9")
        if flatten:
            x = x.reshape(len(x), -1)
        if normalize:
            x = x.astype(np.float32) / np.float32(255)
        arrays[f"x_{part}"] = x
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
