"""Writes ``api.rst`` from ``graphad.__all__`` at build time, so no public name is missed."""

from __future__ import annotations

MODULES = ["optim", "nn", "distributed", "datasets", "testing", "limits"]


def _block(title: str, names: list[str]) -> str:
    rows = "".join(f"   graphad.{n}\n" for n in names)
    return f"{title}\n{'-' * len(title)}\n\n.. autosummary::\n   :toctree: generated\n\n{rows}\n"


def api_rst() -> str:
    import graphad as ga
    from graphad.ops import OPS

    names = list(ga.__all__)
    ops = [n for n in names if n in OPS]
    errors = [n for n in names if n.endswith("Error")]
    modules = [n for n in MODULES if n in names]
    rest = [n for n in names if n not in ops and n not in errors and n not in modules]
    intro = (
        "API reference\n=============\n\n"
        "The public names of the ``graphad`` package (``import graphad as ga``), then its\n"
        "submodules. The ops are also listed with their conventions in :doc:`ops`.\n"
        "This page is generated from ``graphad.__all__``.\n\n"
    )
    return (
        intro
        + _block("Building, differentiating, compiling", rest)
        + _block("Ops", ops)
        + _block("Errors", errors)
        + _block("Modules", modules)
    )


def write(path) -> None:
    text = api_rst()
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
