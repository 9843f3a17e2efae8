"""Issue 13, classes 3, 5 (displays) and 8: hostile names in every output language,
automatic displays of big graphs, time boxes that stop SymPy, and command-line errors.

Hostile names come from ``tests/corpus/hostile_names.jsonl`` (one JSON object per
line: ``name``, optional ``repeat``, ``category``, ``why``) and from Hypothesis.
"""

from __future__ import annotations

import ast
import html.parser
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphad as ga
from graphad.backends import sympy_box as _sympy_box
from graphad.backends._display import LATEX_MAX_NODES
from graphad.backends.render import DISPLAY_MAX_NODES, display_dot, render
from graphad.cli import main
from graphad.core._escape import (
    BACKSLASH,
    DOT_MAX_BYTES,
    clean,
    dot_string,
    dot_tooltip,
    latex_name,
    py_comment,
    short_name,
)
from graphad.core.graph import ancestors

needs_dot = pytest.mark.needs_dot
skip_no_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot not on PATH")
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"

CORPUS = Path(__file__).parent / "corpus" / "hostile_names.jsonl"
ENTRIES = [json.loads(line) for line in CORPUS.read_text(encoding="ascii").splitlines()]
NAMES = [e["name"] * e.get("repeat", 1) for e in ENTRIES]

# derandomized: the same examples on every run (reproducible CI)
PROPS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# Anything Python can hold in a str: lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
NAME = st.one_of(
    ANY_TEXT.filter(bool),
    st.builds(lambda t, n: (t or "x") * n, ANY_TEXT, st.integers(1, 3000)),  # long names
)

# What Graphviz draws: elements and attributes, none of which may come from a name.
SVG_TAGS = {"svg", "g", "title", "polygon", "polyline", "path", "ellipse", "text", "a"}
SVG_ATTRS = {
    "width", "height", "viewBox", "id", "class", "transform", "fill", "stroke", "points", "d",
    "cx", "cy", "rx", "ry", "x", "y", "text-anchor", "font-family", "font-size",
    "font-weight", "stroke-width", "stroke-dasharray", f"{XLINK}title",
}  # fmt: skip


def _graph_with(name: str):
    """A forward graph, its gradient and a dict naming its outputs, all with the name."""
    x, y = ga.symbol(name), ga.symbol("y")
    f = ga.sin(x * y) + x
    return x, f, ga.grad(f, x)


