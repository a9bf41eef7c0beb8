"""TA logs per grading run: the student run's streams (cap stated), sandbox events, failing tests'
tracebacks, durations, image and bundle digests. Staff only; nothing of it reaches a student."""

from __future__ import annotations

from web_helpers import HIDDEN_MARKER, make_result


def _result_with_runs():
    result = make_result()
    result["run"].update({"image": "sha256:" + "ab" * 32, "durations": {"trusted_s": 2.5, "student_s": 31.0},
                          "student_runs": [
                              {"tests": 3, "wall_s": 30.2, "ended": "killed after 30 s",
                               "events": ["killed after the wall-time limit of 30 s",
                                          "network attempt: the code tried to reach the network, which the sandbox blocks"],
                               "stdout": "epoch 1 loss 0.3\nSTUDENT-STDOUT", "stderr": "Traceback ... STUDENT-STDERR",
                               "stdout_truncated": False, "stderr_truncated": True, "cap_chars": 20000}]})
    return result


def test_staff_read_the_runs_logs(client_for, make_user, course, make_student, make_assignment, make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment(), result=_result_with_runs())
    page = client_for(make_user("ta", course)).get(f"/submissions/{sub.id}/logs").get_data(as_text=True)
    for shown in ("STUDENT-STDOUT", "STUDENT-STDERR", "the last 20000 kept", "cap 20000",
                  "killed after the wall-time limit of 30 s", "network attempt", "sha256:" + "ab" * 32,
                  "student_s 31.0 s", "0" * 64, "Student run 1: 3 tests, 30.2 s, killed after 30 s",
                  "Failing tests (2)", f"inputs {HIDDEN_MARKER}"):
        assert shown in page, shown


def test_students_get_none_of_it(client_for, make_student, make_assignment, make_submission):
    student = make_student()
    sub = make_submission(student, make_assignment(), result=_result_with_runs())
    client = client_for(student)
    assert client.get(f"/submissions/{sub.id}/logs").status_code == 403
    for url in (f"/submissions/{sub.id}", f"/api/submissions/{sub.id}/result", f"/api/submissions/{sub.id}"):
        text = client.get(url).get_data(as_text=True)
        assert "STUDENT-STDOUT" not in text and "STUDENT-STDERR" not in text and "network attempt" not in text, url
