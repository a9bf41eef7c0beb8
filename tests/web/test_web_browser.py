"""The three roles' main paths in a real browser (Debian's chromium driven by Playwright).

Screenshots are kept under test-artifacts/web/ (ignored by git)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from web_helpers import gate_report_for, make_package, make_result, notebook_bytes

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def backend():
    """Browser paths run once, on SQLite; every other test also runs on PostgreSQL."""
    return "sqlite"


@pytest.fixture
def live_server(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def login(page, base, email, password="pw-123456"):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_student_submits_and_watches_the_result(live_server, browser, tmp_path, session, make_student,
                                                make_assignment, worker, course):
    student = make_student(email="alice@example.edu", name="Alice Student")
    assignment = make_assignment()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, live_server, student.email)
    page.wait_for_selector("text=Late days")
    shot(page, "student-course")
    page.click(f"text={assignment.title}")
    notebook = tmp_path / "demo.ipynb"
    notebook.write_bytes(b"{broken")
    page.set_input_files("input[name=notebook]", str(notebook))
    page.click("text=Upload and grade")
    page.wait_for_selector(".flash.error")
    assert "not valid JSON" in page.inner_text(".flash.error")
    shot(page, "student-upload-rejected")
    notebook.write_bytes(notebook_bytes())
    page.set_input_files("input[name=notebook]", str(notebook))
    page.click("text=Upload and grade")
    page.wait_for_selector("#status-state")
    assert page.inner_text("#status-state") == "waiting" and "position 1" in page.inner_text("#status-queue")
    assert page.inner_text("#status-waiting").strip() == "· waiting for a CPU worker: none has connected yet"
    shot(page, "student-waiting-for-worker")
    worker.post("/api/worker/workers/heartbeat", {"worker": "cpu-host-1", "queues": ["cpu"], "gpus": [],
                                                  "concurrency": 1, "started_at": "2026-12-03T08:00:00Z"})
    page.wait_for_selector('#status-state.queued:text-is("queued")', timeout=15000)
    assert page.inner_text("#status-waiting").strip() == ""
    shot(page, "student-queued")
    sub_id = int(page.url.rsplit("/", 1)[-1])
    worker.post(f"/api/worker/submissions/{sub_id}/progress",
                {"attempt": 1, "state": "running", "worker": "gpu-host-1", "part": "secret",
                 "test": "test_hidden.py::test_h", "done": 1, "total": 3})
    page.wait_for_selector("#status-state.running", timeout=15000)  # CSP forbids eval: no wait_for_function
    progress = page.inner_text("#status-progress-text")
    assert progress == "1 / 3 tests · part: Part secret" and "test_h" not in page.content()
    shot(page, "student-running")
    worker.post(f"/api/worker/submissions/{sub_id}/result", {"attempt": 1, "worker": "gpu-host-1",
                                                               "result": make_result()})
    page.wait_for_selector("text=Performance", timeout=20000)  # the poller reloads when final
    body = page.inner_text("body")
    assert "7.50 / 15.00" in body and "secret: hidden test" in body and "HIDDEN_TEST_SOURCE" not in page.content()
    shot(page, "student-result")
    assert not errors, errors  # no CSP violations or script errors


def test_ta_gates_releases_and_overrides(live_server, browser, tmp_path, session, make_user, course, worker,
                                         make_student, make_submission):
    ta = make_user("ta", course, email="ta@example.edu", name="Tomas TA")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    login(page, live_server, ta.email)
    package = tmp_path / "demo.tar.gz"
    package.write_bytes(make_package("kernels"))
    page.set_input_files("input[name=package]", str(package))
    page.click("text=Upload package")
    page.wait_for_selector("#gate-status")
    assert "The gate has not run: waiting for a CPU worker" in page.inner_text("#gate-status")
    assert page.is_disabled("#release-button")
    assignment_id = int(page.url.rsplit("/", 1)[-1])
    bundle = b"bundle of kernels"
    digest = hashlib.sha256(bundle).hexdigest()
    worker.put(f"/api/worker/bundles/{digest}", bundle)
    report, release = gate_report_for(package.read_bytes())
    worker.put(f"/api/worker/releases/{report['release_digest']}", release)
    worker.post(f"/api/worker/assignments/{assignment_id}/gate",
                {"attempt": 1, "worker": "gpu-host-1", "passed": True, "bundle_digest": digest, "report": report})
    page.reload()
    assert "Passed" in page.inner_text("#gate-status")
    page.fill("input[name=deadline]", "2031-05-01T23:59")
    page.fill("input[name=grace_days]", "2")
    page.click("text=Save")
    page.wait_for_selector("text=Settings saved.")
    page.click("#release-button")
    page.wait_for_selector("text=is released to students")
    shot(page, "ta-assignment-released")
    from web.models import Assignment

    session.expire_all()
    assignment = session.get(Assignment, assignment_id)
    sub = make_submission(make_student(email="bob@example.edu"), assignment, result=make_result(score=9))
    page.goto(f"{live_server}/submissions/{sub.id}")
    page.fill("input[name=score]", "14")
    page.fill("input[name=comment]", "Regrade request: tolerance too strict")
    page.click("text=Save override")
    page.wait_for_selector("text=Override saved.")
    assert "Score set by staff to 14" in page.inner_text("body")
    shot(page, "ta-submission-override")
    page.click("text=Logs and attempts")
    page.wait_for_selector("text=Attempt 1")
    assert "HIDDEN_TEST_SOURCE" in page.content()  # staff see the detail
    shot(page, "ta-logs")
    page.goto(f"{live_server}/courses/{course.id}/operations")
    shot(page, "ta-operations")


def test_instructor_reads_the_gradebook_and_exports(live_server, browser, session, make_user, course,
                                                    make_assignment, make_submission):
    instructor = make_user("instructor", course, email="prof@example.edu", name="Ines Instructor")
    assignments = [make_assignment("softmax"), make_assignment("attention")]
    for n in range(12):
        student = make_user("student", course, name=f"Student {n:02d}")
        for k, assignment in enumerate(assignments):
            make_submission(student, assignment, result=make_result(score=(n * 7 + k * 3) % 16))
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    login(page, live_server, instructor.email)
    page.click("text=Gradebook")
    page.wait_for_selector("svg.chart")
    assert page.locator("svg.chart").count() == 2 and "Student 11" in page.inner_text("table")
    shot(page, "instructor-gradebook")
    with page.expect_download() as download:
        page.click("text=Export CSV (nbgrader columns)")
    text = Path(download.value.path()).read_text()
    assert text.startswith("assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score")
    with page.expect_download() as download:
        page.click("text=Export for Canvas import")
    assert Path(download.value.path()).read_text().startswith("Student,ID,SIS User ID,SIS Login ID,Section")


def _package_folder(folder: Path, slug: str) -> bytes:
    """A package as staff upload it: assignments/<slug>/ and reference/<slug>/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and "__pycache__" not in relative.parts:
                inside = "/".join(relative.parts[1:]) if relative.parts[0] == "reference" else relative.as_posix()
                top = "reference" if relative.parts[0] == "reference" else "assignments"
                archive.add(path, arcname=f"{top}/{slug}/{inside}")
    return buffer.getvalue()


