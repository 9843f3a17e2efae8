"""``graphad train``: a dense network on handwritten digits (scikit-learn's, or MNIST files)."""

from __future__ import annotations

import argparse
from typing import TextIO

HELP = "train a Dense(relu) -> Dense(softmax) network on handwritten digits"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=10, help="passes over the data (10)")
    parser.add_argument("--units", type=int, default=64, help="hidden relu units (64)")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size (32)")
    parser.add_argument(
        "--optimizer",
        default="adam",
        choices=("adam", "rmsprop", "sgd", "adagrad"),
        help="adam (default)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: the optimizer's Keras default)",
    )
    parser.add_argument(
        "--mnist",
        metavar="DIR",
        help="train on MNIST read from the four IDX files in DIR "
        "(default: scikit-learn's 8x8 digits)",
    )
    parser.add_argument("--plot", metavar="PNG", help="draw the loss/accuracy curves here")
    parser.add_argument("--save", metavar="NPZ", help="save the trained model here")
    parser.add_argument("--seed", type=int, default=0, help="weights and shuffling seed (0)")
    parser.add_argument("--quiet", action="store_true", help="print only the result")


def _data(mnist: str | None):
    import graphad as ga

    if mnist:
        (x, y), (xt, yt) = ga.datasets.load_mnist(mnist, flatten=True, normalize=True)
        return "MNIST", x, y, xt, yt
    (x, y), (xt, yt) = ga.datasets.load_digits(seed=0)
    return "digits (8x8, scikit-learn)", x, y, xt, yt


def train(args: argparse.Namespace, out: TextIO, verbose: int) -> tuple[float, float]:
    """Train as the arguments say; returns (test loss, test accuracy)."""
    import time

    import graphad as ga
    from graphad.errors import GraphadError

    if args.epochs < 1 or args.units < 1 or args.batch_size < 1:
        raise GraphadError("--epochs, --units and --batch-size must be positive")
    name, x, y, xt, yt = _data(args.mnist)
    ga.nn.set_random_seed(args.seed)
    model = ga.nn.Sequential(
        [ga.nn.Dense(args.units, activation="relu"), ga.nn.Dense(10, activation="softmax")]
    )
    opt = ga.optim.get(args.optimizer)
    if args.lr is not None:
        opt.learning_rate = args.lr
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if verbose:
        print(
            f"data: {name}: {len(x)} training and {len(xt)} test images of {x.shape[1]} pixels",
            file=out,
        )
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        validation_data=(xt, yt),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    loss, acc = model.evaluate(xt, yt)
    print(
        f"Dense({args.units}, relu) -> Dense(10, softmax), {opt!r}: {args.epochs} epochs in "
        f"{seconds:.2f} s ({seconds / args.epochs:.3f} s/epoch)",
        file=out,
    )
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}", file=out)
    if args.plot:
        history.plot(args.plot)
        print(f"wrote {args.plot}", file=out)
    if args.save:
        model.save(args.save)
        print(f"wrote {args.save}", file=out)
    return loss, acc


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    import sys

    out = out or sys.stdout
    train(args, out, verbose=0 if args.quiet else 1)
    return 0


def demo(out: TextIO) -> None:
    """A digits network trained for a few epochs (a couple of seconds), then its accuracy."""
    print("== Training Dense(64, relu) -> Dense(10, softmax) on handwritten digits ==", file=out)
    print("graphad train --epochs 20", file=out)
    args = argparse.Namespace(
        epochs=20,
        units=64,
        batch_size=32,
        optimizer="adam",
        lr=None,
        mnist=None,
        plot=None,
        save=None,
        seed=0,
        quiet=True,
    )
    try:
        train(args, out, verbose=0)
    except Exception as exc:  # e.g. scikit-learn missing: the tour goes on
        from graphad.errors import GraphadError

        if not isinstance(exc, GraphadError):
            raise
        print(f"(skipped: {exc})", file=out)
