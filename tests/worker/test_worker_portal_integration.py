"""The real portal (web.create_app on SQLite, served over HTTP) and a real worker process, the
real engine and the real gate: upload a package → the portal enqueues dlgrade.run_gate → the
worker gates it and uploads the bundle → release → a student submits → the portal enqueues
dlgrade.grade_submission → the worker grades it and the score lands in the portal's
database. Then Redis loses everything with a job queued, and the sweeper against the
portal's real /api/worker/stuck brings it back."""

from __future__ import annotations

import datetime as dt
import io
import tarfile
import threading
import time

import pytest

from worker_helpers import REAL_APP, ROOT, sweeper_once, wait_for

pytestmark = pytest.mark.redis

EXAMPLE = ROOT / "tests" / "example_assignment"


def example_package() -> bytes:
    """tests/example_assignment as an uploaded package: assignments/example + reference/example."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(EXAMPLE.rglob("*")):
            rel = path.relative_to(EXAMPLE)
            if not path.is_file() or "__pycache__" in rel.parts:
                continue
            if rel.parts[0] == "reference":
                arcname = "reference/example/" + "/".join(rel.parts[1:])
            else:
                arcname = "assignments/example/" + rel.as_posix()
            tar.add(path, arcname=arcname)
    return buf.getvalue()


@pytest.fixture
def real_portal(tmp_path, redis_server):
    from werkzeug.serving import make_server

    from web import create_app
    from web.db import db

    app = create_app({
        "DATA_DIR": str(tmp_path / "portal"), "ENQUEUE": True, "BROKER_URL": redis_server.url,
        "TESTING": True, "SECRET_KEY": "integration", "PASSWORD_HASH": "scrypt:4096:8:1",
        "RATE_LIMIT_STORAGE": "memory",
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with app.app_context():
        yield app, f"http://127.0.0.1:{server.server_port}"
        db.session.close()
    server.shutdown()


def test_gate_then_grading_through_the_real_portal(real_portal, workers, tmp_path):
    from web import services
    from web.db import db, utcnow
    from web.models import Assignment, Course, Submission, User
    from web.security import issue_token

    app, url = real_portal
    session = db.session
    _, token = issue_token(kind="worker", user_id=None, name="integration worker")
    course = Course(slug="dlsys", title="Efficient DL Systems", late_days=3)
    student = User(email="s@example.edu", name="S", password_hash="x", sis_id="1")
    session.add_all([course, student])
    session.commit()
    store, tasks = app.extensions["dlgrade_store"], app.extensions["dlgrade_tasks"]

    env = dict(DLGRADE_PORTAL_URL=url, DLGRADE_WORKER_TOKEN=token, DLGRADE_FAILURE_RETRY_S=1)
    workers.start("w1", concurrency=1, app=REAL_APP, **env)

    assignment = services.upload_package(session, store, tasks, course_id=course.id, data=example_package())
    aid = assignment.id

    def gate_done():
        session.expire_all()
        return session.get(Assignment, aid).gate_passed is not None

    wait_for(gate_done, 300, f"the gate report\n{workers.dump_logs()}", poll_s=1)
    a = session.get(Assignment, aid)
    assert a.gate_passed, a.gate_report
    assert store.exists(a.bundle_digest), "the worker uploaded the bundle it built"
    assert a.release_sha256 == a.gate_report["release_digest"] and store.exists(a.release_sha256)
    assert a.title == a.gate_report["assignment"]["title"] and a.solution_ids == ["add", "softmax", "rowsum"]
    a.deadline = utcnow() + dt.timedelta(days=3)
    session.commit()
    services.release(session, store, a, offline_after_s=60)

    data = (EXAMPLE / "source.ipynb").read_bytes()
    sub = services.submit(session, store, tasks, assignment=a, user_id=student.id, filename="example.ipynb",
                          data=data, default_max_mb=5)
    sid = sub.id

    def finished():
        session.expire_all()
        return session.get(Submission, sid).state in ("graded", "rejected", "error")

    wait_for(finished, 300, f"grading through the portal\n{workers.dump_logs()}", poll_s=0.5)
    row = session.get(Submission, sid)
    assert row.state == "graded", (row.state, row.message, [g.failure_message for g in row.grades])
    assert row.score == pytest.approx(row.max_score) and row.max_score > 0
    assert [g.attempt for g in row.grades if g.result is not None] == [1]

    # Redis loses everything while a submission is queued and no worker is running
    for w in workers.started:
        w.stop()
    lost = services.submit(session, store, tasks, assignment=a, user_id=student.id, filename="example.ipynb",
                           data=data, default_max_mb=5)
    workers.redis_server.restart()
    workers.start("w2", concurrency=1, app=REAL_APP, **env)
    time.sleep(2)
    report = sweeper_once(workers.env(**env), older_than_s=1)
    assert f"[{lost.id}, 1, \"cpu\"]" in report, report
    lost_id = lost.id

    def lost_done():
        session.expire_all()
        return session.get(Submission, lost_id).state in ("graded", "error")

    wait_for(lost_done, 300, f"the swept submission graded\n{workers.dump_logs()}", poll_s=0.5)
    assert session.get(Submission, lost_id).state == "graded"
