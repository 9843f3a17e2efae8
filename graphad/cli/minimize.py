"""``graphad minimize``: gradient descent on an expression, printing x and f(x) per epoch.

By default each line is labelled (``epoch 0  x=3  f=11``); ``--format notebook``
prints the seed notebook's own format (``Epoch : 0 [3.0, 11.0]``).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TextIO

from ._common import parse_assignments

HELP = "minimize an expression with an optimizer, printing x and f(x) per epoch"

OPTIMIZERS = ("sgd", "adam", "rmsprop", "adagrad")
FORMATS = ("labelled", "notebook")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expr", help='the expression, e.g. "x**2 + x - 1"')
    parser.add_argument("--x0", help="start values, e.g. x=3 or v=[1,2] (every input needs one)")
    parser.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    parser.add_argument("--epochs", type=int, default=30, help="steps (default 30)")
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="sgd",
        help="sgd (default: plain gradient descent, as in examples/tour.ipynb), adam, "
        "rmsprop or adagrad, with Keras' defaults otherwise",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="labelled",
        help="labelled (default: 'epoch 0  x=3  f=11') or notebook (the seed notebook's "
        "'Epoch : 0 [3.0, 11.0]')",
    )


def table(
    expr_text: str,
    x0: dict[str, float],
    lr: float,
    epochs: int,
    optimizer: str = "sgd",
    fmt: str = "notebook",
) -> list[str]:
    """The ``Epoch : i [x, f(x)]`` lines: values before each step, in float32 as TensorFlow."""
    return list(lines(expr_text, x0, lr, epochs, optimizer, fmt))


def lines(
    expr_text: str,
    x0: dict[str, float],
    lr: float,
    epochs: int,
    optimizer: str = "sgd",
    fmt: str = "labelled",
) -> Iterator[str]:
    """The lines of :func:`table`, each one as soon as its step is computed.

    The arguments are checked here, before the first line: a bad one raises at
    once, not when the iteration starts."""
    import math

    import numpy as np

    import graphad as ga
    from graphad.core.errors import GraphadError
    from graphad.eager.tape import call_expr

    if fmt not in FORMATS:
        raise GraphadError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if epochs < 0:
        raise GraphadError(f"--epochs must be non-negative, got {epochs}")
    if not math.isfinite(lr):
        raise GraphadError(f"--lr must be a finite number, got {lr}")
    with ga.Graph():
        e = ga.parse(expr_text)
    names = list(e.free_symbols)
    if not names:
        raise GraphadError(f"{expr_text!r} has no inputs to minimize over")
    missing = [n for n in names if n not in x0]
    if missing:
        raise GraphadError(
            f"give a start value for {', '.join(missing)} with --x0 "
            f"(e.g. --x0 {','.join(f'{n}=1' for n in names)})"
        )
    variables = {n: ga.Variable(np.float32(x0[n]), name=n) for n in names}
    var_list = [variables[n] for n in names]
    opt = ga.optim.get(optimizer)
    opt.learning_rate = float(lr)

    def loss():
        return call_expr(e, variables)

    def steps() -> Iterator[str]:
        for i in range(epochs):
            before = [v.numpy() for v in var_list]
            f = opt.minimize(loss, var_list)
            if fmt == "notebook":
                yield f"Epoch : {i} [{', '.join(str(v) for v in before)}, {f!s}]"
            else:
                values = "  ".join(f"{n}={v!s}" for n, v in zip(names, before, strict=True))
                yield f"epoch {i:>{width}}  {values}  f={f!s}"

    width = len(str(max(epochs - 1, 0)))

    return steps()


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print each line as its step is computed (flushed: a pipe sees it at once)."""
    import os
    import sys

    out = out or sys.stdout
    try:
        fmt = getattr(args, "format", "labelled")
        x0 = parse_assignments(args.x0)
        for line in lines(args.expr, x0, args.lr, args.epochs, args.optimizer, fmt):
            print(line, file=out, flush=True)
    except BrokenPipeError:  # `graphad minimize ... | head`: the reader has seen enough
        if out is sys.stdout:  # keep the interpreter's final flush from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def demo(out: TextIO) -> None:
    """The notebook's gradient descent on x**2 + x - 1 from x = 3 (learning rate 0.1)."""
    print("== Gradient descent with an optimizer (the table of examples/tour.ipynb) ==", file=out)
    print('graphad minimize "x**2 + x - 1" --x0 x=3 --lr 0.1 --epochs 30', file=out)
    lines = table("x**2 + x - 1", {"x": 3.0}, 0.1, 30, fmt="labelled")
    for line in lines[:5]:
        print(line, file=out)
    print("...", file=out)
    for line in lines[-2:]:
        print(line, file=out)
    print("(the minimum is at x = -0.5, f = -1.25)", file=out)
