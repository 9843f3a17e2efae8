"""GradientTape, Variable and eager tensors, against hand-computed values and NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import graphad as ga
from graphad.eager.tape import Tensor, call_expr


def tf_table(x0: float = 3.0, lr: float = 0.1, epochs: int = 30) -> list[tuple[float, float]]:
    """The notebook's table by the exact float32 recurrence x <- x - lr * (2x + 1)."""
    x = np.float32(x0)
    rows = []
    for _ in range(epochs):
        rows.append((x, x * x + x - np.float32(1)))
        x = x - np.float32(lr) * (np.float32(2) * x + np.float32(1))
    return rows


def test_reference_table_starts_like_tensorflow():
    rows = tf_table()
    assert [str(v) for v in rows[0]] == ["3.0", "11.0"]
    assert [str(v) for v in rows[1]] == ["2.3", "6.59"]
    assert [str(v) for v in rows[2]] == ["1.74", "3.7676"]
    assert [str(v) for v in rows[3]] == ["1.292", "1.9612641"]


@pytest.mark.parametrize("dtype", [None, "float32"])
def test_notebook_gradient_descent_table(dtype):
    x = ga.Variable(3.0, dtype=dtype)
    got = []
    for _ in range(30):
        with ga.GradientTape() as tape:
            y = x**2 + x - 1
        g = tape.gradient(y, x)
        got.append((x.numpy(), y.numpy()))
        x.assign_sub(0.1 * g)
    ref = tf_table()
    np.testing.assert_allclose(np.array(got, float), np.array(ref, float), rtol=1e-5)
    assert x.dtype == (np.float32 if dtype else np.float64)


def test_gradient_of_square_is_float64_ten():
    x = ga.Variable(5.0)
    with ga.GradientTape() as tape:
        y = x * x
    g = tape.gradient(y, x)
    assert type(g) is np.float64 and g == 10.0
    assert isinstance(y, Tensor) and y.numpy() == 25.0


def test_gradient_of_square_of_a_row():
    x = ga.Variable(np.array([[5.0, 10, 15.23232]]))
    with ga.GradientTape() as tape:
        y = x * x
    np.testing.assert_allclose(tape.gradient(y, x), [[10, 20, 30.46464]], rtol=1e-15)


def test_persistent_tape_gives_several_gradients():
    x = ga.convert_to_tensor(3.0)
    with ga.GradientTape(persistent=True) as t:
        t.watch(x)
        y = x * x
        z = y * y
    assert t.gradient(z, x) == 108.0  # 4 x^3
    assert t.gradient(y, x) == 6.0


def test_non_persistent_tape_refuses_a_second_gradient():
    x = ga.Variable(3.0)
    with ga.GradientTape() as t:
        y = x * x
    t.gradient(y, x)
    with pytest.raises(ga.GraphadError, match="persistent"):
        t.gradient(y, x)


def test_watch_of_a_constant():
    # the TF tutorial: x = tf.ones((2, 2)); watch; y = reduce_sum(x); z = y * y
    x = ga.convert_to_tensor(np.ones((2, 2)))
    with ga.GradientTape() as t:
        t.watch(x)
        y = ga.sum(x)
        z = ga.multiply(y, y)
    np.testing.assert_array_equal(t.gradient(z, x), np.full((2, 2), 8.0))


def test_unwatched_constant_and_unconnected_sources_get_zeros():
    x = ga.convert_to_tensor(np.ones(3))  # not watched: a constant to the tape
    v = ga.Variable(np.zeros((2, 2), np.float32))
    w = ga.Variable(2.0)
    with ga.GradientTape() as t:
        y = ga.sum(x) * w
    gx, gv, gw = t.gradient(y, [x, v, w])
    np.testing.assert_array_equal(gx, np.zeros(3))
    assert gv.shape == (2, 2) and gv.dtype == np.float32 and not gv.any()
    assert gw == 3.0


