"""Argument parsing shared by the subcommands (no graphad import: start-up speed)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_assignments", "parse_names"]

_NAME = re.compile(r"[^\W\d]\w*\Z")


def _error(message: str) -> Exception:
    from graphad.core.errors import GraphadError

    return GraphadError(message)


def parse_names(text: str | None) -> list[str]:
    """``"x,y"`` -> ``["x", "y"]``; names must be identifiers."""
    if not text:
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if not _NAME.match(n):
            raise _error(f"{n!r} is not a valid input name")
    return names


def _split_items(text: str) -> list[str]:
    """``"x=[1,2],y=3"`` -> ``["x=[1,2]", "y=3"]``: commas inside brackets stay."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise _error(f"unbalanced ']' in {text[:200]!r}")
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if depth:
        raise _error(f"unbalanced '[' in {text[:200]!r}")
    items.append(text[start:])
    return items


_NUMBER = r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)"
_TOKEN = re.compile(rf"\s*(\[|\]|,|{_NUMBER})\s*", re.IGNORECASE)


def _array(name: str, text: str):
    """A nested list of numbers (``[[1, 2], [3, 4]]``) as a float64 array; no eval."""
    import numpy as np

    rows: list[list] = [[]]
    pos, expect_value = 0, True
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _error(
                f"the value of {name!r} is not a number or a list of numbers: {text[:200]!r} "
                f"(at {text[pos : pos + 20]!r})"
            )
        tok, pos = m.group(1), m.end()
        if tok == "[":
            if not expect_value:
                raise _error(f"the value of {name!r} misses a comma: {text[:200]!r}")
            rows.append([])
        elif tok == "]":
            if len(rows) == 1:
                raise _error(f"unbalanced ']' in the value of {name!r}")
            done = rows.pop()
            rows[-1].append(done)
            expect_value = False
        elif tok == ",":
            if expect_value:
                raise _error(f"the value of {name!r} has an empty item: {text[:200]!r}")
            expect_value = True
        else:
            if not expect_value:
                raise _error(f"the value of {name!r} misses a comma: {text[:200]!r}")
            rows[-1].append(float(tok))
            expect_value = False
    if len(rows) != 1 or len(rows[0]) != 1:
        raise _error(f"the value of {name!r} is not one list of numbers: {text[:200]!r}")
    try:
        return np.array(rows[0][0], dtype=np.float64)
    except ValueError:
        raise _error(
            f"the value of {name!r} is not rectangular (rows of different lengths)"
        ) from None


def parse_assignments(text: str | None) -> dict[str, Any]:
    """``"x=3,y=2.5,v=[1,2,3]"`` -> ``{"x": 3.0, "y": 2.5, "v": array([1., 2., 3.])}``.

    Values are plain numbers (``inf``/``nan`` included) or nested lists of them in
    brackets (a tensor: ``W=[[1,2],[3,4]]``); anything else is an error naming
    the offending item.  Never evaluated as code.
    """
    out: dict[str, Any] = {}
    if not text:
        return out
    for item in _split_items(text):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _NAME.match(name):
            raise _error(f"expected NAME=NUMBER or NAME=[NUMBERS], got {item[:200]!r}")
        if value.startswith("["):
            out[name] = _array(name, value)
            continue
        try:
            out[name] = float(value)
        except ValueError:
            raise _error(f"the value of {name!r} is not a number: {value[:200]!r}") from None
    return out
