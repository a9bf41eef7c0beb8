"""The stability rule on a fake noisy perf case, in a second: a perf test whose measurement
spreads too widely is measured again in fresh runs (config `perf_remeasure` more times) and
the least noisy measurement is scored; when every run is noisy it is given up, the result says
so, and its points leave the maximum (the student is not penalised). A stand-in runner plays
the sandbox, answering each run with the next spread of a script."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from autograder.package import load_assignment
from autograder.records_io import read_run
from autograder.result import GradeResult
from autograder.sandbox import Mount, SandboxOutcome
from autograder.sandbox_runs import ModuleUnderTest
from autograder.scan import ScanResult
from autograder.scoring import score
from autograder.student_run import student_run
from autograder.trusted_run import TrustedRun

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "example_assignment"
ADD, SPEED = "hidden/test_hidden.py::test_add", "hidden/test_hidden.py::test_rowsum_speed"


def _records(folder: Path, nodeids: list[str], spread: float) -> None:
    folder.mkdir(parents=True)
    floats = {"student_s": 0.002, "baseline_s": 0.002, "spread": spread}
    timing = {"type": "dict", "items": {k: {"type": "float", "value": v} for k, v in floats.items()}}
    lines = []
    for nodeid in nodeids:
        part, checks = ("add", []) if nodeid == ADD else (
            "rowsum_perf", [{"name": "rowsum_4096", "kind": "perf", "value": timing}])
        lines.append(json.dumps({"nodeid": nodeid, "outcome": "passed", "part": part, "weight": 1,
                                 "timeout_s": 20, "checks": checks}))
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "session_finished.txt").write_text("ok")


class NoisyRunner:
    """Each run records the requested tests; the perf one with the next spread of `spreads`."""

    def __init__(self, tmp: Path, spreads: list[float]):
        self.setup = types.SimpleNamespace(assignment=load_assignment(EXAMPLE), work=tmp, seed=1, gpus=())
        self.spreads, self.asked = list(spreads), []

    def run(self, request, **_progress):
        self.asked.append(list(request.nodeids))
        out = self.setup.work / f"out-{len(self.asked)}"
        _records(out, request.nodeids, self.spreads.pop(0))
        outcome = SandboxOutcome(0, False, False, 10.0, "", "", out, "stand-in")
        return types.SimpleNamespace(output_dir=out), outcome, read_run(out, max_bytes=1 << 20)


def _grade(tmp_path: Path, spreads: list[float]) -> tuple[GradeResult, NoisyRunner]:
    trusted_dir = tmp_path / "trusted"
    _records(trusted_dir, [ADD, SPEED], 0.01)
    trusted = TrustedRun(read_run(trusted_dir, max_bytes=1 << 20), "run", 20.0)
    runner = NoisyRunner(tmp_path, spreads)
    module = ModuleUnderTest(Mount(tmp_path, "/grader/submission"), "/grader/submission")
    run = student_run(runner, module, trusted, [ADD, SPEED], None)
    runner.log = run.log
    result = GradeResult(status="graded", assignment="example", run={})
    score(result, runner.setup.assignment, trusted.records, run, ScanResult({}, []), [ADD, SPEED], "cpu (2 cores)")
    return result, runner


def _test(result: GradeResult, nodeid: str):
    return next(test for test in result.tests if test.name == nodeid)


def test_a_noisy_measurement_is_taken_again_and_the_calm_one_scored(tmp_path, monkeypatch):
    monkeypatch.setenv("DLGRADE_PERF_REMEASURE", "2")
    result, runner = _grade(tmp_path, [0.9, 0.2])  # max_spread of rowsum_4096 is 0.5
    assert runner.asked == [[ADD, SPEED], [SPEED]], "only the noisy test ran again"
    # Staff see the re-measure as a run of its own, after the first
    assert [(entry["lane"], entry["tests"]) for entry in runner.log] == [(0, 2), ("remeasure", 1)]
    assert runner.log[1]["start_s"] >= runner.log[0]["end_s"]
    speed = _test(result, SPEED)
    assert speed.status == "pass" and speed.perf["spread"] == pytest.approx(0.2)
    assert (result.score, result.max_score, result.unmeasured_points) == (4.0, 4.0, 0.0)


def test_noisy_every_time_is_given_up_said_so_and_left_out_of_the_maximum(tmp_path, monkeypatch):
    monkeypatch.setenv("DLGRADE_PERF_REMEASURE", "2")
    result, runner = _grade(tmp_path, [0.9, 0.7, 0.8])
    assert runner.asked == [[ADD, SPEED], [SPEED], [SPEED]], "measured 1 + perf_remeasure times"
    speed = _test(result, SPEED)
    assert speed.status == "not-measured" and speed.score == 0
    assert "too noisy in each of 3 runs (least spread 70%" in speed.message
    assert "left out of your maximum" in speed.message
    assert (result.score, result.max_score, result.unmeasured_points) == (2.0, 2.0, 2.0), "not penalised"
    perf_part = next(part for part in result.parts if part["name"] == "rowsum_perf")
    assert (perf_part["score"], perf_part["max_score"]) == (0, 0), "the part's maximum excludes it"
    assert result.message.endswith("(2 points of 1 performance test not measured: not counted)")


def test_the_same_noise_gives_the_same_percentage_whether_measured_or_given_up(tmp_path, monkeypatch):
    """Five gradings of one submission: measured on some, given up on others, never a lower share."""
    monkeypatch.setenv("DLGRADE_PERF_REMEASURE", "1")
    shares = []
    for index, spreads in enumerate(([0.9, 0.9], [0.1], [0.9, 0.3], [0.6, 0.7], [0.2])):
        result, _ = _grade(tmp_path / str(index), spreads)
        shares.append(result.score / result.max_score)
    assert shares == [1.0] * 5
