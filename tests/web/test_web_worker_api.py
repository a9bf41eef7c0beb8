"""The portal side of autograder/worker/CONTRACT.md (version 1)."""

from __future__ import annotations

import datetime as dt

import pytest

from web_helpers import gate_report_for, make_package, make_result, sha

from web import services
from web.db import utcnow
from web.models import Assignment, Submission
from web.security import issue_token


def test_worker_routes_need_a_worker_token(app, session, worker, make_student, make_assignment, make_submission, course):
    sub = make_submission(make_student(), make_assignment())
    path = f"/api/worker/submissions/{sub.id}"
    assert worker.raw.get(path).status_code == 401
    assert worker.get(path, token="not-a-token").status_code == 403

    staff = __import__("web.models", fromlist=["User"]).User
    _, user_token = issue_token(kind="user", user_id=session.query(staff).first().id, name="cli")
    session.commit()
    assert worker.get(path, token=user_token).status_code == 403
    assert worker.post(f"{path}/progress", {"attempt": 1}, token=user_token).status_code == 403


def test_posts_need_the_hmac_of_the_body(worker, make_student, make_assignment, make_submission):
    sub = make_submission(make_student(), make_assignment())
    path = f"/api/worker/submissions/{sub.id}/result"
    body = {"attempt": 1, "worker": "w1", "result": make_result()}
    assert worker.post(path, body, signature="sha256=" + "0" * 64).status_code == 401
    response = worker.raw.post(path, json=body, headers={"Authorization": f"Bearer {worker.token}"})
    assert response.status_code == 401
    assert worker.post(path, body).json == {"stored": True}


def test_submission_metadata_and_file(worker, store, make_student, make_assignment, make_submission):
    assignment = make_assignment()
    sub = make_submission(make_student(), assignment)
    data = worker.get(f"/api/worker/submissions/{sub.id}").json
    assert data == {"id": sub.id, "attempt": 1, "state": "queued", "filename": "demo.ipynb", "sha256": sub.sha256,
                    "assignment": {"id": assignment.id, "slug": "demo", "bundle_digest": assignment.bundle_digest,
                                   "queue": "cpu"}}
    body = worker.get(f"/api/worker/submissions/{sub.id}/file").data
    assert sha(body) == sub.sha256
    bundle = worker.get(f"/api/worker/bundles/{assignment.bundle_digest}")
    assert bundle.mimetype == "application/gzip" and sha(bundle.data) == assignment.bundle_digest
    assert worker.get(f"/api/worker/bundles/{'a' * 64}").status_code == 404
    assert worker.get("/api/worker/submissions/999999").status_code == 404


def test_progress_then_result_then_duplicate(session, worker, make_student, make_assignment, make_submission):
    sub = make_submission(make_student(), make_assignment())
    base = f"/api/worker/submissions/{sub.id}"
    assert worker.post(f"{base}/progress", {"attempt": 1, "state": "running", "worker": "gpu-host-1",
                                            "part": "softmax", "done": 2, "total": 5}).status_code == 200
    session.expire_all()
    row = session.get(Submission, sub.id)
    assert (row.state, row.progress_done, row.progress_total, row.worker) == ("running", 2, 5, "gpu-host-1")
    first = worker.post(f"{base}/result", {"attempt": 1, "worker": "gpu-host-1", "result": make_result(score=9)})
    again = worker.post(f"{base}/result", {"attempt": 1, "worker": "gpu-host-2", "result": make_result(score=1)})
    assert first.json == {"stored": True}
    assert again.status_code == 200 and again.json == {"stored": False, "duplicate": True}
    session.expire_all()
    row = session.get(Submission, sub.id)
    assert (row.state, row.score, row.max_score) == ("graded", 9, 15)
    assert worker.post(f"{base}/result", {"attempt": 7, "worker": "w", "result": make_result()}).status_code == 409
    assert worker.post(f"{base}/progress", {"attempt": 7, "worker": "w", "done": 0, "total": 1}).status_code == 409


