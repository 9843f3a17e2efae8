"""Model replicas resident on the workers of a LocalCluster (started and closed here)."""

import itertools

import numpy as np
import pytest

import graphad as ga

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5)).astype("float32")
    t = (X[:, 0] - 0.5 * X[:, 2] + 0.3 * rng.standard_normal(n) > 0).astype(int)
    return X, t


def _model(optimizer="sgd", k=1, lr=0.1):
    ga.nn.set_random_seed(3)
    model = ga.nn.Sequential(
        [
            ga.nn.Dense(8, activation="relu", input_shape=(5,),
                        kernel_regularizer=ga.nn.regularizers.L2(1e-3)),
            ga.nn.Dense(2, "softmax"),
        ]
    )  # fmt: skip
    opt = ga.optim.SGD(learning_rate=lr) if optimizer == "sgd" else optimizer
    model.compile(
        optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        steps_per_execution=k,
    )  # fmt: skip
    return model


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
        silence_logs=40,
    )  # fmt: skip
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def _dask(X, t, chunk=40):
    return da.from_array(X, chunks=(chunk, 5)), da.from_array(t, chunks=chunk)


def _replica_count():
    from graphad.distributed import replicas

    return len(replicas._REPLICAS)


def test_k1_gradients_matches_in_memory_sgd(client):
    X, t = _data()
    mem = _model()
    h_mem = mem.fit(X, t, epochs=3, batch_size=32, seed=7, verbose=0)
    dist = _model()
    h = dist.fit(*_dask(X, t), epochs=3, batch_size=32, seed=7, verbose=0, executor=client)
    assert not np.allclose(mem.get_weights()[0], _model().get_weights()[0])  # it trained
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"], h_mem.history["loss"], rtol=1e-5)
    assert dist.optimizer.iterations == mem.optimizer.iterations == 3 * 8
    assert _replica_count() == 0  # fit removed its replicas from the workers


def test_gradients_with_k_applies_the_sum_of_the_k_batch_means(client):
    # one update per k batches, of the sum of their mean gradients: without shuffling,
    # k batches of 16 at learning rate 0.1 are one in-memory batch of 16 k at 0.1 k
    X, t = _data(256)
    mem = _model(lr=0.4)
    h_mem = mem.fit(X, t, epochs=2, batch_size=64, shuffle=False, verbose=0)
    dist = _model(k=4)
    h = dist.fit(*_dask(X, t, 48), epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert not np.allclose(mem.get_weights()[0], _model().get_weights()[0])  # it trained
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"], h_mem.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(h.history["accuracy"], h_mem.history["accuracy"], rtol=1e-6)
    assert dist.optimizer.iterations == 2 * 4  # 16 batches of 16 in 4 executions per epoch


def test_adam_k1_matches_in_memory_to_accumulated_rounding(client):
    # Adam divides by sqrt(v) + eps: a float32 rounding difference in a gradient (the
    # batch's sum added in another order) moves a weight by up to lr * relative error,
    # and such differences accumulate over the steps; hence a looser tolerance than SGD's
    X, t = _data()
    mem = _model(ga.optim.Adam(learning_rate=0.01))
    mem.fit(X, t, epochs=2, batch_size=32, seed=2, verbose=0)
    dist = _model(ga.optim.Adam(learning_rate=0.01))
    dist.fit(*_dask(X, t), epochs=2, batch_size=32, seed=2, verbose=0, executor=client)
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    ms, ds = mem.optimizer.variables, dist.optimizer.variables
    assert len(ms) == len(ds) == 8
    for a, b in zip(ms, ds, strict=True):  # the optimizer state came back too
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-7)


def test_weights_sync_on_one_replica_is_plain_sgd():
    # local SGD with a single replica: averaging one model changes nothing
    X, t = _data(160)
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
        silence_logs=40,
    )  # fmt: skip
    try:
        with distributed.Client(cluster) as c:
            mem = _model()
            mem.fit(X, t, epochs=2, batch_size=16, seed=4, verbose=0)
            dist = _model(k=8)
            dist.fit(*_dask(X, t), epochs=2, batch_size=16, seed=4, verbose=0, executor=c,
                     sync="weights")  # fmt: skip
    finally:
        cluster.close()
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert dist.optimizer.iterations == 2 * 10


