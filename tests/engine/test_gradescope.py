"""Gradescope: dlgrade's results.json checked against the fields Gradescope's autograder
specification documents, produced by `run_autograder` in a folder laid out like Gradescope's
/autograder (source = the unpacked autograder zip, submission, results)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

from autograder.gradescope import write_zip
from autograder.result import to_gradescope
from tests.conftest import EXAMPLE

# From the specification (gradescope-autograders.readthedocs.io/en/latest/specs/, "Output format").
TOP_FIELDS = {"score": (int, float), "execution_time": (int, float), "output": str, "output_format": str,
              "test_output_format": str, "test_name_format": str, "visibility": str, "stdout_visibility": str,
              "extra_data": dict, "tests": list, "leaderboard": list}
TEST_FIELDS = {"score": (int, float), "max_score": (int, float), "status": str, "name": str, "name_format": str,
               "number": str, "output": str, "output_format": str, "tags": list, "visibility": str,
               "extra_data": dict}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
STATUSES = {"passed", "failed"}


def validate(results: dict) -> None:
    """Raise AssertionError where results.json leaves what the specification documents."""
    for key, value in results.items():
        assert key in TOP_FIELDS, f"undocumented top-level field {key!r}"
        assert isinstance(value, TOP_FIELDS[key]) and not isinstance(value, bool), f"{key}: {value!r}"
    for key in ("visibility", "stdout_visibility"):
        assert results.get(key, "visible") in VISIBILITIES
    tests = results.get("tests", [])
    # "score": optional, but required if not on each test case
    assert "score" in results or (tests and all("score" in t for t in tests))
    for test in tests:
        for key, value in test.items():
            assert key in TEST_FIELDS, f"undocumented test field {key!r}"
            assert isinstance(value, TEST_FIELDS[key]) and not isinstance(value, bool), f"{key}: {value!r}"
        assert test.get("status", "passed") in STATUSES and test.get("visibility", "visible") in VISIBILITIES
        assert ("max_score" in test) == ("score" in test)


@pytest.fixture
def autograder_root(tmp_path):
    """/autograder as Gradescope builds it from the zip: source/ unpacked, run_autograder copied."""
    root = tmp_path / "autograder"
    zipfile.ZipFile(write_zip(EXAMPLE, tmp_path / "autograder.zip")).extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run_autograder(root, hardware: str, tmp_path) -> tuple[dict, float]:
    env = {**os.environ, "DLGRADE_GRADESCOPE_ROOT": str(root), "DLGRADE_GRADESCOPE_PYTHON": sys.executable,
           "DLGRADE_HARDWARE": hardware, "DLGRADE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("PYTHONPATH", None)  # the engine comes from the unpacked zip, not this checkout
    started = time.monotonic()
    run = subprocess.run(["bash", str(root / "run_autograder")], env=env, cwd=root, capture_output=True,
                         text=True, timeout=600)
    wall = time.monotonic() - started
    assert run.returncode == 0, run.stderr
    return json.loads((root / "results" / "results.json").read_text()), wall


@pytest.mark.slow
def test_graded_submission(autograder_root, tmp_path):
    shutil.copy(EXAMPLE / "source.ipynb", autograder_root / "submission" / "example.ipynb")
    results, wall = run_autograder(autograder_root, "cpu", tmp_path)
    validate(results)
    assert all(t["status"] in STATUSES for t in results["tests"])  # every test measured, so each has a status
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]), abs=1e-4)
    assert results["score"] >= 8  # add and softmax are right; the speed part is scored on this hardware
    assert 0.5 * wall <= results["execution_time"] <= wall + 1  # the grading's wall time, counted once
    softmax = [t for t in results["tests"] if t["tags"] == ["softmax"]]
    assert softmax and all(t["visibility"] == "after_due_date" for t in softmax if t["name"].startswith("hidden/"))


@pytest.mark.slow
def test_perf_unmeasured_submission(autograder_root, tmp_path):
    shutil.copy(EXAMPLE / "source.ipynb", autograder_root / "submission" / "example.ipynb")
    results, _ = run_autograder(autograder_root, "test-host", tmp_path)
    validate(results)
    unmeasured = [t for t in results["tests"] if "Not measured (this run's hardware: test-host)" in t["output"]]
    assert [t["tags"] for t in unmeasured] == [["rowsum_perf"]]
    assert not {"status", "score", "max_score"} & set(unmeasured[0])  # neither failed nor counted
    assert results["score"] == 8 and "2 points of performance tests were not measured" in results["output"]


@pytest.mark.slow
def test_rejected_submission(autograder_root, tmp_path):
    (autograder_root / "submission" / "example.ipynb").write_text("{oops")
    results, _ = run_autograder(autograder_root, "test-host", tmp_path)
    validate(results)
    assert results["score"] == 0 and results["tests"] == [] and "not valid JSON" in results["output"]
    (autograder_root / "submission" / "example.ipynb").unlink()
    results, _ = run_autograder(autograder_root, "test-host", tmp_path)
    validate(results)
    assert results["score"] == 0 and "No notebook (.ipynb) in your submission" in results["output"]


def test_hidden_parts_keep_the_total_visible_and_their_details_secret():
    secret = "test_secret_edge_case_for_kv_cache"
    result = {
        "status": "graded", "assignment": "demo", "score": 3.0, "max_score": 5.0, "unmeasured_points": 0.0,
        "message": "1 of 2 tests passed", "run": {"hardware": "cpu", "durations": {"trusted_s": 4.0, "student_s": 6.0,
                                                                                   "total_s": 10.4}},
        "tests": [
            {"name": "public/test_public.py::test_shape", "part": "api", "status": "pass", "score": 3.0,
             "max_score": 3.0, "message": "", "detail": "staff only", "visibility": "visible", "hidden": False},
            {"name": f"hidden/test_hidden.py::{secret}", "part": "edge", "status": "fail", "score": 0.0,
             "max_score": 2.0, "message": f"{secret}: expected 4", "detail": "inputs", "visibility": "hidden",
             "hidden": True},
        ],
    }
    results = to_gradescope(result)
    validate(results)
    assert results["execution_time"] == 10  # total wall time, not trusted + student + total
    assert all(t["visibility"] != "hidden" for t in results["tests"])  # a hidden test would hide the total
    assert secret not in json.dumps(results) and "staff only" not in json.dumps(results)
    assert results["tests"][1]["name"] == "edge: hidden test" and results["tests"][1]["score"] == 0.0


def test_a_failed_grading_still_writes_results_that_say_so(tmp_path, monkeypatch, capsys):
    from autograder import grading
    from autograder.errors import GradingError
    from autograder.gradescope import grade_submission

    def broken(*args, **kwargs):
        raise GradingError("trusted run crashed: image missing")

    monkeypatch.setattr(grading, "grade", broken)
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "example.ipynb").write_text("{}")
    result = grade_submission(EXAMPLE, root=tmp_path)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(results)
    assert result["status"] == "error" and "The autograder failed" in results["output"]
    assert "image missing" not in results["output"] and "image missing" in capsys.readouterr().out
