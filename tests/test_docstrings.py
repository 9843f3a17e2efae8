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

import ast
import builtins
import doctest
import importlib
import inspect
import re
import textwrap
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
    if getattr(obj, "_is_protocol", False):
        return False  # a typing.Protocol (nn.Executor) describes methods; it is not made
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
    gaps = report()
    assert not gaps, "\n".join(f"{name}: {', '.join(p)}" for name, p in sorted(gaps.items()))


def _op_of(name: str) -> Op:
    return OPS[FUNCTIONS[name][0]]


def _is_composition(name: str) -> bool:
    """A ``ga`` function written over other ops, not the op's own function (nor an alias
    of it): its signature and errors are its own."""
    op_name, fn = FUNCTIONS[name]
    return op_name != name and (op_name not in FUNCTIONS or FUNCTIONS[op_name][1] is not fn)


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


# -- Raises sections ---------------------------------------------------------------------------

#: a public callable that raises one of these itself names it (or a base class) under Raises
CHECKED_ERRORS = (ga.GraphadError, ValueError, TypeError)
_TOO_BROAD = (Exception, BaseException)


def _resolve(node: ast.expr, namespace: dict) -> object:
    """The object a name or dotted name stands for in ``namespace`` (None if unknown)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    obj = namespace.get(node.id, getattr(builtins, node.id, None))
    for attr in reversed(parts):
        obj = getattr(obj, attr, None)
    return obj


class _RaiseFinder(ast.NodeVisitor):
    """The ``raise`` statements of one function body, each with the ``except`` clauses
    around it there; nested functions, lambdas and classes are other bodies."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.expr, list[ast.expr | None]]] = []
        self._handlers: list[ast.expr | None] = []
        self.imports: list[ast.ImportFrom] = []  # ``from ..core.errors import LimitError``

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.imports.append(node)

    def _skip(self, node: ast.AST) -> None:
        pass

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = _skip

    def visit_Try(self, node: ast.Try) -> None:
        caught = []
        for h in node.handlers:
            if isinstance(h.type, ast.Tuple):
                caught += h.type.elts
            else:
                caught.append(h.type)  # None: a bare except
        self._handlers += caught
        for stmt in node.body:
            self.visit(stmt)
        del self._handlers[len(self._handlers) - len(caught) :]
        for stmt in [*node.handlers, *node.orelse, *node.finalbody]:
            self.visit(stmt)

    visit_TryStar = visit_Try

    def visit_Raise(self, node: ast.Raise) -> None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        if exc is not None:  # a bare ``raise`` re-raises what an except caught
            self.found.append((exc, list(self._handlers)))


def raised_in_body(fn: object) -> set[type]:
    """The checked error classes that ``fn``'s own body raises and does not catch."""
    fn = inspect.unwrap(fn)
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return set()  # generated (op functions: their Raises come from the op table)
    tree = ast.parse(source).body[0]
    finder = _RaiseFinder()
    for stmt in tree.body:
        finder.visit(stmt)
    namespace = dict(getattr(fn, "__globals__", {}))
    package = namespace.get("__package__") or ""
    for imp in finder.imports:  # names imported inside the body (lazily)
        module = importlib.import_module("." * imp.level + (imp.module or ""), package)
        for alias in imp.names:
            namespace[alias.asname or alias.name] = getattr(module, alias.name, None)
    out = set()
    for exc, handlers in finder.found:
        cls = _resolve(exc, namespace)
        if not (isinstance(cls, type) and issubclass(cls, CHECKED_ERRORS)):
            continue  # a variable (re-raising an exception object) or another kind
        caught = [BaseException if h is None else _resolve(h, namespace) for h in handlers]
        if any(isinstance(c, type) and issubclass(cls, c) for c in caught):
            continue
        out.add(cls)
    return out


def documented_raises(doc: str) -> set[str]:
    """The class names listed in a docstring's Raises section (its unindented lines)."""
    doc = inspect.cleandoc(doc)
    m = re.search(r"^Raises\n-{6,}[ \t]*$", doc, re.M)
    if m is None:
        return set()
    body = doc[m.end() :]
    following = _SECTION.search(body)
    if following is not None:
        body = body[: following.start()]
    names = set()
    for line in body.splitlines():
        if not line.strip() or line[0].isspace():
            continue  # a blank line or the description of the entry above
        for part in re.split(r",|\bor\b", line):
            word = part.strip().removeprefix(":class:").strip("`~ ")
            names.add(word.removeprefix("graphad.").removeprefix("ga."))
    return names


def _documented_class(name: str) -> object:
    """The class a Raises entry names: ``ShapeError``, ``ValueError`` or a dotted path
    in the package (``backends.printing.TextTooLong``, its ``graphad.`` taken off)."""
    found = getattr(ga, name, None) or getattr(builtins, name, None)
    if found is None and "." in name:
        module, _, attr = name.rpartition(".")
        try:
            found = getattr(importlib.import_module("graphad." + module), attr, None)
        except ImportError:
            return None
    return found


def raises_problems(fn: object, doc: str | None) -> list[str]:
    """The checked errors ``fn`` raises itself that ``doc``'s Raises section does not
    name (by the class or one of its bases, not ``Exception``)."""
    named = [_documented_class(n) for n in documented_raises(doc or "")]
    named_classes = [c for c in named if isinstance(c, type) and c not in _TOO_BROAD]
    return sorted(
        cls.__name__
        for cls in raised_in_body(fn)
        if not any(issubclass(cls, c) for c in named_classes)
    )


