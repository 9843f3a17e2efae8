"""ga.save / ga.load: versioned JSON that round-trips graphs exactly and rejects bad files.

References are the original graphs themselves: node for node (op, params,
role, shape, dtype, adjoint marks), the generated source of ``ga.compile``
and the values it computes.  Bad files are built by editing a good file's
JSON, one defect each.
"""

from __future__ import annotations

import ast
import doctest
import json
import os
from pathlib import Path

import numpy as np
import pytest

import graphad as ga
from graphad.backends import _persist_reader, persist
from graphad.backends.persist import dumps, loads
from graphad.core.graph import ancestors
from graphad.ops import OPS

RNG = np.random.default_rng(7)


def _nodes(outs):
    """Per node, in topological order: the facts a round trip must keep (ids renumbered)."""
    graph = outs[0].graph
    order = sorted(ancestors(graph, [o.id for o in outs]))
    index = {n: i for i, n in enumerate(order)}
    rows = []
    for n in order:
        node = graph.node(n)
        value = node.get("value")
        if isinstance(value, np.ndarray):
            value = (value.dtype.str, value.shape, value.tobytes())
        elif value is not None:
            value = (type(value).__name__, repr(value))
        rows.append(
            (
                node["op"],
                tuple(index[a] for a in node["args"]),
                node["params"],
                node["role"],
                node["shape"],
                None if node["dtype"] is None else str(node["dtype"]),
                node.get("name"),
                value,
                sorted((index[o], index[m]) for o, m in node.get("adjoint", ())),
            )
        )
    return rows, [index[o.id] for o in outs]


def _roundtrip(outs, tmp_path, values):
    path = tmp_path / "graph.json"
    ga.save(outs, path)
    back = ga.load(path)
    assert back[0].graph is not outs[0].graph  # a fresh graph
    assert _nodes(back) == _nodes(outs)
    f, g = ga.compile(outs), ga.compile(back)
    assert g.source == f.source
    for a, b in zip(f(**values), g(**values), strict=True):
        np.testing.assert_array_equal(a, b)
        assert np.asarray(a).dtype == np.asarray(b).dtype
    return back


def test_forward_and_gradient_graphs_round_trip(tmp_path):
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = x**2 + ga.sin(x * y) - 1
        gx, gy = ga.grad(e, [x, y])
        back = _roundtrip([e, gx, gy], tmp_path, {"x": 3.0, "y": 2.0})
    assert [b.role for b in back] == ["forward", "grad", "grad"]
    assert float(back[1].eval(x=3.0, y=2.0)) == pytest.approx(6 + 2 * np.cos(6))
    # the adjoint marks still say which node holds d e / d x
    graph = back[0].graph
    marks = {(graph.label(o), graph.label(m)) for o, m in graph.node(back[1].id)["adjoint"]}
    assert (graph.label(back[0].id), "x") in marks


def test_second_order_and_forward_mode_graphs_round_trip(tmp_path):
    with ga.Graph():
        x, y = ga.symbols("x y")
        e = ga.exp(x * y) / (1 + x**2)
        h = ga.hessian(e, [x, y])
        _roundtrip([h[0][0], h[0][1], h[1][1], ga.jvp(e, {x: 1.0, "y": 0.5})], tmp_path,
                   {"x": 0.3, "y": -0.7})  # fmt: skip


