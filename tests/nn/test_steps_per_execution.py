"""``compile(steps_per_execution=k)`` in memory: the same steps, fewer calls."""

import numpy as np
import pytest

import graphad as ga


def _model(k):
    ga.nn.set_random_seed(5)
    model = ga.nn.Sequential(
        [ga.nn.Dense(6, activation="tanh", input_shape=(4,)), ga.nn.Dense(2, "softmax")]
    )
    model.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        steps_per_execution=k,
    )  # fmt: skip
    return model


class _Hooks(ga.nn.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends = []

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append((batch, logs["loss"]))


def test_steps_per_execution_trains_the_same_steps_in_fewer_calls():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 4)).astype("float32")
    t = (X[:, 0] + X[:, 1] > 0).astype(int)
    one, four = _model(1), _model(4)
    h1 = one.fit(X, t, epochs=2, batch_size=16, seed=1, verbose=0)
    hooks = _Hooks()
    h4 = four.fit(X, t, epochs=2, batch_size=16, seed=1, verbose=0, callbacks=[hooks])
    for a, b in zip(one.get_weights(), four.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the very same computation, grouped
    for name in ("loss", "accuracy"):  # the epoch sums are added in another grouping
        np.testing.assert_allclose(h4.history[name], h1.history[name], rtol=1e-12)
    assert one.optimizer.iterations == four.optimizer.iterations == 2 * 10
    # 10 batches per epoch in calls of 4: Keras reports the last batch of each call
    assert [b for b, _ in hooks.ends] == [3, 7, 9] * 2
    assert hooks.ends[2][1] == pytest.approx(h4.history["loss"][0], rel=1e-6)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "8", True])
def test_steps_per_execution_is_checked_and_a_failed_compile_changes_nothing(bad):
    model = _model(3)
    with pytest.raises(ga.GraphadError, match="steps_per_execution"):
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=bad)
    assert model.steps_per_execution == 3 and model.loss is not None
    assert model.optimizer.name.lower() == "adam"


def test_sync_is_checked():
    model = _model(1)
    with pytest.raises(ga.GraphadError, match="sync"):
        model.fit(np.zeros((4, 4), "float32"), np.zeros(4, int), sync="average", verbose=0)
