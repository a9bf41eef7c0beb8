"""Nothing lost, nothing graded twice: real Redis, real worker processes, the fake portal."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from worker_helpers import add_standin_submission, sweeper_once, wait_for

pytestmark = pytest.mark.redis


def _started_pid(workers, sid: int, timeout_s: float = 30) -> int:
    wait_for(lambda: "start" in workers.events(sid), timeout_s,
             f"submission {sid} to start\n{workers.dump_logs()}")
    return [e[2] for e in workers.grading_log() if e[1] == sid and e[0] == "start"][0]


def test_pool_process_sigkilled_mid_grade_is_graded_exactly_once(workers, portal, producer,
                                                                   standin_assignment):
    workers.start("w1", concurrency=1)
    sid = add_standin_submission(portal, standin_assignment, sleep=4)
    producer.grade(sid)
    os.kill(_started_pid(workers, sid), signal.SIGKILL)
    wait_for(lambda: portal.submissions[sid].state == "graded", 60,
             f"submission {sid} graded after the kill\n{workers.dump_logs()}")
    time.sleep(2)  # a duplicate would show up here
    assert workers.events(sid) == ["start", "start", "done"]
    assert portal.stored_count(sid) == 1
    assert [what for _, what in portal.submissions[sid].result_posts] == ["stored"]


def test_whole_worker_sigkilled_mid_grade_is_graded_once_by_another(workers, portal, producer,
                                                                    standin_assignment):
    """The host dies: its reserved job sits in Redis's unacked set (redelivered only after the
    visibility timeout, an hour here); the sweeper sees the portal's row without news and
    re-enqueues it; a second worker grades it once; the old delivery, once it comes back,
    is dropped."""
    slow = dict(DLGRADE_VISIBILITY_TIMEOUT_S=3600, DLGRADE_SOFT_TIME_LIMIT_S=600,
                DLGRADE_TIME_LIMIT_S=700)
    w1 = workers.start("w1", concurrency=1, **slow)
    sid = add_standin_submission(portal, standin_assignment, sleep=4)
    producer.grade(sid)
    _started_pid(workers, sid)
    w1.kill_all()
    assert workers.redis_server.client().hlen("unacked") == 1, "the job is reserved by the dead worker"
    workers.start("w2", concurrency=1, **slow)
    time.sleep(4)  # the heartbeat has stopped; the portal sees no news for 3 s
    report = json.loads(sweeper_once(workers.env(), older_than_s=3))
    assert report["requeued"] == [[sid, 1, "cpu"]], report
    wait_for(lambda: portal.submissions[sid].state == "graded", 60,
             f"submission {sid} graded by w2\n{workers.dump_logs()}")
    assert workers.events(sid) == ["start", "start", "done"]
    assert portal.stored_count(sid) == 1
    again = json.loads(sweeper_once(workers.env(), older_than_s=0))
    assert again["requeued"] == [], "a graded submission is never re-enqueued"


def test_redis_restarted_with_jobs_queued_every_submission_still_graded(
        workers, portal, producer, standin_assignment):
    workers.start("w1", concurrency=1)
    sids = [add_standin_submission(portal, standin_assignment, sleep=1.5) for _ in range(8)]
    for sid in sids:
        producer.grade(sid)
    _started_pid(workers, sids[0])
    workers.redis_server.restart(down_s=1)  # nothing persisted: every queued job is gone
    fresh = workers.redis_server.client()  # only the running job's renewed claim may be back already
    assert fresh.llen("cpu") == 0 and fresh.hlen("unacked") == 0, fresh.keys()
    time.sleep(3)
    report = json.loads(sweeper_once(workers.env(), older_than_s=2))
    requeued = {item[0] for item in report["requeued"]}
    assert sids[0] not in requeued, "the running job posts progress, so it is not stuck"
    assert requeued >= set(sids[2:]), report
    wait_for(lambda: portal.all_done(), 90, f"every submission graded\n{workers.dump_logs()}")
    for sid in sids:
        assert workers.events(sid) == ["start", "done"], (sid, workers.grading_log())
        assert portal.stored_count(sid) == 1


def test_portal_down_while_result_is_posted_arrives_once_when_back(workers, portal, producer,
                                                                   standin_assignment):
    workers.start("w1", concurrency=1)
    sid = add_standin_submission(portal, standin_assignment, sleep=1.0)
    producer.grade(sid)
    _started_pid(workers, sid)
    portal.down()
    wait_for(lambda: "done" in workers.events(sid), 30, "grading to finish")
    time.sleep(6)  # past DLGRADE_POST_INLINE_S: handed to dlgrade.post_result, retrying
    assert portal.submissions[sid].state == "running"
    portal.up()
    wait_for(lambda: portal.submissions[sid].state == "graded", 90,
             f"result posted after the portal came back\n{workers.dump_logs()}")
    time.sleep(2)
    assert portal.stored_count(sid) == 1
    assert [what for _, what in portal.submissions[sid].result_posts] == ["stored"]
    assert workers.events(sid) == ["start", "done"], "the result is re-posted, not re-graded"


def test_lost_answer_to_result_post_is_retried_and_stored_once(workers, portal, producer,
                                                               standin_assignment):
    workers.start("w1", concurrency=1)
    sid = add_standin_submission(portal, standin_assignment)
    portal.fail("POST", rf"/api/worker/submissions/{sid}/result", status=502, after=True)
    producer.grade(sid)
    wait_for(lambda: len(portal.submissions[sid].result_posts) >= 2, 30,
             f"the retried post\n{workers.dump_logs()}")
    assert [what for _, what in portal.submissions[sid].result_posts] == ["stored", "duplicate"]
    assert portal.stored_count(sid) == 1


def test_poison_submission_stops_after_max_deliveries_and_is_reported_final(
        workers, portal, producer, standin_assignment):
    workers.start("w1", concurrency=1, DLGRADE_MAX_DELIVERIES=3)
    sid = add_standin_submission(portal, standin_assignment, kill="always")
    producer.grade(sid)
    wait_for(lambda: portal.submissions[sid].state == "error", 60,
             f"the poison submission failed for staff\n{workers.dump_logs()}")
    assert workers.events(sid) == ["start"] * 3
    failure = portal.submissions[sid].failures[-1]
    assert failure["final"] is True and "3 times" in failure["message"]
    assert portal.submissions[sid].results == {}


def test_engine_exception_is_retried_then_final(workers, portal, producer, standin_assignment):
    workers.start("w1", concurrency=1, DLGRADE_MAX_DELIVERIES=2, DLGRADE_FAILURE_RETRY_S=0.5)
    sid = add_standin_submission(portal, standin_assignment, **{"raise": "engine bug"})
    producer.grade(sid)
    wait_for(lambda: portal.submissions[sid].state == "error", 60,
             f"final failure\n{workers.dump_logs()}")
    finals = [f["final"] for f in portal.submissions[sid].failures]
    assert finals == [False, True]
    assert "engine bug" in portal.submissions[sid].failures[-1]["message"]
    assert "Traceback" in portal.submissions[sid].failures[-1]["detail"]


def test_superseded_attempt_is_not_graded(workers, portal, producer, standin_assignment):
    sid = add_standin_submission(portal, standin_assignment)
    producer.grade(sid, attempt=1)
    portal.regrade(sid)
    producer.grade(sid, attempt=2)
    workers.start("w1", concurrency=1)
    wait_for(lambda: portal.submissions[sid].state == "graded", 30, "attempt 2 graded")
    time.sleep(1)
    assert list(portal.submissions[sid].results) == [2]
    assert workers.events(sid) == ["start", "done"]


def test_assignment_run_limit_above_the_workers_fails_final_with_a_fix(workers, portal, producer):
    from worker_standins import make_bundle

    digest = portal.add_bundle(make_bundle({"assignment.toml": 'schema = 1\nslug = "long"\n'
                                            '[resources]\nrun_timeout_s = 7200\n'}))
    aid = portal.add_assignment("long", digest)
    workers.start("w1", concurrency=1, DLGRADE_MAX_RUN_TIMEOUT_S=60)
    sid = add_standin_submission(portal, aid)
    producer.grade(sid)
    wait_for(lambda: portal.submissions[sid].state == "error", 30, f"final failure\n{workers.dump_logs()}")
    failure = portal.submissions[sid].failures[-1]
    assert failure["final"] and "DLGRADE_MAX_RUN_TIMEOUT_S" in failure["message"]
    assert workers.events(sid) == [], "the engine never ran"