def _svg(source: str) -> ET.Element:
    """Graphviz's SVG of a DOT text (the real parser: a broken string fails here)."""
    done = subprocess.run(
        ["dot", "-Tsvg"], input=source.encode("utf-8"), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[:500]
    return ET.fromstring(done.stdout)  # well-formed XML, or this raises


def _svgs(sources: list[str]) -> list[ET.Element]:
    """The SVG of each DOT text, from one run of dot (it writes one document per graph)."""
    done = subprocess.run(
        ["dot", "-Tsvg"], input="".join(sources).encode("utf-8"), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[:500]
    docs = done.stdout.decode("utf-8").split("<?xml")[1:]
    return [ET.fromstring(("<?xml" + doc).encode("utf-8")) for doc in docs]


def _assert_nothing_injected(root: ET.Element) -> None:
    for el in root.iter():
        tag = el.tag.replace(SVG, "")
        assert tag in SVG_TAGS, tag
        assert set(el.attrib) <= SVG_ATTRS, set(el.attrib) - SVG_ATTRS
        assert not any(
            "javascript:" in v.lower() for k, v in el.attrib.items() if k != f"{XLINK}title"
        )


def _quoted_strings(source: str) -> list[str]:
    return re.findall(r'"(?:[^"\\]|\\.)*"', source, re.S)


def _latex_decode(body: str) -> str:
    """Undo latex_name's spelling (an independent reading of what MathJax would show)."""
    table = {
        r"\backslash{}": "\\", r"\{": "{", r"\}": "}", r"\$": "$", r"\&": "&", r"\#": "#",
        r"\%": "%", r"\_": "_", r"\wedge{}": "^", r"\sim{}": "~", r"\lt{}": "<",
        r"\gt{}": ">", r"\ ": " ", r"\ldots{}": "…",
    }  # fmt: skip
    out, i = [], 0
    while i < len(body):
        for macro, char in table.items():
            if body.startswith(macro, i):
                out.append(char)
                i += len(macro)
                break
        else:
            assert body[i] not in "\\{}$&#%_^~<>", (body, i)  # a special character left raw
            out.append(body[i])
            i += 1
    return "".join(out)


class TestEscaping:
    """Class 3: names reach DOT, SVG, HTML, LaTeX and generated code only escaped."""

    @needs_dot
    @skip_no_dot
    def test_corpus_names_draw_valid_svg_with_nothing_injected(self):
        sources, which = [], []
        for name, entry in zip(NAMES, ENTRIES, strict=True):
            with ga.Graph():
                _, f, g = _graph_with(name)
                sources.append(
                    render({name: f, "g": g}, at={name: 1.5, "y": 2.0}, highlight={f: name})
                )
                sources.append(render(f, max_nodes=2))  # the input drawn as a "⋯ name" stand-in
                sources.append(render(f, title=name))  # the caller's own title
            which += [entry["why"]] * 3
        for d, why in zip(sources, which, strict=True):
            sizes = [len(s.encode("utf-8")) for s in _quoted_strings(d.source)]
            assert max(sizes) < 16_384, why
        roots = _svgs([d.source for d in sources])  # one run of dot for all the pictures
        assert len(roots) == len(sources)
        for root, why in zip(roots, which, strict=True):
            try:
                _assert_nothing_injected(root)
            except AssertionError as exc:
                raise AssertionError(f"{why}: {exc}") from None

    @needs_dot
    @skip_no_dot
    @settings(PROPS, max_examples=20)
    @given(name=NAME, hide=st.booleans())
    def test_any_name_draws_valid_svg_with_nothing_injected(self, name, hide):
        with ga.Graph():
            x, f, g = _graph_with(name)
            d = render(
                {name: f, "g": g}, at={name: 0.5, "y": -1.0}, highlight={x: name},
                max_nodes=3 if hide else 200,
            )  # fmt: skip
        root = _svg(d.source)
        _assert_nothing_injected(root)
        # the input's tooltip shows the name itself (cleaned, cut): text, not markup
        tips = [_shown(a.get(f"{XLINK}title") or "") for a in root.iter(f"{SVG}a")]
        if not hide:
            want = _shown("input " + clean(name, 1000).replace("\\", BACKSLASH))
            assert any(t.startswith(want[:200]) for t in tips), (want[:80], tips[:3])

    @needs_dot
    @skip_no_dot
    @settings(PROPS, max_examples=25)
    @given(text=ANY_TEXT.filter(str.strip))  # Graphviz drops a blank tooltip
    def test_dot_string_round_trips_through_graphviz(self, text):
        # Graphviz shows exactly the cleaned text, as a tooltip and as a one-line label
        src = (
            f"digraph {{ a [tooltip={_quote(dot_tooltip(text))} "
            f"label={_quote(dot_string(short_name(text)))}] }}"
        )
        root = _svg(src)
        tips = [_shown(a.get(f"{XLINK}title")) for a in root.iter(f"{SVG}a")]
        assert tips == [_shown(clean(text).replace("\\", BACKSLASH))]
        label = "".join(t.text or "" for t in root.iter(f"{SVG}text"))
        assert _shown(label) == _shown(short_name(text))

    @pytest.mark.parametrize("size", [20_000, 100_000])
    def test_long_text_is_cut_below_graphvizs_limit(self, size):
        for unit in ("a", "\\", '"', "<", "&", "\U0001f600", "\ud800"):
            out = dot_string(unit * size)
            assert len(out.encode("utf-8")) <= DOT_MAX_BYTES
            assert re.search(r'(?<!\\)(\\\\)*"', out) is None  # every quote is escaped
            assert re.search(r"(?<!\\)(\\\\)*\\$", out) is None  # no trailing lone backslash

    @settings(PROPS, max_examples=200)
    @given(name=NAME)
    def test_latex_names_are_spelled_not_interpreted(self, name):
        safe = latex_name(name)
        if safe is None:  # a plain name: SymPy's own typesetting, letters digits and _
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)?", name)
            return
        assert safe.startswith(r"\mathrm{") and safe.endswith("}")
        shown = clean(name, 40).replace("\n", " ").replace("\t", " ")  # whitespace: a space
        assert _latex_decode(safe[len(r"\mathrm{") : -1]) == shown

    @pytest.mark.parametrize("name", [n for n in NAMES if len(n) < 200])
    def test_repr_latex_has_one_math_span_and_balanced_braces(self, name):
        with ga.Graph():
            _, f, _ = _graph_with(name)
            tex = f._repr_latex_()
        assert tex.startswith("$") and tex.endswith("$")
        body = tex[1:-1]
        assert re.search(r"(?<!\\)\$", body) is None  # no unescaped $ from the name
        depth = 0
        for m in re.finditer(r"(?<!\\)[{}]", body):
            depth += 1 if m.group() == "{" else -1
            assert depth >= 0
        assert depth == 0
        assert r"\href" not in body  # a name's \href is spelled \backslash{}href

    def test_issue_examples(self):
        # a name ending in a backslash and an HTML-like name on a stand-in node
        with ga.Graph():
            _, f, _ = _graph_with("a\\")
            src = render(f, at={"a\\": 1.0, "y": 2.0}).source
        assert "<b>a" + BACKSLASH + "</b>" in src and '"input a' + BACKSLASH in src
        assert "f = sin(a\\\\ * y) + a\\\\\\l" in src  # in the title: doubled, literal
        with ga.Graph():
            name = '<<a href="javascript:alert(1)">x</a>>'
            _, f, _ = _graph_with(name)
            src = render(f, max_nodes=2).source
        assert "javascript" in src  # the text is shown ...
        assert "<a " not in src and "label=<<a" not in src  # ... never as markup
        assert "&lt;&lt;a href=\\&quot;" not in src  # quotes escaped once, for DOT
        with ga.Graph():  # the caller's own title is text too, even when it looks like HTML
            src = render(ga.symbol("z") * 2, title="<b>bold</b>").source
        assert 'label="&lt;b&gt;bold&lt;/b&gt;"' in src and "label=<<b>bold" not in src
        with ga.Graph():
            _, f, _ = _graph_with("$\\href{javascript:alert(1)}{x}$")
            tex = f._repr_latex_()
        assert r"\href" not in tex and r"\backslash{}href" in tex and r"\$" in tex

    @pytest.mark.parametrize("name", NAMES)
    def test_report_html_holds_only_our_markup(self, name):
        with ga.Graph():
            _, f, _ = _graph_with(name)
            r = ga.check_grad(f, at={name: 0.5, "y": 2.0}, sympy=False)
        page = r._repr_html_()
        tags = _Tags()
        tags.feed(page)
        assert tags.names <= {"div", "p", "b", "code", "table", "tr", "th", "td"}
        assert tags.attrs <= {"style", "colspan"}
        assert clean(name, 2000) in tags.text  # shown as text, unchanged (cut if long)

    @pytest.mark.parametrize("name", NAMES)
    def test_generated_code_never_holds_a_name(self, name):
        from graphad.cli.codegen import _header

        with ga.Graph():
            x, f, g = _graph_with(name)
            fn = ga.compile([f, g], inputs=[x, "y"])
        with ga.Graph():  # the same graph with a plain name: the same source, to the byte
            x0, f0, g0 = _graph_with("q")
            plain = ga.compile([f0, g0], inputs=[x0, "y"])
        assert fn.source == plain.source
        assert re.findall(r"def graphad_function\((.*?)\)", fn.source) == ["x0, x1"]
        out = io.StringIO()
        _header(fn, [name], out)
        lines = out.getvalue().splitlines()
        assert len(lines) == 4 and all(line.startswith("#") for line in lines)
        shown = lines[1].split(" = ", 1)[1]
        want = name if len(name) <= 200 else name[:199] + "…"
        assert ast.literal_eval(shown) == want  # repr: a Python literal of the name
        assert py_comment(name) == shown


def _shown(text: str) -> str:
    """Text as Graphviz's SVG shows it: runs of spaces as no-break spaces, a tab (in an
    attribute, which XML normalises) as a space; compare text with these undone."""
    return text.replace("\xa0", " ").replace("\t", " ")


def _quote(value: str) -> str:
    return '"' + value + '"'  # dot_string's output is already escaped for a quoted string


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.names: set[str] = set()
        self.attrs: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.names.add(tag)
        self.attrs |= {k for k, _ in attrs}

    def handle_data(self, data):
        self.text += data


def _big_sum(n: int):
    xs = [ga.symbol(f"x{i}") for i in range(100)]
    e = xs[0]
    for i in range(1, n):
        e = e + xs[i % 100] * float(i)
    return e


@pytest.fixture(scope="module")
def big_sum():
    """A 10,000-term sum of 100 inputs (30,097 nodes) and its gradient for x1."""
    with ga.Graph():
        e = _big_sum(10_000)
        return e, ga.grad(e, "x1")


class TestDisplayLimits:
    """Class 5 (displays): Jupyter's automatic displays stay small for big graphs."""

    def test_latex_of_a_10000_term_sum_is_a_short_note(self, big_sum):
        e, _ = big_sum
        tex = e._repr_latex_()
        n = len(ancestors(e.graph, [e.id]))
        assert n > LATEX_MAX_NODES
        assert tex.startswith(r"$\text{") and len(tex) < 300
        assert f"{n} nodes" in tex and "print(e)" in tex and "ga.render(e)" in tex

    def test_latex_of_shared_subexpressions_is_bounded(self):
        with ga.Graph():
            x, y = ga.symbols("x y")
            e = x
            for _ in range(12):  # written out as a tree, 2**12 copies of x
                e = ga.sin(e) * e + y
            tex = e._repr_latex_()
        # each shared level is named once after "where": the text grows with the graph
        assert tex.count(r"\text{where}") == 1 and len(tex) < 2000

    def test_small_graphs_display_fully(self):
        sympy = pytest.importorskip("sympy")
        with ga.Graph():
            x, y = ga.symbols("x y")
            e = x**2 + ga.sin(x * y)
            tex = e._repr_latex_()
            dot = display_dot(e)
        sx, sy = sympy.symbols("x y", real=True)
        assert tex == f"${sympy.latex(sx**2 + sympy.sin(sx * sy))}$"
        drawn = {int(m) for m in re.findall(r"^\tn(\d+) \[", dot.source, re.M)}
        assert drawn == set(ancestors(e.graph, [e.id]))
        assert "nodes in all" not in dot.source

    def test_svg_of_a_10000_term_sum_draws_a_bounded_picture(self, big_sum):
        e, g = big_sum
        dots = [display_dot(e), display_dot([e, g])]
        for dot in dots:
            boxes = re.findall(r"^\t+(?:n\d+|c\d+_\d+) \[", dot.source, re.M)
            assert 0 < len(boxes) <= DISPLAY_MAX_NODES
            assert "nodes in all: ga.render(..., max_nodes=None) draws every one" in dot.source
            assert len(dot.source) < 400_000

    @needs_dot
    @skip_no_dot
    def test_repr_svg_of_a_big_sum_is_valid_and_bounded(self, big_sum):
        svg = big_sum[0]._repr_svg_()
        root = ET.fromstring(svg)
        assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]) <= (
            DISPLAY_MAX_NODES + 60  # boxes, stand-ins of hidden arguments, the legend
        )

    def test_report_html_is_bounded_for_many_inputs(self):
        with ga.Graph():
            ws = [ga.symbol(f"w{i}", shape=(8,)) for i in range(6)]
            e = ga.sum(ws[0] * ws[0])
            for w in ws[1:]:
                e = e + ga.sum(w * w)
            at = {f"w{i}": np.linspace(-1, 1, 8) + i for i in range(6)}
            r = ga.check_grad(e, at=at, sympy=False)
        page = r._repr_html_()
        assert page.count("<tr>") == 1 + 40 + 1  # header, 40 of the 48 rows, "more rows"
        assert "8 more rows: print(report) or report.to_json()" in page
        assert all(f"w{i}: pass" in str(r) for i in range(6))  # the text form has them all


