"""Dense networks: training, losses against NumPy, persistence, progress and the train command."""

from __future__ import annotations

import argparse
import io
import os
import time

import numpy as np
import pytest

import graphad as ga

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def digits():
    return ga.datasets.load_digits(test_size=0.2, seed=0)


def small_model(units=16, out=3, act="softmax", seed=0):
    ga.nn.set_random_seed(seed)
    return ga.nn.Sequential(
        [ga.nn.Dense(units, activation="relu", input_shape=(4,)), ga.nn.Dense(out, activation=act)]
    )


def numpy_forward(weights, X):
    W1, b1, W2, b2 = weights
    h = np.maximum(X @ W1 + b1, 0)
    return h, h @ W2 + b2


def test_digits_network_reaches_95_percent(digits):
    (x, y), (xt, yt) = digits
    ga.nn.set_random_seed(0)
    model = ga.nn.Sequential(
        [ga.nn.Dense(64, activation="relu"), ga.nn.Dense(10, activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x, y, epochs=30, batch_size=32, seed=0, verbose=0)
    print(f"digits: 30 epochs in {time.perf_counter() - start:.2f} s")
    _, acc = model.evaluate(xt, yt)
    assert acc >= 0.95
    # the accuracy metric agrees with an argmax over the predictions
    assert acc == pytest.approx(np.mean(model.predict(xt).argmax(1) == yt))
    assert history.history["loss"][-1] < history.history["loss"][0] / 5
    assert len(history.history["accuracy"]) == 30


def test_notebook_512_unit_network_with_rmsprop(digits):
    (x, y), (xt, yt) = digits
    # The seed fixes the weights *and* fit's shuffling (fit draws its order from the
    # generator set_random_seed seeds), so on one machine this run is deterministic
    # (test accuracy 0.919 here).  It used to shuffle from fresh entropy and failed
    # about one run in 40 (0.836 once).  The bound must still hold where float32
    # rounding differs (another BLAS), which acts like another seed: over seeds 0..39
    # the test accuracy after these 3 epochs was min 0.850, mean 0.892, sd 0.019,
    # so 0.83 (mean - 3.3 sd, 1 sd below the worst seed) fails only on a real
    # regression; chance is 0.10.  The losses fell every epoch for all 40 seeds, and
    # the test loss was at most 0.41 x the first epoch's.
    ga.nn.set_random_seed(1)
    network = ga.nn.Sequential()
    network.add(ga.nn.Dense(512, activation="relu", input_shape=(64,)))
    network.add(ga.nn.Dense(10, activation="softmax"))
    network.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = network.fit(x, ga.nn.to_categorical(y), epochs=3, batch_size=128, verbose=0)
    losses = history.history["loss"]
    assert losses[0] > losses[1] > losses[2]
    test_loss, test_acc = network.evaluate(xt, ga.nn.to_categorical(yt))
    assert test_acc > 0.83 and test_loss < 0.6 * losses[0]


def test_loss_and_accuracy_match_numpy():
    model = small_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    y = rng.integers(0, 3, 50)
    _, z = numpy_forward(model.get_weights(), X.astype(np.float64))
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss, acc = model.evaluate(X, y, batch_size=16)
    assert loss == pytest.approx(-np.mean(logp[np.arange(50), y]), rel=1e-5)
    assert acc == pytest.approx(np.mean(z.argmax(1) == y))
    np.testing.assert_allclose(model.predict(X), np.exp(logp), rtol=1e-5, atol=1e-7)


def test_one_training_step_matches_a_hand_written_numpy_step():
    model = small_model()
    model.compile(optimizer=ga.optim.SGD(0.1), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 4)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    W1, b1, W2, b2 = (w.astype(np.float64) for w in model.get_weights())
    h, z = numpy_forward([W1, b1, W2, b2], X.astype(np.float64))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[y]) / 8
    dh = (dz @ W2.T) * (h > 0)
    expected = [
        W1 - 0.1 * X.T @ dh,
        b1 - 0.1 * dh.sum(0),
        W2 - 0.1 * h.T @ dz,
        b2 - 0.1 * dz.sum(0),
    ]
    loss = model.train_on_batch(X, y)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(8), y])), rel=1e-5)
    for got, want in zip(model.get_weights(), expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_fused_softmax_cross_entropy_is_finite_for_extreme_logits():
    model = ga.nn.Sequential(
        [ga.nn.Dense(2, activation="softmax", input_shape=(1,), kernel_initializer="ones")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.layers[0].kernel.assign(np.array([[300.0, -300.0]], np.float32))
    loss = model.evaluate(np.ones((1, 1)), np.array([1]))
    assert loss == pytest.approx(600.0, rel=1e-6)  # softmax underflows; log_softmax does not


def test_one_compiled_step_per_batch_shape_and_no_growth():
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    X = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    y = np.arange(100) % 3
    model.fit(X, y, epochs=1, batch_size=32, verbose=0)
    fns = dict(model._fns)
    assert sorted(k[1] for k in fns if k[0] == "train") == [(4, 4), (32, 4)]
    sizes = {k: len(f.graph) for k, f in fns.items()}
    model.fit(X, y, epochs=3, batch_size=32, verbose=0)
    assert {k: len(f.graph) for k, f in model._fns.items()} == sizes
    assert all(model._fns[k] is f for k, f in fns.items())
    assert model.optimizer.iterations == 4 * 4


def test_mean_loss_gradient_stays_float32():
    # regression: the weak 1.0 seed of a scalar loss used to turn float32 gradients float64
    with ga.Graph():
        w = ga.symbol("w", (3,), "float32")
        g = ga.grad(ga.mean(w * w), w)
        assert ga.compile(g, inputs=[w])(np.ones(3, np.float32)).dtype == np.float32
        assert g.eval(w=np.ones(3, np.float32)).dtype == np.float32


def test_mse_regression_and_scalar_evaluate():
    ga.nn.set_random_seed(0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(3,))])
    model.compile(optimizer=ga.optim.SGD(0.1), loss="mse")
    model.fit(X, y, epochs=40, batch_size=20, verbose=0)
    loss = model.evaluate(X, y)
    assert isinstance(loss, float) and loss < 1e-4
    np.testing.assert_allclose(model.get_weights()[0].ravel(), [1.0, -2.0, 0.5], atol=1e-2)


def test_custom_training_loop_with_a_tape():
    model = small_model()
    opt = ga.optim.Adam(0.05)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    losses = []
    for _ in range(30):
        with ga.GradientTape() as tape:
            per = ga.nn.sparse_categorical_crossentropy(y, model(X))
            loss = ga.mean(per)
        grads = tape.gradient(loss, model.trainable_weights)
        opt.apply_gradients(zip(grads, model.trainable_weights, strict=True))
        losses.append(float(loss))
    assert losses[-1] < 0.6 * losses[0]


def test_save_load_round_trip(tmp_path):
    model = small_model()
    model.compile(
        optimizer=ga.optim.RMSprop(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    y = np.arange(40) % 3
    model.fit(X, y, epochs=2, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # the temporary file is gone
    with np.load(path, allow_pickle=False) as data:  # no pickled objects inside
        assert "architecture" in data.files
    loaded = ga.nn.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.evaluate(X, y) == model.evaluate(X, y)
    assert isinstance(loaded.optimizer, ga.optim.RMSprop)
    assert loaded.optimizer.learning_rate == 0.01


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not_a_model", "missing"])
def test_corrupt_model_files_give_clear_errors(tmp_path, damage):
    path = tmp_path / "m.npz"
    small_model().save(path)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x00garbage" * 50)
    elif damage == "not_a_model":
        np.savez(path, a=np.ones(3))
    else:
        path = tmp_path / "nothing.npz"
    with pytest.raises(ga.GraphadError, match=r"m\.npz|nothing\.npz"):
        ga.nn.load(path)


def test_summary_counts_parameters():
    model = ga.nn.Sequential(
        [
            ga.nn.Dense(512, activation="relu", input_shape=(784,)),
            ga.nn.Dense(10, activation="softmax"),
        ]
    )
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "dense (Dense)" in text and "dense_1 (Dense)" in text
    assert "401,920" in text and "5,130" in text and "Total params: 407,050" in text
    assert model.count_params() == 784 * 512 + 512 + 512 * 10 + 10


def test_glorot_uniform_is_seeded_and_bounded():
    ga.nn.set_random_seed(5)
    a = ga.nn.Dense(30, input_shape=(20,)).kernel.numpy()
    ga.nn.set_random_seed(5)
    b = ga.nn.Dense(30, input_shape=(20,)).kernel.numpy()
    np.testing.assert_array_equal(a, b)
    limit = np.sqrt(6 / 50)
    assert a.dtype == np.float32 and np.abs(a).max() <= limit and np.abs(a).max() > 0.9 * limit


def test_history_validation_and_verbosity(capsys, tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    y = np.arange(30) % 3
    h = model.fit(X, y, epochs=2, batch_size=8, validation_data=(X, y), verbose=0)
    assert capsys.readouterr().out == ""
    assert set(h.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h.history["val_loss"][-1] == pytest.approx(model.evaluate(X, y)[0])
    model.fit(X, y, epochs=2, batch_size=8, verbose=1)  # not a terminal: one line per epoch
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("Epoch 2/2") and "accuracy:" in lines[1]
    pytest.importorskip("matplotlib")
    h.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_input_layer_flatten_and_errors():
    model = ga.nn.Sequential([ga.nn.Input(shape=(2, 3)), ga.nn.Flatten(), ga.nn.Dense(2)])
    assert model.layers[-1].kernel.shape == (6, 2)
    assert model.predict(np.ones((5, 2, 3))).shape == (5, 2)
    with pytest.raises(ga.GraphadError, match="compile"):
        model.fit(np.ones((5, 2, 3)), np.zeros(5))
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ga.ShapeError, match=r"\(2, 3\)"):
        model.fit(np.ones((5, 6)), np.zeros(5))
    with pytest.raises(ga.GraphadError, match="labels"):
        model.fit(np.ones((5, 2, 3)), np.array([0, 1, 2, 0, 1]))
    with pytest.raises(ga.GraphadError, match="unknown loss"):
        model.compile(loss="cosine_proximity")
    with pytest.raises(ga.GraphadError, match="unknown activation"):
        ga.nn.Dense(3, activation="swish")


def test_train_command_and_demo(tmp_path):
    from graphad.cli import train

    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    out = io.StringIO()
    args = parser.parse_args(
        ["--epochs", "2", "--units", "16", "--quiet", "--save", str(tmp_path / "m.npz")]
    )
    assert train.run(args, out) == 0
    text = out.getvalue()
    assert "test accuracy" in text and (tmp_path / "m.npz").exists()
    acc = float(text.split("test accuracy")[1].split()[0])
    (_, _), (xt, yt) = ga.datasets.load_digits()
    assert ga.nn.load(tmp_path / "m.npz").evaluate(xt, yt)[1] == pytest.approx(acc, abs=1e-4)
    out = io.StringIO()
    train.demo(out)
    assert float(out.getvalue().split("test accuracy")[1].split()[0]) > 0.9


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")
    import sys

    term = _FakeTerminal()
    monkeypatch.setattr(sys, "stdout", term)
    model = small_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
    model.fit(X, np.arange(40) % 3, epochs=2, batch_size=10, verbose=1)
    text = term.getvalue()
    assert "batch/s" in text  # the live bar was drawn...
    lines = [ln.rsplit("\r", 1)[-1] for ln in text.split("\n") if ln.strip()]
    # ...and each epoch left one persistent line with its metrics
    assert [ln.split(" - ")[:2] for ln in lines] == [["Epoch 1/2", "4/4"], ["Epoch 2/2", "4/4"]]
    assert all("accuracy: " in ln for ln in lines)


def test_optimizer_minimize_over_a_model():
    model = small_model()
    opt = ga.optim.SGD(0.5)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(32, 4)).astype(np.float32)
    y = np.arange(32) % 3

    def loss():
        return ga.mean(ga.nn.sparse_categorical_crossentropy(y, model(X)))

    first = opt.minimize(loss, model.trainable_weights)
    for _ in range(20):
        last = opt.minimize(loss, model.trainable_weights)
    assert last < first and len(opt._cache) == 1


def test_docstring_examples_run():
    import doctest
    import importlib
    import pkgutil

    import graphad.nn

    attempted = 0
    for info in pkgutil.iter_modules(graphad.nn.__path__):
        module = importlib.import_module(f"graphad.nn.{info.name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, info.name
        attempted += result.attempted
    result = doctest.testmod(graphad.nn, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert attempted + result.attempted > 20
