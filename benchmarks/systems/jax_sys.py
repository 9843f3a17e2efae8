"""JAX on the CPU: jax.grad / jax.value_and_grad under jax.jit (float64 enabled)."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported


def version() -> str:
    import jax

    return jax.__version__


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def _ready(out):
    import jax

    return jax.block_until_ready(out)


def _mlp(w, data) -> Built:
    jax = _jax()
    import jax.numpy as jnp

    lr = data["lr"]

    def loss_fn(params, X, Y):
        h = X
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = jax.nn.relu(h)
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(h), axis=-1))

    @jax.jit
    def step(params, X, Y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, Y)
        return loss, [p - lr * g for p, g in zip(params, grads, strict=True)]

    state = [list(map(jnp.asarray, data["params"]))]
    X, Y = jnp.asarray(data["X"]), jnp.asarray(data["Y"])
    _ready(step(state[0], X, Y))  # trace and compile: part of the build

    def run():
        loss, state[0] = step(state[0], X, Y)
        return _ready(loss)

    return Built(run, lambda loss: [np.asarray(loss), *map(np.asarray, state[0])])


def _scalar_fn(w):
    n = w.size
    if w.family == "sin_chain":
        import jax.numpy as jnp

        def f(x):
            for _ in range(n):
                x = jnp.sin(x)
            return x

        return f
    if w.family == "product":

        def f(x):
            r = x[0]
            for i in range(1, n):
                r = r * x[i]
            return r

        return f

    def f(x):
        r = 0.0
        for i in range(n - 1):
            r = r + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return r

    return f


def _vector_fn():
    import jax.numpy as jnp

    def f(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    return f


def build(w, data) -> Built:
    if w.family == "mlp":
        return _mlp(w, data)
    if w.family not in ("rosen_scalar", "product", "sin_chain", "rosen_vector"):
        raise NotSupported(w.family)
    jax = _jax()
    import jax.numpy as jnp

    f = _vector_fn() if w.family == "rosen_vector" else _scalar_fn(w)
    x = jnp.asarray(data["x"])
    g = jax.jit(jax.grad(f))
    _ready(g(x))  # trace + XLA compile happen on the first call: part of the build
    jf = jax.jit(f)

    def sizes():
        return {
            "grad": len(jax.make_jaxpr(jax.grad(f))(x).jaxpr.eqns),
            "fun": len(jax.make_jaxpr(f)(x).jaxpr.eqns),
        }

    return Built(
        lambda: _ready(g(x)),
        lambda out: [np.asarray(out)],
        lambda: _ready(jf(x)),
        np.asarray,
        sizes if w.family in ("product", "sin_chain") else None,
    )
