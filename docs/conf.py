"""Sphinx configuration for graphad's reference documentation (``make docs``)."""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import graphad  # noqa: E402  (after the path above)

project = "graphad"
author = "the graphad developers"
copyright = "2026, the graphad developers"
release = graphad.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "optable",
]

autosummary_generate = True
autodoc_typehints = "none"  # numpydoc's Parameters section says it, once
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
intersphinx_mapping = {}  # no network at build time: links stay local

exclude_patterns = ["_build", "_ext"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"graphad {release}"
templates_path: list[str] = []
nitpicky = False

import apipage  # noqa: E402

apipage.write(HERE / "api.rst")  # generated from graphad.__all__ before Sphinx reads it
