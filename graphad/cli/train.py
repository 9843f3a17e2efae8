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


def _check_arguments(args: argparse.Namespace) -> None:
    """Refuse bad numbers and unwritable output paths before any training."""
    import math

    from graphad.core.errors import GraphadError, LimitError
    from graphad.core.limits import current
    from graphad.nn._common import MAX_SEED as _MAX_SEED

    for flag, value in (
        ("--epochs", args.epochs),
        ("--units", args.units),
        ("--batch-size", args.batch_size),
    ):
        if value < 1:
            raise GraphadError(f"{flag} must be a positive integer, got {value}")
    if not 0 <= args.seed <= _MAX_SEED:
        raise GraphadError(f"--seed must be an integer in [0, {_MAX_SEED}], got {args.seed}")
    limit = current().max_elements
    if args.units > limit:  # the hidden kernel alone (features x units) is at least this
        raise LimitError(
            f"--units {args.units} is more than max_elements={limit}, the most elements "
            "a weight may have"
        )
    if args.lr is not None and not (math.isfinite(args.lr) and args.lr > 0):
        raise GraphadError(f"--lr must be a finite number > 0, got {args.lr}")
    if args.save:
        _check_output_path(args.save, "--save")
    if args.plot:
        _check_output_path(args.plot, "--plot")
        _check_plot_format(args.plot)


def _check_output_path(path: str, flag: str) -> None:
    """``path`` can be created or replaced: its directory exists, and it is not a directory."""
    import os

    from graphad.core.errors import GraphadError

    if not path.strip():
        raise GraphadError(f"{flag}: empty file name")
    if "\0" in path:
        raise GraphadError(f"{flag} {path!r}: a file name cannot hold a NUL character")
    if os.path.isdir(path):
        raise GraphadError(f"{flag} {path!r} is a directory; give a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise GraphadError(f"{flag} {path!r}: the directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK):
        raise GraphadError(f"{flag} {path!r}: the directory {directory!r} is not writable")


def _check_plot_format(path: str) -> None:
    """matplotlib can write the format the suffix asks for (and is installed)."""
    import os

    from graphad.core.errors import GraphadError

    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise GraphadError("--plot needs matplotlib: pip install graphad[plot]") from None
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if suffix not in formats:
        raise GraphadError(
            f"--plot {path!r}: matplotlib writes {', '.join('.' + f for f in sorted(formats))}, "
            f"not {('.' + suffix) if suffix else 'a file without a suffix'}"
        )


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
    from graphad.core.errors import GraphadError

    _check_arguments(args)  # everything that can be checked before an epoch is spent
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
    # two short lines: they fit an 80-column terminal (the optimizer's repr did not)
    lr = getattr(opt, "learning_rate", None)
    lr_text = f"{lr:g}" if isinstance(lr, int | float) else type(lr).__name__
    print(
        f"Dense({args.units}, relu) -> Dense(10, softmax), {type(opt).__name__}"
        f"(learning_rate={lr_text})",
        file=out,
    )
    print(
        f"{args.epochs} epochs in {seconds:.2f} s ({seconds / args.epochs:.3f} s/epoch)", file=out
    )
    print(f"test loss {loss:.4f}, test accuracy {acc:.4f}", file=out)
    for flag, path, write in (
        ("--plot", args.plot, history.plot),
        ("--save", args.save, model.save),
    ):
        if path:
            try:
                write(path)
            except OSError as exc:  # checked before training, but the disk can still fail
                raise GraphadError(f"{flag} {path!r}: {exc.strerror or exc}") from None
            print(f"wrote {path}", file=out)
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
        from graphad.core.errors import GraphadError

        if not isinstance(exc, GraphadError):
            raise
        print(f"(skipped: {exc})", file=out)