def test_watch_refuses_what_it_cannot_record():
    with ga.Graph(), ga.GradientTape() as t:  # a private graph: the default one is shared
        with pytest.raises(ga.GraphadError, match="convert_to_tensor"):
            t.watch(np.ones(2))
        with pytest.raises(ga.GraphadError, match=r"ga\.constant"):
            t.watch(ga.constant(np.ones(2)))


def test_sources_structure_is_kept():
    a, b = ga.Variable(2.0), ga.Variable(3.0)
    with ga.GradientTape(persistent=True) as t:
        y = a * b
    assert t.gradient(y, [a, b]) == [3.0, 2.0]
    assert t.gradient(y, (a, b)) == (3.0, 2.0)
    assert t.gradient(y, {"a": a, "b": b}) == {"a": 3.0, "b": 2.0}


def test_non_scalar_target_is_summed_and_target_lists_add():
    x = ga.Variable(2.0)
    with ga.GradientTape(persistent=True) as t:
        y = x * np.array([1.0, 2.0, 3.0])
        z = x * x
    assert t.gradient(y, x) == 6.0
    assert t.gradient([y, z], x) == 10.0
    assert t.gradient(y, x, output_gradients=np.array([1.0, 0.0, -1.0])) == -2.0


def test_nested_tapes_give_second_derivatives():
    x = ga.Variable(2.0)
    with ga.GradientTape() as outer:
        with ga.GradientTape() as inner:
            y = x * x * x
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    assert float(dy) == 12.0  # 3 x^2
    assert d2y == 12.0  # 6 x


def test_reads_before_and_after_assign_both_count():
    a = ga.Variable(2.0)
    with ga.GradientTape() as t:
        y = a * a
        a.assign(3.0)
        z = y + a * a
    assert t.gradient(z, a) == 2 * 2.0 + 2 * 3.0


def test_matrix_function_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    W = ga.Variable(rng.normal(size=(3, 4)))
    b = ga.Variable(rng.normal(size=4))
    X = rng.normal(size=(5, 3))

    def loss(Wv, bv):
        z = np.tanh(X @ Wv + bv)
        s = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
        return np.sum(s**2)

    with ga.GradientTape() as t:
        y = ga.sum(ga.softmax(ga.tanh(X @ W + b)) ** 2)
    gW, gb = t.gradient(y, [W, b])
    assert float(y) == pytest.approx(loss(W.numpy(), b.numpy()), rel=1e-12)
    eps = 1e-6
    fd = np.zeros((3, 4))
    for i in range(3):
        for j in range(4):
            d = np.zeros((3, 4))
            d[i, j] = eps
            fd[i, j] = (loss(W.numpy() + d, b.numpy()) - loss(W.numpy() - d, b.numpy())) / (2 * eps)
    np.testing.assert_allclose(gW, fd, rtol=1e-6, atol=1e-9)
    fdb = [
        (loss(W.numpy(), b.numpy() + e) - loss(W.numpy(), b.numpy() - e)) / (2 * eps)
        for e in np.eye(4) * eps
    ]
    np.testing.assert_allclose(gb, fdb, rtol=1e-6, atol=1e-9)


def test_float32_stays_float32():
    x = ga.Variable(np.array([1.0, 2.0], np.float32))
    with ga.GradientTape() as t:
        y = ga.mean(x * x * 3.0)
    g = t.gradient(y, x)
    assert g.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(g, [3.0, 6.0])


def test_non_trainable_variable_needs_watch():
    v = ga.Variable(3.0, trainable=False)
    with ga.GradientTape(persistent=True) as t:
        y = v * v
    assert t.gradient(y, v) == 0.0
    with ga.GradientTape() as t:
        t.watch(v)
        y = v * v
    assert t.gradient(y, v) == 6.0


