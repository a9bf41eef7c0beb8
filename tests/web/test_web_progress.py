"""The progress a student sees names a part, never a test (issue 20): whatever a worker posts."""

from __future__ import annotations

from web.models import Submission

SECRET_TEST = "hidden/test_hidden.py::test_naive_sizes[world=2]"


def _post_progress(worker, sub, **body):
    return worker.post(f"/api/worker/submissions/{sub.id}/progress",
                       {"attempt": 1, "state": "running", "worker": "gpu-host-1", **body})


def test_progress_keeps_the_part_and_drops_a_test_name(session, worker, client_for, make_student, make_assignment,
                                                       make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment())
    assert _post_progress(worker, sub, test=SECRET_TEST, part="secret", done=9, total=46).status_code == 200
    session.expire_all()
    assert session.get(Submission, sub.id).progress_part == "secret"
    client = client_for(student)
    status = client.get(f"/submissions/{sub.id}/status.json").json
    assert status["progress"] == {"done": 9, "total": 46, "part": "Part secret"}
    api_status = client.get(f"/api/submissions/{sub.id}").json
    page = client.get(f"/submissions/{sub.id}").get_data(as_text=True)
    for shown in (str(status), str(api_status), page):
        assert "test_naive_sizes" not in shown and "test_hidden" not in shown
    assert "9 / 46 tests · part: Part secret" in page


def test_a_part_the_assignment_does_not_have_is_not_stored(session, worker, client_for, make_student,
                                                           make_assignment, make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment())
    assert _post_progress(worker, sub, part=SECRET_TEST, done=1, total=3).status_code == 200
    session.expire_all()
    row = session.get(Submission, sub.id)
    assert (row.state, row.progress_done, row.progress_part) == ("running", 1, "")
    status = client_for(student).get(f"/submissions/{sub.id}/status.json").json
    assert status["progress"] == {"done": 1, "total": 3, "part": None}
