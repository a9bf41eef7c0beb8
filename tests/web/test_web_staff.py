"""TAs and instructors: gate and release, late policy, regrade, override, logs, gradebook."""

from __future__ import annotations

import csv
import datetime as dt
import io

from web_helpers import HIDDEN_MARKER, gate_report_for, make_package, make_result

from web.db import utcnow
from web.models import Assignment, User


def test_package_upload_gates_then_release_only_when_passed(session, client_for, make_user, course, sent, worker):
    client = client_for(make_user("ta", course))
    response = client.post(f"/courses/{course.id}/assignments", {"package": (io.BytesIO(make_package()), "p.tar.gz")},
                           content_type="multipart/form-data")
    assignment = session.query(Assignment).one()
    assert response.status_code == 302 and assignment.state == "gating"
    assert sent == [("dlgrade.run_gate", [assignment.id, 1], "cpu")]
    page = client.get(f"/assignments/{assignment.id}").data.decode()
    assert "The gate has not run: waiting for a CPU worker: none has connected yet" in page
    assert 'id="release-button" disabled' in page
    assert "Waiting for the release gate" in page and assignment.title == "demo" and assignment.parts == []
    assert client.get(f"/assignments/{assignment.id}/release.zip").status_code == 404  # the gate builds it
    refused = client.post(f"/assignments/{assignment.id}/release", follow_redirects=True).data.decode()
    assert "The release gate has not run yet" in refused and "fix the package" not in refused
    session.expire_all()
    assert session.get(Assignment, assignment.id).state == "gating"
    # the worker reports a failed gate: still no release
    worker.post(f"/api/worker/assignments/{assignment.id}/gate",
                {"attempt": 1, "worker": "w", "passed": False, "report": {"mutant softmax_off_by_one": "survived"},
                 "bundle_digest": ""})
    page = client.get(f"/assignments/{assignment.id}").data.decode()
    assert "Failed: fix the package" in page and "mutant softmax_off_by_one" in page
    # a new version of the package passes
    client.post(f"/courses/{course.id}/assignments", {"package": (io.BytesIO(make_package()), "p.tar.gz")},
                content_type="multipart/form-data")
    assert sent[-1] == ("dlgrade.run_gate", [assignment.id, 2], "cpu")
    worker.put(f"/api/worker/bundles/{'c' * 64}", b"x")  # wrong digest: refused
    bundle = b"bundle-bytes"
    import hashlib

    digest = hashlib.sha256(bundle).hexdigest()
    worker.put(f"/api/worker/bundles/{digest}", bundle)
    report, release = gate_report_for(make_package())
    worker.post(f"/api/worker/assignments/{assignment.id}/gate",  # says passed, but never uploaded its release
                {"attempt": 2, "worker": "w", "passed": True, "report": report, "bundle_digest": digest})
    session.expire_all()
    refused = session.get(Assignment, assignment.id)
    assert refused.gate_passed is False and "was never uploaded" in refused.gate_report["portal"]
    client.post(f"/courses/{course.id}/assignments", {"package": (io.BytesIO(make_package()), "p.tar.gz")},
                content_type="multipart/form-data")
    assert worker.put(f"/api/worker/releases/{'d' * 64}", release).status_code == 400
    assert worker.put(f"/api/worker/releases/{report['release_digest']}", release).status_code == 200
    worker.post(f"/api/worker/assignments/{assignment.id}/gate",
                {"attempt": 3, "worker": "w", "passed": True, "report": report, "bundle_digest": digest})
    session.expire_all()
    gated = session.get(Assignment, assignment.id)
    assert (gated.title, gated.max_score, gated.solution_ids) == ("Demo demo", 15.0, ["softmax"])
    assert [part["name"] for part in gated.parts] == ["softmax", "secret"] and gated.max_upload_mb == 1
    assert client.get(f"/assignments/{assignment.id}/release.zip").data == release
    page = client.get(f"/assignments/{assignment.id}").data.decode()
    assert report["release_digest"] in page and "Waiting for the release gate" not in page
    client.post(f"/assignments/{assignment.id}/settings", {"deadline": "2031-05-01T23:59", "penalty_per_day": "0.2",
                                                           "grace_days": "1", "hard_cutoff": "2031-05-04T23:59",
                                                           "submissions_per_hour": "5"})
    assert client.post(f"/assignments/{assignment.id}/release").status_code == 303
    session.expire_all()
    released = session.get(Assignment, assignment.id)
    assert released.state == "released" and released.bundle_digest == digest
    assert (released.penalty_per_day, released.grace_days, released.submissions_per_hour) == (0.2, 1, 5)
    assert released.deadline == dt.datetime(2031, 5, 1, 23, 59, tzinfo=dt.timezone.utc)


