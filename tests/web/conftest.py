"""Fixtures for the portal: an app per test on SQLite and on the real PostgreSQL (a schema of
its own, dropped afterwards), small factories, and clients
logged in as a given user."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid

import pytest
import sqlalchemy as sa

from web import create_app
from web.db import db, utcnow
from web.models import ApiToken, Assignment, Course, GradeRun, Membership, Submission, User
from web.security import sign, token_digest

from web_helpers import Client, gate_report_for, make_package, notebook_bytes

PG_URL = os.environ.get("DLGRADE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL service (uses the real one)")
    config.addinivalue_line("markers", "redis: needs the Redis service (uses the real one)")
    config.addinivalue_line("markers", "browser: drives Debian's chromium through Playwright")


# --- packages and notebooks -----------------------------------------------------------------


def _pg_admin_engine():
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request):
    return request.param


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """The SQLite schema migrated to head once per run; each test copies the file (migrating per
    test cost about a second each, in ~300 tests)."""
    from web.db import upgrade

    sqlite_file = tmp_path_factory.mktemp("migrated") / "dlgrade.sqlite"
    upgrade(f"sqlite:///{sqlite_file}")
    return sqlite_file


@pytest.fixture
def app_config(tmp_path, backend, migrated_sqlite):
    """On PostgreSQL each test gets a schema of its own with the tables of `web.models` (the
    migration chain is checked against the models in test_web_security; a per-test database
    from a template cost 4 to 8 s of CREATE/DROP DATABASE here)."""
    config = {
        "DATA_DIR": str(tmp_path / "portal"), "ENQUEUE": False, "TESTING": True, "AUTO_MIGRATE": False,
        "PASSWORD_HASH": "scrypt:4096:8:1", "RATE_LIMIT_STORAGE": "memory", "SECRET_KEY": "test-secret",
    }
    schema = None
    if backend == "postgres":
        from web.db import make_engine
        from web.models import Base

        schema = f"dlgrade_test_{uuid.uuid4().hex[:12]}"
        engine = _pg_admin_engine()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        engine = make_engine(PG_URL, schema)
        Base.metadata.create_all(engine)
        engine.dispose()
        config.update(DATABASE_URL=PG_URL, DATABASE_SCHEMA=schema)
    else:
        (tmp_path / "portal").mkdir()
        shutil.copyfile(migrated_sqlite, tmp_path / "portal" / "dlgrade.sqlite")
    yield config
    if schema:
        engine = _pg_admin_engine()
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        yield app
        db.session.close()
        db.engine.dispose()


@pytest.fixture
def session(app):
    return db.session


@pytest.fixture
def store(app):
    return app.extensions["dlgrade_store"]


@pytest.fixture
def sent(app):
    """Tasks the portal sent (ENQUEUE is off in tests)."""
    return app.extensions["dlgrade_tasks"].sent


# --- factories ------------------------------------------------------------------------------


@pytest.fixture
def make_course(session):
    def make(slug=None, late_days=3):
        course = Course(slug=slug or f"c{uuid.uuid4().hex[:6]}", title="Efficient DL Systems", late_days=late_days)
        session.add(course)
        session.commit()
        return course

    return make


@pytest.fixture
def course(make_course):
    return make_course("dlsys")


@pytest.fixture
def make_user(session, app):
    from werkzeug.security import generate_password_hash

    def make(role="student", course=None, *, email=None, name=None, password="pw-123456"):
        user = User(email=email or f"{role}-{uuid.uuid4().hex[:6]}@example.edu", name=name or f"Some {role.title()}",
                    password_hash=generate_password_hash(password, method="scrypt:4096:8:1"),
                    sis_id=uuid.uuid4().hex[:6])
        session.add(user)
        session.flush()
        if course is not None:
            session.add(Membership(user_id=user.id, course_id=course.id, role=role, section="A"))
        session.commit()
        return user

    return make


@pytest.fixture
def make_student(make_user, course):
    return lambda **kw: make_user("student", course, **kw)


@pytest.fixture
def make_assignment(session, store, course, app):
    def make(slug="demo", *, released=True, deadline=None, course_=None, gate_passed=True, **fields):
        """An assignment as a package upload and its gate make it: the metadata and the release
        come from the gate report (`gate_report_for`), through services.record_gate.
        `gate_passed`: True (passed), False (ran and failed) or None (no report yet)."""
        from web import services

        package = make_package(slug)
        assignment = Assignment(course_id=(course_ or course).id, slug=slug, title=slug, gate_attempt=1,
                                state="gating", package_sha256=store.put(package))
        session.add(assignment)
        session.commit()
        if gate_passed:
            report, release = gate_report_for(package)
            store.put(release)  # what the worker's PUT /api/worker/releases/<digest> does
            assert services.record_gate(session, store, app.extensions["dlgrade_tasks"], assignment_id=assignment.id,
                                        attempt=1, passed=True, report=report, bundle_digest=store.put(b"bundle-" + slug.encode()),
                                        worker="w1")
            assert assignment.gate_passed, assignment.gate_report
        elif gate_passed is False:  # a gate that ran and failed; None: it has not reported yet
            assert services.record_gate(session, store, app.extensions["dlgrade_tasks"], assignment_id=assignment.id,
                                        attempt=1, passed=False,
                                        report={"passed": False, "problems": ["a mutant kept every point"]},
                                        bundle_digest="", worker="w1")
            assert assignment.gate_passed is False
        assignment.deadline = deadline or utcnow() + dt.timedelta(days=7)
        if released:
            assignment.state, assignment.released_at = "released", utcnow()
        for name, value in fields.items():
            setattr(assignment, name, value)
        session.commit()
        return assignment

    return make


@pytest.fixture
def make_submission(session, store):
    def make(user, assignment, *, state="queued", result=None, submitted_at=None, attempt=1):
        now = submitted_at or utcnow()
        sub = Submission(assignment_id=assignment.id, user_id=user.id, filename="demo.ipynb",
                         sha256=store.put(notebook_bytes() + uuid.uuid4().hex.encode()), size=100, state=state,
                         attempt=attempt, queue=assignment.queue, submitted_at=now, queued_at=now, updated_at=now)
        session.add(sub)
        session.flush()
        for n in range(1, attempt + 1):
            session.add(GradeRun(submission_id=sub.id, attempt=n, bundle_digest=assignment.bundle_digest))
        session.commit()
        if result is not None:
            from web import services

            services.record_result(session, submission_id=sub.id, attempt=attempt, worker="w1", result=result)
        return sub

    return make


@pytest.fixture
def worker_token(session):
    plain = f"dlg_w_{uuid.uuid4().hex}"
    session.add(ApiToken(kind="worker", name="test worker", token_sha256=token_digest(plain), prefix=plain[:10]))
    session.commit()
    return plain


@pytest.fixture
def client_for(app):
    return lambda user=None: Client(app, user)


@pytest.fixture
def worker(app, worker_token):
    """A client speaking the worker side of CONTRACT.md."""

    class Worker:
        token = worker_token

        def __init__(self):
            self.raw = app.test_client()

        def get(self, path, token=None):
            return self.raw.get(path, headers={"Authorization": f"Bearer {token or self.token}"})

        def post(self, path, payload, token=None, signature=None):
            body = json.dumps(payload).encode()
            token = token or self.token
            return self.raw.post(path, data=body, content_type="application/json", headers={
                "Authorization": f"Bearer {token}", "X-Dlgrade-Signature": signature or sign(body, token)})

        def put(self, path, body: bytes):
            return self.raw.put(path, data=body, content_type="application/gzip", headers={
                "Authorization": f"Bearer {self.token}", "X-Dlgrade-Signature": sign(body, self.token)})

    return Worker()
