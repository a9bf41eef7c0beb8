"""The real engine behind a real worker: tests/example_assignment graded through Redis."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from worker_helpers import REAL_APP, ROOT, wait_for

pytestmark = pytest.mark.redis

EXAMPLE = ROOT / "tests" / "example_assignment"
ENGINE = {"app": REAL_APP, "DLGRADE_FAILURE_RETRY_S": "1"}


def _no_grading_failure(portal) -> None:
    for sub in portal.submissions.values():
        if sub.failures:
            pytest.fail(f"the engine failed on submission {sub.id}: {sub.failures[-1]['message']}\n"
                        f"{sub.failures[-1]['detail'][-3000:]}")


@pytest.fixture
def example_assignment(portal) -> int:
    from autograder.bundle import bundle_bytes
    from autograder.package import load_assignment

    digest = portal.add_bundle(bundle_bytes(load_assignment(EXAMPLE)))
    return portal.add_assignment("example", digest, gpus=0)


def _solution() -> bytes:
    return (EXAMPLE / "notebook.py").read_bytes()


def _wrong_add() -> bytes:
    text = _solution().decode()
    assert "    return a + b\n" in text
    return text.replace("    return a + b\n", "    return a - b\n").encode()


def test_real_engine_grades_right_and_wrong_submissions(workers, portal, producer, example_assignment):
    workers.start("w1", concurrency=1, **ENGINE)
    right = portal.add_submission(example_assignment, _solution(), filename="notebook.py")
    wrong = portal.add_submission(example_assignment, _wrong_add(), filename="notebook.py")
    for sid in (right, wrong):
        producer.grade(sid)
    wait_for(lambda: portal.all_done() or any(s.failures for s in portal.submissions.values()), 240,
             f"both graded ({portal.states()})\n{workers.dump_logs()}")
    _no_grading_failure(portal)
    r, w = portal.submissions[right].results[1], portal.submissions[wrong].results[1]
    assert portal.submissions[right].state == "graded", portal.submissions[right].failures
    assert r["status"] == "graded" and r["score"] == pytest.approx(r["max_score"])
    assert w["status"] == "graded" and w["score"] < w["max_score"]
    assert any(p.get("total") for p in portal.submissions[right].progress), "per-test progress posted"


def test_real_engine_worker_killed_mid_grade_graded_exactly_once(workers, portal, producer,
                                                                 example_assignment):
    w = workers.start("w1", concurrency=1, **ENGINE)
    sid = portal.add_submission(example_assignment, _solution(), filename="notebook.py")
    producer.grade(sid)
    wait_for(lambda: portal.submissions[sid].state == "running", 60, "grading to start")
    time.sleep(0.5)
    children = [int(p) for p in os.listdir("/proc") if p.isdigit()
                and _ppid(int(p)) == w.proc.pid]
    assert children, "the pool process"
    os.kill(children[0], signal.SIGKILL)
    wait_for(lambda: portal.submissions[sid].state in ("graded", "error"), 240,
             f"graded after the kill\n{workers.dump_logs()}")
    # the one failure posted is the record of the killed run, for staff (jobs.py); never final
    lost = portal.submissions[sid].failures
    assert [(f["final"], f["message"].split(" (")[0]) for f in lost] == [
        (False, "start 1 of this attempt ended without a result")], lost
    time.sleep(2)
    assert [what for _, what in portal.submissions[sid].result_posts] == ["stored"]
    assert portal.submissions[sid].results[1]["score"] == pytest.approx(
        portal.submissions[sid].results[1]["max_score"])


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])
