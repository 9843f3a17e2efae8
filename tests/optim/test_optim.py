"""Optimizers against hand-written NumPy versions of Keras 3's update rules."""

from __future__ import annotations

import io

import numpy as np
import pytest

import graphad as ga

# -- NumPy references of the Keras rules (written from the formulas, step by step) ---------


def ref_sgd(w, grad_at, steps, learning_rate=0.01, momentum=0.0, nesterov=False):
    lr = learning_rate
    m = np.zeros_like(w)
    for k in range(steps):
        g = grad_at(w, k)
        if momentum == 0:
            w = w - lr * g
            continue
        m = momentum * m - lr * g
        w = w + (momentum * m - lr * g if nesterov else m)
    return w


def ref_rmsprop(
    w, grad_at, steps, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False
):
    lr = learning_rate
    v, mom, avg = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for k in range(steps):
        g = grad_at(w, k)
        v = rho * v + (1 - rho) * g**2
        if centered:
            avg = rho * avg + (1 - rho) * g
            inc = lr * g / np.sqrt(v - avg**2 + epsilon)
        else:
            inc = lr * g / np.sqrt(v + epsilon)
        if momentum > 0:
            mom = momentum * mom + inc
            w = w - mom
        else:
            w = w - inc
    return w


def ref_adagrad(
    w, grad_at, steps, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7
):
    lr = learning_rate
    acc = np.full_like(w, initial_accumulator_value)
    for k in range(steps):
        g = grad_at(w, k)
        acc = acc + g**2
        w = w - lr * g / np.sqrt(acc + epsilon)
    return w


def ref_adam(
    w, grad_at, steps, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False
):
    lr = learning_rate
    m, v, vhat = np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad_at(w, t - 1)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g**2
        m_hat = m / (1 - beta_1**t)
        if amsgrad:
            vhat = np.maximum(vhat, v)
            v_use = vhat
        else:
            v_use = v
        # Keras folds the bias corrections into alpha and adds epsilon after sqrt(v)
        w = w - lr * np.sqrt(1 - beta_2**t) * m_hat / (np.sqrt(v_use) + epsilon)
    return w


CASES = [
    (ga.optim.SGD, ref_sgd, {"learning_rate": 0.1}),
    (ga.optim.SGD, ref_sgd, {"learning_rate": 0.05, "momentum": 0.9}),
    (ga.optim.SGD, ref_sgd, {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True}),
    (ga.optim.RMSprop, ref_rmsprop, {}),
    (ga.optim.RMSprop, ref_rmsprop, {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    (ga.optim.Adagrad, ref_adagrad, {"learning_rate": 0.1}),
    (ga.optim.Adam, ref_adam, {"learning_rate": 0.05}),
    (ga.optim.Adam, ref_adam, {"learning_rate": 0.05, "amsgrad": True, "beta_2": 0.9}),
]

C = np.array([0.5, -1.0, 2.0])
S = np.array([1.0, 3.0, 0.5])


def quad_grad(w):
    return 2 * S * (w - C)  # gradient of sum(S * (w - C)**2)


@pytest.mark.parametrize("cls, ref, kw", CASES)
def test_apply_gradients_matches_keras_rule(cls, ref, kw):
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=3) for _ in range(10)]
    w = ga.Variable(np.array([1.0, 2.0, -3.0]))
    opt = cls(**kw)
    for g in grads:
        opt.apply_gradients([(g, w)])
    assert opt.iterations == 10
    expected = ref(np.array([1.0, 2.0, -3.0]), lambda w, k: grads[k], 10, **kw)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("cls, ref, kw", CASES)
def test_minimize_on_a_quadratic_matches_keras_rule(cls, ref, kw):
    w0 = np.array([1.0, 2.0, -3.0])
    w = ga.Variable(w0)
    opt = cls(**kw)
    for _ in range(10):
        opt.minimize(lambda: ga.sum(S * (w - C) ** 2), var_list=[w])
    # the reference computes each gradient at its own iterate, by hand
    expected = ref(w0, lambda x, k: quad_grad(x), 10, **kw)
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6, atol=1e-12)


