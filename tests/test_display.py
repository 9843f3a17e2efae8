"""Notebook displays: the MIME bundle (graph first), bounded big graphs, LaTeX and SymPy
of tensor expressions (right or refused), and ga.reset_default_graph for re-run cells."""

from __future__ import annotations

import re

import numpy as np
import pytest

import graphad as ga
from graphad.backends._display import MIME_ORDER
from graphad.backends.render import DISPLAY_MAX_NODES

# JupyterLab's default renderer ranks (lower is preferred), from @jupyterlab/rendermime's
# factories: html 50, latex 70, svg 80, plain text 120.  A bundle shows its best-ranked type.
_JUPYTERLAB_RANK = {"text/html": 50, "text/latex": 70, "image/svg+xml": 80, "text/plain": 120}


def _jupyterlab_choice(bundle: dict) -> str:
    return min(bundle, key=lambda m: _JUPYTERLAB_RANK.get(m, 1000))


@pytest.mark.needs_dot
def test_expr_offers_its_graph_first_as_html_embedding_the_svg():
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = x**2 + ga.sin(x * y)
        bundle = e._repr_mimebundle_()
    assert tuple(bundle) == MIME_ORDER == ("text/html", "image/svg+xml", "text/latex", "text/plain")
    html = bundle["text/html"]
    assert html.startswith('<div class="graphad-graph"') and "<svg" in html
    assert "<?xml" not in html and "<!DOCTYPE" not in html  # an HTML fragment, not a document
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert bundle["text/latex"] == e._repr_latex_() and bundle["text/latex"].startswith("$")
    assert bundle["text/plain"] == repr(e)
    # JupyterLab (and VS Code, which also prefers HTML) shows the graph, not the formula
    assert _jupyterlab_choice(bundle) == "text/html"
    # without the HTML form, JupyterLab would have picked the LaTeX (the bug of issue 16)
    del bundle["text/html"]
    assert _jupyterlab_choice(bundle) == "text/latex"


@pytest.mark.needs_dot
def test_mimebundle_include_and_exclude():
    with ga.Graph():
        e = ga.exp(ga.symbols("x"))
        assert list(e._repr_mimebundle_(include=["text/plain"])) == ["text/plain"]
        assert list(e._repr_mimebundle_(exclude=["text/html", "image/svg+xml"])) == [
            "text/latex",
            "text/plain",
        ]


@pytest.mark.needs_dot
def test_big_expression_displays_a_compact_view_with_a_note():
    with ga.Graph():
        xs = ga.symbols(" ".join(f"a{i}" for i in range(130)))
        e = sum(ga.exp(v) * v for v in xs)  # 521 nodes
        html = e._repr_mimebundle_(include=["text/html"])["text/html"]
    boxes = re.findall(r'<g id="node\d+" class="node">\s*<title>n\d+</title>', html)
    assert 0 < len(boxes) <= DISPLAY_MAX_NODES
    assert "max_nodes=None" in html and "521" in html  # how many, and how to draw them all
    assert "max-height:600px;overflow:auto" in html
    assert len(html) < 100_000  # was 284 kB for a 400-node expression (issue 16)


@pytest.mark.needs_dot
def test_names_in_the_html_are_escaped():
    with ga.Graph():
        e = ga.symbol("<script>alert(1)</script>") * 2
        html = e._repr_mimebundle_(include=["text/html"])["text/html"]
    assert "<script" not in html and "&lt;script&gt;" in html


# -- LaTeX and SymPy of tensor expressions ---------------------------------------------------


def test_latex_of_tensor_ops_names_the_op():
    with ga.Graph():
        W = ga.symbol("W", shape=(3, 2))
        v = ga.symbol("v", shape=(2,))
        for e, name in [
            (ga.logsumexp(W @ v), "logsumexp"),
            (ga.mean(W), "mean"),
            (ga.softmax(v), "softmax"),
        ]:
            tex = e._repr_latex_()
            assert tex not in ("$Wv$", "$W v$", "$W$", "$1$", "$v$")
            assert rf"\operatorname{{{name}}}" in tex


