"""Rendering: deterministic DOT for forward and gradient graphs, values, adjoints, files."""

from __future__ import annotations

import argparse
import itertools
import math
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import numpy as np
import pytest

import graphad as ga
from graphad.backends.render import render, repr_svg
from graphad.core.graph import ancestors

needs_dot = pytest.mark.needs_dot
skip_no_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not on PATH")
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


def node_line(source: str, name: str) -> str:
    """The DOT statement declaring node ``name`` (it may span lines: tooltips hold newlines)."""
    m = re.search(rf"^\t+{name} \[(.*?)\]\n(?=\t|\}})", source, re.M | re.S)
    assert m is not None, f"node {name} not in the DOT source"
    return m.group(1)


def node_names(source: str) -> list[str]:
    return re.findall(r"^\t+(n\d+) \[", source, re.M)


@pytest.fixture
def quadratic():
    """The notebook's f = x**2 + x - 1 and its gradient, in a fresh graph (stable ids)."""
    with ga.Graph() as g:
        x = ga.symbols("x")
        f = x**2 + x - 1
        gx = ga.grad(f, x)
    return g, x, f, gx


# -- structure and styles -------------------------------------------------------------------


def test_quadratic_nodes_edges_and_clusters(quadratic):
    g, _, f, gx = quadratic
    src = render([f, gx]).source
    ids = sorted(int(n[1:]) for n in node_names(src))
    plumbing = {n for n in g.nodes() if g.op(n) == "sum_to_like"}  # x's shape is unknown
    assert plumbing and not plumbing & set(ids)  # drawn as what it is for scalars: nothing
    assert ids == sorted(ancestors(g, [f.id, gx.id]) - plumbing)  # each node once
    # argument positions on the edges of two-input ops; forward edges solid, dark
    assert '\tn0 -> n2 [label=0 color="#374151"]' in src
    assert '\tn1 -> n2 [label=1 color="#374151"]' in src
    assert '\tn3 -> n5 [label=0 color="#374151"]' in src
    # the backward pass reads forward values: dashed grey edges; grad -> grad: orange
    assert '\tn0 -> n10 [label=1 color="#a1a7b0" style=dashed]' in src
    assert "-> n6 " not in src  # the seed, ones_like(f), reads only f's shape
    assert '\tn6 -> n11 [label=0 color="#c2410c"]' in src
    # forward and backward parts in their own clusters
    fwd = src[src.index("subgraph cluster_forward") : src.index("subgraph cluster_backward")]
    bwd = src[src.index("subgraph cluster_backward") :]
    assert set(node_names(fwd)) == {"n0", "n1", "n2", "n3", "n4", "n5"}
    assert set(node_names(bwd)) == {"n6", "n10", "n11", "n13"}


def test_styles_differ_by_role_and_legend_explains_them(quadratic):
    _, _, f, gx = quadratic
    src = render([f, gx]).source
    assert 'fillcolor="#dcfce7" shape=ellipse' in node_line(src, "n0")  # input
    assert 'fillcolor="#f3f4f6"' in node_line(src, "n1")  # constant
    assert 'fillcolor="#e0e7ff"' in node_line(src, "n2")  # forward op
    assert 'fillcolor="#ffedd5"' in node_line(src, "n10")  # gradient op
    assert 'fillcolor="#fdba74"' in node_line(src, "n13")  # gradient op holding an adjoint
    legend = node_line(src, "legend")
    for fill, text in [("#dcfce7", "input"), ("#f3f4f6", "constant"), ("#e0e7ff", "forward op"),
                       ("#ffedd5", "gradient op (chain rule)"),
                       ("#fdba74", "gradient op holding an adjoint ∂f/∂v")]:  # fmt: skip
        assert f'bgcolor="{fill}"' in legend and f">{text}</td>" in legend
    # no gradient: no gradient styles in the legend, no clusters
    fwd_only = render(f).source
    assert "gradient op" not in fwd_only and "cluster_" not in fwd_only


