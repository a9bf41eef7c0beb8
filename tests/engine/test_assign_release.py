"""`dlgrade assign` and the release: a stale source.ipynb is rebuilt, what nbgrader refuses is
refused with its reason and the cell, a leaking release fails the gate, and the output lands
outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder.assign import assign

from tests.conftest import REPO


def _make_newer(path: Path) -> None:
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_stale_notebook_is_rebuilt_and_refused_with_nbgraders_reason(example_package):
    notebook_py = example_package / "notebook.py"
    text = notebook_py.read_text()
    softmax = text.index("def softmax")
    broken = text[:softmax] + text[softmax:].replace("    ### END SOLUTION\n", "", 1)
    notebook_py.write_text(broken)
    _make_newer(notebook_py)
    report = assign(example_package)
    assert not report.passed and report.out_dir is None and report.entries == []
    assert len(report.problems) == 1, report.problems
    assert "('softmax'): nbgrader refuses it: no end solution statement found" in report.problems[0]
    assert "shifted = x - x.amax" in (example_package / "source.ipynb").read_text()  # rebuilt from notebook.py


def test_a_solution_copied_into_a_public_test_fails_the_gate(example_package):
    public = example_package / "tests" / "public" / "test_leaky.py"
    public.write_text("def expected_softmax(x, dim=-1):\n"
                      "    shifted = x - x.amax(dim=dim, keepdim=True)\n"
                      "    exps = shifted.exp()\n"
                      "    return exps / exps.sum(dim=dim, keepdim=True)\n")
    report = assign(example_package)
    assert not report.passed and report.entries == []
    assert any("('softmax'): the release leaks" in problem for problem in report.problems), report.problems


def test_cli_assign_writes_outside_the_checkout(example_package):
    before = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    run = subprocess.run([sys.executable, "-m", "autograder.cli", "assign", str(example_package)],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    out_dir = Path(run.stdout.split("  output: ")[1].splitlines()[0])
    assert out_dir.is_relative_to(tempfile.gettempdir()) and not out_dir.is_relative_to(REPO)
    release = out_dir / "example-release.zip"
    assert release.is_file() and (out_dir / "release" / "example" / "example.ipynb").is_file()
    assert "release: " in run.stdout and str(release) in run.stdout
    after = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    assert after == before


def test_a_perf_only_gate_grades_the_reference_notebook_and_perf_mutants(tmp_path):
    """The gate a GPU worker runs after the package's correctness gate passed on a CPU worker."""
    from autograder.assign import GATE_SEED

    from tests.conftest import EXAMPLE

    report = assign(EXAMPLE, out_dir=tmp_path, seed=GATE_SEED, perf_only=True)
    assert report.passed, report.format()
    graded = sorted((entry.kind, entry.name) for entry in report.entries)
    assert graded == [("mutant", "slow_rowsum"), ("notebook", "source.ipynb"), ("reference", "reference")]
    assert "perf parts only" in report.format() and report.to_dict()["perf_only"] is True
