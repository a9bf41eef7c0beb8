"""Submissions that try to forge their grade. Each must score zero on what it forges, with a
reason, and leave the grader healthy."""

import textwrap

import pytest

from autograder.grading import grade

pytestmark = pytest.mark.slow

CORRECT_ADD = "def add(a, b):\n    return a + b\n"
ROWSUM = "def rowsum(x):\n    return x.sum(-1)\n"


def submit(tmp_path, package, *pieces):
    path = tmp_path / "submission.py"
    path.write_text("\n".join(textwrap.dedent(piece) for piece in pieces))
    return grade(package, path, seed=11, hardware="test-host").to_dict()


def part_score(result, part):
    return next(p for p in result["parts"] if p["name"] == part)["score"]


def part_tests(result, part):
    return [test for test in result["tests"] if test["part"] == part]


def test_fake_records_written_at_import_score_nothing(tmp_path, example_package):
    result = submit(tmp_path, example_package, """
        import json, os, sys
        out = sys.argv[sys.argv.index("--out") + 1]
        ids = ["hidden/test_hidden.py::test_softmax_dim0", "hidden/test_hidden.py::test_softmax_large_logits",
               "hidden/test_hidden.py::test_add_shapes[shape0]", "public/test_public.py::test_add_small"]
        with open(os.path.join(out, "records.jsonl"), "a") as handle:
            for nodeid in ids:
                handle.write(json.dumps({"nodeid": nodeid, "outcome": "passed", "checks": [
                    {"name": "probabilities", "kind": "close", "value": {"type": "float", "value": 1.0}},
                    {"name": "sum", "kind": "close", "value": {"type": "float", "value": 0.0}}]}) + "\\n")

        def add(a, b):
            raise NotImplementedError

        def softmax(x, dim=-1):
            raise NotImplementedError

        def rowsum(x):
            raise NotImplementedError
    """)
    assert result["status"] == "graded"
    assert result["score"] == 0
    forged = next(t for t in result["tests"] if t["name"] == "hidden/test_hidden.py::test_softmax_dim0")
    assert forged["status"] == "fail" and "expected a tensor" in forged["message"]


def test_sys_exit_at_import_fails_every_test(tmp_path, example_package):
    result = submit(tmp_path, example_package, "import sys\nsys.exit(0)\n", CORRECT_ADD)
    assert result["score"] == 0
    assert all(t["status"] == "fail" and "SystemExit" in t["message"] for t in result["tests"]
               if t["status"] != "not-measured")
    assert any(flag["kind"] == "tamper" for flag in result["flags"])


def test_os_exit_at_import_fails_every_test_and_grader_survives(tmp_path, example_package):
    result = submit(tmp_path, example_package, "import os\nos._exit(0)\n", CORRECT_ADD)
    assert result["status"] == "graded"
    assert result["score"] == 0
    assert all(t["status"] == "error" and "died during this test" in t["message"] for t in result["tests"]
               if t["status"] != "not-measured"), [t["message"] for t in result["tests"]]


def test_pytest_skip_in_submission_fails_the_skipped_tests(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        import pytest

        def softmax(x, dim=-1):
            pytest.skip("not today")
    """)
    assert part_score(result, "softmax") == 0
    assert part_score(result, "add") == pytest.approx(2)
    assert all("skip" in t["message"] for t in part_tests(result, "softmax"))


def test_conftest_and_ini_written_by_submission_have_no_effect(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        import os
        HOOK = '''
        import pytest
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(item, call):
            outcome = yield
            outcome.get_result().outcome = "passed"
        '''
        for folder in (os.getcwd(), "/grader/tests", os.path.dirname(__file__)):
            for name, text in (("conftest.py", HOOK), ("pytest.ini", "[pytest]\\naddopts = -p no:dlgrade\\n")):
                try:
                    with open(os.path.join(folder, name), "w") as handle:
                        handle.write(text)
                except OSError:
                    pass

        def softmax(x, dim=-1):
            return x  # wrong
    """)
    assert part_score(result, "softmax") == 0
    assert part_score(result, "add") == pytest.approx(2)


