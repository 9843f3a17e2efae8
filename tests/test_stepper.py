"""The backprop stepper page: its steps (against hand values) and the page in a real browser."""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import graphad as ga
from graphad.backends.stepper import backprop_steps, page_data
from graphad.core._escape import json_script

X, Y = 2.0, 0.5


def _sin_example():
    """f = sin(x*y) + x**2: node ids x=0, y=1, v2=x*y, v3=sin, v4=2, v5=x**2, v6=f."""
    x, y = ga.symbols("x y")
    f = ga.sin(x * y) + x**2
    return x, y, f


def test_steps_of_a_scalar_function_match_hand_values():
    with ga.Graph():
        x, y, f = _sin_example()
        gx, gy = ga.grad(f, [x, y])
        bp = backprop_steps([f, gx, gy], at={"x": X, "y": Y})
    steps = [(s.node, s.source, s.rule, s.part, s.parts) for s in bp.steps]
    assert steps == [
        (6, None, "∂f/∂v6 = 1", 1, 1),
        (5, 6, "∂f/∂v5 += ∂f/∂v6 · 1", 1, 1),
        (3, 6, "∂f/∂v3 += ∂f/∂v6 · 1", 1, 1),
        (2, 3, "∂f/∂v2 += ∂f/∂v3 · cos(v2)", 1, 1),
        (1, 2, "∂f/∂y += ∂f/∂v2 · x", 1, 1),
        (0, 2, "∂f/∂x += ∂f/∂v2 · y", 1, 2),  # x is used twice: two contributions
        (0, 5, "∂f/∂x += ∂f/∂v5 · (2 * x)", 2, 2),
    ]
    c = math.cos(X * Y)  # d sin(v2)/d v2 at v2 = x*y = 1
    terms = [1.0, 1.0, 1.0, c, c * X, c * Y, 2 * X]
    totals = [1.0, 1.0, 1.0, c, c * X, c * Y, c * Y + 2 * X]
    assert [float(s.term) for s in bp.steps] == pytest.approx(terms, rel=1e-15)
    assert [float(s.total) for s in bp.steps] == pytest.approx(totals, rel=1e-15)
    assert bp.steps[3].numbers == "= 1 · 0.5403 = 0.5403"
    assert bp.steps[6].numbers == "= 1 · 4 = 4"
    # the last total of each input is the gradient graphad computes
    assert float(bp.adjoint(0)) == pytest.approx(float(gx.eval(x=X, y=Y)), rel=1e-15)
    assert float(bp.adjoint(1)) == pytest.approx(float(gy.eval(x=X, y=Y)), rel=1e-15)
    assert [s.done for s in bp.steps] == [True] * 5 + [False, True]


def test_negative_factor_is_shown_in_parentheses():
    # f = sin(cos(x)) at x = 3: d sin(v1)/d v1 = cos(cos(3)) = 0.549..., d cos(x)/dx = -sin(3)
    with ga.Graph():
        x = ga.symbols("x")
        bp = backprop_steps(ga.sin(ga.cos(x)), at={"x": 3.0})
    last = bp.steps[-1]
    assert last.rule == "∂f/∂x += ∂f/∂v1 · (-sin(x))"
    a, b = math.cos(math.cos(3.0)), -math.sin(3.0)
    assert last.numbers == f"= {a:.4g} · ({b:.4g}) = {a * b:.4g}"
    assert float(last.total) == pytest.approx(a * b, rel=1e-15)


def test_same_argument_twice_is_one_contribution_with_both_partials():
    with ga.Graph():
        x = ga.symbols("x")
        bp = backprop_steps(x * x, at={"x": 3.0})
    assert [s.rule for s in bp.steps] == ["∂f/∂v1 = 1", "∂f/∂x += ∂f/∂v1 · (2 * x)"]
    assert float(bp.steps[-1].total) == 6.0


def test_tensor_steps_use_the_ops_vjp_and_match_numpy():
    rng = np.random.default_rng(0)
    W0, v0 = rng.normal(size=(3, 2)), rng.normal(size=2)
    with ga.Graph():
        W, v = ga.symbols("W v")
        f = ga.sum(ga.tanh(W @ v))
        bp = backprop_steps(f, at={"W": W0, "v": v0})
        w_id, v_id, f_id = W.id, v.id, f.id
    d = 1 - np.tanh(W0 @ v0) ** 2
    np.testing.assert_allclose(bp.adjoint(w_id), np.outer(d, v0), rtol=1e-13)
    np.testing.assert_allclose(bp.adjoint(v_id), W0.T @ d, rtol=1e-13)
    rules = {s.node: s.rule for s in bp.steps}
    assert rules[w_id].startswith("∂f/∂W += ")  # the VJP's own expression, which reads v
    assert "v" in rules[w_id][len("∂f/∂W += ") :]
    # the sum is a scalar: its seed is 1
    assert bp.steps[0].rule == f"∂f/∂v{f_id} = 1"


