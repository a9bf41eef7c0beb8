"""A TA in a real browser: overrides show who and when, the gradebook (read-only) marks them,
and "Regrade all" asks before it queues anything. Screenshots in test-artifacts/web/."""

from __future__ import annotations

import pytest

from test_web_browser import ARTIFACTS, backend, browser, live_server, login, shot  # noqa: F401  (fixtures)
from web_helpers import make_result

pytestmark = pytest.mark.browser


def test_ta_overrides_reads_the_gradebook_and_confirms_regrade_all(live_server, browser, make_user, course,
                                                                   make_student, make_assignment, make_submission,
                                                                   sent):
    ta = make_user("ta", course, email="ta@example.edu", name="Tomas TA")
    assignment = make_assignment()
    sub = make_submission(make_student(name="Alice Liddell"), assignment, result=make_result(score=5))
    make_submission(make_student(name="Bob Builder"), assignment, result=make_result(score=9))
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    login(page, live_server, ta.email)
    page.goto(f"{live_server}/submissions/{sub.id}")
    page.fill("input[name=score]", "14")
    page.fill("input[name=comment]", "tolerance too strict")
    page.click("text=Save override")
    page.wait_for_selector("#override-note")
    assert "by Tomas TA on" in page.inner_text("#override-note")
    page.goto(f"{live_server}/courses/{course.id}")
    page.click("text=Gradebook")
    page.wait_for_selector("#gradebook")
    assert page.locator("#gradebook .override-mark").count() == 1 and "Read-only" in page.inner_text("main")
    shot(page, "ta-gradebook-read-only")
    page.goto(f"{live_server}/assignments/{assignment.id}")
    page.click("text=Regrade all")
    page.wait_for_selector("#confirm-regrade")
    assert sent == [] and page.inner_text("#confirm-regrade") == "Yes, regrade 2 submissions"
    shot(page, "ta-regrade-all-confirm")
    page.click("#confirm-regrade")
    page.wait_for_selector("text=2 submissions queued for regrading.")
    assert len(sent) == 2
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    login(phone, live_server, ta.email)
    phone.goto(f"{live_server}/courses/{course.id}/gradebook")
    phone.wait_for_selector("#gradebook")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "ta-gradebook-phone")