def test_weights_sync_converges_like_memory(client):
    X, t = _data(480)
    mem = _model()
    h_mem = mem.fit(X, t, epochs=4, batch_size=32, seed=1, verbose=0)
    dist = _model(k=4)
    h = dist.fit(*_dask(X, t), epochs=4, batch_size=32, seed=1, verbose=0, sync="weights")
    start = _model().evaluate(X, t, verbose=0)[0]
    # each replica steps on its half of every batch: 4 times the updates of
    # sync="gradients" with k=4, each on about 16 rows
    assert h.history["loss"][-1] < 0.8 * start
    assert h.history["loss"][-1] == pytest.approx(h_mem.history["loss"][-1], rel=0.1)
    loss, _ = dist.evaluate(X, t, verbose=0)
    assert loss == pytest.approx(mem.evaluate(X, t, verbose=0)[0], rel=0.1)


def test_callbacks_see_the_weights_at_epoch_end_and_changes_reach_the_replicas(client):
    X, t = _data()

    class Reset(ga.nn.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append([w.copy() for w in self.model.get_weights()])
            if epoch == 0:  # put the initial weights back: epoch 1 must redo epoch 0
                self.model.set_weights(_model().get_weights())

    cb = Reset()
    dist = _model()
    h = dist.fit(*_dask(X, t), epochs=2, batch_size=48, shuffle=False, verbose=0,
                 executor=client, callbacks=[cb])  # fmt: skip
    assert h.history["loss"][0] == pytest.approx(h.history["loss"][1], rel=1e-6)
    for a, b in zip(cb.seen[0], cb.seen[1], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_functions_are_keyed_by_content_not_by_object():
    from graphad.distributed import _groups
    from graphad.distributed._common import _graph_key, _key

    def make(scale):
        return lambda w, X: ga.mean(ga.square(X @ w)) * scale

    assert _key(make(2.0)) == _key(make(2.0))  # recreated on each call: one compile
    assert _key(make(2.0)) != _key(make(3.0))  # another closure value: another function
    # by the content of the graph the function builds, when it traces on symbols: a
    # def with the same body is the same function; another constant is another one

    def same(w, X):
        return ga.mean(ga.square(X @ w)) * 2.0

    w = np.ones(3)
    key = _graph_key(make(2.0), w, False)
    assert key.startswith("graphad-graph-") and key == _graph_key(same, w, False)
    assert _graph_key(make(3.0), w, False) != key
    assert _graph_key(make(2.0), np.ones(4), False) != key  # parameters of another shape
    assert _graph_key(lambda w, X: len(X), w, False) is None  # no graph: pickled code
    # check_grad_many's groups cover every check once, in order
    assert _groups(7, None)[0][0] == 0 and _groups(7, None)[-1][1] == 7
    ranges = _groups(200, None)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def _plain_model(lr=0.2, k=1):
    ga.nn.set_random_seed(3)
    m = ga.nn.Sequential([ga.nn.Dense(8, activation="tanh", input_shape=(5,)),
                          ga.nn.Dense(2, "softmax")])  # fmt: skip
    m.compile(optimizer=ga.optim.SGD(lr), loss="sparse_categorical_crossentropy",
              steps_per_execution=k)  # fmt: skip
    return m


def test_no_metrics_pads_rows_and_still_matches_in_memory(client):
    # without metrics a replica's rows are padded to a bucket size with sample weight 0
    from graphad.distributed.replicas import _bucket

    assert [_bucket(n) for n in (1, 15, 16, 17, 100, 4100)] == [1, 15, 16, 18, 104, 4608]
    X, t = _data()
    mem, dist = _plain_model(), _plain_model()
    h_mem = mem.fit(X, t, epochs=2, batch_size=30, seed=5, verbose=0)
    h = dist.fit(*_dask(X, t, 70), epochs=2, batch_size=30, seed=5, verbose=0, executor=client)
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"], h_mem.history["loss"], rtol=1e-5)


def test_a_worker_killed_mid_epoch_does_not_lose_the_run():
    # a worker process is killed while the replicas run an epoch; fit goes on from the
    # last execution every survivor completed, on the workers left (the nanny starts a
    # new one), and ends where in-memory training ends: with SGD, k=4 batches of 16 per
    # execution are in-memory batches of 64 at 4 times the rate (the same permutation),
    # and resuming from an exact synchronization state changes only the order rows are
    # summed in
    import os
    import signal
    import threading
    import time

    from graphad.distributed.replicas import ReplicaExecutor

    X, t = _data(960, seed=2)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=50,
    )  # fmt: skip
    killed = []

    class KillDuringEpoch(ga.nn.callbacks.Callback):
        # in the third epoch, when about 40% of it has run (the second, warm, is the clock)
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.began = time.perf_counter()
            if epoch == 2:
                pids = c.run(os.getpid)
                victim = pids[sorted(pids)[1]]
                delay = 0.4 * (time.perf_counter() - self.began)
                timer = threading.Timer(delay, lambda: (os.kill(victim, signal.SIGKILL),
                                                        killed.append(victim)))  # fmt: skip
                timer.start()

    try:
        with distributed.Client(cluster) as c:
            mem = _plain_model(lr=0.8)
            h_mem = mem.fit(X, t, epochs=4, batch_size=64, seed=6, verbose=0)
            dist, ex = _plain_model(k=4), ReplicaExecutor(c)
            h = dist.fit(*_dask(X, t, 240), epochs=4, batch_size=16, seed=6, verbose=0,
                         executor=ex, callbacks=[KillDuringEpoch()])  # fmt: skip
    finally:
        cluster.close()
    # the worker died in the third epoch: in its task (ex.recovered: the executions done
    # when it was noticed, from 0 to 15), or, on a slow machine, after it (then the
    # fourth epoch's task noticed); the run went on either way
    assert killed and ex.recovered, ex.recovered
    assert len(h.history["loss"]) == 4
    assert dist.optimizer.iterations == mem.optimizer.iterations == 4 * 15
    for a, b in zip(mem.get_weights(), dist.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h.history["loss"], h_mem.history["loss"], rtol=1e-4)


def test_chunks_on_one_worker_are_spread_over_all():
    from graphad.distributed.replicas import _assign

    # four chunks of 50 rows, all on worker a: two move to b, the others stay
    got = _assign([50, 50, 50, 50], [["a"]] * 4, ["a", "b"])
    assert sorted(len(v) for v in got.values()) == [2, 2] and set(got) == {"a", "b"}
    # already balanced: nothing moves; a chunk on no worker goes where rows are fewest
    assert _assign([50, 50], [["b"], ["a"]], ["a", "b"]) == {"a": [1], "b": [0]}
    assert _assign([30, 10], [["a"], []], ["a", "b"]) == {"a": [0], "b": [1]}
    with pytest.raises(ga.GraphadError, match="no workers"):
        _assign([5], [[]], [])


def test_batch_hooks_see_each_execution_and_train_alike(client):
    # a callback with batch hooks makes fit send one execution at a time (train_steps)
    X, t = _data()

    class Count(ga.nn.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends = []

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(batch)

    cb = Count()
    hooked, plain = _model(k=3), _model(k=3)
    h1 = hooked.fit(*_dask(X, t), epochs=1, batch_size=32, seed=9, verbose=0, callbacks=[cb])
    h2 = plain.fit(*_dask(X, t), epochs=1, batch_size=32, seed=9, verbose=0)
    assert cb.ends == [2, 5, 7]  # 8 batches in executions of 3: the last index of each
    for a, b in zip(hooked.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    assert h1.history["loss"] == pytest.approx(h2.history["loss"], rel=1e-6)


_MALLOC_PROBE = """
import ctypes, sys
import numpy as np
from graphad.distributed.replicas import _roomy_malloc

libc = ctypes.CDLL("libc.so.6")
names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in names.split()]
libc.mallinfo2.restype = Info

def mapped():
    # mmapped blocks held while a 1 MiB array (a step's temporary) is alive, over before
    before = libc.mallinfo2().hblks
    a = np.ones(1 << 18, np.float32)
    during = libc.mallinfo2().hblks
    del a
    return during - before

mapped(); mapped()
outside = mapped()
with _roomy_malloc():
    mapped()
    inside = mapped()
print(outside, inside, mapped())
"""


def test_replicas_keep_step_temporaries_off_mmap_under_the_malloc_trim_threshold():
    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which pins glibc's mmap
    # threshold at 128 KiB: every large temporary is then a fresh mmap (page faults,
    # about twice the step's CPU); the replicas' compute raises it and restores it
    import ctypes
    import os
    import subprocess
    import sys

    try:
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018
    except (OSError, AttributeError):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, "-c", _MALLOC_PROBE], env=env, capture_output=True, text=True,
        check=True, timeout=120,
    )  # fmt: skip
    outside, inside, after = map(int, out.stdout.split())
    assert (outside, inside, after) == (1, 0, 1)


def test_one_task_per_replica_per_fit_and_early_stopping_ends_it(client):
    # the replicas run the epochs as orders to one long-lived task each: the scheduler
    # sees one _serve task per worker, none per epoch, each ended when fit returns; a
    # callback stopping training after the second epoch ends the fit there
    X, t = _data()

    class StopAfterTwo(ga.nn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = epoch == 1

    mem, dist = _model(k=2), _model(k=2)
    h_mem = mem.fit(X, t, epochs=2, batch_size=30, seed=4, verbose=0)
    with distributed.get_task_stream(client) as stream:
        h = dist.fit(*_dask(X, t), epochs=5, batch_size=30, seed=4, verbose=0,
                     executor=client, callbacks=[StopAfterTwo()])  # fmt: skip
    from dask.utils import key_split

    names = [key_split(task["key"]) for task in stream.data]
    assert names.count("serve") == 2 and "epoch" not in names  # (key_split drops the _)
    assert len(h.history["loss"]) == 2
    # k=2 applies the sum of two batch means per update: close to, not equal to, memory
    np.testing.assert_allclose(h.history["loss"], h_mem.history["loss"], rtol=0.05)
    assert _replica_count() == 0


def _fails_on_a_worker(y, out):
    try:
        distributed.get_worker()
    except ValueError:  # (on the client: the model is built and checked there)
        return (out - y) ** 2
    raise RuntimeError("this loss fails on the workers")


def test_an_error_in_a_replica_reaches_fit_and_leaves_nothing_behind(client):
    X, t = _data()
    model = ga.nn.Sequential([ga.nn.Dense(1, input_shape=(5,))])
    model.compile(optimizer="sgd", loss=lambda y, out: _fails_on_a_worker(y, out))
    with pytest.raises(RuntimeError, match="fails on the workers"):
        model.fit(*_dask(X, t.astype("float32")), epochs=2, batch_size=30, verbose=0,
                  executor=client)  # fmt: skip
    assert _replica_count() == 0
    assert not any(client.processing().values())


def test_rows_beyond_one_call_are_split_and_still_match_in_memory(client):
    # a replica's rows of an execution run in calls of at most ROWS_PER_CALL rows
    from graphad.distributed.replicas import ROWS_PER_CALL, _calls

    assert ROWS_PER_CALL == 8192
    assert _calls(20000, True) == [8192, 8192, 3616]
    assert _calls(20000, False) == [8192, 8192, 2048, 1024, 512, 32]
    assert _calls(16384, False) == [8192, 8192] and _calls(5, True) == [5]
    # batches of 9000 rows, k=2, two replicas: about 9000 rows each per execution
    X, t = _data(n=18000, seed=2)
    for model in (_plain_model, _model):  # padded calls, and power-of-two pieces
        dist = model(k=2)
        # k=2 over two batches of 9000 is the sum of two batch means from one point:
        # with SGD, one in-memory step of the same total as two (each batch's mean)
        dist.fit(*_dask(X, t, 4500), epochs=1, batch_size=9000, shuffle=False, verbose=0,
                 executor=client)  # fmt: skip
        ref = model(k=1)
        grads_sum = None
        for lo in (0, 9000):
            probe = model(k=1)
            before = [w.copy() for w in probe.get_weights()]
            probe.fit(X[lo : lo + 9000], t[lo : lo + 9000], epochs=1, batch_size=9000,
                      shuffle=False, verbose=0)  # fmt: skip
            step = [a - b for a, b in zip(probe.get_weights(), before, strict=True)]
            grads_sum = (
                step if grads_sum is None else [a + b for a, b in zip(grads_sum, step, strict=True)]
            )
        want = [w + s for w, s in zip(ref.get_weights(), grads_sum, strict=True)]
        for a, b in zip(want, dist.get_weights(), strict=True):
            np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-6)


def test_validation_on_the_cluster_runs_beside_the_replicas_tasks(client):
    # the replicas' long-lived tasks leave the workers' one thread free between epochs:
    # validation on Dask arrays (tasks on the same workers) runs, and matches memory
    X, t = _data()
    mem, dist = _model(), _model()
    h_mem = mem.fit(X, t, epochs=2, batch_size=30, seed=6, verbose=0,
                    validation_data=(X[:60], t[:60]))  # fmt: skip
    h = dist.fit(*_dask(X, t), epochs=2, batch_size=30, seed=6, verbose=0, executor=client,
                 validation_data=_dask(X[:60], t[:60], 30))  # fmt: skip
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h.history[key], h_mem.history[key], rtol=1e-5)


