"""Which submission counts: each counting policy, the student's final mark and its deadline,
what the student's pages say, and that the gradebook follows it."""

from __future__ import annotations

import datetime as dt

from web_helpers import make_result

from web.db import utcnow


def _two_tries(make_student, make_assignment, make_submission, **assignment_fields):
    """An earlier 12 and a later 9 of 15."""
    student = make_student(email="pat@example.edu", name="Pat Doe")
    assignment = make_assignment(**assignment_fields)
    now = utcnow()
    first = make_submission(student, assignment, result=make_result(score=12.0), submitted_at=now - dt.timedelta(hours=3))
    second = make_submission(student, assignment, result=make_result(score=9.0), submitted_at=now - dt.timedelta(hours=1))
    return student, assignment, first, second


def _gradebook_score(client_for, make_user, course, assignment):
    data = client_for(make_user("instructor", course)).api("GET", f"/api/courses/{course.id}/gradebook").json
    return data["students"][0]["scores"][str(assignment.id)]


def test_last_graded_counts_and_the_page_says_so(client_for, make_user, course, make_student, make_assignment,
                                                  make_submission):
    student, assignment, first, second = _two_tries(make_student, make_assignment, make_submission)
    page = client_for(student).get(f"/assignments/{assignment.id}").data.decode()
    assert "This assignment counts the latest graded submission." in page
    assert f"Submission {second.id} counts: this assignment counts your latest graded submission." in page
    assert _gradebook_score(client_for, make_user, course, assignment) == 9.0
    overview = client_for(student).get(f"/courses/{course.id}").data.decode()
    assert f"Submission {second.id} counts: this assignment counts your latest graded submission." in overview
    first_page = client_for(student).get(f"/submissions/{first.id}").data.decode()
    assert "This submission does not count for the assignment." in first_page


def test_best_counts_the_highest_score_after_late_penalty(client_for, make_user, course, make_student, make_assignment,
                                                          make_submission):
    course.late_days = 0
    student = make_student()
    assignment = make_assignment(counting_policy="best", deadline=utcnow() - dt.timedelta(hours=2),
                                 penalty_per_day=0.5, grace_days=0)
    on_time = make_submission(student, assignment, result=make_result(score=9.0),
                              submitted_at=utcnow() - dt.timedelta(hours=5))
    make_submission(student, assignment, result=make_result(score=14.0))  # 1 day late: 7 after -50%
    assert _gradebook_score(client_for, make_user, course, assignment) == 9.0
    page = client_for(student).get(f"/submissions/{on_time.id}").data.decode()
    assert "This submission counts for the assignment." in page
    assert "it has your highest score (9 after late penalties)" in page


def test_student_marks_final_before_the_deadline(session, client_for, make_user, course, make_student, make_assignment,
                                                 make_submission):
    student, assignment, first, second = _two_tries(make_student, make_assignment, make_submission,
                                                    counting_policy="final")
    me = client_for(student)
    page = me.get(f"/assignments/{assignment.id}").data.decode()
    assert "you have not marked a graded submission final, so your latest graded one counts" in page
    assert page.count("Mark final</button>") == 2
    assert _gradebook_score(client_for, make_user, course, assignment) == 9.0
    assert me.post(f"/submissions/{first.id}/final").status_code == 303
    page = me.get(f"/assignments/{assignment.id}").data.decode()
    assert f"Submission {first.id} counts: you marked it final on" in page
    assert _gradebook_score(client_for, make_user, course, assignment) == 12.0
    # a later mark replaces the earlier one
    assert me.post(f"/submissions/{second.id}/final").status_code == 303
    session.expire_all()
    assert first.marked_final_at is None and second.marked_final_at is not None
    # staff cannot mark for the student
    assert client_for(make_user("ta", course)).post(f"/submissions/{first.id}/final").status_code == 403


def test_marking_final_after_the_deadline_is_refused(session, client_for, make_user, course, make_student,
                                                     make_assignment, make_submission):
    student = make_student()
    assignment = make_assignment(counting_policy="final", deadline=utcnow() - dt.timedelta(minutes=1), penalty_per_day=0)
    earlier = make_submission(student, assignment, result=make_result(score=12.0),
                              submitted_at=utcnow() - dt.timedelta(hours=2))
    make_submission(student, assignment, result=make_result(score=9.0))
    me = client_for(student)
    me.post(f"/submissions/{earlier.id}/final")
    page = me.get(f"/assignments/{assignment.id}").data.decode()
    assert "has passed: the choice made before it stands" in page and "Mark final</button>" not in page
    session.expire_all()
    assert earlier.marked_final_at is None
    assert _gradebook_score(client_for, make_user, course, assignment) == 9.0


def test_marking_is_refused_when_the_policy_is_not_final_or_the_try_is_not_graded(
        session, client_for, course, make_student, make_assignment, make_submission):
    student, assignment, first, _ = _two_tries(make_student, make_assignment, make_submission)
    me = client_for(student)
    me.post(f"/submissions/{first.id}/final")
    assert "there is nothing to mark" in me.get(f"/assignments/{assignment.id}").data.decode()
    assignment.counting_policy = "final"
    queued = make_submission(student, assignment)
    session.commit()
    me.post(f"/submissions/{queued.id}/final")
    assert "Only a graded submission can be marked final." in me.get(f"/assignments/{assignment.id}").data.decode()


def test_staff_set_the_policy_and_bad_values_are_refused(session, client_for, make_user, course, make_assignment):
    assignment = make_assignment()
    ta = client_for(make_user("ta", course))
    ta.post(f"/assignments/{assignment.id}/counting", {"counting_policy": "best", "canvas_assignment_id": "77"})
    session.expire_all()
    assert (assignment.counting_policy, assignment.canvas_assignment_id) == ("best", "77")
    ta.post(f"/assignments/{assignment.id}/counting", {"counting_policy": "highest", "canvas_assignment_id": ""})
    assert "The counting policy is one of last, best, final" in ta.get(f"/assignments/{assignment.id}").data.decode()
    bad = ta.api("PATCH", f"/api/assignments/{assignment.id}", json={"canvas_assignment_id": "Lab 1"})
    assert bad.status_code == 400 and "is a number" in bad.json["message"]
    session.expire_all()
    assert (assignment.counting_policy, assignment.canvas_assignment_id) == ("best", "77")
    ok = ta.api("PATCH", f"/api/assignments/{assignment.id}", json={"counting_policy": "final"})
    assert ok.status_code == 200 and ok.json["counting_policy"] == "final"