def test_labels_ops_ids_and_adjoints(quadratic):
    _, _, f, gx = quadratic
    src = render([f, gx]).source
    assert node_line(src, "n2").startswith(
        'label=<<b>pow</b><br/><font point-size="9" color="#6b7280">v2</font>>'
    )
    # the output is named f; the gradient node says which adjoint it holds
    assert node_line(src, "n5").startswith('label=<<font color="#111827"><b>f</b></font><br/>')
    assert '<font color="#9a3412">= ∂f/∂x</font>' in node_line(src, "n13")
    assert "= ∂f/∂v5 = ∂f/∂v3 = ∂f/∂v2" in node_line(src, "n6")
    assert 'tooltip="v13 = add(v11, v6)   (grad)\nholds ∂f/∂x"' in node_line(src, "n13")
    assert 'label="f = x ** 2 + x - 1\\l"' in src  # the title, left-justified


def test_edge_positions_repeated_and_single_arguments():
    with ga.Graph():
        x, y = ga.symbols("x y")
        src = render([x - y, x * x, ga.sin(x)], legend=False, title=False).source
    assert '\tn0 -> n2 [label=0 color="#374151"]' in src
    assert '\tn1 -> n2 [label=1 color="#374151"]' in src
    assert '\tn0 -> n3 [label="0,1" color="#374151"]' in src  # x*x: one edge, both positions
    assert '\tn0 -> n4 [color="#374151"]' in src  # one input: no position
    assert len(re.findall(r"-> n3 ", src)) == 1


def test_internal_ops_use_readable_labels():
    with ga.Graph():
        x = ga.symbol("x", shape=(3,))
        b = ga.symbol("b", shape=())
        gb = ga.grad((x + b).sum(), b)  # static shapes: sum_to is a plain sum at once
        src = render(gb).source
        z = ga.symbol("z")
        gz = ga.grad(ga.matmul(ga.constant(np.ones((2, 2))), z).sum(), z)
        src_z = render(gz).source
    ops = {m.group(1) for m in re.finditer(r"label=<(?:<font[^>]*><b>[^<]*</b></font><br/>)?"
                                           r"<b>([^<]*)</b>", src)}  # fmt: skip
    assert "sum" in ops and "sum_to" not in ops and "sum_to_like" not in ops
    # shape unknown: the helper stays, drawn as what a person writes (issue 16)
    assert "<b>Aᵀ @ g</b>" in src_z and "matmul_grad_b</b>" not in src_z
    assert ga.ops.OPS["sum_to_like"].display == "sum_to"  # the op table's name is unchanged


def test_every_internal_op_has_a_readable_label():
    from graphad.backends.render_labels import op_text

    for name, op in ga.ops.OPS.items():
        if op.internal and name != "jacobian":
            text = op_text({"op": name})
            assert "_" not in text and text not in ("unreduce", "count", "u"), name


def _mlp_gradient():
    X = ga.symbol("X", shape=(5, 4))
    W1, b1 = ga.symbol("W1", shape=(4, 3)), ga.symbol("b1", shape=(3,))
    W2 = ga.symbol("W2", shape=(3, 2))
    loss = ga.log_softmax(ga.relu(X @ W1 + b1) @ W2).sum(axis=-1).mean()
    return loss, ga.grad(loss, [W1, b1, W2])


