"""Fault tests with the real portal, real Redis, real worker processes and real grading (the
example assignment through the engine), at the production timings (heartbeat 20 s, stuck
after 60 s, sweep every 30 s, offline after 60 s). Each measures the time to recovery."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time

import pytest

from test_worker_portal_integration import EXAMPLE, real_portal  # noqa: F401  (fixture)
from worker_helpers import wait_for

# Real worker processes killed and Redis restarted, with real grading: about 14 minutes, and since
# the merge of the worker's app factory (create_app) they fail; kept out of `make test` until
# fixed, run with `make test-recovery`.
pytestmark = [pytest.mark.redis, pytest.mark.recovery]

RECOVERY_S = 120
PRODUCTION = dict(DLGRADE_HEARTBEAT_S=20, DLGRADE_STUCK_AFTER_S=60, DLGRADE_SWEEP_INTERVAL_S=30,
                  DLGRADE_GRADE_FUNCTION=os.environ.get("DLGRADE_TEST_ENGINE", "autograder.grading:grade"),
                  DLGRADE_UNPACK_FUNCTION="autograder.bundle:unpack", DLGRADE_FAILURE_RETRY_S=1)


@pytest.fixture
def course_setup(real_portal):  # noqa: F811
    """A course whose example assignment is released with its bundle (no gate run: that is
    test_worker_portal_integration's), a student, a worker token and the worker env."""
    from autograder.bundle import bundle_bytes
    from autograder.package import load_assignment
    from web import packages
    from web.db import db, utcnow
    from web.models import Assignment, Course, User
    from web.security import issue_token

    app, url = real_portal
    session, store = db.session, app.extensions["dlgrade_store"]
    _, token = issue_token(kind="worker", user_id=None, name="recovery worker")
    course = Course(slug="dlsys", title="Efficient DL Systems", late_days=3)
    student = User(email="s@example.edu", name="S", password_hash="x", sis_id="1")
    session.add_all([course, student])
    session.flush()
    bundle = bundle_bytes(load_assignment(EXAMPLE))
    digest = store.put(bundle)
    assert digest == hashlib.sha256(bundle).hexdigest()
    # What the portal keeps from a passed gate's report (the engine's metadata, read the portal's way).
    from autograder.release import build_release

    example = load_assignment(EXAMPLE)
    release = build_release(example)
    info = packages.gated_assignment({"release_digest": release.digest, "assignment": example.portal_metadata()
                                      | {"solution_ids": list(release.solution_ids)}}, example.slug)
    assignment = Assignment(course_id=course.id, slug=example.slug, title=info.title, parts=info.parts,
                            solution_ids=info.solution_ids, max_score=info.max_score,
                            bundle_digest=digest, gate_attempt=1, gate_passed=True, state="released", queue="cpu",
                            deadline=utcnow() + dt.timedelta(days=3), released_at=utcnow())
    session.add(assignment)
    session.commit()
    env = dict(PRODUCTION, DLGRADE_PORTAL_URL=url, DLGRADE_WORKER_TOKEN=token)
    return app, session, store, assignment, student, env


def submit(app, session, store, assignment, student):
    from web import services

    data = (EXAMPLE / "source.ipynb").read_bytes()
    return services.submit(session, store, app.extensions["dlgrade_tasks"], assignment=assignment,
                           user_id=student.id, filename="example.ipynb", data=data, default_max_mb=5).id


def state_of(session, sid):
    from web.models import Submission

    session.expire_all()
    return session.get(Submission, sid)


def test_killed_worker_goes_offline_and_its_job_is_rerun_once(course_setup, workers):
    from web import operations
    from web.db import utcnow

    app, session, store, assignment, student, env = course_setup
    w1 = workers.start("w1", concurrency=1, DLGRADE_WORKER_NAME="host-a", **env)
    sid = submit(app, session, store, assignment, student)
    wait_for(lambda: state_of(session, sid).state == "running", 120, f"grading to start\n{workers.dump_logs()}", poll_s=0.2)
    w1.kill_all()  # the worker's main process and its pool: the host is gone
    killed = time.monotonic()
    workers.start("w2", concurrency=1, DLGRADE_WORKER_NAME="host-b", **env)

    def offline():
        return "host-a" in operations.offline_workers(session, utcnow(), app.config["WORKER_OFFLINE_AFTER_S"])

    wait_for(offline, 90, "host-a to go offline on the Operations page", poll_s=1)
    offline_s = time.monotonic() - killed
    wait_for(lambda: state_of(session, sid).state == "graded", RECOVERY_S + 120,
             f"the job graded again\n{workers.dump_logs()}", poll_s=1)
    recovered_s = time.monotonic() - killed
    print(f"\nworker killed: offline after {offline_s:.0f} s, job graded again after {recovered_s:.0f} s")
    row = state_of(session, sid)
    assert offline_s <= 60 + 25 and recovered_s <= RECOVERY_S, (offline_s, recovered_s)
    run = row.grades[0]
    assert (row.worker, run.failures) == ("host-b", 1), "the lost run is recorded once, the job ran once more"
    assert run.failure_message.startswith("start 1 of this attempt ended without a result")
    assert row.score == pytest.approx(row.max_score) and len([g for g in row.grades if g.result]) == 1


def test_redis_restart_brings_queued_work_back(course_setup, workers):
    from autograder.worker.state import SharedState
    from autograder.worker.sweeper import held_by_broker

    app, session, store, assignment, student, env = course_setup
    workers.start("w1", concurrency=1, DLGRADE_WORKER_NAME="host-a", **env)
    sids = [submit(app, session, store, assignment, student) for _ in range(3)]
    wait_for(lambda: state_of(session, sids[0]).state == "running", 120, f"grading to start\n{workers.dump_logs()}",
             poll_s=0.2)
    workers.redis_server.restart(down_s=1)  # nothing persisted: the queued jobs are gone
    restarted = time.monotonic()
    state = SharedState(workers.redis_server.url)
    lost = set(sids[1:])

    def back() -> bool:
        held = {ident for ident, _ in held_by_broker(state, ["cpu"], reserved_within_s=3600)}
        done = {sid for sid in lost if state_of(session, sid).state in ("running", "graded")}
        return lost <= held | done

    wait_for(back, RECOVERY_S + 30, f"the lost jobs back in Redis\n{workers.dump_logs()}", poll_s=1)
    back_s = time.monotonic() - restarted
    wait_for(lambda: all(state_of(session, sid).state == "graded" for sid in sids), 300,
             f"every submission graded\n{workers.dump_logs()}", poll_s=1)
    print(f"\nredis restarted: queued work back after {back_s:.0f} s, all graded after "
          f"{time.monotonic() - restarted:.0f} s")
    assert back_s <= RECOVERY_S
    for sid in sids:
        assert len([g for g in state_of(session, sid).grades if g.result]) == 1


def test_gpu_queue_without_a_consumer_says_so(course_setup, workers):
    """A CPU worker runs; the GPU assignment's gate and submission wait on `gpu`, and within a
    minute the student's status and staff's Operations page say what for."""
    from web.models import Assignment, Course, Membership
    from web.tasks import GATE_TASK

    app, session, store, cpu_assignment, student, env = course_setup
    gpu_course = Course(slug="gpu-course", title="GPU course", late_days=3)
    session.add(gpu_course)
    session.flush()
    # the same notebook, on a course whose copy of the assignment needs a GPU
    gpu_assignment = Assignment(course_id=gpu_course.id, slug="example", title="Example on a GPU",
                                parts=cpu_assignment.parts, solution_ids=cpu_assignment.solution_ids,
                                max_score=cpu_assignment.max_score, bundle_digest=cpu_assignment.bundle_digest,
                                gate_attempt=1, gate_passed=True, state="released", queue="gpu",
                                deadline=cpu_assignment.deadline, released_at=cpu_assignment.released_at)
    gating = Assignment(course_id=cpu_assignment.course_id, slug="qlora", title="QLoRA", parts=[], solution_ids=[],
                        gate_attempt=1, gate_passed=None, state="gating", queue="gpu")
    session.add_all([gpu_assignment, gating,
                     Membership(user_id=student.id, course_id=cpu_assignment.course_id, role="student"),
                     Membership(user_id=student.id, course_id=gpu_course.id, role="student")])
    session.commit()
    app.extensions["dlgrade_tasks"].send(GATE_TASK, [gating.id, 1], "gpu")
    workers.start("w1", concurrency=1, DLGRADE_WORKER_NAME="cpu-host", **env)
    started = time.monotonic()
    gpu_sid = submit(app, session, store, gpu_assignment, student)
    cpu_sid = submit(app, session, store, cpu_assignment, student)
    client = app.test_client()
    with client.session_transaction() as browser_session:
        browser_session["user_id"] = student.id
        browser_session["pw"] = student.password_hash[-16:]

    def says_waiting():
        status = client.get(f"/submissions/{gpu_sid}/status.json").get_json()
        return status["waiting_for"] == "waiting for a GPU worker: none has connected yet"

    wait_for(says_waiting, 60, "the GPU submission's status to say what it waits for", poll_s=1)
    said_s = time.monotonic() - started
    wait_for(lambda: state_of(session, cpu_sid).state == "graded", 240, f"the CPU job graded\n{workers.dump_logs()}",
             poll_s=1)
    cpu_status = client.get(f"/submissions/{cpu_sid}/status.json").get_json()
    assert cpu_status["waiting_for"] is None and cpu_status["state"] == "graded"
    assert state_of(session, gpu_sid).state == "queued"
    session.expire_all()
    assert session.get(Assignment, gating.id).gate_passed is None
    from web import operations
    from web.db import utcnow

    gates = operations.gate_jobs(session, cpu_assignment.course_id)
    assert [a.slug for a in gates] == ["qlora"]
    assert operations.waiting_message(session, "gpu", utcnow(), app.config["WORKER_OFFLINE_AFTER_S"]) == \
        "waiting for a GPU worker: none has connected yet"
    print(f"\nGPU queue without a consumer: said so after {said_s:.1f} s")
    assert said_s <= 60