def test_tensor_network_with_float32_round_trips(tmp_path):
    with ga.Graph():
        W = ga.symbol("W", shape=(4, 3), dtype="float32")
        b = ga.symbol("b", shape=(3,), dtype="float32")
        X = ga.symbol("X", shape=(5, 4), dtype="float32")
        t = ga.constant(RNG.normal(size=(5, 3)).astype("float32"))
        z = ga.relu(X @ W + b)
        loss = (
            ga.mean(ga.logsumexp(z, axis=-1))
            + ga.sum(ga.softmax(z) * t)
            + ga.sum(ga.concatenate([z, z * 2], axis=0))
            + ga.sum(ga.stack([z, ga.tanh(z)]))
            + ga.sum(ga.reshape(z, (15,)) ** 2)
            + ga.max(ga.transpose(z))
            + ga.sum(ga.clip(z, -1.0, 1.0))
            + ga.sum(ga.broadcast_to(b, (5, 3)))
        )
        outs = [loss, *ga.grad(loss, [W, b, X])]
        values = {
            "W": RNG.normal(size=(4, 3)).astype("float32"),
            "b": RNG.normal(size=3).astype("float32"),
            "X": RNG.normal(size=(5, 4)).astype("float32"),
        }
        back = _roundtrip(outs, tmp_path, values)
    got = ga.compile(back)(**values)
    assert [v.dtype for v in got] == [np.float32] * 4
    assert back[1].shape == (4, 3) and got[1].shape == (4, 3)


def test_indexing_parameters_round_trip(tmp_path):
    with ga.Graph():
        x = ga.symbol("x", shape=(4, 3))
        e = ga.sum(x[1:, 0] ** 2) + ga.sum(x[::2, ::-1])
        back = _roundtrip([e, ga.grad(e, x)], tmp_path, {"x": np.arange(12.0).reshape(4, 3)})
    np.testing.assert_array_equal(
        back[1].eval(x=np.ones((4, 3))), [[1, 1, 1], [2, 0, 0], [3, 1, 1], [2, 0, 0]]
    )


CONSTANTS = [
    2, -(2**63), 2**63 - 1, 0.1, -0.0, float("inf"), float("-inf"), float("nan"), True,
    np.float32(1.5), np.arange(6, dtype=np.int16).reshape(2, 3), np.array([], dtype=np.float32),
    np.zeros((0, 3)), np.array([1.0, np.nan, -np.inf]), np.array(3, dtype=np.uint64),
    np.array([2**64 - 1], dtype=np.uint64), np.array([True, False]),
    RNG.normal(size=(30, 20)), np.linspace(0, 1, 200, dtype=np.float16),
]  # fmt: skip


@pytest.mark.parametrize("value", CONSTANTS, ids=lambda v: repr(v)[:30])
def test_constants_keep_value_dtype_and_weak_typing(value):
    with ga.Graph():
        c = ga.constant(value)
        (back,) = loads(dumps(c))
    before, after = c.graph.node(c.id)["value"], back.graph.node(back.id)["value"]
    assert type(after) is type(before)
    if isinstance(before, np.ndarray):
        assert after.dtype == before.dtype and after.shape == before.shape
        assert after.tobytes() == before.tobytes()
        assert not after.flags.writeable
    else:
        assert repr(after) == repr(before)  # keeps -0.0 and nan, int vs float


def test_large_arrays_are_base64_and_small_ones_inline():
    with ga.Graph():
        small = ga.constant(np.array([1.0, 2.0]))
        big = ga.constant(np.arange(1000.0))
        doc = json.loads(dumps([small, big]))
    values = [n["value"] for n in doc["nodes"]]
    assert values[0] == {"dtype": "float64", "shape": [2], "data": [1.0, 2.0]}
    assert set(values[1]) == {"dtype", "shape", "base64"} and values[1]["shape"] == [1000]


def test_file_is_strict_json_and_has_a_version(tmp_path):
    with ga.Graph():
        x = ga.symbols("x")
        ga.save(x * float("inf") + ga.constant(np.array([np.nan])), tmp_path / "f.json")
    text = (tmp_path / "f.json").read_text(encoding="utf-8")

    def no_constants(name):
        raise AssertionError(f"non-standard JSON {name}")

    doc = json.loads(text, parse_constant=no_constants)
    assert doc["format"] == "graphad.graph" and doc["version"] == 1
    assert doc["graphad"] == ga.__version__


@pytest.mark.parametrize("module", [persist, _persist_reader], ids=lambda m: m.__name__)
def test_persist_never_uses_pickle_or_eval(module):
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            assert not {"pickle", "marshal", "shelve", "dill"} & {m.split(".")[0] for m in mods}
        if isinstance(node, ast.Name):
            assert node.id not in {"eval", "exec", "compile", "__import__"}
        if isinstance(node, ast.keyword):
            assert node.arg != "allow_pickle"


