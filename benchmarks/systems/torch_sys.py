"""PyTorch on the CPU (eager autograd, one thread)."""

from __future__ import annotations

import numpy as np

from . import Built, NotSupported


def version() -> str:
    import torch

    return torch.__version__


def _mlp(w, data) -> Built:
    import torch
    import torch.nn.functional as F

    params = [torch.tensor(p, requires_grad=True) for p in data["params"]]
    X = torch.from_numpy(data["X"])
    labels = torch.from_numpy(np.asarray(data["labels"], dtype=np.int64))
    lr = data["lr"]

    def step():
        h = X
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = torch.relu(h)
        loss = F.cross_entropy(h, labels)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss

    return Built(step, lambda loss: [loss.detach().numpy(), *[p.detach().numpy() for p in params]])


def _rosen(x):
    return (100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2).sum()


def build(w, data) -> Built:
    if w.family == "mlp":
        return _mlp(w, data)
    if w.family != "rosen_vector":
        raise NotSupported(w.family)
    import torch

    x = torch.tensor(data["x"], requires_grad=True)

    def grad():
        x.grad = None
        _rosen(x).backward()
        return x.grad

    def fun():
        with torch.no_grad():
            return _rosen(x)

    return Built(grad, lambda g: [g.numpy()], fun, lambda v: v.numpy())
