"""The command line: `graphad grad`, exit codes, errors on stderr, fast start-up."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from graphad.cli import COMMANDS, main


def test_grad_prints_derivative_and_value(capsys):
    assert main(["grad", "x**2 + x - 1", "--wrt", "x", "--at", "x=3"]) == 0
    out = capsys.readouterr().out
    assert "f = x ** 2 + x - 1  =  11" in out
    assert out.strip().splitlines()[-1].endswith("=  7")


def test_grad_all_inputs_by_default_and_hessian(capsys):
    assert main(["grad", "x*y**2", "--at", "x=2,y=3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("d/dx") and lines[1].endswith("=  9")
    assert lines[2].startswith("d/dy") and lines[2].endswith("=  12")
    assert main(["grad", "x*y**2", "--at", "x=2,y=3", "--order", "2"]) == 0
    vals = [float(line.rsplit("=", 1)[1]) for line in capsys.readouterr().out.splitlines()[1:]]
    np.testing.assert_allclose(vals, [0, 6, 6, 4])


@pytest.mark.parametrize("argv", [
    ["grad", "2x"], ["grad", "x +"], ["grad", "__import__('os')"], ["grad", "x", "--at", "x=a"],
    ["grad", "x", "--at", "3"], ["grad", "x", "--wrt", "1x"],
])  # fmt: skip
def test_bad_input_exits_2_with_the_error_on_stderr(argv, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "error:" in captured.err


def test_missing_value_is_bad_input(capsys):
    assert main(["grad", "x*y", "--at", "x=1"]) == 2
    assert "'y'" in capsys.readouterr().err


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: graphad " + name in capsys.readouterr().out


def test_module_entry_point_and_stderr():
    r = subprocess.run(
        [sys.executable, "-m", "graphad", "grad", "2x"], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    assert "2*x" in r.stderr and r.stdout == ""


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from graphad.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sympy', 'graphviz', 'matplotlib', 'tqdm', 'sklearn') "
        "if m in sys.modules]\nprint(heavy)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "[]"


def test_no_arguments_prints_usage_on_stderr_and_exits_2(capsys):
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("usage: graphad")


def test_demo_refuses_an_unknown_section(capsys):
    assert main(["demo", "--skip", "bogus,grad"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert "'bogus'" in captured.err and "grad, codegen, render" in captured.err


def test_minimize_labels_its_lines_unless_asked_for_the_notebook_format(capsys):
    # x = 3, f = 9 + 3 - 1 = 11; then x = 3 - 0.1 * (2*3 + 1) = 2.3, f = 5.29 + 2.3 - 1
    assert main(["minimize", "x**2 + x - 1", "--x0", "x=3", "--epochs", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "epoch 0  x=3.0  f=11.0",
        "epoch 1  x=2.3  f=6.59",
    ]
    argv = ["minimize", "(x-2)**2 + y**2", "--x0", "x=0,y=1", "--epochs", "1"]
    assert main([*argv, "--format", "notebook"]) == 0
    assert capsys.readouterr().out.splitlines() == ["Epoch : 0 [0.0, 1.0, 5.0]"]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == ["epoch 0  x=0.0  y=1.0  f=5.0"]


def test_at_takes_tensors_in_brackets(capsys, tmp_path):
    # d/dx sum(x*x) = 2x; f = 1 + 4 + 9
    assert main(["grad", "sum(x*x)", "--at", "x=[1,2,3],y=2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("=  14") and out[1].endswith("=  [2. 4. 6.]")
    assert main(["check", "sum(W*W)", "--at", "W=[[1,2],[3,4]]"]) == 0
    assert "pass" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("bad", [
    "x=[1,2", "x=[1,,2]", "x=[[1,2],[3]]", "x=[1 2]", "x=[__import__('os')]", "x=]", "x=1,2",
])  # fmt: skip
def test_at_refuses_bad_tensors_clearly(bad, capsys):
    assert main(["grad", "sum(x*x)", "--at", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "error:" in captured.err and "Traceback" not in captured.err


def test_train_summary_fits_80_columns(capsys):
    assert main(["train", "--epochs", "1", "--quiet", "--units", "8"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Dense(8, relu) -> Dense(10, softmax), Adam(learning_rate=0.001)"
    assert lines[1].startswith("1 epochs in ") and lines[2].startswith("test loss ")
    assert max(len(line) for line in lines) <= 80


def test_demo_points_at_the_shipped_example_notebook(capsys):
    from pathlib import Path

    from graphad.cli.demo import NOTEBOOK

    assert main(["demo", "--skip", "grad,codegen,render,check,train"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("The same tour as a notebook")
    assert NOTEBOOK in out and (Path(__file__).resolve().parents[1] / NOTEBOOK).is_file()
    assert "examples/tour.ipynb" in out.split("== Gradient descent")[1].splitlines()[0]