def test_load_into_a_given_graph_shares_inputs(tmp_path):
    with ga.Graph():
        ga.save(ga.parse("sin(x) * y"), tmp_path / "f.json")
    with ga.Graph() as g:
        x = ga.symbols("x")
        (e,) = ga.load(tmp_path / "f.json", graph=g)
        assert e.graph is g and ga.parse("sin(x) * y") is e  # hash-consed with the text
        assert float(ga.grad(e, x).eval(x=0.0, y=2.0)) == 2.0


def test_custom_ops_are_saved_by_name_and_must_be_registered(tmp_path, monkeypatch):
    mycube = ga.defop("persist_cube", lambda a: a**3, vjp=lambda g, a: [g * 3 * a**2])
    with ga.Graph():
        x = ga.symbols("x")
        e = mycube(x) + 1
        ga.save([e, ga.grad(e, x)], tmp_path / "f.json")
    doc = json.loads((tmp_path / "f.json").read_text())
    assert any(n.get("custom") and n["op"] == "persist_cube" for n in doc["nodes"])
    v, g = ga.load(tmp_path / "f.json")
    assert float(v.eval(x=2.0)) == 9.0 and float(g.eval(x=2.0)) == 12.0
    monkeypatch.delitem(OPS, "persist_cube")
    with pytest.raises(ga.GraphadError, match=r"unknown op 'persist_cube'.*ga\.defop"):
        ga.load(tmp_path / "f.json")


# -- atomic writes -------------------------------------------------------------------------------


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.json"
    with ga.Graph():
        x = ga.symbols("x")
        ga.save(x + 1, path)
        before = path.read_bytes()

        def crash(src, dst):
            raise OSError("disk unplugged")

        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError, match="disk unplugged"):
            ga.save([ga.sin(x), ga.cos(x)], path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.json"]  # the temporary file is gone too
    (e,) = ga.load(path)
    assert float(e.eval(x=1.0)) == 2.0


def test_a_failed_serialization_writes_nothing(tmp_path):
    with ga.Graph() as g:
        x = ga.symbols("x")
        e = ga.sin(x)
        g.node(e.id)["params"] = (("weird", object()),)  # no JSON form
        with pytest.raises(ga.GraphadError, match=r"parameter 'weird'.*no JSON form"):
            ga.save(e, tmp_path / "f.json")
    assert os.listdir(tmp_path) == []


def test_model_weights_save_atomically_too(tmp_path, monkeypatch):
    model = ga.nn.Sequential([ga.nn.Dense(2, input_shape=(3,))])
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("crash")))
    with pytest.raises(OSError):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


def test_model_file_with_deeply_nested_json_is_a_clean_error(tmp_path):
    arch = np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), np.uint8)
    np.savez(tmp_path / "deep.npz", architecture=arch)
    with pytest.raises(ga.GraphadError, match="corrupt"):
        ga.nn.load(tmp_path / "deep.npz")


# -- validation ----------------------------------------------------------------------------------


def _good() -> dict:
    with ga.Graph():
        x = ga.symbol("x", shape=(3,))
        e = ga.sum(x * ga.constant(np.array([1.0, 2.0, 3.0])), axis=0) + 2.0
        return json.loads(dumps([e, ga.grad(e, x)]))


def _find(doc, op):
    return next(n for n in doc["nodes"] if n["op"] == op)


def _edit(fn):
    def make():
        doc = _good()
        fn(doc)
        return json.dumps(doc)

    return make


