"""The results page on a 390 px phone and on a desktop: sections per part, failures first,
passes folded, no horizontal overflow. Screenshots in test-artifacts/web/."""

from __future__ import annotations

import pytest

from test_web_browser import ARTIFACTS, backend, browser, live_server, login, shot  # noqa: F401  (fixtures)
from web_helpers import make_result

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def _long_result():
    result = make_result(score=71.8548, max_score=100)
    result["tests"][1]["message"] = ("'softmax_n4096': 0.70x the baseline; the kernel reads every row twice, "
                                     "fuse the max and the sum into one pass " * 6).strip()
    for n in range(12):
        result["tests"].append({"name": f"test_public.py::test_softmax_rows[shape{n}-float32-contiguous]",
                                "part": "softmax", "status": "pass", "score": 0.2, "max_score": 0.2, "message": "",
                                "visibility": "visible", "hidden": False})
    return result


@pytest.mark.parametrize("who", ["student", "ta"])
def test_results_page_reads_on_a_phone(live_server, browser, make_student, make_user, course, make_assignment,
                                      make_submission, who):
    student = make_student(email="phone-student@example.edu")
    sub = make_submission(student, make_assignment(), result=_long_result())
    viewer = student if who == "student" else make_user("ta", course, email="phone-ta@example.edu")
    for viewport, name in ((PHONE, "phone"), ({"width": 1200, "height": 900}, "desktop")):
        page = browser.new_page(viewport=viewport)
        login(page, live_server, viewer.email)
        page.goto(f"{live_server}/submissions/{sub.id}")
        page.wait_for_selector("#part-softmax")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        first = page.locator("#part-softmax > .test").first
        assert "test_softmax_speed" in first.inner_text() and "fuse the max and the sum" in first.inner_text()
        assert not page.is_visible("#part-softmax details.passed .test")  # passes folded
        assert "13 passed" in page.inner_text("#part-softmax details.passed > summary")
        assert "7.50 / 10.00" in page.inner_text("#part-softmax h3")
        assert page.locator("svg.chart").count() == 1 and "Speedup vs baseline" in page.inner_text("body")
        shot(page, f"results-{who}-{name}")
        page.click("#part-softmax details.passed > summary")
        assert page.is_visible("#part-softmax details.passed .test")
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
        page.close()
