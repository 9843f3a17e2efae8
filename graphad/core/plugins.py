"""Capabilities a lower layer asks for and a higher layer provides.

A layer never imports the layers above it.  Where it needs what one of them
offers (``nn.fit`` running its steps on Dask, which ``graphad.distributed``
implements), the higher side registers a provider here and the lower side asks
for the providers of that kind, in registration order.  The top-level package
registers the built-in ones with lazy imports, so nothing heavy loads until used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["provide", "providers"]

_PROVIDERS: dict[str, list[tuple[str, Callable[..., Any]]]] = {}


def provide(kind: str, name: str, fn: Callable[..., Any]) -> None:
    """Register ``fn`` as the provider ``name`` of ``kind`` (the same name again replaces it).

    Examples
    --------
    >>> from graphad.core import plugins
    >>> plugins.provide("greeting", "hello", lambda: "hi")
    >>> [fn() for fn in plugins.providers("greeting")]
    ['hi']
    """
    entries = [(n, f) for n, f in _PROVIDERS.get(kind, []) if n != name]
    _PROVIDERS[kind] = [*entries, (name, fn)]


def providers(kind: str) -> list[Callable[..., Any]]:
    """The providers of ``kind``, in registration order."""
    return [fn for _, fn in _PROVIDERS.get(kind, [])]
