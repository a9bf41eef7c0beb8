"""A real worker process grades through Redis and the (fake) portal."""

from __future__ import annotations

import pytest

from worker_helpers import add_standin_submission, wait_for

pytestmark = pytest.mark.redis


def test_submission_is_graded_and_result_posted_once(workers, portal, producer, standin_assignment):
    w = workers.start("w1")
    sid = add_standin_submission(portal, standin_assignment, sleep=0.3)
    producer.grade(sid)
    wait_for(lambda: portal.submissions[sid].state == "graded", 30,
             f"submission {sid} graded\n{workers.dump_logs()}")
    sub = portal.submissions[sid]
    assert sub.results[1]["score"] == 1.0
    assert portal.stored_count(sid) == 1
    assert sub.progress[0]["part"] is None and sub.progress[0]["state"] == "running"
    assert any(p["part"] == "basics" for p in sub.progress), "the part being run was reported"
    assert all("test" not in p for p in sub.progress), "a test's name reached the portal"
    assert workers.events(sid) == ["start", "done"]
    assert " ready." in w.log()