def test_gradient_reads_of_forward_values_are_short_references():
    with ga.Graph():
        loss, grads = _mlp_gradient()
        graph = loss.graph
        src = render([loss, *grads], title=False).source
    nodes = graph._nodes
    fwd = {n for n in nodes if nodes[n]["role"] in ("forward", "input")}
    grad = {n for n in nodes if nodes[n]["role"] == "grad"}
    edges = [(int(a), int(b)) for a, b in re.findall(r"\tn(\d+) -> n(\d+) ", src)]
    # no arrow goes from a forward node to a gradient node: each read is a stand-in ...
    assert edges and not [(a, b) for a, b in edges if a in fwd and b in grad]
    refs = re.findall(r"\tr(\d+)_(\d+) -> n(\d+) \[[^]]*style=dashed", src)
    assert refs and all(int(a) in fwd and int(b) in grad for a, b, _ in refs)
    # ... labelled with the forward node's name (its id, or an input's name)
    for a, b, _ in refs:
        m = re.search(rf'\sr{a}_{b} \[label=(?:"([^"]*)"|(\w+))', src)
        assert graph.label(int(a)) in m.groups()
        assert f"reads {graph.label(int(a))} of the forward pass" in src
    assert "reads node v12 of the forward pass" in src


def test_small_pictures_keep_their_read_arrows():
    with ga.Graph():
        x = ga.symbols("x")
        f = x**2 + x - 1
        src = render([f, ga.grad(f, x)]).source
    assert "style=dashed" in src and not re.search(r"\tr\d+_\d+ ", src)


def test_stand_ins_of_constants_show_the_value():
    with ga.Graph():
        xs = ga.symbols(" ".join(f"a{i}" for i in range(40)))
        c = ga.constant(2.5)  # drawn as 5 / 2, the exact form of the float
        e = c * xs[0]
        for v in xs[1:]:
            e = ga.sin(e + v)
        e = e * c  # c is used at the top and far below: drawn once, read through a stand-in
        src = render(e, title=False, max_nodes=None).source
    stand = re.findall(r'\sr(\d+)_\d+ \[label="([^"]*)"', src)
    assert stand and all(label == "5 / 2" for _, label in stand)
    assert re.search(rf"\sn{stand[0][0]} \[label=<5 / 2>", src)  # the box says the same


def test_params_and_shapes_shown():
    with ga.Graph():
        z = ga.symbol("z", shape=(5, 2), dtype="float32")
        src = render(ga.log_softmax(z, axis=0), title=False).source
    line = node_line(src, "n1")
    assert '<b>log_softmax</b> <font point-size="9" color="#6b7280">axis=0</font>' in line
    assert "v1 (5, 2) float32" in line
    assert '<b>z</b><br/><font point-size="9" color="#6b7280">(5, 2) float32</font>' in (
        node_line(src, "n0")
    )


def test_html_special_characters_are_escaped():
    with ga.Graph():
        x, y = ga.symbols("x y")
        src = render(ga.where(x < y, x, y), title=False).source
    assert "<b>&lt;</b>" in node_line(src, "n2")


# -- determinism ----------------------------------------------------------------------------


def test_same_graph_twice_gives_identical_dot(quadratic):
    _, _, f, gx = quadratic
    at = {"x": 3.0}
    assert render([f, gx], at=at).source == render([f, gx], at=at).source
    with ga.Graph():  # rebuilt from scratch: same ids, same bytes
        x2 = ga.symbols("x")
        f2 = x2**2 + x2 - 1
        again = render([f2, ga.grad(f2, x2)], at=at).source
    assert again == render([f, gx], at=at).source


# -- values ---------------------------------------------------------------------------------


def test_values_and_adjoints_at_a_point(quadratic):
    _, _, f, gx = quadratic
    src = render([f, gx], at={"x": 3.0}).source
    # x = 3: x**2 = 9, + x = 12, - 1 = 11; df/dx = 2x + 1 = 7, and every df/dv_i = 1
    assert '<b>x</b><br/><font color="#111827">3</font><br/><font color="#9a3412">∂f/∂x = 7' in (
        node_line(src, "n0")
    )
    assert '<font color="#111827">9</font><br/><font color="#9a3412">∂f/∂v2 = 1</font>' in (
        node_line(src, "n2")
    )
    assert '<font color="#111827">11</font>' in node_line(src, "n5")
    assert '= ∂f/∂x</font><br/><font color="#111827">7</font>' in node_line(src, "n13")
    assert "value: 3.0\n∂f/∂x (in v13): 7.0" in node_line(src, "n0")  # tooltip
    assert "at x=3\\l" in src