BAD = {
    "malformed JSON": (
        lambda: '{"format": "graphad.graph", "version": 1, "nodes": [',
        "malformed",
    ),
    "not an object": (lambda: "[1, 2]", "not a graphad graph file"),
    "NaN literal": (lambda: json.dumps(_good()).replace('"nodes"', '"x": NaN, "nodes"'),
                    "malformed JSON"),
    "deep nesting": (lambda: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "huge integer": (lambda: '{"version": ' + "9" * 5000 + "}", "malformed JSON"),
    "wrong format": (_edit(lambda d: d.update(format="pickle")), "not a graphad graph file"),
    "newer version": (_edit(lambda d: d.update(version=2)), "format version 2.*reads version 1"),
    "version as text": (_edit(lambda d: d.update(version="1")), "must be an integer"),
    "no outputs": (_edit(lambda d: d.update(outputs=[])), "non-empty list"),
    "output out of range": (_edit(lambda d: d.update(outputs=[99])), "not the id of an earlier"),
    "unknown op": (_edit(lambda d: _find(d, "sum").update(op="system")), "unknown op 'system'"),
    "forward reference": (_edit(lambda d: d["nodes"][3].update(args=[5])),
                          "5 is not the id of an earlier node"),
    "self reference (cycle)": (_edit(lambda d: d["nodes"][3].update(args=[3, 3])),
                               "3 is not the id of an earlier node"),
    "negative reference": (_edit(lambda d: d["nodes"][3].update(args=[-1, 0])), "earlier node"),
    "bad arity": (_edit(lambda d: _find(d, "multiply").update(args=[0])),
                  "multiply takes 2 argument"),
    "args not a list": (_edit(lambda d: _find(d, "multiply").update(args="0,1")), "list of node"),
    "id out of order": (_edit(lambda d: d["nodes"][1].update(id=7)), "must be its position"),
    "op not a string": (_edit(lambda d: _find(d, "multiply").update(op=["add"])), "must be a str"),
    "unknown field": (_edit(lambda d: _find(d, "multiply").update(code="import os")),
                      "unknown field.*'code'"),
    "bad role": (_edit(lambda d: _find(d, "multiply").update(role="input")), '"role" must be'),
    "bad dtype": (_edit(lambda d: d["nodes"][0].update(dtype="object")), "unsupported dtype"),
    "bad shape": (_edit(lambda d: d["nodes"][0].update(shape=[-3])), "a shape must be"),
    "shape of text": (_edit(lambda d: d["nodes"][0].update(shape="(3,)")), "a shape must be"),
    "wrong claimed shape": (_edit(lambda d: _find(d, "multiply").update(shape=[4])),
                            r"shape \(3,\) here, but the file says \(4,\)"),
    "empty name": (_edit(lambda d: d["nodes"][0].update(name="")), "non-empty string"),
    "duplicate input": (lambda: json.dumps(_dup_input()), "appears twice"),
    "param key injection": (
        _edit(lambda d: _find(d, "sum").update(params={"axis); __import__('os').system('x": 0})),
        "not a plain identifier"),
    "param value object": (_edit(lambda d: _find(d, "sum").update(params={"axis": {"a": 1}})),
                           "bad parameter value"),
    "param string code": (_edit(lambda d: _find(d, "sum").update(
        params={"axis": "__import__('os')", "keepdims": False})), "not a plain identifier"),
    "missing params": (_edit(lambda d: _find(d, "sum").pop("params")),
                       "sum cannot be rebuilt.*axis"),
    "params nest deeply": (
        _edit(lambda d: _find(d, "sum").update(params={"axis": json.loads("[" * 40 + "]" * 40)})),
        "nest too deeply"),
    "bad custom flag": (_edit(lambda d: _find(d, "multiply").update(custom="yes")),
                        '"custom" must be'),
    "builtin saved as custom": (_edit(lambda d: _find(d, "multiply").update(custom=True)),
                                "was custom when saved"),
    "scalar of wrong type": (_edit(lambda d: _const(d, "float").update(value="2.0")),
                             "bad scalar constant"),
    "int past int64": (_edit(lambda d: _const(d, "float").update(type="int", value=2**70)),
                       "does not fit in int64"),
    "float past range": (_edit(lambda d: _const(d, "float").update(value=10**400)),
                         "out of range"),
    "data length": (_edit(lambda d: _array(d).update(data=[1.0])), "flat list of 3"),
    "data not numbers": (_edit(lambda d: _array(d).update(data=["1", "2", "3"])), "only numbers"),
    "data and base64": (_edit(lambda d: _array(d).update(base64="AAAA")), "one of"),
    "base64 length": (
        _edit(lambda d: (_array(d).pop("data"), _array(d).update(base64="AAAAAAAAAAA="))),
        "base64 data has 8 bytes"),
    "base64 garbage": (
        _edit(lambda d: (_array(d).pop("data"), _array(d).update(base64="!!!!"))),
        "bad array constant"),
    "value not an object": (_edit(lambda d: _const_node(d).update(value=2.0)),
                            "must be a JSON object"),
    "adjoint malformed": (_edit(lambda d: _find(d, "multiply").update(adjoint=[[0]])),
                          "output, node"),
}  # fmt: skip


def _const_node(d):
    return next(n for n in d["nodes"] if n["op"] == "constant" and n["value"].get("type"))


def _const(d, kind):
    return next(n["value"] for n in d["nodes"] if n["op"] == "constant"
                and n["value"].get("type") == kind)  # fmt: skip


def _array(d):
    return next(n["value"] for n in d["nodes"] if n["op"] == "constant" and "dtype" in n["value"])


def _dup_input():
    doc = _good()
    doc["nodes"][1] = dict(doc["nodes"][0], id=1)
    return doc


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_are_rejected_clearly(case, tmp_path):
    make, fragment = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(make(), encoding="utf-8")
    with pytest.raises(ga.GraphadError, match=fragment) as info:
        ga.load(path)
    assert str(path) in str(info.value)  # says which file


def test_good_file_used_by_the_bad_cases_loads():
    e, g = loads(json.dumps(_good()))
    np.testing.assert_array_equal(g.eval(x=np.zeros(3)), [1.0, 2.0, 3.0])
    assert float(e.eval(x=np.ones(3))) == 8.0


def test_missing_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(ga.GraphadError, match="no such file"):
        ga.load(tmp_path / "nope.json")
    with pytest.raises(ga.GraphadError, match="cannot read"):
        ga.load(tmp_path)  # a directory
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ga.GraphadError, match="not UTF-8"):
        ga.load(tmp_path / "bin.json")