def test_keras_docs_rmsprop_example():
    v = ga.Variable(10.0)
    opt = ga.optim.RMSprop(learning_rate=0.1)
    opt.minimize(lambda: (v**2) / 2.0, [v])
    assert float(v.numpy()) == pytest.approx(9.683772, abs=1e-6)


def test_defaults_are_keras_defaults():
    assert ga.optim.SGD().learning_rate == 0.01
    for cls in (ga.optim.RMSprop, ga.optim.Adam, ga.optim.Adagrad):
        assert cls().learning_rate == 0.001
    r, a, g = ga.optim.get("rmsprop"), ga.optim.get("adam"), ga.optim.get("adagrad")
    assert (r.rho, r.momentum, r.epsilon, r.centered) == (0.9, 0.0, 1e-7, False)
    assert (a.beta_1, a.beta_2, a.epsilon, a.amsgrad) == (0.9, 0.999, 1e-7, False)
    assert (g.initial_accumulator_value, g.epsilon) == (0.1, 1e-7)
    with pytest.raises(ga.GraphadError, match="unknown optimizer"):
        ga.optim.get("lbfgs")
    with pytest.raises(ga.GraphadError, match="momentum"):
        ga.optim.SGD(momentum=1.5)


def test_sgd_minimize_reproduces_the_float32_table():
    from tests.eager.test_tape import tf_table

    x = ga.Variable(np.float32(3.0))
    opt = ga.optim.SGD(0.1)
    got = []
    for _ in range(30):
        before = x.numpy()
        f = opt.minimize(lambda: x**2 + x - 1, var_list=[x])
        assert f.dtype == np.float32 and x.dtype == np.float32
        got.append((before, f))
    np.testing.assert_allclose(np.array(got, float), np.array(tf_table(), float), rtol=1e-5)


def test_minimize_graph_does_not_grow():
    x = ga.Variable(np.array([3.0, -1.0]))
    opt = ga.optim.Adam(0.1)
    opt.minimize(lambda: ga.sum(x**2 + x - 1), var_list=[x])
    (entry,) = opt._cache.values()
    nodes_after_one = len(entry[1])
    for _ in range(99):
        opt.minimize(lambda: ga.sum(x**2 + x - 1), var_list=[x])
    assert len(opt._cache) == 1
    (entry,) = opt._cache.values()
    assert len(entry[1]) == nodes_after_one
    assert opt.iterations == 100


def test_minimize_feeds_new_closure_data_instead_of_baking_it_in():
    w = ga.Variable(np.zeros(2))
    opt = ga.optim.SGD(0.5)
    targets = [np.array([1.0, 2.0]), np.array([-4.0, 0.0]), np.array([3.0, 3.0])]
    expected = np.zeros(2)
    for d in targets:
        data = d.copy()  # a new array each step, as a batch would be
        opt.minimize(lambda data=data: ga.sum((w - data) ** 2), [w])
        expected = expected - 0.5 * 2 * (expected - d)
    np.testing.assert_allclose(w.numpy(), expected)
    assert len(opt._cache) == 1  # same structure, same compiled step


def test_learning_rate_can_change_between_steps():
    w = ga.Variable(1.0)
    opt = ga.optim.SGD(0.1)
    opt.minimize(lambda: w * 1.0, [w])
    opt.learning_rate = 0.5
    opt.minimize(lambda: w * 1.0, [w])
    assert float(w.numpy()) == pytest.approx(1.0 - 0.1 - 0.5)
    opt.learning_rate = lambda step: 0.25 / (step + 1)  # a schedule of the step count
    opt.minimize(lambda: w * 1.0, [w])
    assert float(w.numpy()) == pytest.approx(0.4 - 0.25 / 3)


