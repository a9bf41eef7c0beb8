"""A student on a 390 px phone sees which submission counts and marks one final (Chromium)."""

from __future__ import annotations

import datetime as dt

import pytest
from test_web_browser import backend, browser, live_server, login, shot  # noqa: F401 (fixtures)
from web_helpers import make_result

from web.db import utcnow

pytestmark = pytest.mark.browser


def test_student_marks_a_submission_final_on_a_phone(live_server, browser, session, course, make_student,  # noqa: F811
                                                       make_assignment, make_submission):
    student = make_student(email="phone@example.edu", name="Pho Ne")
    assignment = make_assignment(counting_policy="final")
    better = make_submission(student, assignment, result=make_result(score=12.0),
                             submitted_at=utcnow() - dt.timedelta(hours=2))
    make_submission(student, assignment, result=make_result(score=9.0))
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, live_server, student.email)
    page.goto(f"{live_server}/assignments/{assignment.id}")
    assert "so your latest graded one counts" in page.inner_text("#counting")
    shot(page, "student-counting-phone-before")
    page.locator(f"tr:has(a:text-is('{better.id}')) button:text('Mark final')").click()
    page.wait_for_selector(f"text=Submission {better.id} is marked final")
    assert f"Submission {better.id} counts: you marked it final on" in page.inner_text("#counting")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "student-counting-phone-after")
    page.goto(f"{live_server}/courses/{course.id}")
    assert f"Submission {better.id} counts" in page.inner_text("table") and "12 / 15" in page.inner_text("table")