def test_bad_package_is_explained(session, client_for, make_user, course):
    client = client_for(make_user("ta", course))
    response = client.api("POST", f"/api/courses/{course.id}/assignments",
                          data={"package": (io.BytesIO(b"not a tarball"), "p.tar.gz")})
    assert response.status_code == 400 and "tar czf" in response.json["error"]


def test_settings_validation(client_for, make_user, course, make_assignment, session):
    assignment = make_assignment()
    client = client_for(make_user("ta", course))
    response = client.api("PATCH", f"/api/assignments/{assignment.id}", json={"penalty_per_day": 5})
    assert response.status_code == 400 and "fraction" in response.json["error"]
    response = client.api("PATCH", f"/api/assignments/{assignment.id}",
                          json={"deadline": "2031-01-02T00:00:00Z", "hard_cutoff": "2031-01-01T00:00:00Z"})
    assert response.status_code == 400


def test_regrade_one_and_all_keep_a_record_per_attempt(session, client_for, make_user, course, make_student,
                                                       make_assignment, make_submission, sent, worker):
    assignment = make_assignment()
    first = make_submission(make_student(), assignment, result=make_result(score=5))
    second = make_submission(make_student(), assignment, result=make_result(score=6))
    ta = client_for(make_user("ta", course))
    assert ta.post(f"/submissions/{first.id}/regrade").status_code == 303
    assert sent[-1] == ("dlgrade.grade_submission", [first.id, 2], "cpu")
    assignment.bundle_digest = "e" * 64  # a new bundle from a re-gated package
    session.commit()
    ta.api("POST", f"/api/assignments/{assignment.id}/regrade")
    assert sent[-2:] == [("dlgrade.grade_submission", [first.id, 3], "cpu"),
                         ("dlgrade.grade_submission", [second.id, 2], "cpu")]
    worker.post(f"/api/worker/submissions/{first.id}/result", {"attempt": 3, "worker": "w",
                                                               "result": make_result(score=11)})
    logs = ta.api("GET", f"/api/submissions/{first.id}/logs").json["attempts"]
    old_digest = logs[0]["bundle_digest"]
    assert old_digest != "e" * 64
    assert [(a["attempt"], a["score"], a["bundle_digest"]) for a in logs] == [
        (1, 5, old_digest), (2, None, old_digest), (3, 11, "e" * 64)]
    page = ta.get(f"/submissions/{first.id}/logs").data.decode()
    assert HIDDEN_MARKER in page and "Attempt 3" in page  # staff see the full result and detail


def test_override_needs_a_comment_and_wins(session, client_for, make_user, course, make_student, make_assignment,
                                           make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment(), result=make_result(score=5))
    ta = client_for(make_user("ta", course))
    response = ta.api("POST", f"/api/submissions/{sub.id}/override", json={"score": 14})
    assert response.status_code == 400
    response = ta.api("POST", f"/api/submissions/{sub.id}/override", json={"score": 14, "comment": "regrade request"})
    assert response.status_code == 200 and response.json["score"] == 14
    page = client_for(student).get(f"/submissions/{sub.id}").data.decode()
    assert "Score set by staff to 14.00: regrade request" in page


