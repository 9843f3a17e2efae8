"""Every public function and class carries a numpydoc docstring with the sections a
reader looks for: Parameters (when it takes any), Returns (functions that return a
value) and a runnable Examples section.

The public names are ``graphad.__all__`` and the ``__all__`` of the public
subpackages.  The op functions (``ga.sin`` ...) get their docstrings from the op
table (``Op.docstring``), Examples included: an op declares ``example`` (doctest
text) or gets one generated from its first test case.  The examples themselves run
as doctests (``pytest --doctest-modules graphad``, the op functions through
``graphad.ops.__test__``); here each op's generated example is also run once.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
import types

import pytest

import graphad as ga
from graphad.ops import FUNCTIONS, OPS, PUBLIC
from graphad.ops.core import Op

MODULES = (
    "graphad",
    "graphad.nn",
    "graphad.nn.callbacks",
    "graphad.optim",
    "graphad.optim.schedules",
    "graphad.testing",
    "graphad.distributed",
    "graphad.datasets",
    "graphad.limits",
)

#: names whose docstrings still lack sections (issue 17): this list may only shrink;
#: the test fails on a new gap and on a fixed name still listed here
KNOWN_GAPS: dict[str, tuple[str, ...]] = {
    "graphad.Function": ("Parameters", "Examples"),
    "graphad.GradCheckReport": ("Parameters", "Examples"),
    "graphad.datasets.load_mnist": ("Parameters", "Returns", "Examples"),
    "graphad.distributed.evaluate": ("Parameters", "Returns"),
    "graphad.distributed.grad_over_chunks": ("Parameters", "Returns"),
    "graphad.distributed.is_dask": ("Parameters", "Returns"),
    "graphad.distributed.predict": ("Parameters", "Returns"),
    "graphad.getitem": ("Parameters", "Returns"),
    "graphad.index_update": ("Parameters", "Returns"),
    "graphad.nn.Executor": ("Parameters", "Examples"),
    "graphad.nn.LocalExecutor": ("Examples",),
    "graphad.nn.register_executor": ("Parameters", "Examples"),
    "graphad.optim.Optimizer": ("Parameters", "Examples"),
    "graphad.optim.UpdateGraph": ("Parameters", "Examples"),
    "graphad.reset_default_graph": ("Returns", "Examples"),
    "graphad.sort": ("Parameters", "Returns"),
    "graphad.take_along_axis": ("Parameters", "Returns"),
}

_SECTION = re.compile(r"^[ \t]*([A-Z][A-Za-z ]+)\n[ \t]*(-{3,})[ \t]*$", re.M)


def sections(doc: str) -> set[str]:
    """The numpydoc section headers of a docstring (a title underlined by dashes
    at least as long as it)."""
    doc = inspect.cleandoc(doc)
    found = ((m.group(1).strip(), m.group(2)) for m in _SECTION.finditer(doc))
    return {title for title, line in found if len(line) >= len(title)}


def public_objects() -> list[tuple[str, object]]:
    found: dict[int, tuple[str, object]] = {}
    for modname in MODULES:
        module = ga if modname == "graphad" else None
        if module is None:
            attr = modname.split(".", 1)[1]
            module = getattr(ga, attr) if "." not in attr else importlib.import_module(modname)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue  # a subpackage (walked as a module) or a constant (nn.FLOATX)
            found.setdefault(id(obj), (f"{modname}.{name}", obj))
    return sorted(found.values())


def _takes_parameters(obj: object) -> bool:
    target = obj.__init__ if isinstance(obj, type) else obj
    if isinstance(obj, type) and not inspect.isfunction(target):
        return False  # a built-in constructor (object's; an exception's message)
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    return bool(params)


def _returns_value(obj: object) -> bool:
    if isinstance(obj, type):
        return False  # a class's docstring documents construction
    try:
        ann = inspect.signature(obj).return_annotation
    except (TypeError, ValueError):
        return True
    return ann not in (None, "None")


def problems(obj: object) -> list[str]:
    doc = inspect.getdoc(obj) if not callable(obj) or isinstance(obj, type) else obj.__doc__
    if isinstance(obj, type) and obj.__doc__ is None:
        doc = None
    if not doc or not doc.strip():
        return ["no docstring"]
    found = sections(doc)
    out = []
    if _takes_parameters(obj) and "Parameters" not in found:
        out.append("no Parameters")
    if _returns_value(obj) and not found & {"Returns", "Yields"}:
        out.append("no Returns")
    if "Examples" not in found or ">>>" not in doc.split("Examples", 1)[-1]:
        out.append("no Examples")
    return out


def report() -> dict[str, list[str]]:
    return {name: p for name, obj in public_objects() if (p := problems(obj))}


def test_the_section_parser():
    doc = """Summary.

    Parameters
    ----------
    x : float

    Returns
    -------
    float

    Examples
    --------
    >>> 1 + 1
    2
    """
    assert sections(doc) == {"Parameters", "Returns", "Examples"}
    assert sections("Summary.\n\nParameters\n---\n") == set()  # underline too short

    def bare(x):
        """Summary only."""

    assert problems(bare) == ["no Parameters", "no Returns", "no Examples"]

    def nothing():
        pass

    assert problems(nothing) == ["no docstring"]


def test_the_walk_finds_the_public_names():
    names = {name for name, _ in public_objects()}
    assert {"graphad.sin", "graphad.grad", "graphad.Expr", "graphad.optim.Adam"} <= names
    assert len(names) > 150


def test_every_public_name_has_a_numpydoc_docstring_with_examples():
    gaps = {name: tuple(x.removeprefix("no ") for x in p) for name, p in report().items()}
    new = {n: p for n, p in gaps.items() if not set(p) <= set(KNOWN_GAPS.get(n, ()))}
    assert not new, "\n".join(f"{name}: no {', '.join(p)}" for name, p in sorted(new.items()))
    fixed = {n: p for n, p in KNOWN_GAPS.items() if gaps.get(n) != p}
    assert not fixed, f"fixed (or changed): update KNOWN_GAPS for {sorted(fixed)}"


def _op_of(name: str) -> Op:
    return OPS[FUNCTIONS[name][0]]


@pytest.mark.parametrize("name", PUBLIC)
def test_each_op_function_has_a_table_docstring(name):
    fn = FUNCTIONS[name][1]
    op = _op_of(name)
    assert fn is getattr(ga.ops, name)

    assert "Examples" in sections(fn.__doc__), name
    # the table's facts are in it
    if op.numpy:
        assert op.numpy in fn.__doc__


def test_the_generated_examples_run_and_check_against_numpy():
    parser = doctest.DocTestParser()
    ran = 0
    for name in PUBLIC:
        doc = FUNCTIONS[name][1].__doc__
        test = parser.get_doctest(doc, {}, name, None, 0)
        assert test.examples, name
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        with ga.Graph():
            runner.run(test, out=lambda s: None)
        result = runner.summarize(verbose=False)
        assert result.failed == 0, f"{name}: the Examples section fails\n{doc}"
        ran += result.attempted
    assert ran >= 2 * len(PUBLIC)


def test_an_op_declares_its_own_example_or_gets_one_generated():
    with ga.Graph():
        base = _op_of("sin")
        own = Op(**{**base.__dict__, "example": ">>> 1 + 1\n2"})
        assert own.examples("sin").endswith(">>> 1 + 1\n2")
        generated = base.examples("sin")
        assert ">>> y = ga.sin(x)" in generated
        assert "np.sin(" in generated  # checked against the NumPy equivalent
        # no NumPy equivalent: the example still shows a result (its shape)
        plain = Op(**{**base.__dict__, "numpy": None})
        text = plain.examples("sin")
        assert "np.shape(out)" in text and "np.sin" not in text


def test_a_failing_generated_example_is_caught():
    # an op whose NumPy equivalent disagrees with it: its example must fail
    base = _op_of("sin")
    wrong = Op(**{**base.__dict__, "numpy": "np.cos"})
    test = doctest.DocTestParser().get_doctest(wrong.examples("sin"), {}, "wrong", None, 0)
    runner = doctest.DocTestRunner()
    with ga.Graph():
        runner.run(test, out=lambda s: None)
    assert runner.summarize(verbose=False).failed == 1


def test_the_op_examples_are_collected_as_doctests():
    from graphad import ops

    finder = doctest.DocTestFinder()
    collected = {t.docstring for t in finder.find(ops) if t.examples}
    missing = [n for n in PUBLIC if FUNCTIONS[n][1].__doc__ not in collected]
    assert not missing
    # aliases (``mod`` is ``remainder``, ``absolute`` is ``abs`` ...) share one function
    assert len(ops.__test__) >= len({id(FUNCTIONS[n][1]) for n in PUBLIC})