def _replicas_here():
    from graphad.distributed import replicas

    return len(replicas._REPLICAS), len(replicas._MAILBOXES)


def test_a_client_killed_mid_fit_leaves_nothing_waiting_on_the_workers():
    # the client's process is killed while its replicas wait for the next epoch's orders
    # (a callback holds it between epochs); the scheduler cancels the client's tasks, and
    # each replica notices within POLL seconds, ends its task and frees its model, data
    # and mailbox, instead of waiting for orders forever
    import subprocess
    import sys
    import textwrap
    import time

    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=50,
    )  # fmt: skip
    script = textwrap.dedent(
        f"""
        import time
        import numpy as np
        import dask.array as da
        import distributed
        import graphad as ga

        client = distributed.Client({cluster.scheduler_address!r})
        rng = np.random.default_rng(0)
        X = rng.standard_normal((480, 5)).astype("float32")
        t = (X[:, 0] > 0).astype(int)
        model = ga.nn.Sequential([ga.nn.Dense(4, "relu", input_shape=(5,)),
                                  ga.nn.Dense(2, "softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")

        class Hold(ga.nn.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                print("between epochs", flush=True)
                time.sleep(600)  # killed here

        model.fit(da.from_array(X, chunks=(120, 5)), da.from_array(t, chunks=120),
                  epochs=3, batch_size=40, verbose=0, executor=client, callbacks=[Hold()])
        """
    )
    try:
        with distributed.Client(cluster) as c:
            proc = subprocess.Popen(
                [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
            )
            try:
                assert proc.stdout.readline().strip() == "between epochs"
                # two replicas, each with its mailbox, waiting for orders
                assert sorted(c.run(_replicas_here).values()) == [(1, 1), (1, 1)]
                assert sum(len(v) for v in c.processing().values()) == 2  # their tasks
            finally:
                proc.kill()
                proc.wait(timeout=30)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                left = sum(sum(v) for v in c.run(_replicas_here).values())
                busy = sum(len(v) for v in c.processing().values())
                if left == 0 and busy == 0:
                    break
                time.sleep(0.25)
            assert sorted(c.run(_replicas_here).values()) == [(0, 0), (0, 0)]
            assert not any(c.processing().values())
    finally:
        cluster.close()
