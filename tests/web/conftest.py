"""Fixtures for the portal: an app per test on SQLite and on the real PostgreSQL (a schema of
its own, dropped afterwards), small factories, and clients logged in as a given user."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tarfile
import uuid

import nbformat
import pytest
import sqlalchemy as sa

from web import create_app
from web.db import db, utcnow
from web.models import ApiToken, Assignment, Course, GradeRun, Membership, Submission, User
from web.security import sign, token_digest

PG_URL = os.environ.get("DLGRADE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HIDDEN_MARKER = "HIDDEN_TEST_SOURCE_7f3a"  # appears only in hidden tests and staff detail


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL service (uses the real one)")
    config.addinivalue_line("markers", "redis: needs the Redis service (uses the real one)")
    config.addinivalue_line("markers", "browser: drives Debian's chromium through Playwright")


# --- packages and notebooks -----------------------------------------------------------------


def make_notebook(slug: str = "demo", solution_ids=("softmax",), solved: bool = True) -> dict:
    cells = [nbformat.v4.new_markdown_cell("# Demo assignment")]
    imports = nbformat.v4.new_code_cell("import math")
    imports.metadata = {"nbgrader": {"grade_id": "imports", "locked": True, "solution": False, "grade": False},
                        "dlgrade": {"export": True}}
    cells.append(imports)
    for grade_id in solution_ids:
        body = "    return [math.exp(v) for v in x]" if solved else "    raise NotImplementedError()"
        cell = nbformat.v4.new_code_cell(f"def {grade_id}(x):\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION\n")
        cell.metadata = {"nbgrader": {"grade_id": grade_id, "solution": True, "grade": False, "locked": False}}
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["dlgrade"] = {"assignment": slug}
    return notebook


def notebook_bytes(**kwargs) -> bytes:
    return nbformat.writes(make_notebook(**kwargs)).encode()


def make_package(slug: str = "demo", *, gpus: int = 0, parts=None) -> bytes:
    parts = parts or [("softmax", 10, "visible"), ("secret", 5, "hidden")]
    toml = [f'schema = 1\nslug = "{slug}"\ntitle = "Demo {slug}"\nsummary = "A tiny package."\n',
            f"[resources]\ngpus = {gpus}\n", "[limits]\nmax_upload_mb = 1\n"]
    for name, points, visibility in parts:
        toml.append(f'[[parts]]\nname = "{name}"\ntitle = "Part {name}"\npoints = {points}\n'
                    f'kind = "correctness"\nvisibility = "{visibility}"\n')
    files = {
        f"assignments/{slug}/assignment.toml": "\n".join(toml),
        f"assignments/{slug}/source.ipynb": nbformat.writes(make_notebook(slug)),
        f"assignments/{slug}/tests/public/test_public.py": "def test_shape(impl, check):\n    check('n', 1)\n",
        f"assignments/{slug}/tests/hidden/test_hidden.py": f"# {HIDDEN_MARKER}\ndef test_h(impl, check):\n    pass\n",
        f"reference/{slug}/__init__.py": "import math\ndef softmax(x):\n    return x\n",
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_result(score=7.5, max_score=15.0, status="graded") -> dict:
    """A result in the shape of autograder/result.py (schema 1)."""
    return {
        "schema_version": 1, "status": status, "assignment": "demo", "score": score, "max_score": max_score,
        "unmeasured_points": 0.0, "message": "graded", "warnings": ["cell 3: removed %timeit magic"],
        "flags": [{"kind": "tamper", "evidence": [f"sys.modules patched {HIDDEN_MARKER}"]}],
        "parts": [{"name": "softmax", "title": "Softmax", "score": 7.5, "max_score": 10, "visibility": "visible"},
                  {"name": "secret", "title": "Secret", "score": 0, "max_score": 5, "visibility": "hidden"}],
        "tests": [
            {"name": "test_public.py::test_shape", "part": "softmax", "status": "pass", "score": 5, "max_score": 5,
             "message": "", "detail": f"staff {HIDDEN_MARKER}", "visibility": "visible", "hidden": False,
             "perf": None},
            {"name": "test_perf.py::test_softmax_speed", "part": "softmax", "status": "fail", "score": 2.5,
             "max_score": 5, "message": "'softmax_n4096': 0.70x the baseline", "detail": "", "visibility": "visible",
             "hidden": False, "perf": {"speedup_vs_baseline": 0.7, "student_s": 0.002, "baseline_s": 0.0014,
                                       "spread": 0.03, "full_credit_ratio": 0.9, "GB/s": 812.5}},
            {"name": f"test_hidden.py::test_{HIDDEN_MARKER}", "part": "secret", "status": "fail", "score": 0,
             "max_score": 5, "message": f"'out': shape is [3], expected [4] {HIDDEN_MARKER}",
             "detail": f"inputs {HIDDEN_MARKER}", "visibility": "hidden", "hidden": True, "perf": None},
        ],
        "run": {"bundle_digest": "0" * 64, "seed": 12345, "sandbox": "docker", "hardware": "cpu",
                "durations": {"student": 3.2}},
    }


# --- the app --------------------------------------------------------------------------------


def _pg_admin_engine():
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request):
    return request.param


@pytest.fixture
def app_config(tmp_path, backend):
    config = {
        "DATA_DIR": str(tmp_path / "portal"), "ENQUEUE": False, "TESTING": True,
        "PASSWORD_HASH": "scrypt:4096:8:1", "RATE_LIMIT_STORAGE": "memory", "SECRET_KEY": "test-secret",
    }
    schema = None
    if backend == "postgres":
        schema = f"dlgrade_test_{uuid.uuid4().hex[:12]}"
        engine = _pg_admin_engine()
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        config.update(DATABASE_URL=PG_URL, DATABASE_SCHEMA=schema)
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
def make_assignment(session, store, course):
    def make(slug="demo", *, released=True, deadline=None, course_=None, gate_passed=True, **fields):
        from web import packages

        info = packages.read_package(make_package(slug))
        bundle = store.put(b"bundle-" + slug.encode())
        assignment = Assignment(
            course_id=(course_ or course).id, slug=slug, title=info.title, parts=info.parts,
            solution_ids=info.solution_ids, max_score=sum(p["points"] for p in info.parts),
            max_upload_mb=info.max_upload_mb, package_sha256=store.put(make_package(slug)),
            release_sha256=store.put(info.release_zip), bundle_digest=bundle if gate_passed else "",
            gate_attempt=1, gate_passed=gate_passed, state="released" if released else ("ready" if gate_passed else "gating"),
            deadline=deadline or utcnow() + dt.timedelta(days=7), released_at=utcnow() if released else None,
            **fields)
        session.add(assignment)
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


class Client:
    """A test client logged in as one user (or anonymous), sending the CSRF token on forms."""

    def __init__(self, app, user=None):
        self.raw = app.test_client()
        self.csrf = uuid.uuid4().hex
        with self.raw.session_transaction() as sess:
            sess["csrf"] = self.csrf  # as after a visit to the login page
            if user is not None:
                sess["user_id"] = user.id
                sess["pw"] = user.password_hash[-16:]

    def get(self, url, **kw):
        return self.raw.get(url, **kw)

    def post(self, url, data=None, **kw):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf)
        return self.raw.post(url, data=data, **kw)

    def api(self, method, url, **kw):
        headers = kw.pop("headers", {})
        headers.setdefault("X-CSRF-Token", self.csrf)
        return self.raw.open(url, method=method, headers=headers, **kw)


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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