def test_values_against_numpy_for_sin_xy():
    with ga.Graph():
        x, y = ga.symbols("x y")
        f = ga.sin(x * y) + x**2
        gx, gy = ga.grad(f, [x, y])
        src = render([f, gx, gy], at={"x": 3.0, "y": 2.0}).source
    dfdx = 2 * math.cos(6.0) + 6.0  # y cos(xy) + 2x
    dfdy = 3 * math.cos(6.0)  # x cos(xy)
    assert f"∂f/∂x = {dfdx:.4g}<" in node_line(src, "n0")
    assert f"∂f/∂y = {dfdy:.4g}<" in node_line(src, "n1")
    assert f">{math.sin(6.0) + 9.0:.4g}<" in node_line(src, f"n{f.id}")
    assert f"value: {dfdx!r}" in node_line(src, f"n{gx.id}")  # full precision in the tooltip


def test_tensor_values_summary_and_tooltip():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 3))
    with ga.Graph():
        A = ga.symbol("A", shape=(4, 3))
        e = ga.tanh(A)
        src = render(e, at={"A": a}).source
    t = np.tanh(a)
    line = node_line(src, "n1")
    assert f"[{t.min():.3g} … {t.max():.3g}] μ={t.mean():.3g}" in line
    assert "value: (4, 3) float64\n[[" in line
    assert f"{t[0, 0]:.6f}"[:7] in line  # the numbers themselves are in the tooltip
    with ga.Graph():  # a big array: the tooltip is NumPy-summarised and bounded
        B = ga.symbol("B", shape=(100, 100))
        big = render(ga.exp(B), at={"B": np.zeros((100, 100))}, title=False).source
    tip = node_line(big, "n1").split('tooltip="', 1)[1]
    assert "..." in tip and len(tip) < 1600
    assert "[0 … 0] μ=0" in node_line(big, "n0")  # -0.0 and 0.0 both print as 0
    with ga.Graph():  # up to four values are listed
        v = ga.symbol("v", shape=(3,))
        small = render(v * 2, at={"v": np.array([1.0, 2.5, -3.0])}, title=False).source
    assert "[2, 5, -6]" in node_line(small, "n2")


def test_nan_values_are_red_and_the_first_one_is_marked():
    with ga.Graph():
        x, y = ga.symbols("x y")
        f = ga.log(x - y) * ga.sqrt(y) + x
        src = render([f, *ga.grad(f, [x, y])], at={"x": 1.0, "y": 2.0}).source
        log_id = next(n for n in sorted(f.graph.nodes()) if f.graph.op(n) == "log")
    assert src.count("⚠ first NaN/inf") == 1
    assert "⚠ first NaN/inf" in node_line(src, f"n{log_id}")
    for name in (f"n{log_id}", f"n{f.id}"):  # log(-1) is NaN, and so is everything after
        assert 'color="#b91c1c" fillcolor="#fecaca"' in node_line(src, name)
    assert 'fillcolor="#fecaca"' not in node_line(src, "n0")  # x itself is fine
    assert "NaN or inf value" in node_line(src, "legend")


def test_highlight_marks_a_node_with_its_reason(quadratic):
    _, _, f, gx = quadratic
    src = render([f, gx], highlight={gx.args[0].args[0]: "rule disagrees"}).source
    line = node_line(src, "n11")
    assert 'color="#dc2626"' in line and "penwidth=3" in line
    assert "<b>⚠ rule disagrees</b>" in line and "\n⚠ rule disagrees" in line
    assert "⚠" not in node_line(src, "n13")