def test_monkeypatched_allclose_changes_nothing_and_is_flagged(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        import torch
        torch.allclose = lambda *args, **kwargs: True
        torch.testing.assert_close = lambda *args, **kwargs: None

        def softmax(x, dim=-1):
            return x * 0
    """)
    assert part_score(result, "softmax") == 0
    tamper = next(flag for flag in result["flags"] if flag["kind"] == "tamper")
    assert any("torch.allclose" in line for line in tamper["evidence"])


def test_tensor_subclass_that_always_compares_equal_scores_nothing(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        import torch

        class Agreeable(torch.Tensor):
            def __eq__(self, other):
                return True
            def allclose(self, *args, **kwargs):
                return True
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                if func in (torch.allclose, torch.equal, torch.isclose):
                    return True
                return super().__torch_function__(func, types, args, kwargs or {})

        def softmax(x, dim=-1):
            return torch.zeros_like(x).as_subclass(Agreeable)
    """)
    assert part_score(result, "softmax") == 0
    assert all(t["status"] == "fail" for t in part_tests(result, "softmax"))


def test_nan_output_fails_with_a_clear_reason(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        def softmax(x, dim=-1):
            return x * float("nan")
    """)
    assert part_score(result, "softmax") == 0
    hidden = [t for t in part_tests(result, "softmax") if t["hidden"]]
    assert hidden and all("NaN" in t["message"] for t in hidden), [t["message"] for t in hidden]


def test_forbidden_call_scores_zero_on_its_part_only(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        import torch.nn.functional as F

        def softmax(x, dim=-1):
            return F.softmax(x, dim=dim)
    """)
    assert part_score(result, "softmax") == 0
    assert part_score(result, "add") == pytest.approx(2)
    message = part_tests(result, "softmax")[0]["message"]
    assert "torch.nn.functional.softmax" in message and "line" in message


def test_forbidden_call_hidden_from_the_scan_is_caught_at_run_time(tmp_path, example_package):
    result = submit(tmp_path, example_package, CORRECT_ADD, ROWSUM, """
        import torch
        NAME = "soft" + "max"

        def softmax(x, dim=-1):
            return getattr(torch, NAME)(x, dim)
    """)
    assert part_score(result, "softmax") == 0
    assert all("forbidden function at run time: torch.softmax" in t["message"] for t in part_tests(result, "softmax"))


def _notebook_with(tmp_path, sources: dict[str, str]):
    import json

    from tests.conftest import EXAMPLE

    notebook = json.loads((EXAMPLE / "source.ipynb").read_text())
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell["source"] = textwrap.dedent(sources[grade_id])
    path = tmp_path / "upload.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def test_a_forged_cell_log_earns_nothing_and_hides_no_unanswered_cell(tmp_path, example_package):
    """The cell log comes out of the sandbox; a notebook that writes "every cell ran" into it
    scores exactly what the same notebook scores without the forgery."""
    honest = {"softmax": "# YOUR CODE HERE\nraise NotImplementedError()", "add": CORRECT_ADD}
    forged = dict(honest, add=CORRECT_ADD + """
import json, sys
_out = sys.argv[sys.argv.index("--out") + 1]
with open(_out + "/cells.jsonl", "a") as _log:
    for _cell in ("imports", "add", "softmax", "rowsum"):
        _log.write(json.dumps({"cell": _cell, "status": "ok"}) + "\\n")
""")
    results = [grade(example_package, _notebook_with(tmp_path, sources), seed=11, hardware="test-host").to_dict()
               for sources in (honest, forged)]
    assert [result["score"] for result in results] == [pytest.approx(2), pytest.approx(2)]
    assert [part_score(result, "softmax") for result in results] == [0, 0]
    assert results[0]["warnings"] == ["cell `softmax` (In [3]) raised NotImplementedError (you have not answered it "
                                      "yet)"]
    assert results[1]["warnings"] == ["cell `softmax` (In [3]) is not answered yet: it still raises "
                                      "NotImplementedError where your code goes"]
