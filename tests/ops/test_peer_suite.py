"""A fast subset of the peer suite (benchmarks/peer_suite: issue 14's measure).

Every 80th item of autograd's, micrograd's and JAX's AD tests re-expressed as data must
pass (complex-number items must be refused clearly), and the runner itself must tell a
wrong derivative, a crash and a missing name apart.  The whole suite runs with
``python -m benchmarks.peer_suite``.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import graphad as ga

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout's benchmarks/
from benchmarks.peer_suite.items import ITEMS, Arg, Item
from benchmarks.peer_suite.runner import run_item

SUBSET = ITEMS[::80]


def test_the_suite_has_thousands_of_items_from_every_source():
    assert len(ITEMS) > 3000
    assert len({it.name for it in ITEMS}) == len(ITEMS)
    suites = {it.suite.split("/")[0] for it in ITEMS}
    assert suites == {"autograd", "micrograd", "jax"}
    assert {it.order for it in ITEMS} >= {1, 2, 3}


@pytest.mark.parametrize("item", SUBSET, ids=[it.name for it in SUBSET])
def test_subset_item(item):
    with ga.Graph():
        res = run_item(item, ga)
    if item.complex:
        assert res.status == "unsupported" and "complex" in res.detail, res.detail
    else:
        assert res.status in ("pass", "n/a"), f"{res.status}: {res.detail}"


def _item(fn, **kw):
    return Item(name="probe", suite="test", fn=fn, args=(Arg(shape=(3,)),), **kw)


def test_the_runner_tells_wrong_crash_and_missing_apart():
    # a function whose graphad form differs from its NumPy reference in the derivative only
    wrong = _item(lambda m: lambda x: m.sin(x), ref=lambda np_: lambda x: np_.sin(x) + 1e-3 * x**2)
    assert run_item(wrong, ga).status == "wrong"
    # same value, same first derivative, another second derivative: caught at order 2
    second = _item(
        lambda m: lambda x: m.exp(x), ref=lambda np_: lambda x: np_.exp(x) + 1e-2 * (x - 0.1) ** 3
    )
    res = run_item(second, ga)
    assert res.status == "wrong", res
    # NumPy itself lacks it: not an item; graphad lacks it: unsupported
    assert run_item(_item("not_a_numpy_function_name"), ga).status == "n/a"
    missing = _item(lambda m: m.sin if m is not ga else m.not_a_graphad_function)
    res = run_item(missing, ga)
    assert res.status == "unsupported" and "not_a_graphad_function" in res.detail

    def boom(m):
        def f(x):
            if m is ga:
                raise IndexError("boom")
            return np.sin(x)

        return f

    assert run_item(_item(boom), ga).status == "crash"
    assert run_item(_item("sin"), ga).status == "pass"