def test_to_sympy_refuses_tensor_expressions():
    with ga.Graph():
        W = ga.symbol("W", shape=(3, 2))
        v = ga.symbol("v", shape=(2,))
        x = ga.symbols("x")
        for e, what in [
            (ga.logsumexp(W @ v), "declared with shape"),
            (ga.mean(W), "declared with shape"),
            (ga.softmax(v), "declared with shape"),
            (ga.softmax(x), "softmax"),  # softmax of a scalar is not 1: it is an error
            (ga.sum(ga.broadcast_to(x, (3,))), r"broadcast_to\) is not a scalar"),
            (ga.sum(x * ga.constant(np.ones(3))), "tensor constant"),
        ]:
            with pytest.raises(ga.GraphadError, match=what):
                ga.to_sympy(e)


def test_to_sympy_of_scalar_reductions_is_the_scalar_itself():
    sympy = pytest.importorskip("sympy")
    with ga.Graph():
        x = ga.symbols("x")
        s = ga.symbol("s", shape=())
        X = sympy.Symbol("x", real=True)
        # with scalar inputs these are exact: sum/mean/logsumexp of one number is it
        assert ga.to_sympy(ga.sum(x) + ga.mean(x)) == 2 * X
        assert ga.to_sympy(ga.logsumexp(x)) == X
        assert ga.to_sympy(ga.exp(s)) == sympy.exp(sympy.Symbol("s", real=True))
        # a gradient graph's shape helpers convert (scalar in, scalar out)
        g = ga.to_sympy(ga.grad(x**2 + ga.sin(x), x))
        assert sympy.simplify(g - (2 * X + sympy.cos(X))) == 0


def test_check_grad_never_uses_a_wrong_sympy_witness():
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.sum(ga.broadcast_to(x, (3,)))  # 3x: its scalar SymPy form "x" would say 1
        r = ga.check_grad(f, at={"x": 1.0})
    assert r.ok and r.verdict == "pass"
    assert r.sympy_note.startswith("n/a") and "broadcast_to" in r.sympy_note
    assert r.inputs[0].elements[0].sympy is None  # no witness rather than a wrong one
    assert float(r.inputs[0].elements[0].ad) == 3.0


# -- notebooks: re-running a cell ------------------------------------------------------------


def test_reset_default_graph_lets_a_rerun_cell_redeclare():
    # the default graph is global: run in a subprocess-free way by restoring it after
    import graphad.core.graph as G

    saved = G._default
    try:
        G._default = None
        ga.symbol("W", shape=(3, 2))
        with pytest.raises(ga.GraphadError, match="reset_default_graph"):
            ga.symbol("W", shape=(4, 2))
        old = ga.get_default_graph()
        kept = ga.symbol("W") * 2  # built before the reset: keeps its graph and works
        new = ga.reset_default_graph()
        assert new is ga.get_default_graph() and new is not old and len(new) == 0
        W = ga.symbol("W", shape=(4, 2))
        assert W.shape == (4, 2) and W.graph is new
        np.testing.assert_array_equal(kept.eval(W=np.ones((3, 2))), 2 * np.ones((3, 2)))
        with ga.Graph(), pytest.raises(ga.GraphadError, match="outside the with block"):
            ga.reset_default_graph()
        assert ga.get_default_graph() is new  # the refused call changed nothing
    finally:
        G._default = saved


def test_latex_leaves_out_default_parameters_only():
    with ga.Graph():
        W = ga.symbol("W", shape=(3, 2))
        assert ga.mean(W)._repr_latex_() == r"$\operatorname{mean}{\left(W \right)}$"
        assert r"\mathrm{axis=0\ }" in ga.sum(W, axis=0)._repr_latex_()
        assert "keepdims=True" in ga.sum(W, keepdims=True)._repr_latex_()
