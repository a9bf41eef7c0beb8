"""Overrides say who and when to staff and are marked in the gradebook; TAs read the gradebook
without exports; "Regrade all" asks first, naming how many submissions it queues."""

from __future__ import annotations

from web.models import Submission
from web_helpers import make_result


def test_override_records_who_and_when_and_the_gradebook_marks_it(session, client_for, make_user, course,
                                                                   make_student, make_assignment, make_submission):
    student = make_student(name="Alice Liddell")
    sub = make_submission(student, make_assignment(), result=make_result(score=5))
    ta_user = make_user("ta", course, name="Tomas TA")
    ta = client_for(ta_user)
    ta.post(f"/submissions/{sub.id}/override", {"score": "14", "comment": "tolerance too strict"})
    session.expire_all()
    row = session.get(Submission, sub.id)
    assert row.override_by_id == ta_user.id and row.override_at is not None
    when = row.override_at.strftime("%Y-%m-%d %H:%M")
    staff_page = ta.get(f"/submissions/{sub.id}").get_data(as_text=True)
    assert f"Score set by staff to 14.00 by Tomas TA on {when} UTC: tolerance too strict" in staff_page
    student_page = client_for(student).get(f"/submissions/{sub.id}").get_data(as_text=True)
    assert "Score set by staff to 14.00: tolerance too strict" in student_page and "Tomas TA" not in student_page
    assert ta.api("GET", f"/api/submissions/{sub.id}").json["override_by"] == ta_user.email
    book = ta.get(f"/courses/{course.id}/gradebook").get_data(as_text=True)
    assert f'title="set by Tomas TA at {when} UTC">override</span>' in book


def test_tas_read_the_gradebook_but_only_instructors_export(client_for, make_user, course, make_student,
                                                            make_assignment, make_submission):
    make_submission(make_student(name="Bob Builder"), make_assignment(), result=make_result(score=9))
    ta = client_for(make_user("ta", course))
    book = ta.get(f"/courses/{course.id}/gradebook")
    text = book.get_data(as_text=True)
    assert book.status_code == 200 and "Bob Builder" in text and "Read-only" in text
    assert "gradebook.csv" not in text and "canvas.csv" not in text
    assert ta.get(f"/courses/{course.id}/gradebook.csv").status_code == 403
    assert "gradebook.csv" in client_for(make_user("instructor", course)).get(
        f"/courses/{course.id}/gradebook").get_data(as_text=True)


def test_regrade_all_asks_first(session, client_for, make_user, course, make_student, make_assignment,
                                make_submission, sent):
    assignment = make_assignment()
    subs = [make_submission(make_student(), assignment, result=make_result()) for _ in range(3)]
    ta = client_for(make_user("ta", course))
    asked = ta.post(f"/assignments/{assignment.id}/regrade")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Yes, regrade 3 submissions" in page and sent == []
    assert ta.post(f"/assignments/{assignment.id}/regrade", {"confirm": "2"}).status_code == 200 and sent == []
    done = ta.post(f"/assignments/{assignment.id}/regrade", {"confirm": "3"})
    assert done.status_code == 303
    assert sorted(args[0] for _, args, _ in sent) == sorted(s.id for s in subs)
