"""Argument parsing shared by the subcommands (no graphad import: start-up speed)."""

from __future__ import annotations

import re

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


def parse_assignments(text: str | None) -> dict[str, float]:
    """``"x=3,y=2.5"`` -> ``{"x": 3.0, "y": 2.5}``.

    Values are plain numbers (``inf``/``nan`` included); anything else is an error
    naming the offending item.  Never evaluated as code.
    """
    out: dict[str, float] = {}
    if not text:
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not _NAME.match(name):
            raise _error(f"expected NAME=NUMBER, got {item!r}")
        try:
            out[name] = float(value)
        except ValueError:
            raise _error(f"the value of {name!r} is not a number: {value!r}") from None
    return out