def _gauss_integral_sympy(a):
    import sympy

    t = sympy.Symbol("t", real=True)
    return sympy.Integral(sympy.exp(-(t**2)), (t, 0, a))


_GAUSS_INTEGRAL = ga.defop(
    "t_rel_gauss_integral",
    lambda a: np.vectorize(math.erf)(a) * math.sqrt(math.pi) / 2,
    vjp=lambda g, a: [g * ga.exp(-a * a)],
    sympy=_gauss_integral_sympy,
)


def _slow_for_sympy(depth: int = 30):
    """A small graph that SymPy cannot differentiate in minutes: every level uses the
    previous one three times (a shared DAG), and at the top an op whose SymPy form is
    an integral, so SymPy has to differentiate the whole expression symbolically,
    walking it as a tree."""
    x, y = ga.symbols("x y")
    e = x
    for _ in range(depth):
        e = ga.sin(e) * ga.cos(e) + e * y
    return _GAUSS_INTEGRAL(e)


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
        return False  # still our child: not reaped
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class TestTimeBoxes:
    """Class 8 (time boxes): a SymPy timeout stops the work; nothing keeps running."""

    def test_timeout_in_a_thread_leaves_no_work_running(self):
        box = {}

        def check():
            with ga.Graph():
                box["r"] = ga.check_grad(
                    _slow_for_sympy(), at={"x": 0.3, "y": 0.5}, sympy_timeout=0.3
                )

        t = threading.Thread(target=check)  # the case threads cannot stop
        t.start()
        t.join(120)
        assert not t.is_alive()
        r = box["r"]
        assert r.sympy_note == "n/a: SymPy took longer than 0.3 s (stopped)"
        assert [e.sympy for e in r.inputs[0].elements] == [None]
        assert _gone(_sympy_box.last_pid)
        cpu = time.process_time()
        time.sleep(0.5)
        assert time.process_time() - cpu < 0.2  # a running SymPy thread would use ~0.5 s

    def test_warm_worker_is_reused_and_gives_sympys_numbers(self):
        # integrals go to the SymPy process (plain arithmetic is evaluated in this one)
        with ga.Graph():
            x, y = ga.symbols("x y")
            r1 = ga.check_grad(_GAUSS_INTEGRAL(x) * y, at={"x": 2.0, "y": 0.5}, sympy_timeout=60)
            pid = _sympy_box.last_pid
            r2 = ga.check_grad(_GAUSS_INTEGRAL(x) / y, at={"x": 1.0, "y": 4.0}, sympy_timeout=60)
        assert _sympy_box.last_pid == pid and not _gone(pid)
        assert r1.input("x").elements[0].sympy == pytest.approx(math.exp(-4.0) * 0.5, rel=1e-14)
        gauss1 = math.erf(1.0) * math.sqrt(math.pi) / 2
        assert r2.input("y").elements[0].sympy == pytest.approx(-gauss1 / 16, rel=1e-14)

    def test_check_grad_many_timeouts_stop_their_processes(self):
        pytest.importorskip("dask")
        with ga.Graph():
            slow = _slow_for_sympy()
        reports = ga.check_grad_many(
            [slow, "x*y"], {"x": 0.3, "y": 0.5}, sympy_timeout=0.3
        )  # Dask's local scheduler: threads
        assert reports[0].sympy_note == "n/a: SymPy took longer than 0.3 s (stopped)"
        assert reports[1].input("x").elements[0].sympy == pytest.approx(0.5)
        cpu = time.process_time()
        time.sleep(0.5)
        assert time.process_time() - cpu < 0.2

    def test_failures_in_the_child_are_reported_not_raised(self):
        sympy = pytest.importorskip("sympy")
        x = sympy.Symbol("x", real=True)

        class local(sympy.Function):  # a SymPy form defined in a function: does not pickle
            pass

        with pytest.raises(_sympy_box.SympyBoxError, match="cannot send the expression"):
            _sympy_box.derivatives(local(x), ["x"], {"x": 1.0}, 5.0)
        assert _sympy_box.derivatives(x**2, ["x", "z"], {"x": 3.0}, 60.0) == [6.0, 0.0]


