"""A student run in lanes (autograder/lanes.py), in the real process sandbox on the CPU: the
same verdicts as one run, the lanes' runs at the same time, the perf test's run alone after
them, a hang in one lane restarted and reported as in one run while the other lane's tests
pass, and progress that never goes back."""

from __future__ import annotations

import shutil
import textwrap
import threading
import time
from pathlib import Path

import pytest

from autograder import images
from autograder.grading import grade
from autograder.sandbox.docker import DockerSandbox
from autograder.sandbox.process import ProcessSandbox

pytestmark = pytest.mark.slow

CORRECT = """
import torch

def add(a, b):
    return a + b

def softmax(x, dim=-1):
    shifted = x - x.max(dim, keepdim=True).values
    return shifted.exp() / shifted.exp().sum(dim, keepdim=True)

def rowsum(x):
    return x.sum(-1)
"""

# The in-sandbox alarm cannot stop it: the watcher outside kills the run (run_watch.py).
SOFTMAX_HANGS = """
import signal, time

def softmax(x, dim=-1):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    while True:
        time.sleep(0.1)
"""
PERF_TEST = "hidden/test_hidden.py::test_rowsum_speed"


class TimedSandbox:
    """A backend (the process sandbox by default) noting from outside which tests each run was
    given and when it ran."""

    def __init__(self, backend=None):
        self.backend = backend or ProcessSandbox()
        self.spans: list[tuple[frozenset[str], float, float]] = []
        self.lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def run(self, job):
        config = next(mount.source for mount in job.mounts if mount.target == "/grader/config")
        only = Path(config) / Path(job.argv[job.argv.index("--only") + 1]).name
        tests = frozenset(only.read_text().split())
        started = time.monotonic()
        try:
            return self.backend.run(job)
        finally:
            with self.lock:
                self.spans.append((tests, started, time.monotonic()))


def _grade(tmp_path: Path, package: Path, source: str, lanes: int, sandbox=None, progress=None) -> dict:
    path = tmp_path / f"submission-{lanes}.py"
    path.write_text(textwrap.dedent(source))
    return grade(package, path, seed=5, hardware="test-host", run_lanes=lanes, sandbox=sandbox or "process",
                 on_progress=progress).to_dict()


def _verdicts(result: dict) -> list[tuple]:
    return [(t["name"], t["part"], t["status"], round(t["score"], 6), t["message"]) for t in result["tests"]]


def _overlap(a: tuple, b: tuple) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def test_two_lanes_grade_as_one_run_at_the_same_time_with_the_perf_test_alone(tmp_path, example_package):
    one = _grade(tmp_path, example_package, CORRECT, 1)
    sandbox, progress = TimedSandbox(), []
    two = _grade(tmp_path, example_package, CORRECT, 2, sandbox, progress.append)
    assert _verdicts(two) == _verdicts(one)
    assert (two["score"], two["max_score"], two["run"]["restarts"]) == (one["score"], one["max_score"], 0)
    assert len(one["run"]["student_runs"]) == 1, "one lane: one run, perf test included, as before lanes"

    correctness = [span for span in sandbox.spans if PERF_TEST not in span[0]]
    perf = [span for span in sandbox.spans if PERF_TEST in span[0]]
    assert len(correctness) == 2 and not correctness[0][0] & correctness[1][0], "two lanes, disjoint tests"
    assert _overlap(*correctness), f"the lanes ran one after the other: {sandbox.spans}"
    assert len(perf) == 1 and perf[0][0] == {PERF_TEST}, "the perf test runs on its own"
    assert not any(_overlap(perf[0], other) for other in correctness), "nothing else runs while perf is timed"
    parts = [{t["part"] for t in one["tests"] if t["name"] in span[0]} for span in correctness]
    assert sorted(map(sorted, parts)) == [["add"], ["softmax"]], "each part's tests stay in one lane"

    logged = two["run"]["student_runs"]
    assert sorted(str(entry["lane"]) for entry in logged) == ["0", "1", "perf"]
    assert sum(entry["tests"] for entry in logged) == len(two["tests"])

    done = [report["done"] for report in progress]
    assert done == sorted(done) and done[-1] == len(two["tests"]), f"progress went back or stopped short: {done}"
    assert {report["total"] for report in progress} == {len(two["tests"])}


def test_a_hang_in_one_lane_is_restarted_as_in_one_run_while_the_other_lane_passes(tmp_path, example_package):
    toml = example_package / "assignment.toml"
    toml.write_text(toml.read_text().replace("test_timeout_s = 20", "test_timeout_s = 5"))
    one = _grade(tmp_path, example_package, CORRECT + SOFTMAX_HANGS, 1)
    sandbox = TimedSandbox()
    two = _grade(tmp_path, example_package, CORRECT + SOFTMAX_HANGS, 2, sandbox)
    hanging_lane = [v for v in _verdicts(two) if v[1] in ("softmax", "rowsum_perf")]
    assert hanging_lane == [v for v in _verdicts(one) if v[1] in ("softmax", "rowsum_perf")], \
        "the hanging part and the perf test after it: as in one run (two timeouts, then the runaway rule)"
    summary = one["message"].split(" (")[0]
    assert summary.startswith("Your code ran past the time limit") and two["message"].startswith(summary + " (")
    assert two["run"]["restarts"] == one["run"]["restarts"] == 1
    assert sum(t["status"] == "timeout" for t in two["tests"]) == 2
    assert [t["status"] for t in two["tests"] if t["part"] == "add"] == ["pass"] * 3, \
        "the other lane's tests all count (in one run, a test collected after the hang is not run)"
    softmax_runs = [span for span in sandbox.spans if any("softmax" in nodeid for nodeid in span[0])]
    add_runs = [span for span in sandbox.spans if any("test_add" in nodeid for nodeid in span[0])]
    assert len(softmax_runs) == 2 and len(add_runs) == 1, sandbox.spans
    assert _overlap(add_runs[0], softmax_runs[0]), "the add lane ran beside the hanging lane"


@pytest.mark.docker
def test_lanes_of_docker_containers_grade_as_one_process_run(tmp_path, example_package):
    if shutil.which("docker") is None:
        pytest.skip("SKIPPED LOUDLY: no docker CLI on this machine; run infra/scripts/ensure_docker.sh")
    sandbox = TimedSandbox(DockerSandbox(image=images.build_image("cpu")))
    two = _grade(tmp_path, example_package, CORRECT, 2, sandbox)
    one = _grade(tmp_path, example_package, CORRECT, 1)
    assert _verdicts(two) == _verdicts(one)
    correctness = [span for span in sandbox.spans if PERF_TEST not in span[0]]
    perf = [span for span in sandbox.spans if PERF_TEST in span[0]]
    assert len(correctness) == 2 and _overlap(*correctness), sandbox.spans
    assert len(perf) == 1 and not any(_overlap(perf[0], other) for other in correctness), sandbox.spans