def test_only_the_inputs_of_the_given_gradients_are_stepped():
    with ga.Graph():
        _, y, f = _sin_example()
        bp = backprop_steps([f, ga.grad(f, y)], at={"x": X, "y": Y})
    # x**2 does not lead to y: not visited; x gets no adjoint
    assert {s.node for s in bp.steps} == {6, 3, 2, 1}
    with pytest.raises(ga.GraphadError, match="no adjoint"):
        bp.adjoint(0)


def test_bad_requests_are_clear_errors_and_write_nothing(tmp_path):
    out = tmp_path / "bp.html"
    with ga.Graph():
        x, y, f = _sin_example()
        with pytest.raises(ga.GraphadError, match="exactly one function"):
            backprop_steps([f, x * y], at={"x": X, "y": Y})
        with pytest.raises(ga.GraphadError, match="give the point"):
            ga.render([f, ga.grad(f, x)], out)
        with pytest.raises(ga.MissingInputError):
            ga.render([f, ga.grad(f, x)], out, at={"x": X})
    assert not out.exists()


def test_json_script_cannot_end_the_script_element():
    data = {"name": "</script><script>alert(1)</script><!--", "amp": "&", "ls": "\u2028\ud800"}
    text = json_script(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert text.isascii()
    assert json.loads(text) == data


def _page_data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="backprop-data">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


@pytest.mark.needs_dot
def test_page_is_self_contained_and_escapes_names(tmp_path):
    evil = '</script><script>alert("x")</script><b>&amp;'
    out = tmp_path / "bp.html"
    with ga.Graph():
        a = ga.symbol(evil)
        f = ga.exp(a) * a
        ga.render([f, ga.grad(f, a)], out, at={evil: 0.5})
        bp = backprop_steps(f, at={evil: 0.5})
    page = out.read_text(encoding="utf-8")
    assert page.count("<script") == 2  # the data and the page's own script, nothing injected
    assert "<script>alert" not in page and "<b>&amp;" not in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no network
    assert "<svg" in page and "<?xml" not in page
    data = _page_data(page)
    for step in data["steps"]:
        assert len(step.pop("hold")) == 1  # the gradient node holding it, drawn
    expected = json.loads(json.dumps(page_data(bp, {})))
    for step in expected["steps"]:
        del step["hold"]
    assert data == expected
    assert [s["rule"] for s in data["steps"]] == [s.rule for s in bp.steps]
    assert data["steps"][-1]["name"].startswith("∂f/∂</script>")


# -- the page in a real browser ------------------------------------------------------------

# Clicks through every step with the ▶ button, then tries the keyboard and the slider,
# recording what the page shows; the results go into <pre id="results"> for --dump-dom.
_HARNESS = r"""
<pre id="results"></pre>
<script>
(function () {
  function texts(sel) {
    return Array.prototype.map.call(document.querySelectorAll(sel),
      function (t) { return t.textContent; });
  }
  function snap() {
    return {
      counter: document.getElementById("counter").textContent,
      what: document.getElementById("what").textContent,
      rule: document.getElementById("rule").textContent,
      nums: document.getElementById("nums").textContent,
      total: document.getElementById("total").textContent,
      cur: texts("#graph g.node.cur > title"),
      src: texts("#graph g.node.src > title"),
      hold: texts("#graph g.node.hold > title"),
      done: texts("#graph g.node.done > title"),
      rows: Array.prototype.map.call(document.querySelectorAll("#adjoints tr"),
        function (tr) { return [tr.className, tr.cells[0].textContent, tr.cells[1].textContent]; }),
      slider: document.getElementById("slider").value
    };
  }
  var out = {clicks: [], keys: [], slider: null};
  var n = window.graphadBackprop.count;
  for (var i = 0; i < n; i++) {
    out.clicks.push(snap());
    document.getElementById("next").click();
  }
  out.afterLast = snap();
  function key(k) { document.dispatchEvent(new KeyboardEvent("keydown", {key: k})); }
  key("Home"); out.keys.push(snap());
  key("ArrowRight"); key("ArrowRight"); out.keys.push(snap());
  key("ArrowLeft"); out.keys.push(snap());
  key("End"); out.keys.push(snap());
  var s = document.getElementById("slider");
  s.value = "3"; s.dispatchEvent(new Event("input"));
  out.slider = snap();
  document.getElementById("results").textContent = JSON.stringify(out);
})();
</script>
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium():
    path = _chromium()
    if path is None:
        if os.environ.get("GRAPHAD_REQUIRE_BROWSER"):
            pytest.fail("chromium is required (make test installs it: make browser)")
        pytest.skip("no chromium: `make browser` installs it (apt-get install chromium)")
    return path


def _run_in_browser(chromium: str, page: str, tmp_path) -> dict:
    harness = tmp_path / "harness.html"
    harness.write_text(page.replace("</body>", _HARNESS + "</body>"), encoding="utf-8")
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", harness.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    m = re.search(r'<pre id="results">(.*?)</pre>', proc.stdout, re.S)
    assert m is not None and m.group(1), proc.stderr[-2000:]
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.needs_dot
def test_page_in_headless_chromium_steps_through_every_node(chromium, tmp_path):
    out = tmp_path / "bp.html"
    with ga.Graph():
        x, y, f = _sin_example()
        gx, gy = ga.grad(f, [x, y])
        ga.render([f, gx, gy], out, at={"x": X, "y": Y})
        bp = backprop_steps([f, gx, gy], at={"x": X, "y": Y})
    got = _run_in_browser(chromium, out.read_text(encoding="utf-8"), tmp_path)
    n = len(bp.steps)
    assert n == 7 and len(got["clicks"]) == n
    c = math.cos(1.0)
    for i, (shown, step) in enumerate(zip(got["clicks"], bp.steps, strict=True)):
        assert shown["counter"] == f"step {i + 1} of {n}"
        assert shown["slider"] == str(i)
        assert shown["rule"] == step.rule
        assert shown["nums"] == step.numbers
        assert shown["cur"] == [f"n{step.node}"]  # the node whose adjoint is computed
        assert shown["src"] == ([] if step.source is None else [f"n{step.source}"])
        # every node whose adjoint was completed before this step is marked done
        done = {f"n{s.node}" for s in bp.steps[:i] if s.done}
        assert set(shown["done"]) == done
    # hand values, as the page shows them
    assert got["clicks"][3]["rule"] == "∂f/∂v2 += ∂f/∂v3 · cos(v2)"
    assert got["clicks"][3]["nums"] == f"= 1 · {c:.4g} = {c:.4g}"
    # fan-out: x gets two contributions; the first is marked "so far" in the table
    fifth = got["clicks"][5]
    assert fifth["total"] == f"∂f/∂x = {c * Y:.4g}   (so far)"
    assert "contribution 1 of 2" in fifth["what"]
    assert ["cur", "∂f/∂x", f"{c * Y:.4g}"] in fifth["rows"]
    last = got["clicks"][6]
    assert last["total"] == f"∂f/∂x = {c * Y + 2 * X:.4g}"
    assert [r[1] for r in last["rows"]] == ["∂f/∂v6", "∂f/∂v5", "∂f/∂v3", "∂f/∂v2", "∂f/∂y",
                                           "∂f/∂x"]  # fmt: skip
    assert last["rows"][4][2] == f"{c * X:.4g}"
    # the gradient node holding ∂f/∂x is outlined when x is stepped
    assert len(last["hold"]) == 1
    # ▶ at the end stays at the last step; keys and the slider move
    assert got["afterLast"]["counter"] == f"step {n} of {n}"
    assert [k["counter"] for k in got["keys"]] == [
        f"step 1 of {n}", f"step 3 of {n}", f"step 2 of {n}", f"step {n} of {n}"
    ]  # fmt: skip
    assert got["slider"]["rule"] == bp.steps[3].rule


@pytest.mark.needs_dot
def test_cli_render_writes_the_page_and_needs_at(tmp_path, capsys):
    from graphad.cli import main

    out = tmp_path / "bp.html"
    assert main(["render", "sin(x*y) + x**2", "-o", str(out)]) == 2
    assert "--at" in capsys.readouterr().err and not out.exists()
    assert main(["render", "sin(x*y) + x**2", "-o", str(out), "--at", "x=2,y=0.5"]) == 0
    data = _page_data(out.read_text(encoding="utf-8"))
    # the same steps as the Python API (the CLI differentiates with respect to all inputs)
    c = math.cos(1.0)
    assert [s["rule"] for s in data["steps"]][-2:] == [
        "∂f/∂x += ∂f/∂v2 · y", "∂f/∂x += ∂f/∂v5 · (2 * x)"
    ]  # fmt: skip
    assert data["steps"][-1]["total"] == f"{c * Y + 2 * X:.4g}"


def test_integer_values_of_an_input_are_refused_by_name(tmp_path):
    out = tmp_path / "bp.html"
    with ga.Graph():
        x, y, f = _sin_example()
        with pytest.raises(ga.DTypeError, match="input 'x' is differentiated"):
            ga.render([f, *ga.grad(f, [x, y])], out, at={"x": 2, "y": 0.5})
    assert not out.exists()


def test_float32_steps_stay_float32_as_the_gradient_does():
    w0 = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    with ga.Graph():
        W = ga.symbol("W", shape=(2, 2), dtype="float32")
        f = ga.sum(ga.sin(W) * W)
        bp = backprop_steps(f, at={"W": w0})
        g = ga.grad(f, W).eval(W=w0)
        w_id = W.id
    assert g.dtype == np.float32 and bp.adjoint(w_id).dtype == np.float32
    # d/dW sum(sin(W) * W) = cos(W) * W + sin(W), in float32
    np.testing.assert_allclose(bp.adjoint(w_id), np.cos(w0) * w0 + np.sin(w0), rtol=1e-6)
    np.testing.assert_allclose(bp.adjoint(w_id), g, rtol=1e-6)
