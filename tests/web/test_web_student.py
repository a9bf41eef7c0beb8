"""Students: download the release, upload with validation at once, watch status, read results."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from web_helpers import HIDDEN_MARKER, make_result, notebook_bytes

from web.db import utcnow
from web.models import Submission


def upload(client, assignment, data: bytes, filename="demo.ipynb"):
    return client.post(f"/assignments/{assignment.id}/submit", {"notebook": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_release_zip_has_cleared_notebook_and_public_tests_only(client_for, make_student, make_assignment):
    assignment = make_assignment()
    response = client_for(make_student()).get(f"/assignments/{assignment.id}/release.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = archive.namelist()
    assert sorted(names) == ["demo/demo.ipynb", "demo/tests/public/test_public.py"]
    notebook = archive.read("demo/demo.ipynb").decode()
    assert "raise NotImplementedError()" in notebook and "math.exp" not in notebook
    assert all(HIDDEN_MARKER not in archive.read(n).decode() for n in names)


def test_upload_is_queued_and_enqueued_after_commit(session, client_for, make_student, make_assignment, sent):
    assignment = make_assignment()
    client = client_for(make_student())
    response = upload(client, assignment, notebook_bytes())
    assert response.status_code == 303
    sub = session.query(Submission).one()
    assert response.headers["Location"].endswith(f"/submissions/{sub.id}")
    assert (sub.state, sub.attempt, sub.queue) == ("queued", 1, "cpu")
    assert sent == [("dlgrade.grade_submission", [sub.id, 1], "cpu")]
    assert sub.grades[0].bundle_digest == assignment.bundle_digest
    status = client.get(f"/submissions/{sub.id}/status.json").json
    assert status["state"] == "queued" and status["queue_position"] == 1 and status["final"] is False


@pytest.mark.parametrize("data,filename,expected", [
    (b"{not json", "demo.ipynb", "not valid JSON"),
    (b'{"cells": 3}', "demo.ipynb", "not a valid notebook"),
    (notebook_bytes(solution_ids=()), "demo.ipynb", "Notebook cell 'softmax' was deleted"),
    (notebook_bytes(slug="other"), "demo.ipynb", "belongs to assignment 'other'"),
    (b"%PDF-1.4 \xff\xfe", "demo.pdf", "not UTF-8"),
    (b"def f(:\n", "demo.py", "syntax error"),
])
def test_bad_uploads_get_a_message_at_once(session, client_for, make_student, make_assignment, sent, data, filename,
                                           expected):
    assignment = make_assignment()
    client = client_for(make_student())
    response = upload(client, assignment, data, filename)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).data.decode()
    assert expected in page.replace("&#39;", "'")
    assert session.query(Submission).count() == 0 and sent == []


def test_upload_limits_413_and_rate_limit_429(session, client_for, make_student, make_assignment):
    assignment = make_assignment(submissions_per_hour=2)
    client = client_for(make_student())
    big = notebook_bytes()[:-2] + b' ,"pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert upload(client, assignment, big).status_code == 413
    assert client.api("POST", f"/api/assignments/{assignment.id}/submissions",
                      data={"notebook": (io.BytesIO(big), "demo.ipynb")}).status_code == 413
    assert upload(client, assignment, notebook_bytes()).status_code == 303
    assert upload(client, assignment, notebook_bytes()).status_code == 303
    assert upload(client, assignment, notebook_bytes()).status_code == 429
    assert session.query(Submission).count() == 2


def test_hard_cutoff_closes_submissions(client_for, make_student, make_assignment):
    past = utcnow() - dt.timedelta(days=1)
    assignment = make_assignment(deadline=past - dt.timedelta(days=1), hard_cutoff=past)
    assert upload(client_for(make_student()), assignment, notebook_bytes()).status_code == 303
    response = client_for(make_student()).api("POST", f"/api/assignments/{assignment.id}/submissions",
                                              data={"notebook": (io.BytesIO(notebook_bytes()), "demo.ipynb")})
    assert response.status_code == 403 and "cut-off" in response.json["error"]


def test_results_page_hides_staff_detail_and_hidden_tests(client_for, make_student, make_assignment, make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment(), result=make_result())
    client = client_for(student)
    page = client.get(f"/submissions/{sub.id}").data.decode()
    assert "7.50 / 15.00" in page and "test_public.py::test_shape" in page
    assert "secret: hidden test" in page and "removed %timeit magic" in page
    assert "<svg" in page and "0.70x" in page  # the perf chart
    api = client.get(f"/api/submissions/{sub.id}/result").data.decode()
    for text in (page, api):
        assert HIDDEN_MARKER not in text
        assert "12345" not in text  # the run's seed
        assert "tamper" not in text
    result = json.loads(api)["result"]
    assert "detail" not in json.dumps(result) and "flags" not in result


def test_after_deadline_details_appear_after_the_deadline(client_for, make_student, make_assignment, make_submission):
    student = make_student()
    result = make_result()
    result["tests"][2]["visibility"] = "after_deadline"
    before = make_submission(student, make_assignment("before"), result=result)
    after = make_submission(student, make_assignment("after", deadline=utcnow() - dt.timedelta(hours=1)),
                            result=result)
    client = client_for(student)
    shown_before = client.get(f"/api/submissions/{before.id}/result").json["result"]["tests"][2]
    shown_after = client.get(f"/api/submissions/{after.id}/result").json["result"]["tests"][2]
    assert shown_before["message"] == "Details are shown after the deadline."
    assert shown_after["message"].startswith("'out': shape is [3]")
    assert "detail" not in shown_after


def test_course_page_shows_late_days_and_history(client_for, make_student, make_assignment, make_submission, course):
    student = make_student()
    assignment = make_assignment(deadline=utcnow() - dt.timedelta(days=2, hours=1), grace_days=2)
    make_submission(student, assignment, result=make_result(score=10))
    client = client_for(student)
    page = client.get(f"/courses/{course.id}").data.decode()
    assert 'id="late-days-left">1<' in page  # 3 days late: 2 late days spent here, 1 day penalised
    data = client.get(f"/api/courses/{course.id}").json
    assert data["late_days_left"] == 1
    grade = data["grades"][0]
    assert (grade["days_late"], grade["late_days_used"]) == (3, 2)
    assert grade["score"] == pytest.approx(10 * (1 - 0.1))
    page = client.get(f"/assignments/{assignment.id}").data.decode()
    assert "Your submissions" in page and "graded" in page