def test_placeholder_nodes_are_not_evaluated():
    with ga.Graph() as g:
        x = ga.symbols("x")
        e = ga.sin(x)
        p = ga.Expr(g, g.apply("placeholder_like", (e.id,), (), e.shape, e.dtype))
        src = render([e, p * 2], at={"x": 0.5}).source
    assert f">{math.sin(0.5):.4g}<" in node_line(src, f"n{e.id}")
    assert "value" not in node_line(src, f"n{p.id}").split("tooltip=")[1]


# -- what can be drawn ----------------------------------------------------------------------


def test_dict_names_outputs_in_adjoint_labels():
    with ga.Graph():
        W = ga.symbol("W", shape=(2, 2))
        loss = (W * W).sum()
        src = render({"loss": loss, "dW": ga.grad(loss, W)}).source
    assert "∂loss/∂W" in src and "∂f/∂W" not in src
    assert 'label="loss = sum(W ** 2' in src  # W * W collected


def test_report_like_objects_highlight_their_culprit_and_use_their_point():
    with ga.Graph():
        x = ga.symbols("x")
        f = ga.sin(x) * x

    report = SimpleNamespace(  # what a gradient-check report carries
        expr=f,
        culprit=f.args[0],
        culprit_reason="sin: VJP disagrees with finite differences",
        at={"x": 1.0},
    )
    src = render(report).source
    line = node_line(src, f"n{f.args[0].id}")
    assert "⚠ sin: VJP disagrees with finite differences" in line and "penwidth=3" in line
    assert f">{math.sin(1.0):.4g}<" in line


def test_function_and_tape_like_objects():
    with ga.Graph() as g:
        x = ga.symbols("x")
        e = ga.exp(x)
        unused = ga.cos(x)

    function = SimpleNamespace(graph=g, output_ids=(e.id,))  # a graph and output ids
    tape = SimpleNamespace(graph=g)  # a graph: draw everything recorded
    assert node_names(render(function).source) == ["n0", f"n{e.id}"]
    assert set(node_names(render(tape).source)) == {"n0", f"n{e.id}", f"n{unused.id}"}
    assert set(node_names(render(g).source)) == {"n0", f"n{e.id}", f"n{unused.id}"}
    with pytest.raises(ga.GraphadError, match="cannot draw"):
        render(object())


def test_real_tape_check_report_and_function():
    x = ga.Variable(3.0)
    with ga.GradientTape(persistent=True) as tape:
        y = x * x + x - 1
    assert float(tape.gradient(y, x)) == 7.0
    src = render(tape).source  # the tape's recorded values are shown without at=
    assert "∂f/∂Variable = 7<" in src and '<font color="#111827">11</font>' in src

    bad = ga.defop("render_test_badsin", np.sin, vjp=lambda g, x: [g * ga.sin(x)])  # wrong rule
    with ga.Graph():
        x = ga.symbols("x")
        report = ga.check_grad(bad(x) * x, at={"x": 0.5})
    assert report.verdict == "fail"
    line = node_line(render(report).source, f"n{report.culprit}")
    assert "<b>render_test_badsin</b>" in line and "penwidth=3" in line
    assert f"⚠ {report.culprit_reason}" in line
    assert f">{math.sin(0.5):.4g}<" in line  # drawn at the point it was checked at

    with ga.Graph():
        x = ga.symbols("x")
        fn = ga.compile([ga.exp(x), ga.grad(ga.exp(x), x)], inputs=[x])
    src = render(fn, at={"x": 0.0}).source
    assert "∂f/∂x = 1<" in src


def test_exprs_from_different_graphs_are_rejected():
    with ga.Graph():
        a = ga.symbols("a")
    with ga.Graph():
        b = ga.symbols("b")
    with pytest.raises(ga.GraphadError, match="different graphs"):
        render([a, b])


# -- options and scale -----------------------------------------------------------------------


