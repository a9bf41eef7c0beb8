"""Fault tests with the real portal, real Redis, real worker processes and real grading (the
example assignment through the engine): a worker killed mid-grading, Redis restarted with
work queued, a GPU queue nobody consumes. Each measures the time to recovery.

They run at the production mechanism with shorter clocks, set through the same settings a
deployment sets (heartbeat 2 s, stuck after 10 s, sweep every 3 s, offline after 6 s; in
production 20, 60, 30 and 60 s), so the three take seven minutes at load 9-12 instead of a quarter
hour. Each bound below is the sum of those clocks plus a margin (MARGIN_S) for a loaded machine, so it
scales to production: stuck after + sweep + claim lapse is about two minutes there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time

import pytest

from test_worker_portal_integration import EXAMPLE, real_portal  # noqa: F401  (fixture)
from worker_helpers import REAL_APP, wait_for

# Seven minutes at load 9-12 on this 2-core machine: kept out of `make test` (at its 30-minute limit),
# run by `make test-recovery`.
pytestmark = [pytest.mark.redis, pytest.mark.recovery]

HEARTBEAT_S, STUCK_AFTER_S, SWEEP_INTERVAL_S, OFFLINE_AFTER_S = 2, 10, 3, 6
CLAIM_TTL_S = 3 * HEARTBEAT_S  # context.WorkerContext.claim_ttl_s
MARGIN_S = 20  # a pool process taking the job on a loaded 2-core machine, polling
TIMINGS = dict(DLGRADE_HEARTBEAT_S=HEARTBEAT_S, DLGRADE_STUCK_AFTER_S=STUCK_AFTER_S,
               DLGRADE_SWEEP_INTERVAL_S=SWEEP_INTERVAL_S, DLGRADE_FAILURE_RETRY_S=1)
GRADING_S = 400  # only a timeout: one grading of the example takes seconds idle, minutes at load 10


@pytest.fixture(scope="module")
def trusted_cache(tmp_path_factory) -> str:
    """One engine cache for the module: with one seed in the pool, the example's trusted run
    is computed by the first grading and read from the cache by every later one."""
    return str(tmp_path_factory.mktemp("engine-cache"))


@pytest.fixture
def course_setup(real_portal, trusted_cache):  # noqa: F811
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
    app.config["WORKER_OFFLINE_AFTER_S"] = OFFLINE_AFTER_S
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
    env = dict(TIMINGS, DLGRADE_PORTAL_URL=url, DLGRADE_WORKER_TOKEN=token, DLGRADE_CACHE_DIR=trusted_cache,
               DLGRADE_SEED_POOL=1)
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
    fleet = {name: workers.start(f"w-{name}", concurrency=1, app=REAL_APP, DLGRADE_WORKER_NAME=name, **env)
             for name in ("host-a", "host-b")}
    sid = submit(app, session, store, assignment, student)
    wait_for(lambda: state_of(session, sid).state == "running", GRADING_S, f"grading to start\n{workers.dump_logs()}",
             poll_s=0.2)
    lost = state_of(session, sid).worker
    (survivor,) = set(fleet) - {lost}
    fleet[lost].kill_all()  # the worker's main process and its pool: the host is gone
    killed = time.monotonic()

    def offline():
        return lost in operations.offline_workers(session, utcnow(), app.config["WORKER_OFFLINE_AFTER_S"])

    wait_for(offline, OFFLINE_AFTER_S + MARGIN_S, f"{lost} to go offline on the Operations page", poll_s=0.5)
    offline_s = time.monotonic() - killed
    # the survivor re-starts the job: its first act is to record the lost start for staff
    wait_for(lambda: any(g.failures for g in state_of(session, sid).grades), 2 * MARGIN_S + STUCK_AFTER_S,
             f"the lost run re-started\n{workers.dump_logs()}", poll_s=0.5)
    restarted_s = time.monotonic() - killed
    wait_for(lambda: state_of(session, sid).state == "graded", GRADING_S, f"the job graded again\n{workers.dump_logs()}",
             poll_s=0.5)
    graded_s = time.monotonic() - killed
    print(f"\nworker killed: offline after {offline_s:.0f} s, job re-started after {restarted_s:.0f} s, "
          f"graded again after {graded_s:.0f} s")
    # offline: the last beat was at most one heartbeat before the kill
    assert offline_s <= OFFLINE_AFTER_S + HEARTBEAT_S + 5, offline_s
    # re-sent by the next sweep once the worker is offline and the reservation older than stuck_after_s
    assert restarted_s <= max(OFFLINE_AFTER_S, CLAIM_TTL_S, STUCK_AFTER_S) + SWEEP_INTERVAL_S + MARGIN_S, restarted_s
    row = state_of(session, sid)
    run = row.grades[0]
    assert (row.worker, run.failures) == (survivor, 1), "the lost run is recorded once, the job ran once more"
    assert run.failure_message.startswith("start 1 of this attempt ended without a result")
    assert row.score == pytest.approx(row.max_score) and len([g for g in row.grades if g.result]) == 1


def test_redis_restart_brings_queued_work_back(course_setup, workers):
    from autograder.worker.state import SharedState
    from autograder.worker.sweeper import held_by_broker

    app, session, store, assignment, student, env = course_setup
    workers.start("w1", concurrency=1, app=REAL_APP, DLGRADE_WORKER_NAME="host-a", **env)
    running, queued = (submit(app, session, store, assignment, student) for _ in range(2))
    wait_for(lambda: state_of(session, running).state == "running", GRADING_S,
             f"grading to start\n{workers.dump_logs()}", poll_s=0.2)
    workers.redis_server.restart(down_s=1)  # nothing persisted: the queued job is gone
    restarted = time.monotonic()
    state = SharedState(workers.redis_server.url)

    def back() -> bool:
        held = held_by_broker(state, ["cpu"], reserved_within_s=3600)
        return (queued, 1) in held or state_of(session, queued).state in ("running", "graded")

    wait_for(back, STUCK_AFTER_S + SWEEP_INTERVAL_S + MARGIN_S, f"the lost job back in Redis\n{workers.dump_logs()}",
             poll_s=0.5)
    back_s = time.monotonic() - restarted
    wait_for(lambda: all(state_of(session, sid).state == "graded" for sid in (running, queued)), 2 * GRADING_S,
             f"both submissions graded\n{workers.dump_logs()}", poll_s=0.5)
    print(f"\nredis restarted: queued work back after {back_s:.0f} s, all graded after "
          f"{time.monotonic() - restarted:.0f} s")
    # the queued job had no news since it was submitted: re-sent by the first sweep after stuck_after_s
    assert back_s <= STUCK_AFTER_S + SWEEP_INTERVAL_S + 5, back_s
    for sid in (running, queued):
        assert len([g for g in state_of(session, sid).grades if g.result]) == 1, "graded once, stored once"


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
    workers.start("w1", concurrency=1, app=REAL_APP, DLGRADE_WORKER_NAME="cpu-host", **env)
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
    wait_for(lambda: state_of(session, cpu_sid).state == "graded", GRADING_S, f"the CPU job graded\n{workers.dump_logs()}",
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