def test_gradebook_exports(session, client_for, make_user, course, make_student, make_assignment, make_submission):
    alice = make_student(email="alice@example.edu", name="Alice Liddell")
    bob = make_student(email="bob@example.edu", name="Bob Builder")
    assignment = make_assignment(deadline=utcnow() - dt.timedelta(hours=30), grace_days=0, penalty_per_day=0.25)
    make_submission(alice, assignment, result=make_result(score=12))  # 2 days late, no grace: -50%
    make_submission(bob, assignment, result=make_result(score=15), submitted_at=utcnow() - dt.timedelta(days=2))
    instructor = client_for(make_user("instructor", course))
    page = instructor.get(f"/courses/{course.id}/gradebook").data.decode()
    assert "Alice Liddell" in page and "<svg" in page and "score histogram" in page
    rows = list(csv.DictReader(io.StringIO(instructor.get(f"/courses/{course.id}/gradebook.csv").data.decode())))
    assert list(rows[0].keys()) == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
                                    "email", "raw_score", "late_submission_penalty", "score", "max_score"]
    by_email = {r["email"]: r for r in rows}
    # nbgrader's exporter writes str(float): the same formats as `nbgrader export`
    assert by_email["alice@example.edu"]["raw_score"] == "12.0"
    assert by_email["alice@example.edu"]["late_submission_penalty"] == "6.0"
    assert by_email["alice@example.edu"]["score"] == "6.0" and by_email["alice@example.edu"]["last_name"] == "Liddell"
    assert by_email["bob@example.edu"]["score"] == "15.0" and by_email["bob@example.edu"]["max_score"] == "15.0"
    assert by_email["bob@example.edu"]["late_submission_penalty"] == "0.0"
    canvas = list(csv.reader(io.StringIO(instructor.get(f"/courses/{course.id}/canvas.csv").data.decode())))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Demo demo"]  # not linked: new column
    assert canvas[1] == ["Points Possible", "", "", "", "", "15"]
    assert ["Liddell, Alice", "", alice.sis_id, "", "A", "6"] in canvas
    data = instructor.api("GET", f"/api/courses/{course.id}/gradebook").json
    assert {s["email"]: s["total"] for s in data["students"]} == {"alice@example.edu": 6, "bob@example.edu": 15}


def test_roster_import(session, client_for, make_user, course):
    instructor = client_for(make_user("instructor", course))
    roster = "email,name,role,sis_id,section\nCarol@Example.edu,Carol C,,s1,B\ndan@example.edu,Dan D,ta,,\n"
    response = instructor.post(f"/courses/{course.id}/roster", {"roster": (io.BytesIO(roster.encode()), "r.csv")},
                               content_type="multipart/form-data")
    assert response.status_code == 200 and "carol@example.edu" in response.data.decode()
    carol = session.query(User).filter_by(email="carol@example.edu").one()
    assert carol.memberships[0].role == "student" and carol.memberships[0].section == "B"
    bad = instructor.api("POST", f"/api/courses/{course.id}/roster", data="email,role\nx@y.z,dean\n")
    assert bad.status_code == 400 and "role 'dean'" in bad.json["error"]


def test_gpu_package_passed_on_a_cpu_worker_waits_for_its_gpu_gate(session, client_for, make_user, course, sent,
                                                                    worker):
    client = client_for(make_user("ta", course))
    package = make_package("kernels", gpus=1)
    client.post(f"/courses/{course.id}/assignments", {"package": (io.BytesIO(package), "p.tar.gz")},
                content_type="multipart/form-data")
    assignment = session.query(Assignment).one()
    report, release = gate_report_for(package)
    bundle = b"bundle-bytes"
    digest = __import__("hashlib").sha256(bundle).hexdigest()
    worker.put(f"/api/worker/bundles/{digest}", bundle)
    worker.put(f"/api/worker/releases/{report['release_digest']}", release)
    worker.post(f"/api/worker/assignments/{assignment.id}/gate",
                {"attempt": 1, "worker": "cpu-worker-1", "passed": True, "report": report, "bundle_digest": digest})
    assert sent[-1] == ("dlgrade.run_gate", [assignment.id, 2], "gpu")
    page = client.get(f"/assignments/{assignment.id}").data.decode()
    assert "Correctness checks passed on a cpu worker (cpu-worker-1)" in page
    assert "The gate has not run: waiting for a GPU worker: none has connected yet" in page
    assert 'id="release-button" disabled' in page
    course_page = client.get(f"/courses/{course.id}").data.decode()
    assert "passed on cpu" in course_page and "waiting for a GPU worker" in course_page