def test_rankdir_cluster_legend_title_options(quadratic):
    _, _, f, gx = quadratic
    src = render([f, gx], rankdir="LR", cluster=False, legend=False, title="hello").source
    assert "rankdir=LR" in src and "cluster_" not in src and "legend" not in src
    assert "label=hello" in src
    with pytest.raises(ga.GraphadError, match="rankdir"):
        render(f, rankdir="XY")


def test_long_chains_collapse_beyond_max_nodes():
    with ga.Graph():
        x = ga.symbols("x")
        e = x
        for _ in range(40):
            e = ga.sin(e)
        e = e + x
        src = render(e, max_nodes=10).source
        full = render(e, max_nodes=None).source
    assert len(node_names(full)) == 42
    names = node_names(src)
    assert names == ["n0", "n1", "n40", "n41"]  # ends of the chain, the input, the output
    assert "\tc2_39 [label=<<b>⋯ chain of 38 nodes</b>" in src
    assert "\tn1 -> c2_39 " in src and "\tc2_39 -> n40 " in src


def test_wide_graphs_hide_what_is_far_from_the_outputs():
    with ga.Graph():
        xs = ga.symbols(" ".join(f"x{i}" for i in range(30)))
        # no long sum, no repeated structure (each term has its own constants): nothing
        # to group, so what is far from the output is hidden
        terms = [
            ga.sin(a * (i + 2)) * ga.cos(b + (i + 3))
            for i, (a, b) in enumerate(itertools.pairwise(xs))
        ]
        total = terms[0]
        for t in terms[1:]:
            total = total * t
        dot = render(total, max_nodes=25)
    src = dot.source
    assert len(node_names(src)) == 25
    assert re.search(r"\(showing 25 of \d+ nodes: max_nodes\)", src)
    assert re.search(r'\th\d+ \[label="⋯ x?v?\d+"', src)  # stand-ins for hidden arguments


def test_hundred_thousand_node_chain_renders_without_recursion():
    with ga.Graph():
        x = ga.symbols("x")
        e = x
        for _ in range(100_000):
            e = ga.sin(e)
        src = render(e).source
    assert len(node_names(src)) <= 200
    assert "⋯ chain of 99997 nodes" in src  # n2 ... n99998


# -- files ------------------------------------------------------------------------------------


def test_dot_files_need_no_graphviz(quadratic, tmp_path, monkeypatch):
    _, _, f, gx = quadratic
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    dot = render([f, gx], tmp_path / "g.dot", at={"x": 3.0})
    assert (tmp_path / "g.dot").read_text(encoding="utf-8") == dot.source
    render(f, str(tmp_path / "g.gv"))
    assert (tmp_path / "g.gv").read_text(encoding="utf-8").startswith("digraph graphad {")


@pytest.mark.parametrize("suffix", ["svg", "png", "pdf"])
def test_without_dot_other_formats_say_how_to_install(quadratic, tmp_path, monkeypatch, suffix):
    _, _, f, _ = quadratic
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ga.GraphadError) as info:
        render(f, tmp_path / f"g.{suffix}")
    msg = str(info.value)
    for how in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert how in msg
    assert not (tmp_path / f"g.{suffix}").exists()
    assert repr_svg(f) is None  # Jupyter falls back quietly
    assert f._repr_svg_() is None


def test_unknown_suffix_is_an_error(quadratic, tmp_path):
    with pytest.raises(ga.GraphadError, match=r"\.svg, \.png, \.pdf, \.dot, \.gv"):
        render(quadratic[2], tmp_path / "g.txt")