def test_an_older_attempt_is_history_not_the_score(session, worker, make_student, make_assignment, make_submission):
    sub = make_submission(make_student(), make_assignment(), attempt=2)
    base = f"/api/worker/submissions/{sub.id}/result"
    assert worker.post(base, {"attempt": 2, "worker": "w", "result": make_result(score=12)}).json["stored"]
    assert worker.post(base, {"attempt": 1, "worker": "w", "result": make_result(score=3)}).json["stored"]
    session.expire_all()
    row = session.get(Submission, sub.id)
    assert row.score == 12
    assert [(g.attempt, g.score) for g in row.grades] == [(1, 3), (2, 12)]


def test_rejected_result_and_final_failure(session, worker, make_student, make_assignment, make_submission):
    student, assignment = make_student(), make_assignment()
    rejected = make_submission(student, assignment)
    result = make_result(score=0)
    result.update(status="rejected", message="Cell 'softmax' was deleted; restore it from the released notebook")
    worker.post(f"/api/worker/submissions/{rejected.id}/result", {"attempt": 1, "worker": "w", "result": result})
    failing = make_submission(student, assignment)
    base = f"/api/worker/submissions/{failing.id}/failure"
    assert worker.post(base, {"attempt": 1, "worker": "w", "message": "docker died", "detail": "tb",
                              "final": False}).status_code == 200
    session.expire_all()
    assert session.get(Submission, failing.id).state == "queued"
    worker.post(base, {"attempt": 1, "worker": "w", "message": "docker died", "detail": "tb", "final": True})
    session.expire_all()
    assert session.get(Submission, rejected.id).state == "rejected"
    assert "restore it" in session.get(Submission, rejected.id).message
    failed = session.get(Submission, failing.id)
    assert failed.state == "error" and failed.grades[0].failures == 2 and failed.grades[0].failure_detail == "tb"


def test_gate_flow(session, worker, client_for, make_user, course, sent, store):
    ta = make_user("ta", course)
    client = client_for(ta)
    package = make_package("gated", gpus=2)
    response = client.raw.post(f"/api/courses/{course.id}/assignments", data={"package": (__import__("io").BytesIO(package), "p.tar.gz")},
                               headers={"Authorization": f"Bearer {_user_token(session, ta)}"})
    assert response.status_code == 201, response.json
    assignment_id = response.json["id"]
    assert sent[-1] == ("dlgrade.run_gate", [assignment_id, 1], "cpu")  # GPUs unknown before the first report
    info = worker.get(f"/api/worker/assignments/{assignment_id}").json
    assert info == {"id": assignment_id, "slug": "gated", "package_digest": sha(package), "attempt": 1,
                    "gate_state": "pending", "queue": "cpu", "early_gate_passed": False}
    assert worker.get(f"/api/worker/assignments/{assignment_id}/package").data == package
    bundle = b"\x1f\x8b fake bundle"
    assert worker.put(f"/api/worker/bundles/{'b' * 64}", bundle).status_code == 400  # digest mismatch
    assert worker.put(f"/api/worker/bundles/{sha(bundle)}", bundle).json == {"stored": True}
    report, release = gate_report_for(package)
    assert worker.put(f"/api/worker/releases/{report['release_digest']}", release).json == {"stored": True}
    gate = {"attempt": 1, "worker": "w", "passed": True, "report": report, "bundle_digest": sha(bundle)}
    assert worker.post(f"/api/worker/assignments/{assignment_id}/gate", {**gate, "attempt": 3}).status_code == 409
    assert worker.post(f"/api/worker/assignments/{assignment_id}/gate", gate).json == {"stored": True}

    def staff_view() -> dict:
        return client.raw.get(f"/api/assignments/{assignment_id}",
                              headers={"Authorization": f"Bearer {_user_token(session, ta)}"}).json

    # That gate ran on `cpu`; the package asks for 2 GPUs: kept as the early gate, sent again to gpu-2.
    data = staff_view()
    assert (data["early_gate_queue"], data["early_gate_passed"]) == ("cpu", True)
    assert data["gate_passed"] is None and data["state"] == "gating" and data["queue"] == "gpu-2"
    assert "waiting for a worker with 2 GPUs" in data["gate_waiting_for"]
    assert sent[-1] == ("dlgrade.run_gate", [assignment_id, 2], "gpu-2")
    info = worker.get(f"/api/worker/assignments/{assignment_id}").json
    assert (info["attempt"], info["queue"], info["early_gate_passed"]) == (2, "gpu-2", True)
    assert worker.post(f"/api/worker/assignments/{assignment_id}/gate", gate).status_code == 409  # attempt 1 is over
    with pytest.raises(services.Refused, match="has not run yet.*waiting for a worker with 2 GPUs"):
        services.release(session, store, session.get(Assignment, assignment_id), offline_after_s=60)

    assert worker.post(f"/api/worker/assignments/{assignment_id}/gate", {**gate, "attempt": 2}).json == {"stored": True}
    data = staff_view()
    assert data["gate_passed"] is True and data["bundle_digest"] == sha(bundle) and data["state"] == "ready"
    assert data["title"] == "Demo gated" and data["max_score"] == 15
    assert session.get(Assignment, assignment_id).queue == "gpu-2"  # resources.gpus from the report
    client.raw.post(f"/api/courses/{course.id}/assignments", data={"package": (__import__("io").BytesIO(package), "p.tar.gz")},
                    headers={"Authorization": f"Bearer {_user_token(session, ta)}"})
    assert sent[-1] == ("dlgrade.run_gate", [assignment_id, 3], "gpu-2")
    info = worker.get(f"/api/worker/assignments/{assignment_id}").json  # a new package: gated whole on gpu-2
    assert (info["queue"], info["early_gate_passed"]) == ("gpu-2", False)