def raising_callables() -> list[tuple[str, object, str | None]]:
    """(name, function, the docstring that documents it): public functions, the
    constructors of public classes (their class docstring) and their public methods."""
    out = []
    for name, obj in public_objects():
        if not isinstance(obj, type):
            out.append((name, obj, obj.__doc__))
            continue
        for init in ("__init__", "__post_init__"):
            member = obj.__dict__.get(init)
            if inspect.isfunction(member) and member.__module__.startswith("graphad"):
                out.append((name, member, obj.__doc__))  # (not a Protocol's refusal)
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                out.append((f"{name}.{attr}", member, member.__doc__))
    return out


def test_the_raise_scan():
    def documented(x):
        """Summary.

        Raises
        ------
        GraphadError
            If ``x`` is bad.
        """
        if x:
            raise ga.ShapeError("x")  # named by a base class: documented
        raise ValueError("y")  # not named

    def caught(x):
        try:
            raise ga.DTypeError("z")
        except TypeError:
            pass

        def inner():
            raise ga.LimitError("not this body's")

        if x:
            raise  # re-raises: no class of its own
        return inner

    def named(x):
        """Summary.

        Raises
        ------
        ShapeError, :class:`~graphad.DTypeError`
            If so.

        Examples
        --------
        >>> 1
        1
        """
        if x:
            raise ga.ShapeError("x")
        raise ga.DTypeError("y")

    def lazily():
        from graphad.core.errors import LimitError  # imported in the body: found too

        raise LimitError("x")

    assert raised_in_body(lazily) == {ga.LimitError}
    assert raised_in_body(documented) == {ga.ShapeError, ValueError}
    assert raises_problems(documented, documented.__doc__) == ["ValueError"]
    assert raised_in_body(caught) == set()
    assert documented_raises(named.__doc__) == {"ShapeError", "DTypeError"}
    assert raises_problems(named, named.__doc__) == []
    # not Exception: that names nothing
    assert raises_problems(named, "S.\n\nRaises\n------\nException\n    Always.") == [
        "DTypeError",
        "ShapeError",
    ]
    # generated op functions have no source: their Raises come from the op table
    assert raised_in_body(ga.sin) == set()


def test_the_raise_scan_reaches_methods_and_constructors():
    found = {name for name, _, _ in raising_callables()}
    assert {"graphad.nn.Sequential.fit", "graphad.optim.Optimizer", "graphad.grad"} <= found
    assert "graphad.nn.Executor" not in found  # typing's Protocol constructor is not ours


def test_every_public_callable_names_what_it_raises():
    """A public function, constructor or method that raises a GraphadError subclass,
    ValueError or TypeError in its own body names it (or a base class) under Raises."""
    gaps = {name: p for name, fn, doc in raising_callables() if (p := raises_problems(fn, doc))}
    assert not gaps, "\n".join(f"{n}: Raises does not name {', '.join(p)}" for n, p in gaps.items())


# a hand-written composition over other ops (``linspace`` of ``concatenate`` ...) is left
# out: what its own body raises is checked by the AST scan above
@pytest.mark.parametrize("name", [n for n in PUBLIC if not _is_composition(n)])
def test_op_functions_name_the_shape_error_of_their_shape_rule(name):
    op = _op_of(name)
    named = documented_raises(FUNCTIONS[name][1].__doc__)
    if op.checks_shapes():
        assert "ShapeError" in named, name
    else:
        # one elementwise operand: the result has its shape, nothing to reject
        assert op.elementwise and op.nargs == 1, name


def test_the_documented_shape_error_is_real():
    # every elementwise op of two or more operands rejects shapes that do not broadcast
    checked = 0
    for name in PUBLIC:
        op = _op_of(name)
        if not (op.elementwise and op.nargs and op.nargs >= 2) or op.keywords:
            continue
        if _is_composition(name):
            continue
        with ga.Graph():
            args = [ga.symbol(f"a{k}", shape=(2,) if k == 0 else (3,)) for k in range(op.nargs)]
            with pytest.raises(ga.ShapeError, match="broadcast"):
                FUNCTIONS[name][1](*args)
        checked += 1
    assert checked >= 10
    # and the unary elementwise ones document none, as they cannot: any shape goes
    with ga.Graph():
        assert ga.sin(ga.symbol("v", shape=(2, 3, 0))).shape == (2, 3, 0)


# reStructuredText reads |name| as a substitution reference: an undefined one is an error
# in `make docs` (warnings are errors), e.g. a kink note "|x|'(0) = 0" on fabs
_SUBSTITUTION = re.compile(r"(?<![|\w])\|[^|\s`][^|`\n]*?\|(?![|\w])")


def substitutions(doc: str) -> list[str]:
    """The |...| substitution references of a docstring, outside literals and doctests."""
    text = re.sub(r"``[^`]*``", "", doc)
    text = re.sub(r"^\s*(>>>|\.\.\.).*$", "", text, flags=re.M)
    return [m.group() for m in _SUBSTITUTION.finditer(text)]


def test_the_substitution_finder():
    assert substitutions("Convention: |x|'(0) = 0.") == ["|x|"]
    assert substitutions("``|x|`` and\n>>> abs(-1) | 2\n") == []
    assert substitutions("a || b, a | b") == []


def test_no_docstring_holds_an_rst_substitution():
    found = {
        name: hits
        for name, obj in public_objects()
        if (hits := substitutions(inspect.getdoc(obj) or ""))
    }
    assert not found, found