@needs_dot
@skip_no_dot
def test_svg_is_well_formed_with_tooltips(quadratic, tmp_path):
    g, _, f, gx = quadratic
    render([f, gx], tmp_path / "q.svg", at={"x": 3.0})
    root = ET.parse(tmp_path / "q.svg").getroot()
    nodes = [el for el in root.iter(f"{SVG}g") if el.get("class") == "node"]
    titles = {el.find(f"{SVG}title").text for el in nodes}
    expected = {f"n{n}" for n in ancestors(g, [f.id, gx.id]) if g.op(n) != "sum_to_like"}
    assert titles == expected | {"legend"}
    tips = {el.get(f"{XLINK}title") for el in root.iter(f"{SVG}a")}
    assert "input x\nvalue: 3.0\n∂f/∂x (in v13): 7.0" in tips
    assert (tmp_path / "q.svg").read_bytes() == render([f, gx], at={"x": 3.0}).pipe("svg")


@needs_dot
@skip_no_dot
def test_png_pdf_and_jupyter(quadratic, tmp_path):
    _, _, f, gx = quadratic
    render(f, tmp_path / "q.png")
    render(f, tmp_path / "q.pdf")
    assert (tmp_path / "q.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "q.pdf").read_bytes()[:5] == b"%PDF-"
    svg = f._repr_svg_()
    assert svg is not None and ET.fromstring(svg).tag == f"{SVG}svg"

    assert "∂f/∂x" in repr_svg(SimpleNamespace(expr=[f, gx]))


def test_import_graphad_does_not_import_graphviz():
    code = (
        "import sys, graphad; "
        "print('graphviz' in sys.modules, 'graphad.backends.render' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- command line -----------------------------------------------------------------------------


def _cli(argv):
    from graphad.cli import render as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command, parser.parse_args(argv)


def test_cli_writes_the_gradient_graph(tmp_path, capsys):
    out = tmp_path / "b.dot"
    command, args = _cli(["x**2 + sin(x*y)", "--grad", "--at", "x=3,y=2", "-o", str(out)])
    assert command.run(args) == 0
    src = out.read_text(encoding="utf-8")
    assert f"∂f/∂x = {2 * math.cos(6.0) + 6:.4g}<" in src and "∂f/∂y" in src
    assert capsys.readouterr().out.strip() == str(out)
    command, args = _cli(["x**2 + sin(x*y)", "--wrt", "y", "--rankdir", "LR", "-o", str(out)])
    command.run(args)
    src = out.read_text(encoding="utf-8")
    assert "∂f/∂y" in src and "∂f/∂x" not in src and "rankdir=LR" in src


def test_cli_bad_input_raises_graphad_errors(tmp_path):
    command, args = _cli(["x**2", "-o", str(tmp_path / "g.txt")])
    with pytest.raises(ga.GraphadError, match="suffix"):
        command.run(args)
    command, args = _cli(["x**2 +", "-o", str(tmp_path / "g.dot")])
    with pytest.raises(ga.ParseError):
        command.run(args)
    command, args = _cli(["x**2", "--at", "x=abc", "-o", str(tmp_path / "g.dot")])
    with pytest.raises(ga.GraphadError, match="not a number"):
        command.run(args)


@needs_dot
@skip_no_dot
def test_cli_demo_writes_backprop_svg(tmp_path, monkeypatch):
    import io

    from graphad.cli import render as command

    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    command.demo(out)
    assert "backprop.svg" in out.getvalue()
    root = ET.parse(tmp_path / "backprop.svg").getroot()
    text = "".join(root.itertext())
    assert "∂f/∂x = 7" in text and "f = x ** 2 + x - 1" in text


def test_a_deep_chain_is_collapsed_even_below_max_nodes():
    with ga.Graph():
        x = ga.symbols("x")
        e = x
        for _ in range(60):  # 180 ops in one chain: a strip 40 screens tall if drawn out
            e = ga.tanh(e) * 1.5 + 0.1
        src = render(e).source
        full = render(e, max_nodes=None).source
        short = x
        for _ in range(10):  # 30 ranks: drawn out
            short = ga.tanh(short) * 1.5 + 0.1
        src_short = render(short).source
    boxes = re.findall(r"\tc\d+_\d+ \[label=<<b>⋯ chain of (\d+) nodes", src)
    assert boxes == ["177"]  # one box for the chain (its first and last ops stay visible)
    assert "max_nodes=None) draws every node" in src
    assert len(re.findall(r"\tn\d+ \[", full)) == len(e.graph)  # everything when asked
    assert "chain of" not in src_short


def _svg_size(dot):
    svg = dot.pipe(format="svg").decode()
    w, h = re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', svg).groups()
    return int(w), int(h)


def test_a_long_sum_is_one_box_with_its_middle_terms_folded():
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.sin(x + y)
        for k in range(2, 41):  # 40 terms, 238 nodes: drawn out, 6414x3460 pt
            e = e + ga.sin(k * x + y) * k
        graph = e.graph
        dot = render(e)
    src = dot.source
    adds = [
        n for n in graph.nodes() if graph.node(n)["op"] == "add" and graph.node(n)["args"][0] != 0
    ]
    sums = [a for a in adds if graph.node(graph.node(a)["args"][0])["op"] in ("sin", "add")]
    # the 39 adds of the sum: the output stays drawn, the other 38 are one box
    assert len(sums) == 39 and sums[-1] == e.id
    assert f"\ts{sums[0]}_{e.id} [label=<<b>Σ of 40 terms</b>" in src
    assert "38 additions" in src and f"\ts{sums[0]}_{e.id} -> n{e.id} " in src
    # terms 1-3 and 40 are drawn, terms 4-39 folded: 36 terms of 5 nodes (k, ×, +, sin, ×)
    assert re.search(r"\tt\d+_\d+ \[label=<<b>⋯ 36 more terms</b><br/><font[^>]*>180 nodes", src)
    # x, y; sin(x + y); terms 2, 3 and 40 (5 nodes each); the output
    assert len(re.findall(r"\tn\d+ \[", src)) == 2 + 2 + 3 * 5 + 1
    w, h = _svg_size(dot)
    assert w < 1200 and h < 900, (w, h)  # one screen


def _deep_mlp_gradient(layers):
    X, Y = ga.symbols("X Y")
    Ws = [ga.symbol(f"W{i}") for i in range(layers)]
    bs = [ga.symbol(f"b{i}") for i in range(layers)]
    h = X
    for W, b in zip(Ws, bs, strict=True):
        h = ga.tanh(h @ W + b)
    loss = -(Y * ga.log_softmax(h)).sum(axis=-1).mean()
    return [loss, *ga.grad(loss, Ws + bs)]


def test_repeated_layers_fold_so_a_deep_gradient_fits_a_screen():
    sources, sizes = [], []
    for layers in (12, 24):
        with ga.Graph():
            exprs = _deep_mlp_gradient(layers)
            n = len(ancestors(exprs[0].graph, [e.id for e in exprs]))
            dot = render(exprs)
            assert n > 200 if layers == 24 else n > 100
            assert render(exprs, max_nodes=None).source.count("\tn") > n  # all drawn when asked
        sources.append(dot.source)
        sizes.append(_svg_size(dot))
    boxes = [len(re.findall(r"^\s+[nlis]\d+\S* \[", s, re.M)) for s in sources]
    # twice the layers, the same picture: each repeated op is one box with a count
    assert boxes[0] == boxes[1]
    tanh = [int(re.search(r"<b>tanh ×(\d+)</b>", s).group(1)) for s in sources]
    assert tanh[1] - tanh[0] == 12
    inputs = [re.search(r"<b>inputs ×(\d+)</b><br/><font[^>]*>(\w+) … (\w+)<", s) for s in sources]
    assert all(m is not None for m in inputs)
    assert "repeated structure drawn as" in sources[1]
    (w0, h0), (w1, h1) = sizes
    assert (w0, h0) == (w1, h1) and w1 < 2000 and h1 < 2000 and 0.4 < w1 / h1 < 2.5