def test_minimize_with_a_tape_and_a_loss_value():
    w = ga.Variable(np.array([1.0, -2.0]))
    opt = ga.optim.SGD(0.1)
    with ga.GradientTape() as tape:
        loss = ga.sum(w * w)
    value = opt.minimize(loss, [w], tape=tape)
    assert value == 5.0
    np.testing.assert_allclose(w.numpy(), [0.8, -1.6])


def test_apply_gradients_errors_and_none():
    w, u = ga.Variable(np.ones(2)), ga.Variable(np.ones(3))
    opt = ga.optim.SGD(1.0)
    opt.apply_gradients([(np.ones(2), w), (None, u)])
    np.testing.assert_array_equal(w.numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(u.numpy(), np.ones(3))
    with pytest.raises(ga.GraphadError, match="None"):
        opt.apply_gradients([(None, w)])
    with pytest.raises(ga.GraphadError, match="shape"):
        opt.apply_gradients([(np.ones(3), w)])
    with pytest.raises(ga.GraphadError, match="Variable"):
        opt.apply_gradients([(np.ones(2), np.ones(2))])


def test_float32_variables_update_in_float32():
    w = ga.Variable(np.ones(4, np.float32))
    opt = ga.optim.Adam(0.01)
    for _ in range(3):
        opt.apply_gradients([(np.full(4, 0.5, np.float32), w)])
    assert w.dtype == np.float32
    assert all(s.dtype == np.float32 for s in opt.variables)


# -- the minimize command --------------------------------------------------------------------


def _run_minimize(*argv):
    import argparse

    from graphad.cli import minimize

    parser = argparse.ArgumentParser()
    minimize.add_arguments(parser)
    out = io.StringIO()
    code = minimize.run(parser.parse_args(list(argv)), out)
    return code, out.getvalue().splitlines()


def test_minimize_command_prints_the_notebook_table():
    from tests.eager.test_tape import tf_table

    code, lines = _run_minimize(
        "x**2 + x - 1", "--x0", "x=3", "--lr", "0.1", "--epochs", "30", "--format", "notebook"
    )
    assert code == 0 and len(lines) == 30
    assert lines[:4] == [
        "Epoch : 0 [3.0, 11.0]",
        "Epoch : 1 [2.3, 6.59]",
        "Epoch : 2 [1.74, 3.7676]",
        "Epoch : 3 [1.292, 1.9612641]",
    ]
    for line, (x, f) in zip(lines, tf_table(), strict=True):
        vals = [float(v) for v in line.split("[")[1].rstrip("]").split(",")]
        np.testing.assert_allclose(vals, [x, f], rtol=1e-5)


def test_minimize_command_other_optimizers_and_errors():
    code, lines = _run_minimize(
        "(x - 2)**2 + y**2",
        "--x0",
        "x=0,y=1",
        "--lr",
        "0.2",
        "--epochs",
        "60",
        "--optimizer",
        "adam",
        "--format",
        "notebook",
    )
    assert code == 0
    x, y, f = (float(v) for v in lines[-1].split("[")[1].rstrip("]").split(","))
    assert abs(x - 2) < 0.1 and abs(y) < 0.1 and f < 0.02
    with pytest.raises(ga.GraphadError, match="--x0"):
        _run_minimize("x + y", "--x0", "x=1")


def test_minimize_demo():
    from graphad.cli import minimize

    out = io.StringIO()
    minimize.demo(out)
    text = out.getvalue()
    assert "epoch  0  x=3.0  f=11.0" in text and "epoch 29  x=" in text


@pytest.mark.parametrize(
    "module",
    ["graphad.optim", "graphad.optim.base", "graphad.optim.optimizers",
     "graphad.optim.schedules", "graphad.eager.tape", "graphad.eager.tensor"],
)  # fmt: skip
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5 and result.failed == 0
