"""Workers announce themselves; staff see the fleet and the queues; a job on a queue no live
worker consumes is shown, to staff and to the student, as waiting for that kind of worker."""

from __future__ import annotations

import datetime as dt


from web.db import utcnow
from web.models import Worker
from web_helpers import make_result

HEARTBEAT = "/api/worker/workers/heartbeat"


def beat(worker, name="cpu-host-1", queues=("cpu",), gpus=(), state="online", **extra):
    body = {"worker": name, "state": state, "queues": list(queues), "gpus": list(gpus), "concurrency": 2,
            "engine_version": "1+abcdef123456", "started_at": "2026-12-03T08:00:00+00:00", **extra}
    return worker.post(HEARTBEAT, body)


def test_heartbeat_is_stored_and_bad_ones_are_explained(session, worker):
    assert beat(worker, "gpu-host-1", queues=("gpu", "gpu-2"), gpus=(0, 1)).json == {"ok": True}
    row = session.query(Worker).one()
    assert (row.name, row.queues, row.gpus, row.concurrency, row.engine_version, row.stopped_at) == (
        "gpu-host-1", ["gpu", "gpu-2"], [0, 1], 2, "1+abcdef123456", None)
    for bad, says in [({"queues": "gpu"}, "'queues'"), ({"gpus": ["zero"]}, "'gpus'"),
                      ({"concurrency": 0}, "'concurrency'"), ({"state": "asleep"}, "'state'"),
                      ({"started_at": "yesterday"}, "'started_at'"), ({"worker": ""}, "'worker'")]:
        good = {"worker": "x", "queues": ["cpu"], "gpus": [], "concurrency": 1, "started_at": "2026-12-03T08:00:00Z"}
        response = worker.post(HEARTBEAT, {**good, **bad})
        assert response.status_code == 400 and says in response.json["message"], (bad, response.json)
    body = b'{"worker": "w"}'
    assert worker.raw.post(HEARTBEAT, data=body, content_type="application/json",
                           headers={"Authorization": f"Bearer {worker.token}"}).status_code == 401


def _age(session, name, seconds):
    row = session.query(Worker).filter_by(name=name).one()
    row.last_seen_at = utcnow() - dt.timedelta(seconds=seconds)
    session.commit()
    return row.last_seen_at


def test_student_sees_what_a_job_waits_for(session, worker, client_for, make_student, make_assignment, make_submission):
    student = make_student()
    client = client_for(student)
    gpu_assignment = make_assignment("kv", queue="gpu")
    cpu_sub = make_submission(student, make_assignment("demo"))
    gpu_sub = make_submission(student, gpu_assignment)
    status = client.get(f"/submissions/{gpu_sub.id}/status.json").json
    assert status["waiting_for"] == "waiting for a GPU worker: none has connected yet"
    beat(worker, "cpu-host-1", queues=("cpu",))
    beat(worker, "gpu-host-1", queues=("gpu",), gpus=(0,))
    assert client.get(f"/submissions/{gpu_sub.id}/status.json").json["waiting_for"] is None
    last = _age(session, "gpu-host-1", 61)  # past WORKER_OFFLINE_AFTER_S (60 s): offline
    status = client.get(f"/submissions/{gpu_sub.id}/status.json").json
    assert status["waiting_for"] == f"waiting for a GPU worker: none online since {last:%Y-%m-%d %H:%M} UTC"
    assert client.get(f"/submissions/{cpu_sub.id}/status.json").json["waiting_for"] is None
    page = client.get(f"/submissions/{gpu_sub.id}").get_data(as_text=True)
    assert 'id="status-state">waiting<' in page and "none online since" in page
    assert client.get(f"/api/submissions/{gpu_sub.id}").json["waiting_for"] == status["waiting_for"]
    beat(worker, "cpu-host-1", queues=("cpu",), state="stopping")  # a clean shutdown: offline at once
    assert client.get(f"/submissions/{cpu_sub.id}/status.json").json["waiting_for"].startswith(
        "waiting for a CPU worker: none online since")


