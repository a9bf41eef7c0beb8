"""The Operations page in a real browser: it refreshes live as workers come and go, it lists
gate jobs alongside submissions, and it fits a 390 px phone. Screenshots in test-artifacts/web/."""

from __future__ import annotations

import pytest

from test_web_browser import ARTIFACTS, backend, browser, live_server, login, shot  # noqa: F401  (fixtures)
from web_helpers import notebook_bytes

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
NO_OVERFLOW = "document.documentElement.scrollWidth"


def _beat(worker, name, queues, gpus=(), state="online"):
    assert worker.post("/api/worker/workers/heartbeat", {
        "worker": name, "queues": list(queues), "gpus": list(gpus), "concurrency": 1, "state": state,
        "engine_version": "1+abcdef123456", "started_at": "2026-12-03T08:00:00Z"}).status_code == 200


def test_operations_page_refreshes_live_and_fits_a_phone(live_server, browser, session, make_user, course,
                                                         make_student, make_assignment, make_submission, worker):
    ta = make_user("ta", course, email="ta@example.edu")
    student = make_student(email="queued@example.edu")
    make_assignment("kv_cache", queue="gpu", released=False, gate_passed=None)
    make_submission(student, make_assignment("backprop"))
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, live_server, ta.email)
    page.wait_for_selector("text=Log out")
    page.goto(f"{live_server}/courses/{course.id}")
    page.click("text=Operations")
    page.wait_for_selector("#ops-jobs")
    gate_row = page.inner_text('tr[data-job^="gate-"]')
    assert "release gate of kv_cache" in gate_row and "waiting for a GPU worker: none has connected yet" in gate_row
    assert "waiting for a CPU worker" in page.inner_text('tr[data-job^="submission-"]')
    shot(page, "ta-operations-no-workers")
    _beat(worker, "cpu-host-1", ["cpu"])  # no reload: the page polls operations.json
    page.wait_for_selector('#ops-workers tr[data-worker="cpu-host-1"]', timeout=15000)
    page.wait_for_selector('#ops-queues tr[data-queue="cpu"] >> text=cpu-host-1', timeout=15000)
    assert "waiting for a CPU worker" not in page.inner_text('tr[data-job^="submission-"]')
    assert "waiting for a GPU worker" in page.inner_text('tr[data-queue="gpu"]')
    shot(page, "ta-operations-cpu-worker-online")
    _beat(worker, "cpu-host-1", ["cpu"], state="stopping")
    page.wait_for_selector('#ops-workers tr[data-worker="cpu-host-1"] >> text=offline', timeout=15000)
    assert "none online since" in page.inner_text('tr[data-queue="cpu"]')

    phone = browser.new_page(viewport=PHONE)
    login(phone, live_server, ta.email)
    phone.goto(page.url)
    phone.wait_for_selector("#ops-jobs")
    assert phone.evaluate(NO_OVERFLOW) <= PHONE["width"]
    shot(phone, "ta-operations-phone")
    assert not errors, errors


def test_student_on_a_phone_sees_the_job_wait_for_a_gpu_worker(live_server, browser, tmp_path, make_student,
                                                               make_assignment, worker):
    student = make_student(email="phone@example.edu")
    assignment = make_assignment("kv_cache", queue="gpu")
    page = browser.new_page(viewport=PHONE)
    login(page, live_server, student.email)
    page.goto(f"{live_server}/assignments/{assignment.id}")
    notebook = tmp_path / "kv_cache.ipynb"
    notebook.write_bytes(notebook_bytes(slug="kv_cache"))
    page.set_input_files("input[name=notebook]", str(notebook))
    page.click("text=Upload and grade")
    page.wait_for_selector("#status-state")
    assert page.inner_text("#status-state") == "waiting"
    assert "waiting for a GPU worker: none has connected yet" in page.inner_text("#status")
    assert page.evaluate(NO_OVERFLOW) <= PHONE["width"]
    shot(page, "student-waiting-for-gpu-phone")
    _beat(worker, "gpu-host-1", ["gpu"], gpus=[0])
    page.wait_for_selector('#status-state:text-is("queued")', timeout=15000)