def test_the_student_downloads_the_release_the_gate_built(live_server, browser, tmp_path, session, make_user,
                                                          make_student, course, worker):
    """The real gate (grading included) gates tests/example_assignment; what it reports and PUTs
    goes to the portal as the worker sends it; the student's download is the gate's archive."""
    from autograder.assign import assign
    from web.models import Assignment

    example = Path(__file__).resolve().parents[1] / "example_assignment"
    ta = make_user("ta", course, email="tara@example.edu", name="Tara TA")
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    login(page, live_server, ta.email)
    package = tmp_path / "example.tar.gz"
    package.write_bytes(_package_folder(example, "example"))
    page.set_input_files("input[name=package]", str(package))
    page.click("text=Upload package")
    page.wait_for_selector("#waiting-for-gate")
    assignment_id = int(page.url.rsplit("/", 1)[-1])
    assert page.locator("#release-download").count() == 0

    unpacked = tmp_path / "worker"
    with tarfile.open(package) as archive:
        archive.extractall(unpacked, filter="data")
    report = assign(unpacked / "assignments" / "example", out_dir=tmp_path / "gate", sandbox="process")
    assert report.passed, report.format()
    built = report.release_path.read_bytes()
    assert hashlib.sha256(built).hexdigest() == report.release_digest
    worker.put(f"/api/worker/bundles/{report.bundle_digest}", report.bundle_path.read_bytes())
    worker.put(f"/api/worker/releases/{report.release_digest}", built)
    worker.post(f"/api/worker/assignments/{assignment_id}/gate",
                {"attempt": 1, "worker": "w1", "passed": True, "bundle_digest": report.bundle_digest,
                 "report": report.to_dict()})
    page.reload()
    assert "Passed" in page.inner_text("#gate-status")
    shown = page.inner_text("#release-digest")
    assert shown == report.release_digest
    box = page.locator("#release-digest").bounding_box()
    assert box["x"] + box["width"] <= 390  # the 64-digit digest wraps on a phone
    shot(page, "ta-gate-release-digest")
    page.fill("input[name=deadline]", "2031-05-01T23:59")
    page.click("text=Save")
    page.wait_for_selector("text=Settings saved.")
    page.click("#release-button")
    page.wait_for_selector("text=is released to students")

    session.expire_all()
    title = session.get(Assignment, assignment_id).title
    student = make_student(email="sam@example.edu")
    student_page = browser.new_page(viewport={"width": 390, "height": 844})
    login(student_page, live_server, student.email)
    student_page.click(f"text={title}")
    with student_page.expect_download() as download:
        student_page.click("#release-download")
    downloaded = Path(download.value.path()).read_bytes()
    assert downloaded == built and hashlib.sha256(downloaded).hexdigest() == shown
    with zipfile.ZipFile(io.BytesIO(downloaded)) as archive:
        notebook = archive.read("example/example.ipynb").decode()
        names = archive.namelist()
    with zipfile.ZipFile(report.release_path) as archive:
        assert notebook == archive.read("example/example.ipynb").decode()
    assert "return a + b" not in notebook and "raise NotImplementedError()" in notebook
    assert not any("hidden" in name for name in names)
    shot(student_page, "student-release-download")
