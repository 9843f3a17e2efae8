"""The shipped example notebook runs top to bottom in a real Jupyter kernel.

nbclient starts an IPython kernel, as JupyterLab does, and every output the notebook
promises is checked: the printed derivatives, the drawing, the check verdict, the
tape's table, the optimizers reaching the minimum, the digits accuracy and the plot.
"""

from __future__ import annotations

import pathlib
import re

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="nbformat/nbclient/ipykernel are in the test extra"
)
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "examples" / "tour.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    workdir = tmp_path_factory.mktemp("notebook")
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _mimes(cell) -> set[str]:
    out = set()
    for o in cell.outputs:
        if o.output_type in ("display_data", "execute_result"):
            out.update(o.data)
    return out


def test_no_cell_raises(executed):
    errors = [o for c in executed for o in c.outputs if o.output_type == "error"]
    assert not errors, [(e.ename, e.evalue) for e in errors]


def test_derivatives_print_as_people_write_them(executed):
    text = _text(executed[1])
    assert "d/dx = 2 * x + cos(x * y) * y" in text
    assert "d/dy = cos(x * y) * x" in text
    value = float(re.search(r"at x=3, y=2: (\S+)", text).group(1))
    assert value == pytest.approx(6 + 2 * __import__("math").cos(6), rel=1e-12)


def test_backward_pass_is_drawn(executed):
    assert "image/svg+xml" in _mimes(executed[3])


def test_gradient_check_passes(executed):
    assert "verdict: PASS" in _text(executed[4])


def test_tape_reproduces_the_notebook_table(executed):
    rows = re.findall(r"epoch +(\d+): x = ([-+]\d+\.\d+)  f = ([-+]\d+\.\d+)", _text(executed[5]))
    assert [int(e) for e, _, _ in rows] == list(range(30))  # the seed's 30 epochs
    x = 3.0
    for _, shown_x, shown_f in rows:  # x -= 0.1 * (2x + 1), by hand: 3, 2.3, 1.74, 1.292 ...
        assert float(shown_x) == pytest.approx(x, abs=1e-6)
        assert float(shown_f) == pytest.approx(x * x + x - 1, abs=1e-6)
        x -= 0.1 * (2 * x + 1)
    assert rows[4][1:] == ("+0.933600", "+0.805209")  # the seed's Epoch : 4 [0.9336, 0.80521]


def test_optimizers_reach_the_minimum(executed):
    found = dict(re.findall(r"(\w+)\s+x = ([+-]\d+\.\d+)", _text(executed[6])))
    assert set(found) == {"SGD", "momentum", "RMSprop", "Adagrad", "Adam"}
    assert float(found["SGD"]) == pytest.approx(-0.5, abs=1e-4)  # contraction 0.8 per step
    assert all(abs(float(v) + 0.5) < 0.05 for v in found.values())


def test_network_learns_the_digits_and_plots_its_history(executed):
    epochs = re.findall(r"Epoch (\d+)/15", _text(executed[7]))
    assert [int(e) for e in epochs] == list(range(1, 16))  # one persistent line per epoch
    accuracy = float(re.search(r"test accuracy: (\S+)", _text(executed[8])).group(1))
    assert accuracy > 0.9
    assert "image/png" in _mimes(executed[9]) or "image/svg+xml" in _mimes(executed[9])
