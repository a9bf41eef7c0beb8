"""Factories shared by the portal's tests: notebooks, packages, results, a logged-in client.
Kept out of conftest.py so test modules import them by a name no other conftest shadows."""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
import tempfile
import uuid
from pathlib import Path

import nbformat

HIDDEN_MARKER = "HIDDEN_TEST_SOURCE_7f3a"  # appears only in hidden tests and staff detail


def make_notebook(slug: str = "demo", solution_ids=("softmax",), solved: bool = True) -> dict:
    cells = [nbformat.v4.new_markdown_cell("# Demo assignment")]
    imports = nbformat.v4.new_code_cell("import math")
    imports.metadata = {"nbgrader": {"grade_id": "imports", "locked": True, "solution": False, "grade": False,
                                     "schema_version": 3},
                        "dlgrade": {"export": True}}
    cells.append(imports)
    for grade_id in solution_ids:
        body = "    return [math.exp(v) for v in x]" if solved else "    raise NotImplementedError()"
        cell = nbformat.v4.new_code_cell(f"def {grade_id}(x):\n    ### BEGIN SOLUTION\n{body}\n    ### END SOLUTION\n")
        cell.metadata = {"nbgrader": {"grade_id": grade_id, "solution": True, "grade": False, "locked": False,
                                      "schema_version": 3}}
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


@functools.lru_cache(maxsize=32)
def gate_report_for(package: bytes) -> tuple[dict, bytes]:
    """What a passed gate posts for `package` and the release archive it PUTs, made by the engine
    itself (the portal's own code never imports it): the report's `assignment` and
    `release_digest`, the release built with nbgrader's preprocessors. No grading is run."""
    from autograder.assign import GateReport
    from autograder.package import load_assignment
    from autograder.release import build_release

    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")
        assignment = load_assignment(next(Path(folder).glob("assignments/*")))
        release = build_release(assignment)
        report = GateReport(assignment.slug, True, [], [], release_digest=release.digest,
                            assignment=assignment.portal_metadata() | {"solution_ids": list(release.solution_ids)})
        return report.to_dict(), release.archive


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


class Client:
    """A test client logged in as one user (or anonymous), sending the CSRF token on forms."""

    def __init__(self, app, user=None):
        self.raw = app.test_client()
        self.csrf = uuid.uuid4().hex
        with self.raw.session_transaction() as sess:
            sess["csrf"] = self.csrf  # as after a visit to the login page
            if user is not None:
                sess["user_id"] = user.id

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


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def form_login(client, email: str, password: str, *, next_url: str | None = None, **kw):
    """Log in through the real form (CSRF token read from the page), as a browser does."""
    import re
    from urllib.parse import quote

    page = client.get("/login", **kw).data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = "/login" if next_url is None else f"/login?next={quote(next_url, safe='')}"
    return client.post(url, data={"email": email, "password": password, "csrf_token": token}, **kw)


def csrf_of(client, url: str = "/account") -> str:
    """The CSRF token a logged-in page carries."""
    import re

    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).data.decode()).group(1)