def test_running_job_of_a_lost_worker_is_not_shown_as_running(session, worker, client_for, make_student,
                                                              make_assignment, make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment("kv", queue="gpu"))
    beat(worker, "gpu-host-1", queues=("gpu",), gpus=(0,))
    worker.post(f"/api/worker/submissions/{sub.id}/progress",
                {"attempt": 1, "state": "running", "worker": "gpu-host-1", "part": "softmax", "done": 1, "total": 4})
    client = client_for(student)
    assert client.get(f"/submissions/{sub.id}/status.json").json["waiting_for"] is None
    _age(session, "gpu-host-1", 120)
    status = client.get(f"/submissions/{sub.id}/status.json").json
    assert status["state"] == "running" and status["waiting_for"].startswith("waiting for a GPU worker")


def test_operations_page_shows_queues_workers_gates_and_jobs(session, worker, client_for, make_user, course,
                                                             make_student, make_assignment, make_submission, backend):
    ta = client_for(make_user("ta", course))
    student = make_student(email="queued@example.edu")
    demo = make_assignment("demo")
    gating = make_assignment("kv", queue="gpu", released=False, gate_passed=None)
    old = utcnow() - dt.timedelta(minutes=5)
    waiting = make_submission(student, demo, submitted_at=old)
    make_submission(student, demo, result=make_result())  # graded now: counts in the last hour
    beat(worker, "cpu-host-1", queues=("cpu",))
    data = ta.get(f"/courses/{course.id}/operations.json").json
    queues = {q["queue"]: q for q in data["queues"]}
    assert queues["cpu"]["online"] == ["cpu-host-1"] and queues["cpu"]["waiting"] == 1
    assert 295 <= queues["cpu"]["oldest_wait_s"] <= 400 and queues["cpu"]["graded_last_hour"] == 1
    assert queues["gpu"]["online"] == [] and queues["gpu"]["waiting_for"] == "waiting for a GPU worker: none has connected yet"
    assert [w["name"] for w in data["workers"] if w["online"]] == ["cpu-host-1"]
    jobs = {(j["kind"], j["id"]): j for j in data["jobs"]}
    assert jobs[("gate", gating.id)]["waiting_for"].startswith("waiting for a GPU worker")
    assert jobs[("submission", waiting.id)]["who"] == "queued@example.edu"
    assert jobs[("submission", waiting.id)]["waiting_for"] is None
    page = ta.get(f"/courses/{course.id}/operations").get_data(as_text=True)
    assert "release gate of kv" in page and "queued@example.edu" in page and "cpu-host-1" in page
    assert "waiting for a GPU worker: none has connected yet" in page
    assert 'src="/static/operations.js"' in page
    assert "To serve <strong>gpu</strong>, start a worker on a host with 1 GPU" in page and "DLGRADE_GPUS=0" in page
    course_page = ta.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "waiting for a GPU worker: none has connected yet" in course_page
    assert "Start one on a host with 1 GPU: DLGRADE_GPUS=0" in course_page


def test_release_refused_says_the_gate_has_not_run(session, worker, client_for, make_user, course, make_assignment):
    ta = client_for(make_user("ta", course))
    pending = make_assignment("kv", queue="gpu", released=False, gate_passed=None)
    answer = ta.api("POST", f"/api/assignments/{pending.id}/release")
    assert answer.status_code == 409
    assert answer.json["error"] == ("The release gate has not run yet for this package (waiting for a GPU worker: "
                                    "none has connected yet); release once it passes.")
    failed = make_assignment("lsq", released=False, gate_passed=False)
    answer = ta.api("POST", f"/api/assignments/{failed.id}/release")
    assert answer.status_code == 409 and "failed" in answer.json["error"] and "fix the package" in answer.json["error"]
