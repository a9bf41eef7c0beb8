"""Time limits: a test over its limit is a timeout of that test; the rest still count."""

import textwrap

import pytest

from autograder.grading import grade

pytestmark = pytest.mark.slow

GOOD = """
def add(a, b):
    return a + b

def rowsum(x):
    return x.sum(-1)
"""


def run(tmp_path, package, body):
    path = tmp_path / "submission.py"
    path.write_text(GOOD + textwrap.dedent(body))
    return grade(package, path, seed=3, hardware="test-host").to_dict()


def test_infinite_loop_is_a_timeout_of_that_test_only(tmp_path, example_package):
    toml = example_package / "assignment.toml"
    toml.write_text(toml.read_text().replace("test_timeout_s = 20", "test_timeout_s = 10"))
    result = run(tmp_path, example_package, """
        def softmax(x, dim=-1):
            while True:
                pass
    """)
    softmax = [t for t in result["tests"] if t["part"] == "softmax"]
    assert softmax and all(t["status"] == "timeout" for t in softmax)
    assert next(p for p in result["parts"] if p["name"] == "add")["score"] == pytest.approx(2)


def test_a_hang_that_blocks_the_alarm_is_killed_from_outside_and_the_run_resumes(tmp_path, example_package):
    toml = example_package / "assignment.toml"
    toml.write_text(toml.read_text().replace("test_timeout_s = 20", "test_timeout_s = 10"))
    result = run(tmp_path, example_package, """
        import signal, time

        def softmax(x, dim=-1):
            signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
            while True:
                time.sleep(0.1)
    """)
    assert result["status"] == "graded"
    assert result["run"]["restarts"] == 1  # resumed once; the second death of the same kind ends it (runaway.py)
    resumed = [t for t in result["tests"] if t["part"] == "add" and not t["message"].startswith("not run")]
    assert resumed and all(t["status"] == "pass" for t in resumed)
    timeouts = [t for t in result["tests"] if t["status"] == "timeout"]
    assert timeouts and "stopped from outside" in timeouts[0]["message"]