class TestCommandLineErrors:
    """Class 8 (command line): bad paths and huge labels give one line and exit 2."""

    @pytest.mark.parametrize(
        "argv",
        [
            ["render", "x**2", "-o", "{tmp}/no/such/dir/g.dot"],
            ["render", "x**2", "-o", "{tmp}/adir.dot"],  # a directory
            ["render", "x**2", "--max-nodes", "0", "-o", "{tmp}/g.dot"],
            ["codegen", "x**2", "-o", "{tmp}/no/such/dir/m.py"],
            ["codegen", "x**2", "-o", "{tmp}/adir.dot"],
        ],
    )
    def test_bad_output_paths_exit_2_with_one_line(self, argv, tmp_path, capsys):
        (tmp_path / "adir.dot").mkdir()
        argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"graphad {argv[0]}: error: ")
        assert "Traceback" not in captured.err

    def test_bad_path_through_the_real_command(self, tmp_path):
        bad = str(tmp_path / "missing" / "g.svg")
        done = subprocess.run(
            [sys.executable, "-m", "graphad", "render", "x*y", "-o", bad],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr.strip().splitlines() == [
            f"graphad render: error: render: cannot write {bad!r}: No such file or directory"
        ]

    @needs_dot
    @skip_no_dot
    def test_huge_names_and_tooltips_draw(self, tmp_path, capsys):
        name = "a" * 20_000
        out = tmp_path / "big.svg"
        argv = ["render", f"{name} * b", "--grad", "--at", f"{name}=1,b=2", "-o", str(out)]
        assert main(argv) == 0
        root = ET.fromstring(out.read_text(encoding="utf-8"))
        tips = [a.get(f"{XLINK}title") or "" for a in root.iter(f"{SVG}a")]
        assert max(map(len, tips)) <= 3000 and any(t.startswith("input aaaa") for t in tips)

    def test_graphviz_failing_is_a_graphad_error(self, tmp_path, monkeypatch):
        import graphviz

        def broken(*args, **kwargs):
            raise BrokenPipeError(32, "Broken pipe")

        monkeypatch.setattr(graphviz.Digraph, "pipe", broken)
        with ga.Graph():
            x = ga.symbols("x")
            with pytest.raises(ga.GraphadError, match=r"Graphviz failed on 'g\.svg'"):
                render(x * 2, tmp_path / "g.svg")
        assert not (tmp_path / "g.svg").exists()
        assert main(["render", "x*2", "-o", str(tmp_path / "g.svg")]) == 2

    def test_check_command_with_hostile_expression_text_exits_2(self, capsys):
        assert main(["check", "x\\", "--at", "x=1"]) == 2
        assert main(["check", "x", "--at", "x=1", "--wrt", "<b>"]) == 2
        err = capsys.readouterr().err
        assert err.count("graphad check: error: ") == 2 and "Traceback" not in err

    def test_check_json_with_non_finite_points_and_bad_tolerances(self, capsys):
        assert main(["check", "x*y", "--at", "x=nan,y=inf", "--json", "--no-sympy"]) == 0
        report = json.loads(capsys.readouterr().out)  # strict JSON: NaN/inf as strings
        assert report["point"] == {"x": "nan", "y": "inf"}
        for argv in (["--rtol", "nan"], ["--atol", "-1"], ["--rtol", "inf"]):
            assert main(["check", "x", "--at", "x=1", *argv]) == 2
            err = capsys.readouterr().err.splitlines()
            assert len(err) == 1 and "must be a finite number >= 0" in err[0]


def test_corpus_of_hostile_names_is_varied():
    cats = {e["category"] for e in ENTRIES}
    assert cats >= {"dot-escape", "html-like", "entity", "latex", "control", "surrogate", "long"}
    assert max(map(len, NAMES)) >= 100_000
    assert any("\ud800" <= c <= "\udfff" for n in NAMES for c in n)
    assert len(set(NAMES)) == len(NAMES)