def test_a_failed_early_gate_is_the_gate(session, worker, make_assignment, store):
    """A package that fails on a CPU worker fails: the GPU gate would fail the same correctness tests."""
    assignment = make_assignment("cpu-fails", gate_passed=None, released=False)
    body = {"attempt": 1, "worker": "w", "passed": False, "report": {"problems": ["mutant kept its points"]},
            "bundle_digest": None}
    assert worker.post(f"/api/worker/assignments/{assignment.id}/gate", body).json == {"stored": True}
    session.refresh(assignment)
    assert assignment.gate_passed is False and assignment.state == "gate_failed"
    assert assignment.early_gate_passed is None


def test_stuck_lists_current_attempts_without_news(session, worker, make_student, make_assignment, make_submission):
    student, assignment = make_student(), make_assignment()
    old = make_submission(student, assignment, submitted_at=utcnow() - dt.timedelta(hours=2))
    make_submission(student, assignment)
    make_submission(student, assignment, state="graded", submitted_at=utcnow() - dt.timedelta(hours=2))
    listed = worker.get("/api/worker/stuck?older_than_s=600").json["submissions"]
    assert [(s["id"], s["attempt"], s["queue"]) for s in listed] == [(old.id, 1, "cpu")]


def _user_token(session, user):
    _, plain = issue_token(kind="user", user_id=user.id, name="t")
    session.commit()
    return plain


def test_trusted_runs_first_published_is_kept_until_its_archive_breaks(session, worker, store):
    from web.models import TrustedRun

    key = "c" * 64
    first, second = b"archive of worker one", b"archive of worker two"
    assert worker.get(f"/api/worker/trusted-runs/{key}").status_code == 404
    assert worker.get(f"/api/worker/trusted-runs/{key}/archive").status_code == 404
    assert worker.put(f"/api/worker/trusted-runs/{key}/{'d' * 64}", first).status_code == 400  # digest mismatch
    assert worker.put(f"/api/worker/trusted-runs/not-a-key/{sha(first)}", first).status_code == 404
    assert worker.put(f"/api/worker/trusted-runs/{key}/{sha(first)}?worker=gpu-a", first).json == {
        "stored": True, "digest": sha(first)}
    assert worker.put(f"/api/worker/trusted-runs/{key}/{sha(second)}", second).json == {
        "stored": False, "digest": sha(first)}
    assert worker.get(f"/api/worker/trusted-runs/{key}").json == {"digest": sha(first), "size": len(first),
                                                                  "worker": "gpu-a"}
    assert worker.get(f"/api/worker/trusted-runs/{key}/archive").data == first
    store.path(sha(first)).write_bytes(b"tampered")  # served as stored; the worker's digest check refuses it
    assert worker.get(f"/api/worker/trusted-runs/{key}/archive").data == b"tampered"
    assert worker.put(f"/api/worker/trusted-runs/{key}/{sha(second)}", second).json == {
        "stored": True, "digest": sha(second)}
    session.expire_all()
    assert session.get(TrustedRun, key).digest == sha(second)
