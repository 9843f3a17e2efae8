"""Issue 17 section 3: the Keras conveniences, each against its formula or a NumPy
reference of Keras' semantics."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

import graphad as ga

cb = ga.nn.callbacks


def _data(n=24, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def _linear(w, bias=False, **kw):
    layer = ga.nn.Dense(len(w[0]), use_bias=bias, input_shape=(len(w),), **kw)
    layer.kernel.assign(np.asarray(w, np.float32))
    return layer


# -- optimizers and schedules ------------------------------------------------------------------


def _run(opt, grads, w0):
    w = ga.Variable(np.array(w0, np.float64))
    for g in grads:
        opt.apply_gradients([(np.array(g, np.float64), w)])
    return w.numpy()


GRADS = [[0.5, -2.0], [0.1, 3.0], [-1.0, 0.25]]


def test_adamw_is_decay_then_adam():
    lr, wd, b1, b2, eps = 0.01, 0.1, 0.9, 0.999, 1e-7
    w, m, v = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2)
    for t, g in enumerate(np.array(GRADS), start=1):
        w = w - w * wd * lr
        m, v = m + (g - m) * (1 - b1), v + (g * g - v) * (1 - b2)
        w = w - m * (lr * math.sqrt(1 - b2**t) / (1 - b1**t)) / (np.sqrt(v) + eps)
    got = _run(ga.optim.AdamW(learning_rate=lr, weight_decay=wd), GRADS, [1.0, -1.0])
    np.testing.assert_allclose(got, w, rtol=1e-12)


def test_nadam_follows_keras_rule():
    lr, b1, b2, eps = 0.02, 0.9, 0.999, 1e-7
    w, m, v, uprod = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2), 1.0
    for t, g in enumerate(np.array(GRADS), start=1):
        u_t, u_t1 = b1 * (1 - 0.5 * 0.96**t), b1 * (1 - 0.5 * 0.96 ** (t + 1))
        uprod = uprod * u_t
        m, v = m + (g - m) * (1 - b1), v + (g * g - v) * (1 - b2)
        m_hat = u_t1 * m / (1 - uprod * u_t1) + (1 - u_t) * g / (1 - uprod)
        w = w - lr * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)
    got = _run(ga.optim.Nadam(learning_rate=lr), GRADS, [1.0, -1.0])
    np.testing.assert_allclose(got, w, rtol=1e-12)


def test_adadelta_follows_keras_rule():
    lr, rho, eps = 1.0, 0.95, 1e-6
    w, ag, ad = np.array([1.0, -1.0]), np.zeros(2), np.zeros(2)
    for g in np.array(GRADS):
        ag = rho * ag + (1 - rho) * g * g
        delta = -np.sqrt(ad + eps) / np.sqrt(ag + eps) * g
        ad = rho * ad + (1 - rho) * delta * delta
        w = w + lr * delta
    got = _run(ga.optim.Adadelta(learning_rate=lr, rho=rho, epsilon=eps), GRADS, [1.0, -1.0])
    np.testing.assert_allclose(got, w, rtol=1e-12)


def test_schedules_match_their_published_formulas():
    s = ga.optim.schedules
    e = s.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    assert e(6) == pytest.approx(0.1 * 0.5 ** (6 / 4), rel=1e-15)
    es = s.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5, staircase=True)
    assert [es(k) for k in (0, 3, 4, 9)] == [0.1, 0.1, 0.05, 0.025]
    p = s.PiecewiseConstantDecay([100, 200], [1.0, 0.5, 0.1])
    assert [p(k) for k in (0, 100, 101, 200, 201, 10**6)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    c = s.CosineDecay(0.2, decay_steps=10, alpha=0.25)
    for k in (0, 3, 10, 25):
        want = 0.2 * (0.75 * 0.5 * (1 + math.cos(math.pi * min(k, 10) / 10)) + 0.25)
        assert c(k) == pytest.approx(want, rel=1e-15)
    w = s.CosineDecay(0.0, decay_steps=10, warmup_target=1.0, warmup_steps=4)
    assert [w(0), w(2), w(4)] == [0.0, 0.5, 1.0]
    assert w(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    with pytest.raises(ga.GraphadError, match="values"):
        s.PiecewiseConstantDecay([1, 2], [1.0])


def test_a_schedule_drives_the_learning_rate_per_step():
    sched = ga.optim.schedules.PiecewiseConstantDecay([0], [1.0, 0.1])
    x = ga.Variable(np.array([0.0]))
    opt = ga.optim.SGD(learning_rate=sched)
    opt.apply_gradients([(np.array([1.0]), x)])  # step 0: lr 1.0
    opt.apply_gradients([(np.array([1.0]), x)])  # step 1: lr 0.1
    assert x.numpy()[0] == pytest.approx(-1.1)
    again = ga.optim.get({"class": "SGD", **opt.get_config()})
    assert again.learning_rate(0) == 1.0 and again.learning_rate(5) == 0.1


# -- layers -------------------------------------------------------------------------------------


def test_dropout_is_inverted_and_only_active_in_training():
    layer = ga.nn.Dropout(0.25)
    x = np.arange(1.0, 9.0, dtype=np.float32).reshape(2, 4)
    u = np.array([[0.1, 0.3, 0.9, 0.2], [0.25, 0.0, 0.5, 0.7]], np.float32)
    ctx = ga.nn.layers.Context(training=True, noise=lambda shape: u)
    out = np.asarray(layer.forward(ga.convert_to_tensor(x), [], ctx)[0].numpy())
    np.testing.assert_array_equal(out, np.where(u >= 0.25, x / np.float32(0.75), 0.0))
    np.testing.assert_array_equal(layer(x).numpy(), x)  # inference: the identity
    with pytest.raises(ga.GraphadError, match="rate"):
        ga.nn.Dropout(1.0)


def test_dropout_in_fit_uses_the_runs_generator():
    # one step of SGD on mse through Dropout: the gradient with the mask fit draws
    X, _ = _data(8, 3)
    Y = np.ones((8, 1), np.float32)
    w0 = np.array([[0.5], [-0.25], [1.0]], np.float32)
    model = ga.nn.Sequential(
        [ga.nn.Input((3,)), ga.nn.Dropout(0.5), ga.nn.Dense(1, use_bias=False)]
    )
    model.layers[1].kernel.assign(w0)
    model.compile(optimizer=ga.optim.SGD(0.1), loss="mse")
    model.fit(X, Y, epochs=1, batch_size=8, shuffle=False, seed=7, verbose=0)
    u = np.random.default_rng(7).random((8, 3), dtype=np.float32)
    Xd = np.where(u >= 0.5, X / np.float32(0.5), 0.0)
    grad = 2 * Xd.T @ (Xd @ w0 - Y) / 8
    np.testing.assert_allclose(model.layers[1].kernel.numpy(), w0 - 0.1 * grad, rtol=1e-5)
    np.testing.assert_allclose(model.predict(X), X @ model.layers[1].kernel.numpy(), rtol=1e-6)


def test_batch_normalization_training_and_inference():
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, size=(16, 3)).astype(np.float32)
    bn = ga.nn.BatchNormalization(input_shape=(3,), momentum=0.9, epsilon=1e-3)
    gamma, beta = np.array([1.0, 2.0, 0.5], np.float32), np.array([0.0, -1.0, 3.0], np.float32)
    bn.set_weights([gamma, beta, np.zeros(3), np.ones(3)])
    ctx = ga.nn.layers.Context(training=True)
    y = bn.forward(ga.convert_to_tensor(x), bn.weights, ctx)[0].numpy()
    mean, var = x.mean(0), x.var(0)
    np.testing.assert_allclose(
        y, gamma * (x - mean) / np.sqrt(var + 1e-3) + beta, rtol=2e-5, atol=2e-5
    )
    np.testing.assert_allclose(ctx.updates[0].numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(ctx.updates[1].numpy(), 0.9 + 0.1 * var, rtol=1e-5)
    # in a model: fit moves the moving statistics; predict uses them
    model = ga.nn.Sequential([bn])
    model.compile(optimizer=ga.optim.SGD(0.0), loss="mse")
    model.fit(x, np.zeros((16, 3)), epochs=1, batch_size=16, verbose=0)
    mm, mv = bn.get_weights()[2:]
    np.testing.assert_allclose(mm, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(mv, 0.9 + 0.1 * var, rtol=1e-5)
    want = gamma * (x - mm) / np.sqrt(mv + 1e-3) + beta
    np.testing.assert_allclose(model.predict(x), want, rtol=1e-5, atol=1e-5)
    assert [len(model.trainable_weights), len(model.non_trainable_weights)] == [2, 2]


def test_activation_and_reshape_layers():
    x = np.array([[-1.0, 2.0, -3.0, 4.0, 0.5, -0.5]], np.float32)
    model = ga.nn.Sequential(
        [ga.nn.Input((6,)), ga.nn.Reshape((3, -1)), ga.nn.Activation("relu"), ga.nn.Flatten()]
    )
    assert model.layers[0].output_shape == (None, 3, 2)
    np.testing.assert_array_equal(model.predict(x), np.maximum(x, 0))
    with pytest.raises(ga.ShapeError, match="reshape"):
        ga.nn.Sequential([ga.nn.Input((6,)), ga.nn.Reshape((4, -1))])


def test_layer_get_and_set_weights_check_before_changing():
    layer = ga.nn.Dense(2, input_shape=(3,))
    before = layer.get_weights()
    with pytest.raises(ga.ShapeError, match="shape"):
        layer.set_weights([np.zeros((3, 2)), np.zeros(5)])
    for a, b in zip(layer.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    layer.set_weights([np.ones((3, 2)), np.full(2, 0.5)])
    np.testing.assert_array_equal(layer(np.ones((1, 3), np.float32)).numpy(), [[3.5, 3.5]])


def test_regularizers_add_their_penalty_to_the_loss():
    X, _ = _data(10, 2)
    Y = np.zeros((10, 1), np.float32)
    w = np.array([[1.0], [-2.0]], np.float32)
    model = ga.nn.Sequential(
        [
            _linear(
                w, bias=True, kernel_regularizer=ga.nn.regularizers.l2(0.1), bias_regularizer="l1"
            )
        ]
    )
    model.layers[0].bias.assign(np.array([0.5], np.float32))
    model.compile(optimizer=ga.optim.SGD(0.0), loss="mse")
    h = model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    mse = np.mean((X @ w + 0.5) ** 2)
    want = mse + 0.1 * np.sum(w**2) + 0.01 * 0.5
    assert h.history["loss"][0] == pytest.approx(want, rel=1e-5)
    assert model.evaluate(X, Y) == pytest.approx(want, rel=1e-5)


# -- losses and metrics -------------------------------------------------------------------------


def test_huber_hinge_kl_divergence_formulas():
    t = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.3, 2.5, -0.2], [0.9, 0.1, 1.5]])
    e = np.abs(p - t)
    huber = np.where(e <= 1.0, 0.5 * e**2, e - 0.5).mean(-1)
    np.testing.assert_allclose(ga.nn.losses.huber(t, p).eval(), huber, rtol=1e-12)
    hinge = np.maximum(1 - (2 * t - 1) * p, 0).mean(-1)  # 0/1 labels become -1/1
    np.testing.assert_allclose(ga.nn.losses.hinge(t, p).eval(), hinge, rtol=1e-12)
    signed = np.array([[-1.0, 1.0, 1.0]])
    np.testing.assert_allclose(
        ga.nn.losses.hinge(signed, p[:1]).eval(), np.maximum(1 - signed * p[:1], 0).mean(-1)
    )
    q = np.array([[0.2, 0.5, 0.3]])
    r = np.array([[0.1, 0.6, 0.3]])
    np.testing.assert_allclose(ga.nn.losses.kl_divergence(q, r).eval(), [np.sum(q * np.log(q / r))])


def test_top_k_precision_recall_over_a_data_set_not_per_batch():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    w = rng.normal(size=(4, 4)).astype(np.float32)
    t = rng.integers(0, 4, 30)
    model = ga.nn.Sequential([_linear(w), ga.nn.Activation("softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy",
                  metrics=["top_k_categorical_accuracy", "precision", "recall"])  # fmt: skip
    logs = model.evaluate(X, t, batch_size=7, return_dict=True)
    z = X @ w
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    larger = (p > p[np.arange(30), t][:, None]).sum(1)
    onehot = np.eye(4)[t]
    tp, pp = ((p > 0.5) & (onehot > 0.5)).sum(), (p > 0.5).sum()
    assert logs["top_k_categorical_accuracy"] == pytest.approx(np.mean(larger < 5))
    assert logs["precision"] == pytest.approx(tp / pp if pp else 0.0)
    assert logs["recall"] == pytest.approx(tp / 30)
    k2 = ga.nn.metrics.top_k_categorical_accuracy(onehot, p, k=2).eval()
    np.testing.assert_array_equal(k2, (larger < 2).astype(float))


# -- fit's arguments ----------------------------------------------------------------------------


def test_class_weight_weights_each_samples_loss():
    X, y = _data(12, 2)
    w = np.array([[0.3, -0.2], [0.1, 0.4]], np.float32)
    model = ga.nn.Sequential([_linear(w), ga.nn.Activation("softmax")])
    model.compile(optimizer=ga.optim.SGD(0.0), loss="sparse_categorical_crossentropy")
    h = model.fit(X, y, epochs=1, batch_size=12, class_weight={0: 1.0, 1: 3.0}, verbose=0)
    z = X @ w
    ce = np.log(np.exp(z).sum(1)) - z[np.arange(12), y]
    want = np.sum(np.where(y == 1, 3.0, 1.0) * ce) / 12
    assert h.history["loss"][0] == pytest.approx(want, rel=1e-5)
    with pytest.raises(ga.GraphadError, match="class_weight"):
        model.fit(X, y, class_weight={5: 1.0}, verbose=0)


def test_validation_split_holds_out_the_last_samples():
    X, y = _data(20, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,), seed=1)])
    model.compile(optimizer=ga.optim.SGD(0.0), loss="sparse_categorical_crossentropy")
    h = model.fit(X, y, epochs=1, validation_split=0.25, verbose=0)
    assert h.params["steps"] == 1  # 15 training samples in one batch of 32
    assert h.history["val_loss"][0] == pytest.approx(model.evaluate(X[15:], y[15:]), rel=1e-12)
    assert h.history["loss"][0] == pytest.approx(model.evaluate(X[:15], y[:15]), rel=1e-6)
    with pytest.raises(ga.GraphadError, match="validation_split"):
        model.fit(X, y, validation_split=1.0)


def test_initial_epoch_and_history_params():
    X, y = _data(10, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    h = model.fit(X, y, epochs=5, batch_size=4, initial_epoch=2, verbose=0)
    assert h.epoch == [2, 3, 4] and len(h.history["loss"]) == 3
    assert h.params == {"verbose": 0, "epochs": 5, "steps": 3}
    assert model.optimizer.iterations == 9


def test_evaluate_return_dict_and_the_batch_methods():
    X, y = _data(9, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile(ga.optim.SGD(0.5), "sparse_categorical_crossentropy", metrics=["accuracy"])
    d = model.evaluate(X, y, return_dict=True)
    assert list(d) == ["loss", "accuracy"] and [d["loss"], d["accuracy"]] == model.evaluate(X, y)
    assert model.test_on_batch(X, y) == pytest.approx([d["loss"], d["accuracy"]])
    k, b = model.get_weights()
    z = X @ k + b
    want = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict_on_batch(X), want, rtol=1e-5)
    loss = model.train_on_batch(X, y, return_dict=True)["loss"]
    assert loss == pytest.approx(d["loss"], rel=1e-5)  # the loss before the step
    assert model.evaluate(X, y) != pytest.approx([d["loss"], d["accuracy"]])


# -- callbacks ----------------------------------------------------------------------------------


class _Model:
    """Just what EarlyStopping and ReduceLROnPlateau touch."""

    def __init__(self):
        self.stop_training = False
        self.optimizer = ga.optim.SGD(1.0)
        self.w = 0

    def get_weights(self):
        return [self.w]

    def set_weights(self, ws):
        self.w = ws[0]


def _feed(callback, values, key="val_loss"):
    m = _Model()
    callback.set_model(m)
    callback.on_train_begin()
    for epoch, v in enumerate(values):
        m.w = epoch
        callback.on_epoch_end(epoch, {key: v})
        if m.stop_training:
            return epoch, m
    return None, m


def test_early_stopping_patience_and_min_delta():
    seq = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93]
    # best 0.9 at epoch 1; epochs 2 and 3 do not beat it: wait reaches 2 at epoch 3
    assert _feed(cb.EarlyStopping(patience=2), seq)[0] == 3
    # min_delta 0.05: 0.86 is no improvement on 0.9 (by less than 0.05): stop at epoch 3
    assert _feed(cb.EarlyStopping(patience=2, min_delta=0.05), [1.0, 0.9, 0.86, 0.87])[0] == 3
    # 0.86 < 0.9 - 0.03: an improvement with min_delta 0.03, so patience restarts
    assert _feed(cb.EarlyStopping(patience=2, min_delta=0.03), [1.0, 0.9, 0.86, 0.87, 0.88])[0] == 4
    # patience 0 stops at the first epoch > 0 without improvement
    assert _feed(cb.EarlyStopping(patience=0), [1.0, 1.0])[0] == 1
    # mode max for accuracies; restore_best_weights gives back the best epoch's weights
    stop, m = _feed(
        cb.EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True),
        [0.5, 0.8, 0.7, 0.9],
        key="val_accuracy",
    )
    assert stop == 2 and m.w == 1
    # baseline: improvements that do not beat it do not reset wait (Keras' rule)
    assert _feed(cb.EarlyStopping(patience=2, baseline=0.5), [1.0, 0.9, 0.95])[0] == 2
    assert _feed(cb.EarlyStopping(patience=2), [1.0, 0.9, 0.95])[0] is None


def test_early_stopping_in_fit_restores_the_best_weights():
    X, y = _data(16, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,), seed=0)])
    model.compile(ga.optim.SGD(5.0), "sparse_categorical_crossentropy")
    seen = []
    watch = cb.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(model.get_weights()))
    stop = cb.EarlyStopping(monitor="loss", patience=1, min_delta=0.01, restore_best_weights=True)
    h = model.fit(X, y, epochs=40, callbacks=[watch, stop], verbose=0)
    losses = h.history["loss"]
    assert len(losses) < 40 and stop.stopped_epoch == len(losses) - 1
    best = stop.best_epoch
    # the best epoch: the last that improved on the one before it by more than 0.01
    improved = [0] + [e for e in range(1, len(losses)) if losses[e] + 0.01 < min(losses[:e])]
    assert best == improved[-1] < len(losses) - 1 and losses[best] == stop.best
    for a, b in zip(model.get_weights(), seen[best], strict=True):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_follows_keras():
    r = cb.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.0, cooldown=1, min_lr=0.2)
    m = _Model()
    r.set_model(m)
    r.on_train_begin()
    rates = []
    for epoch in range(8):
        r.on_epoch_end(epoch, {"val_loss": 1.0})
        rates.append(m.optimizer.learning_rate)
    # epoch 0 improves on inf; waits 1, 2 -> halved at epoch 2 (cooldown 1 starts); epoch 3
    # ends the cooldown (wait 0) and then waits 1; epoch 4 waits 2 -> halved; epoch 5
    # waits 1; epoch 6 -> max(0.125, min_lr); epoch 7 waits 1
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    r2 = cb.ReduceLROnPlateau(factor=0.5, patience=1, min_lr=0.3)
    _, m2 = _feed(r2, [1.0, 1.0, 1.0, 1.0])
    assert m2.optimizer.learning_rate == 0.3


def test_model_checkpoint_and_lambda_callback(tmp_path):
    X, y = _data(8, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile(ga.optim.SGD(0.1), "sparse_categorical_crossentropy")
    log = []
    ck = cb.ModelCheckpoint(tmp_path / "m-{epoch:02d}-{loss:.3f}.npz", monitor="loss")
    lam = cb.LambdaCallback(on_train_begin=lambda logs: log.append("begin"),
                            on_epoch_begin=lambda e, logs: log.append(e))  # fmt: skip
    h = model.fit(X, y, epochs=2, callbacks=[ck, lam], verbose=0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"m-{e + 1:02d}-{h.history['loss'][e]:.3f}.npz" for e in range(2)]
    assert log == ["begin", 0, 1]
    np.testing.assert_array_equal(
        ga.nn.load(tmp_path / names[-1]).get_weights()[0], model.get_weights()[0]
    )
    with pytest.raises(ga.GraphadError, match="format"):
        cb.ModelCheckpoint(tmp_path / "{epoch:xyz}.npz")
    with pytest.raises(ga.GraphadError, match="Callback"):
        model.fit(X, y, callbacks=[lambda: None], verbose=0)


# -- files --------------------------------------------------------------------------------------


def test_json_round_trip_and_limits():
    model = ga.nn.Sequential([
        ga.nn.Input((4,)), ga.nn.Reshape((2, 2)), ga.nn.Flatten(),
        ga.nn.Dense(3, "relu", kernel_regularizer="l2"), ga.nn.BatchNormalization(),
        ga.nn.Dropout(0.2), ga.nn.Dense(2), ga.nn.Activation("softmax"),
    ])  # fmt: skip
    text = model.to_json()
    again = ga.nn.model_from_json(text)
    assert json.loads(again.to_json()) == json.loads(text)
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
    assert again.layers[2].kernel_regularizer.l2 == 0.01
    with (
        ga.limits.override(max_file_bytes=100),
        pytest.raises(ga.LimitError, match="max_file_bytes"),
    ):
        ga.nn.model_from_json(text)
    bad = json.loads(text)
    bad["layers"][0]["class"] = "os.system"
    with pytest.raises(ga.GraphadError, match="unknown layer class"):
        ga.nn.model_from_json(json.dumps(bad))


@pytest.mark.parametrize("opt", ["adam", "nadam", "sgd_schedule"])
def test_optimizer_state_is_saved_so_training_resumes_exactly(tmp_path, opt):
    X, y = _data(20, 3)

    def make():
        ga.nn.set_random_seed(5)
        m = ga.nn.Sequential([ga.nn.Dense(4, "tanh", input_shape=(3,)), ga.nn.Dense(2, "softmax")])
        if opt == "sgd_schedule":
            sched = ga.optim.schedules.ExponentialDecay(0.5, decay_steps=3, decay_rate=0.5)
            o = ga.optim.SGD(learning_rate=sched, momentum=0.9)
        else:
            o = opt
        m.compile(o, "sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    straight = make()
    straight.fit(X, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    first = make()
    first.fit(X, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "m.npz")
    resumed = ga.nn.load(tmp_path / "m.npz")
    assert resumed.optimizer.iterations == 6
    resumed.fit(X, y, epochs=4, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -- issue 16: notebooks and narrow terminals ---------------------------------------------------


def test_history_plot_is_an_image_a_notebook_shows():
    pytest.importorskip("matplotlib")
    X, y = _data(8, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    plot = model.fit(X, y, epochs=2, validation_split=0.25, verbose=0).plot()
    png = plot._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(plot.axes) == 2
    assert not hasattr(plot, "_repr_html_")  # the PNG is the form offered


def test_fit_lines_wrap_at_80_columns_without_losing_metrics():
    logs = {"loss": 0.1234, "accuracy": 0.9, "val_loss": 0.2, "val_accuracy": 0.85,
            "top_k_categorical_accuracy": 1.0, "val_top_k_categorical_accuracy": 1.0}  # fmt: skip
    lines = ga.nn.fit.epoch_lines(2, 10, 469, 2.5, logs, width=80)
    assert all(len(line) <= 80 for line in lines) and len(lines) > 1
    text = " ".join(lines)
    assert all(f"{k}: {v:.4f}" in text for k, v in logs.items())


def test_fit_in_a_notebook_prints_lines_and_makes_no_widget(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as inside a Jupyter kernel
    X, y = _data(8, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=2, batch_size=4, verbose=1)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/2 - 2/2") and "\nEpoch 2/2 - 2/2" in out and "\r" not in out


def test_nn_never_imports_distributed():
    from pathlib import Path

    for path in Path(ga.nn.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import distributed" not in text and "distributed import" not in text, path.name
        assert "..distributed" not in text, path.name


def test_a_corrupt_optimizer_state_is_refused_by_load(tmp_path):
    X, y = _data(8, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["optimizer_slot_0"] = np.zeros((5, 5), np.float32)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ga.GraphadError, match=r"cannot load model file.*m state"):
        ga.nn.load(tmp_path / "bad.npz")


class _CountingExecutor(ga.nn.LocalExecutor):
    """An executor of the protocol's own: counts the steps it runs."""

    def __init__(self):
        self.steps = 0

    def train_step(self, model, source, rows, rng):
        self.steps += 1
        return super().train_step(model, source, rows, rng)