def test_size_and_node_limits(tmp_path):
    path = tmp_path / "f.json"
    with ga.Graph():
        x = ga.symbols("x")
        e = x
        for k in range(50):
            e = ga.sin(e) + k
        ga.save(e, path)
    size = path.stat().st_size
    with (
        ga.limits.override(max_file_bytes=size - 1),
        pytest.raises(ga.GraphadError, match=f"max_file_bytes={size - 1}"),
    ):
        ga.load(path)
    with (
        ga.limits.override(max_file_bytes=size, max_nodes=50),
        pytest.raises(ga.GraphadError, match="max_nodes=50"),
    ):
        ga.load(path)
    (back,) = ga.load(path)
    assert float(back.eval(x=0.5)) == pytest.approx(float(e.eval(x=0.5)), rel=0, abs=0)


def test_a_shape_too_large_for_max_elements_is_refused():
    with ga.Graph():
        x = ga.symbol("x", shape=(1000, 1000))
        text = dumps(ga.sum(x))
    with (
        ga.limits.override(max_elements=999_999),
        pytest.raises(ga.GraphadError, match="max_elements=999999"),
    ):
        loads(text)
    assert loads(text)[0].shape == ()


def test_save_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(ga.GraphadError, match="non-empty sequence"):
        ga.save([], tmp_path / "f.json")
    with pytest.raises(ga.GraphadError, match="different graphs"):
        with ga.Graph():
            a = ga.symbols("a")
        with ga.Graph():
            b = ga.symbols("b")
        ga.save([a, b], tmp_path / "f.json")
    with pytest.raises(ga.GraphadError, match="expected str"):
        loads(b"{}")


def test_docstring_examples_run():
    from graphad.core import limits

    for module in (persist, limits):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
