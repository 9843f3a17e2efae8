"""JAX-style grad / value_and_grad / jit of Python functions, checked against finite
differences and hand-computed derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga


def _fd(fun, args, index, eps=1e-6):
    """Central finite differences of a scalar NumPy function wrt ``args[index]``."""
    base = [np.array(a, dtype=float) for a in args]
    x = base[index]
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up = [a.copy() for a in base]
        dn = [a.copy() for a in base]
        up[index][i] += eps
        dn[index][i] -= eps
        grad[i] = (fun(*up) - fun(*dn)) / (2 * eps)
    return grad


def _mlp_loss(W1, b1, W2, b2, X, T):
    h = ga.relu(X @ W1 + b1)
    logp = ga.log_softmax(h @ W2 + b2)
    return -ga.mean(ga.sum(logp * T, axis=-1))


def _mlp_loss_np(W1, b1, W2, b2, X, T):
    h = np.maximum(X @ W1 + b1, 0)
    z = h @ W2 + b2
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -np.mean(np.sum(logp * T, axis=-1))


@pytest.fixture
def mlp_data():
    rng = np.random.default_rng(1)
    params = [rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(6, 3)),
              rng.normal(size=3)]  # fmt: skip
    X = rng.normal(size=(8, 4))
    T = np.eye(3)[rng.integers(0, 3, size=8)]
    return params, X, T


def test_mlp_gradient_matches_finite_differences(mlp_data):
    params, X, T = mlp_data
    dloss = ga.grad(_mlp_loss, argnums=(0, 1, 2, 3))
    grads = dloss(*params, X, T)
    assert isinstance(grads, tuple) and len(grads) == 4
    for k, g in enumerate(grads):
        assert g.shape == params[k].shape and g.dtype == np.float64
        want = _fd(_mlp_loss_np, [*params, X, T], k)
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-7)


def test_value_and_grad_in_one_call(mlp_data):
    params, X, T = mlp_data
    vg = ga.value_and_grad(_mlp_loss, argnums=0)
    value, g0 = vg(*params, X, T)
    assert type(value) is np.float64
    assert value == pytest.approx(_mlp_loss_np(*params, X, T), rel=1e-12)
    np.testing.assert_allclose(g0, _fd(_mlp_loss_np, [*params, X, T], 0), rtol=1e-5, atol=1e-7)


def test_pytree_arguments_give_gradients_of_the_same_structure(mlp_data):
    params, X, T = mlp_data

    def loss(p, batch):
        return _mlp_loss(p["W1"], p["b1"], p["W2"], p["b2"], *batch)

    tree = {"W1": params[0], "b1": params[1], "W2": params[2], "b2": params[3]}
    g = ga.grad(loss)(tree, (X, T))
    assert set(g) == set(tree)
    flat = ga.grad(_mlp_loss, argnums=(0, 1, 2, 3))(*params, X, T)
    for key, want in zip(["W1", "b1", "W2", "b2"], flat, strict=True):
        np.testing.assert_array_equal(g[key], want)


def test_scalar_functions_and_argnums():
    f = lambda x, y: x**2 * y + ga.sin(y)  # noqa: E731
    assert float(ga.grad(f)(3.0, 2.0)) == pytest.approx(12.0)
    assert float(ga.grad(f, argnums=1)(3.0, 2.0)) == pytest.approx(9.0 + np.cos(2.0))
    gx, gy = ga.grad(f, argnums=(0, 1))(3.0, 2.0)
    assert (float(gx), float(gy)) == pytest.approx((12.0, 9.0 + np.cos(2.0)))
    assert float(ga.grad(f, argnums=-1)(3.0, 2.0)) == pytest.approx(9.0 + np.cos(2.0))
    assert float(ga.grad(lambda x: x**3)(2)) == pytest.approx(12.0)  # an int becomes a float


def test_nonscalar_output_means_gradient_of_the_sum():
    g = ga.grad(lambda x: x * x)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(g, [2.0, 4.0, 6.0])


def test_traced_once_per_signature_and_static_args_are_baked_in():
    traces = []

    def f(x, power, scale):
        traces.append(power)
        return ga.sum(x**power) * scale

    df = ga.grad(f)
    x = np.array([1.0, 2.0])
    np.testing.assert_allclose(df(x, 2, 1.0), [2.0, 4.0])
    np.testing.assert_allclose(df(x * 2, 2, 3.0), [12.0, 24.0])  # same signature: cached
    assert traces == [2]
    np.testing.assert_allclose(df(x, 3, 1.0), [3.0, 12.0])  # a new static value: retraced
    df(np.ones(3), 3, 1.0)  # a new shape: retraced
    df(np.ones(3, np.float32), 3, 1.0)  # a new dtype: retraced
    assert traces == [2, 3, 3, 3]


def test_float32_gradients_stay_float32():
    g = ga.grad(lambda x: ga.sum(ga.tanh(x) * 2.0))(np.ones(3, np.float32))
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * (1 - np.tanh(1.0) ** 2), rtol=1e-6)


def test_bad_arguments():
    with pytest.raises(ga.DTypeError, match="floating"):
        ga.grad(lambda x: x * 2)(np.array([1, 2]))
    with pytest.raises(ga.GraphadError, match="out of range"):
        ga.grad(lambda x: x, argnums=2)(1.0)
    with pytest.raises(ga.GraphadError, match="one array"):
        ga.grad(lambda x: (x, x))(1.0)
    with pytest.raises(ga.GraphadError, match="hashable"):
        ga.grad(lambda x, opts: x * 2)(1.0, {"a": "b"})


def test_jit_runs_compiled_code():
    calls = []

    def f(x, y):
        calls.append(1)
        return {"sum": x + y, "prod": [x * y, ga.sin(x)]}

    fast = ga.jit(f)
    out = fast(np.array([1.0, 2.0]), 3.0)
    out2 = fast(np.array([0.0, 1.0]), 1.0)
    assert len(calls) == 1
    np.testing.assert_array_equal(out["sum"], [4.0, 5.0])
    np.testing.assert_array_equal(out2["prod"][0], [0.0, 1.0])
    np.testing.assert_allclose(out2["prod"][1], np.sin([0.0, 1.0]))