def test_fit_runs_its_steps_through_the_executor_it_is_given():
    X, y = _data(10, 3)
    model = ga.nn.Sequential([ga.nn.Dense(2, "softmax", input_shape=(3,))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    ex = _CountingExecutor()
    assert isinstance(ex, ga.nn.Executor)
    model.fit(X, y, epochs=2, batch_size=4, executor=ex, verbose=0)
    assert ex.steps == 6 and model.optimizer.iterations == 6
    with pytest.raises(ga.GraphadError, match="not an executor"):
        model.fit(X, y, executor="local", verbose=0)


def test_dask_data_with_dropout_is_refused_clearly():
    da = pytest.importorskip("dask.array")
    X, y = _data(8, 3)
    model = ga.nn.Sequential([ga.nn.Input((3,)), ga.nn.Dropout(0.5), ga.nn.Dense(2, "softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(ga.GraphadError, match="Dropout, BatchNormalization"):
        model.fit(da.from_array(X, chunks=4), da.from_array(y, chunks=4), verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_summary_counts_non_trainable_weights_and_keeps_its_columns():
    model = ga.nn.Sequential([ga.nn.Dense(3, input_shape=(2,)), ga.nn.BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 15" in lines and "Non-trainable params: 6" in lines  # 2*3+3+3+3
    rows = [ln for ln in lines if "(None, 3)" in ln]
    assert len(rows) == 2 and len({ln.index("(None, 3)") for ln in rows}) == 1


def test_train_on_batch_draws_a_fresh_dropout_mask_from_the_seeded_stream():
    X = np.ones((16, 8), np.float32)
    Y = np.zeros((16, 1), np.float32)

    def losses():
        ga.nn.set_random_seed(1)
        model = ga.nn.Sequential(
            [
                ga.nn.Input((8,)),
                ga.nn.Dropout(0.5),
                ga.nn.Dense(1, use_bias=False, kernel_initializer="ones"),
            ]
        )
        model.compile(ga.optim.SGD(0.0), "mse")
        return [model.train_on_batch(X, Y) for _ in range(3)]

    first = losses()
    assert len(set(first)) == 3  # a new mask per step
    assert losses() == first  # and the same masks for the same seed
    # the reference: each step's mask from a stream drawn from the generator seeded with 1
    g = np.random.default_rng(1)
    want = []
    for _ in range(3):
        u = np.random.default_rng(int(g.integers(0, 2**63))).random((16, 8), dtype=np.float32)
        want.append(np.mean(np.where(u >= 0.5, 2.0, 0.0).sum(1) ** 2))
    np.testing.assert_allclose(first, want, rtol=1e-6)
