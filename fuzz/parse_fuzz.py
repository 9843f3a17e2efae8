"""libFuzzer target (atheris) for the text -> graph pipeline.

Each input is decoded as text and parsed into a fresh graph.  Properties
checked on every execution:

- ``ga.parse`` returns an Expr or raises a ``GraphadError`` (a ``ParseError``
  points inside the text); nothing else escapes, nothing hangs (libFuzzer's
  ``-timeout``) and no file appears (a canary in the working directory);
- what parses prints as text that parses back to the very same node;
- what parses evaluates, interpreted and compiled alike, or raises a
  ``GraphadError``.

Run: ``make fuzz`` (60 s), or ``python fuzz/parse_fuzz.py -max_total_time=600
-dict=fuzz/parse.dict CORPUS_DIR``.  A crash is written as ``crash-<hash>``;
add its text to ``tests/corpus/hostile.jsonl`` once fixed.
"""

from __future__ import annotations

import os
import sys
import warnings

import atheris

with atheris.instrument_imports():
    import numpy as np

    import graphad as ga

    # graphad imports these on first use: import them here so they are instrumented
    import graphad.backends.codegen
    import graphad.backends.interp
    import graphad.core.limits
    import graphad.frontends.text
    import graphad.transforms.rewrite
    from graphad.core.errors import GraphadError, ParseError

NAMES = ("x", "y", "z")
VALUES = {"x": np.array([0.5, -1.5]), "y": 2.0, "z": np.array([[1.0], [0.0]])}
SEEDS = [
    "x**2 + sin(x*y) - 1", "sum(softmax(x) * y, axis=-1)", "where(x > 0, log(x), 0)",
    "logsumexp(concatenate([x, y * x]))", "clip(x, -1, 2) @ x", "reshape(x, (2, 1)) + z",
    "mean(stack([x, x]), axis=0, keepdims=True)", "9**9**9", "(x+y+z)**60", "2x",
    "__import__('os')", "lambda: 1", "x[0]", "((((x))))", "sum(x, axis=(0,))",
]  # fmt: skip
CANARY = "FUZZ_CANARY"


def _check(text: str) -> None:
    with ga.Graph():
        try:
            e = ga.parse(text)
        except ParseError as err:
            if not 0 <= err.position <= len(text):
                raise AssertionError(f"position {err.position} outside the text") from err
            return
        except GraphadError:
            return
        printed = str(e)
        if not printed.startswith("<") and "const(" not in printed:  # tensors print abridged
            again = ga.parse(printed)
            if again is not e:
                raise AssertionError(f"{text!r} prints as {printed!r}, which parses differently")
        try:
            want = e.eval(VALUES)
        except GraphadError:
            return
        names = [n for n in NAMES if n in e.free_symbols]
        got = ga.compile(e, inputs=names)(*[VALUES[n] for n in names])
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape or got.dtype != want.dtype:
            raise AssertionError(f"{text!r}: compiled {got.dtype}{got.shape}, "
                                 f"interpreted {want.dtype}{want.shape}")  # fmt: skip
        if not np.allclose(got, want, rtol=1e-9, atol=0, equal_nan=True):
            raise AssertionError(f"{text!r}: compiled {got!r} != interpreted {want!r}")


def TestOneInput(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(4096)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # NumPy's "Mean of empty slice" and the like
        _check(text)
    if os.path.exists(CANARY):
        raise AssertionError(f"{text!r} created {CANARY}")


def _seed(corpus: str) -> None:
    """Start an empty corpus directory from known-interesting inputs and the hostile corpus."""
    if os.listdir(corpus):
        return
    import json
    from pathlib import Path

    texts = list(SEEDS)
    hostile = Path(__file__).parent.parent / "tests" / "corpus" / "hostile.jsonl"
    if hostile.exists():
        for line in hostile.read_text(encoding="utf-8").splitlines():
            text = json.loads(line)["text"].replace("{CANARY}", CANARY)
            if len(text) < 2000:
                texts.append(text)
    for k, text in enumerate(texts):
        # the first byte picks how ConsumeUnicodeNoSurrogates decodes the rest: 2 is UTF-16,
        # so that every seed (non-ASCII ones too) decodes to itself
        raw = b"\x02" + text.encode("utf-16-le", "surrogatepass")
        Path(corpus, f"seed-{k:04d}").write_bytes(raw)


def main() -> None:
    dirs = [a for a in sys.argv[1:] if not a.startswith("-")]
    for d in dirs[:1]:
        os.makedirs(d, exist_ok=True)
        _seed(d)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