def test_stop_recording_and_tensors_from_elsewhere_are_constants():
    x = ga.Variable(3.0)
    outside = x * 2.0  # computed before the tape: a constant to it
    with ga.GradientTape() as t:
        with t.stop_recording():
            c = x * x
        y = x * c + outside * x
    assert t.gradient(y, x) == 9.0 + 6.0


def test_watched_variables_and_recorded_graph():
    x, y = ga.Variable(1.0, name="x"), ga.Variable(2.0, name="y")
    with ga.GradientTape() as t:
        z = ga.sin(x) * y
    assert t.watched_variables() == [x, y]
    ops = sorted(t.graph.op(n) for n in t.graph.nodes())
    assert ops == ["input", "input", "multiply", "sin"]
    t.gradient(z, [x, y])
    roles = {t.graph.node(o.id)["role"] for o in t.outputs}
    assert roles == {"forward", "grad"}  # the target and its gradients, to render
    assert any(t.graph.node(n)["role"] == "grad" for n in t.graph.nodes())


def test_render_a_tape_by_duck_typing():
    pytest.importorskip("graphviz")
    x = ga.Variable(3.0, name="x")
    with ga.GradientTape() as t:
        y = x * x + 1.0
    t.gradient(y, x)
    dot = ga.render(t)
    assert "x" in dot.source and "->" in dot.source


def test_eager_outside_a_tape():
    x = ga.Variable(np.array([1.0, 4.0]))
    y = ga.sqrt(x) + 1
    assert isinstance(y, Tensor)
    np.testing.assert_array_equal(y.numpy(), [2.0, 3.0])
    assert isinstance(np.float64(2.0) * x, Tensor)  # NumPy defers to our operators
    np.testing.assert_array_equal(np.sin(x), np.sin([1.0, 4.0]))  # __array__
    assert float(ga.Variable(2.5)) == 2.5 and f"{ga.Variable(np.float32(2.3))}" == "2.3"


def test_variable_assign_rules():
    v = ga.Variable(np.zeros(3, np.float32), name="w")
    assert v.assign_add(np.ones(3)) is v  # cast within the float kind
    assert v.dtype == np.float32
    np.testing.assert_array_equal(v.numpy(), np.ones(3))
    with pytest.raises(ga.ShapeError, match="'w'"):
        v.assign(np.zeros(4))
    with pytest.raises(ga.DTypeError):
        ga.Variable(np.zeros(2, np.int64)).assign(np.ones(2) * 0.5)
    arr = np.ones(3)
    u = ga.Variable(arr)
    arr[0] = 5.0  # the Variable holds its own copy
    assert u.numpy()[0] == 1.0


def test_symbolic_target_is_refused_with_advice():
    x = ga.Variable(1.0)
    with ga.Graph():  # a private graph: the default one is shared by every test
        s = ga.symbols("s_tape_test")
        with ga.GradientTape() as t:
            y = s * 2
        with pytest.raises(ga.GraphadError, match=r"ga\.grad"):
            t.gradient(y, x)
        with pytest.raises(ga.GraphadError, match="symbolic"):
            _ = x * s


def test_call_expr_replays_a_parsed_expression_eagerly():
    with ga.Graph():
        e = ga.parse("x**2 + sin(x*y)")
    x, y = ga.Variable(3.0), ga.Variable(2.0)
    with ga.GradientTape() as t:
        f = call_expr(e, {"x": x, "y": y})
    gx, gy = t.gradient(f, [x, y])
    assert float(f) == pytest.approx(9 + np.sin(6.0))
    assert gx == pytest.approx(6 + 2 * np.cos(6.0))
    assert gy == pytest.approx(3 * np.cos(6.0))


def test_indexing_is_eager_only():
    x = ga.Variable(np.array([1.0, 2.0, 3.0]))
    assert float((x * 2)[1]) == 4.0
    with ga.GradientTape() as t:
        y = x * 2
        with pytest.raises(ga.GraphadError, match="indexing"):
            y[0]
    assert t.gradient(y, x).tolist() == [2.0, 2.0, 2.0]
