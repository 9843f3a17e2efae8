"""Digits from scikit-learn and MNIST IDX files (written here, small), with their failure modes."""

from __future__ import annotations

import gzip
import sys

import numpy as np
import pytest

import graphad as ga
from graphad.datasets import load_mnist, read_idx, write_idx


def test_load_digits_split_and_scaling():
    pytest.importorskip("sklearn")
    (x, y), (xt, yt) = ga.datasets.load_digits()
    assert x.shape == (1437, 64) and xt.shape == (360, 64)
    assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() == 1.0
    assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    # stratified: every class keeps its share in the test set
    assert np.bincount(yt).min() >= 35
    (x2, _), _ = ga.datasets.load_digits()
    np.testing.assert_array_equal(x, x2)  # the same seed gives the same split
    (x3, _), _ = ga.datasets.load_digits(seed=1, flatten=False, normalize=False, test_size=0.5)
    assert x3.shape == (898, 8, 8) and x3.dtype == np.int64 and x3.max() == 16


def test_load_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ga.GraphadError, match=r"pip install graphad\[datasets\]"):
        ga.datasets.load_digits()


def test_load_digits_rejects_bad_test_size():
    with pytest.raises(ga.GraphadError, match="test_size"):
        ga.datasets.load_digits(test_size=1.5)


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    """IDX by hand from the format's description (independent of write_idx)."""
    head = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(
    "dtype, code",
    [(np.uint8, 8), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_read_idx_types(tmp_path, dtype, code):
    arr = (
        (np.arange(24).reshape(2, 3, 4) * 3 - 5).astype(dtype)
        if dtype != np.uint8
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    )
    p = tmp_path / "a.idx"
    p.write_bytes(_idx_bytes(arr, code))
    got = read_idx(p)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)
    write_idx(tmp_path / "b.idx.gz", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "b.idx.gz"), arr)


def _write_mnist(directory, n_train=5, n_test=3, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    parts = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in parts.items():
        data = _idx_bytes(arr, 8)
        if gz:
            (directory / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return parts


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_the_four_files(tmp_path, gz):
    parts = _write_mnist(tmp_path, gz=gz)
    (x, y), (xt, yt) = load_mnist(tmp_path)
    np.testing.assert_array_equal(x, parts["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(y, parts["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(xt, parts["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(yt, parts["t10k-labels-idx1-ubyte"])
    assert x.dtype == np.uint8 and x.shape == (5, 28, 28)
    (xf, _), _ = load_mnist(tmp_path, flatten=True, normalize=True)
    assert xf.shape == (5, 784) and xf.dtype == np.float32
    np.testing.assert_allclose(
        xf, parts["train-images-idx3-ubyte"].reshape(5, -1) / 255.0, rtol=1e-6
    )


@pytest.mark.parametrize(
    "damage, message",
    [
        ("magic", "magic"),
        ("truncated_data", "truncated"),
        ("truncated_header", "header"),
        ("trailing", "longer"),
        ("bad_gzip", "corrupt"),
        ("empty", "too short"),
    ],
)
def test_corrupt_idx_files_give_clear_errors(tmp_path, damage, message):
    good = _idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 8)
    data = {
        "magic": b"\x08\x03" + good[2:],
        "truncated_data": good[:-3],
        "truncated_header": good[:6],
        "trailing": good + b"\x00",
        "bad_gzip": gzip.compress(good)[:-12] + b"\xff" * 12,
        "empty": b"",
    }[damage]
    p = tmp_path / "f.idx"
    p.write_bytes(data)
    with pytest.raises(ga.GraphadError, match=message):
        read_idx(p)


def test_mnist_set_errors(tmp_path):
    with pytest.raises(ga.GraphadError, match="not a directory"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(ga.GraphadError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    _write_mnist(tmp_path, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(
        _idx_bytes(np.zeros(4, np.uint8), 8)
    )  # 5 images, 4 labels
    with pytest.raises(ga.GraphadError, match="5 images but 4 labels"):
        load_mnist(tmp_path)


def test_train_command_on_mnist_files(tmp_path):
    import argparse
    import io

    from graphad.cli import train

    _write_mnist(tmp_path, n_train=64, n_test=16)
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    out = io.StringIO()
    code = train.run(
        parser.parse_args(["--mnist", str(tmp_path), "--epochs", "1", "--units", "8", "--quiet"]),
        out,
    )
    assert code == 0 and "test accuracy" in out.getvalue()


def test_docstring_examples_run():
    pytest.importorskip("sklearn")
    import doctest

    import graphad.datasets

    result = doctest.testmod(graphad.datasets, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
