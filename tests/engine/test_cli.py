"""The `dlgrade` command line: exit codes, the table, the JSON contract, Gradescope export."""

import json
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE

pytestmark = pytest.mark.slow


def dlgrade(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "autograder.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def test_grade_writes_the_json_contract_and_gradescope(tmp_path):
    out, gradescope = tmp_path / "result.json", tmp_path / "results.json"
    run = dlgrade("grade", "--assignment", EXAMPLE, EXAMPLE / "source.ipynb", "--json", out,
                  "--gradescope", gradescope, "--seed", "4", "--hardware", "test-host")
    assert run.returncode == 0, run.stderr
    # The perf part is calibrated for "cpu": on "test-host" it is not measured, never failed.
    assert "total: 8.00 / 8.00  (2.00 points not measured, not counted)" in run.stdout
    result = json.loads(out.read_text())
    assert result["schema_version"] == 1 and result["status"] == "graded"
    for test in result["tests"]:
        assert {"name", "part", "status", "score", "max_score", "message"} <= set(test)
    assert result["run"]["seed"] == 4 and result["run"]["bundle_digest"]
    exported = json.loads(gradescope.read_text())
    assert exported["score"] == result["score"] and len(exported["tests"]) == len(result["tests"])


def test_a_rejected_upload_exits_zero_with_status_rejected(tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{oops")
    out = tmp_path / "result.json"
    run = dlgrade("grade", "--assignment", EXAMPLE, broken, "--json", out)
    assert run.returncode == 0
    result = json.loads(out.read_text())
    assert result["status"] == "rejected" and "not valid JSON" in result["message"]
    assert result["score"] == 0 and result["tests"] == []


def test_an_unknown_assignment_is_a_usage_error(tmp_path):
    run = dlgrade("grade", "--assignment", "no_such_assignment", EXAMPLE / "source.ipynb")
    assert run.returncode == 2 and "no assignment package" in run.stderr


def test_check_runs_the_public_tests_of_a_release(tmp_path):
    from autograder.package import load_assignment
    from autograder.release import build_release, write_release

    write_release(build_release(load_assignment(EXAMPLE)), "example", tmp_path)
    release = tmp_path / "release" / "example"
    starter = release / "example.ipynb"
    failing = dlgrade("check", starter)
    assert failing.returncode == 1 and "NotImplementedError" in failing.stdout
    filled = release / "filled.ipynb"
    filled.write_text((EXAMPLE / "source.ipynb").read_text())
    passing = dlgrade("check", filled)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "2 passed" in passing.stdout
