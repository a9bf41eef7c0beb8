"""The staff's similarity review in a real browser (Debian's chromium driven by Playwright), on a
desktop and on a 390 px phone. The report the worker posts is the engine's own, computed here on
the kv_cache corpus. Screenshots go to test-artifacts/web/similarity-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_web_browser import ARTIFACTS, backend, browser, live_server, login, shot  # noqa: F401  (fixtures)
from web_helpers import make_result

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "similarity_corpus" / "kv_cache"
FILES = ("reference.ipynb", "independent.ipynb", "copy_everything.ipynb", "copy_renamed.ipynb")


def _engine_report(submission_ids: list[int]) -> dict:
    from autograder.similarity import compare, report_data

    comparison, pairs = compare(REPO / "assignments" / "kv_cache", [CORPUS / name for name in FILES],
                                names=[str(sid) for sid in submission_ids])
    report = report_data(comparison, pairs, detail_pairs=200, every_pair=False)
    report["total_pairs"] = len(pairs)
    return report


def _no_sideways_scroll(page) -> None:
    """At 390 px nothing but the deliberate scroll boxes may stick out of the viewport."""
    width = page.viewport_size["width"]
    for selector in ("main h1", "main .card", ".sides .side", ".scroll", "form button"):
        for box in (page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())):
            assert box is None or box["x"] + box["width"] <= width + 1, (selector, box)


def test_ta_runs_reviews_and_marks_a_pair(live_server, browser, session, course,  # noqa: F811
                                          make_user, make_assignment, make_submission, worker):
    ta = make_user("ta", course, email="ta@example.edu", name="Tomas TA")
    assignment = make_assignment("kv_cache")
    who = ("rita", "ivan", "carl", "rene")
    ids = [make_submission(make_user("student", course, email=f"{name}@example.edu"), assignment,
                           result=make_result()).id for name in who]
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, live_server, ta.email)
    page.goto(f"{live_server}/assignments/{assignment.id}")
    page.click("#similarity-link")
    page.click("#start-similarity")
    page.wait_for_selector("text=Similarity review 1 queued")
    assert page.inner_text("#run-state") == "queued"
    base = f"/api/worker/assignments/{assignment.id}/similarity/1"
    listed = worker.get(base).json
    assert sorted(s["id"] for s in listed["submissions"]) == sorted(ids)
    worker.post(f"{base}/progress", {"attempt": 1, "state": "running", "worker": "cpu-host-1", "test": "compare",
                                     "done": 3, "total": 6})
    page.reload()
    assert "compare 3/6" in page.inner_text("#run-progress")
    shot(page, "similarity-running")
    assert worker.post(f"{base}/report", {"attempt": 1, "worker": "cpu-host-1",
                                          "report": _engine_report(ids)}).status_code == 200
    page.wait_for_selector("#pairs", timeout=15000)  # the page reloads itself while the run is active
    rows = page.locator("#pairs tbody tr")
    assert rows.count() == 6
    assert "rita@example.edu" in rows.nth(0).inner_text() and "rene@example.edu" in rows.nth(0).inner_text()
    assert all("ivan@example.edu" in rows.nth(i).inner_text() for i in (3, 4, 5))  # the independent one last
    shot(page, "similarity-ranking")
    page.click("text=cell paged")
    page.wait_for_selector("th:has-text('Cell paged')")
    shot(page, "similarity-ranking-cell-paged")
    page.locator("#pairs tbody tr").nth(0).locator("a").click()
    page.wait_for_selector(".sides")
    assert page.locator("#side-1 span.line.m").count() > 50 and page.locator("#side-2 span.line.m").count() > 50
    shot(page, "similarity-pair")
    page.fill("textarea[name=comment]", "Same paged_attention down to the comments; talk to both")
    page.click("#mark-reviewed")
    page.wait_for_selector("text=Pair marked reviewed.")
    assert page.inner_text("#pair-status") == "reviewed" and "talk to both" in page.inner_text("body")
    pair_url = page.url
    assert not errors, errors

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    login(phone, live_server, ta.email)
    phone.goto(f"{live_server}/assignments/{assignment.id}/similarity")
    phone.wait_for_selector("#pairs")
    _no_sideways_scroll(phone)
    shot(phone, "similarity-ranking-390px")
    phone.goto(pair_url)
    phone.wait_for_selector(".sides")
    _no_sideways_scroll(phone)
    shot(phone, "similarity-pair-390px")

    student = browser.new_page(viewport={"width": 390, "height": 844})
    login(student, live_server, "rita@example.edu")
    student.goto(f"{live_server}/assignments/{assignment.id}")
    assert "Similarity" not in student.inner_text("body")
    response = student.goto(pair_url)
    assert response.status == 403 and "paged_attention" not in student.content()
