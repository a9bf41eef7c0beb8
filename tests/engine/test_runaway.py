"""A runaway submission costs one slot once: a run killed the same way twice is not restarted
again, and the summary says why in one line (autograder/runaway.py)."""

from __future__ import annotations

import nbformat
import pytest

from autograder.grading import grade
from autograder.runaway import RepeatedDeath, cell_names

pytestmark = pytest.mark.slow

BLOCKED_LOOP = """def softmax(x, dim=-1):
    import signal, time
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])  # the in-sandbox alarm cannot stop it
    while True:
        time.sleep(0.1)
"""


def test_a_hang_that_kills_every_run_is_run_twice_not_once_per_test(tmp_path, example_package):
    toml = example_package / "assignment.toml"
    toml.write_text(toml.read_text().replace("test_timeout_s = 20", "test_timeout_s = 5"))
    notebook = nbformat.read(example_package / "source.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "softmax":
            cell.source = BLOCKED_LOOP
    path = tmp_path / "runaway.ipynb"
    nbformat.write(notebook, path)
    result = grade(example_package, path, seed=3, hardware="test-host").to_dict()
    assert result["status"] == "graded"
    assert result["run"]["restarts"] == 1, "two runs died the same way: no third"
    assert result["message"].startswith(
        "Your code ran past the time limit in cell `softmax`, twice; the tests after it were not run."), result["message"]
    softmax = [t for t in result["tests"] if t["part"] == "softmax"]
    assert len(softmax) > 2
    assert sum(t["status"] == "timeout" for t in softmax) == 2
    assert all(t["message"].startswith("not run: your code ran past the time limit twice")
               for t in softmax if t["status"] != "timeout")
    ran = [t for t in result["tests"] if not t["message"].startswith("not run")]
    assert [t["status"] for t in ran if t["part"] == "add"] == ["pass", "pass"], "what ran before still counts"
    assert result["run"]["durations"]["student_s"] < 60, "two runs of about 5 s each, not one per test"
    runs = result["run"]["student_runs"]  # staff logs (autograder/run_log.py)
    assert len(runs) == 2 and all(r["events"] == ["stopped by the grader: a test ran past its time limit"] for r in runs)
    assert all(r["cap_chars"] == 20000 and isinstance(r["stderr"], str) for r in runs)


class _Outcome:
    def __init__(self, timed_out=False, out_of_memory=False):
        self.timed_out, self.out_of_memory = timed_out, out_of_memory


def test_only_the_same_death_twice_stops_the_restarts():
    deaths = RepeatedDeath({"relu"})
    assert not deaths.record(_Outcome(timed_out=True), "relu")
    assert not deaths.record(_Outcome(out_of_memory=True), "linear")  # a different death
    assert not deaths.record(_Outcome(), "linear")  # a crash of another kind does not count
    assert deaths.summary() is None
    assert deaths.record(_Outcome(out_of_memory=True), "linear")
    assert deaths.summary() == ("Your code ran out of memory in a test of part `linear`, twice; "
                                "the tests after it were not run.")
    assert cell_names({3: "cell `relu` (In [2]) line 2", 9: "cell `linear` (In [3]) line 1", 12: "provided"}) == {"relu", "linear"}
