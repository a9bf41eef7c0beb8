"""Every route × every role × own/other object.

Course A holds the objects of the caller's own course: a released assignment and a
submission by the student `owner`. Course B is another course; `peer` is a submission by
another student of course A. Roles: anonymous, the owning student, a TA and an instructor of
course A. A route that is added without a line here fails `test_matrix_covers_every_route`.
"""

from __future__ import annotations

import io

import pytest
from web_helpers import make_package, make_result, notebook_bytes

from web.models import SimilarityPair, SimilarityRun

MEMBERS = {"owner", "ta", "instructor"}
STAFF = {"ta", "instructor"}
STUDENTS = {"owner"}
LOGGED_IN = {"owner", "ta", "instructor"}

# endpoint: (method, url template, object kind, who may call it on their own course's object)
MATRIX = {
    "auth.index": ("GET", "/", None, LOGGED_IN),
    "courses.show": ("GET", "/courses/{course}", "course", MEMBERS),
    "courses.upload_package": ("POST", "/courses/{course}/assignments", "course", STAFF),
    "operations.show": ("GET", "/courses/{course}/operations", "course", STAFF),
    "operations.poll": ("GET", "/courses/{course}/operations.json", "course", STAFF),
    "courses.roster": ("POST", "/courses/{course}/roster", "course", {"instructor"}),
    "courses.members": ("GET", "/courses/{course}/members", "course", STAFF),
    "assignments.show": ("GET", "/assignments/{assignment}", "assignment", MEMBERS),
    "assignments.release_zip": ("GET", "/assignments/{assignment}/release.zip", "assignment", MEMBERS),
    "assignments.submit": ("POST", "/assignments/{assignment}/submit", "assignment", STUDENTS),
    "assignments.settings": ("POST", "/assignments/{assignment}/settings", "assignment", STAFF),
    "assignments.release": ("POST", "/assignments/{assignment}/release", "assignment", STAFF),
    "assignments.regrade_all": ("POST", "/assignments/{assignment}/regrade", "assignment", STAFF),
    "assignments.counting_settings": ("POST", "/assignments/{assignment}/counting", "assignment", STAFF),
    "submissions.show": ("GET", "/submissions/{submission}", "submission", {"owner", "ta", "instructor"}),
    "submissions.status": ("GET", "/submissions/{submission}/status.json", "submission", {"owner", "ta", "instructor"}),
    "submissions.download": ("GET", "/submissions/{submission}/download", "submission", {"owner", "ta", "instructor"}),
    "submissions.logs": ("GET", "/submissions/{submission}/logs", "submission", STAFF),
    "submissions.regrade": ("POST", "/submissions/{submission}/regrade", "submission", STAFF),
    "submissions.override": ("POST", "/submissions/{submission}/override", "submission", STAFF),
    "submissions.mark_final": ("POST", "/submissions/{submission}/final", "submission", STUDENTS),
    "gradebook.show": ("GET", "/courses/{course}/gradebook", "course", STAFF),
    "gradebook.export_nbgrader": ("GET", "/courses/{course}/gradebook.csv", "course", {"instructor"}),
    "gradebook.export_canvas": ("GET", "/courses/{course}/canvas.csv", "course", {"instructor"}),
    "similarity.show": ("GET", "/assignments/{assignment}/similarity", "assignment", STAFF),
    "similarity.start": ("POST", "/assignments/{assignment}/similarity", "assignment", STAFF),
    "similarity.pair": ("GET", "/similarity/pairs/{pair}", "pair", STAFF),
    "similarity.review": ("POST", "/similarity/pairs/{pair}/review", "pair", STAFF),
    "gradebook.canvas_roster": ("POST", "/courses/{course}/canvas-roster", "course", {"instructor"}),
    "api.me": ("GET", "/api/me", None, LOGGED_IN),
    "api.create_token": ("POST", "/api/tokens", None, LOGGED_IN),
    "api.course": ("GET", "/api/courses/{course}", "course", MEMBERS),
    "api.upload_package": ("POST", "/api/courses/{course}/assignments", "course", STAFF),
    "api.roster": ("POST", "/api/courses/{course}/roster", "course", {"instructor"}),
    "api.queue": ("GET", "/api/courses/{course}/queue", "course", STAFF),
    "api.course_gradebook": ("GET", "/api/courses/{course}/gradebook", "course", {"instructor"}),
    "api.assignment": ("GET", "/api/assignments/{assignment}", "assignment", MEMBERS),
    "api.update_assignment": ("PATCH", "/api/assignments/{assignment}", "assignment", STAFF),
    "api.release": ("POST", "/api/assignments/{assignment}/release", "assignment", STAFF),
    "api.regrade_all": ("POST", "/api/assignments/{assignment}/regrade", "assignment", STAFF),
    "api.list_submissions": ("GET", "/api/assignments/{assignment}/submissions", "assignment", MEMBERS),
    "api.create_submission": ("POST", "/api/assignments/{assignment}/submissions", "assignment", STUDENTS),
    "api.submission": ("GET", "/api/submissions/{submission}", "submission", {"owner", "ta", "instructor"}),
    "api.result": ("GET", "/api/submissions/{submission}/result", "submission", {"owner", "ta", "instructor"}),
    "api.logs": ("GET", "/api/submissions/{submission}/logs", "submission", STAFF),
    "api.regrade": ("POST", "/api/submissions/{submission}/regrade", "submission", STAFF),
    "api.override": ("POST", "/api/submissions/{submission}/override", "submission", STAFF),
    "api.list_tokens": ("GET", "/api/tokens", None, LOGGED_IN),
    "api.revoke_token": ("DELETE", "/api/tokens/{token}", "token", {"owner"}),
    "account.show": ("GET", "/account", None, LOGGED_IN),
    "account.change_password": ("POST", "/account/password", None, LOGGED_IN),
    "account.sign_out_others": ("POST", "/account/sign-out-everywhere", None, LOGGED_IN),
    "account.create_token": ("POST", "/account/tokens", None, LOGGED_IN),
    "account.revoke_token": ("POST", "/account/tokens/{token}/revoke", "token", {"owner"}),
    "account.staff_reset": ("POST", "/courses/{course}/members/{member}/password-reset", "course", {"instructor"}),
    "account.admin_sign_out": ("POST", "/users/{member}/sign-out-everywhere", None, set()),  # administrators only
}
PUBLIC = {"auth.login", "auth.logout", "auth.healthz", "auth.forgot_password", "auth.reset_password", "api.openapi",
          "static"}


def test_matrix_covers_every_route(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    worker = {e for e in endpoints if e.startswith("worker_api.")}
    assert endpoints - worker - PUBLIC == set(MATRIX), "add the new route to MATRIX with who may call it"


@pytest.fixture
def scenario(session, make_course, make_user, make_assignment, make_submission):
    from web.security import issue_token

    course_a, course_b = make_course("course-a"), make_course("course-b")
    users = {
        "owner": make_user("student", course_a, email="owner@example.edu"),
        "peer": make_user("student", course_a, email="peer@example.edu"),
        "ta": make_user("ta", course_a),
        "instructor": make_user("instructor", course_a),
        "b_student": make_user("student", course_b),
    }
    assignment_a = make_assignment("alpha", course_=course_a)
    assignment_b = make_assignment("beta", course_=course_b)
    objects = {
        "own": {"course": course_a.id, "assignment": assignment_a.id,
                "submission": make_submission(users["owner"], assignment_a, result=make_result()).id},
        "peer": {"course": course_a.id, "assignment": assignment_a.id,
                 "submission": make_submission(users["peer"], assignment_a, result=make_result()).id},
        "other": {"course": course_b.id, "assignment": assignment_b.id,
                  "submission": make_submission(users["b_student"], assignment_b, result=make_result()).id},
    }
    # a similarity pair per course: the owner's and the peer's work, and two of course B's
    b_second = make_submission(make_user("student", course_b), assignment_b, result=make_result()).id
    for variant, assignment, a, b in (("own", assignment_a, objects["own"]["submission"], objects["peer"]["submission"]),
                                      ("other", assignment_b, objects["other"]["submission"], b_second)):
        run = SimilarityRun(assignment_id=assignment.id, attempt=1, state="done", cells=["q1"], sources={})
        run.pairs.append(SimilarityPair(a_submission_id=a, b_submission_id=b, score=0.9, cells={"q1": 0.9}, matches=[]))
        session.add(run)
        session.commit()
        objects[variant]["pair"] = run.pairs[0].id
    objects["peer"]["pair"] = objects["own"]["pair"]
    # a token is "own" for the student `owner` only; `member` is the account a reset or sign-out targets
    objects["own"].update(token=issue_token(kind="user", user_id=users["owner"].id, name="own")[0],
                          member=users["peer"].id)
    objects["other"].update(token=issue_token(kind="user", user_id=users["b_student"].id, name="other")[0],
                            member=users["b_student"].id)
    session.commit()
    for variant in ("own", "other"):
        objects[variant]["token"] = objects[variant]["token"].id
    return users, objects


def _call(client, method, url, endpoint):
    if method == "GET":
        return client.get(url)
    if endpoint.startswith("api."):
        kwargs = {"json": {"score": 1, "comment": "matrix"}} if endpoint in ("api.override", "api.update_assignment") else {}
        if endpoint in ("api.create_submission", "api.upload_package"):
            field = "notebook" if endpoint == "api.create_submission" else "package"
            payload = notebook_bytes(slug="alpha") if field == "notebook" else make_package("alpha")
            kwargs = {"data": {field: (io.BytesIO(payload), "f")}}
        return client.api(method, url, **kwargs)
    data = {}
    if endpoint == "assignments.submit":
        data = {"notebook": (io.BytesIO(notebook_bytes(slug="alpha")), "alpha.ipynb")}
    if endpoint == "submissions.override":
        data = {"score": "1", "comment": "matrix"}
    if endpoint == "similarity.review":
        data = {"status": "reviewed", "comment": "matrix"}
    return client.post(url, data, content_type="multipart/form-data" if data and "notebook" in data else None)


@pytest.mark.parametrize("role", ["anonymous", "owner", "ta", "instructor"])
def test_authorization_matrix(client_for, scenario, role):
    users, objects = scenario
    client = client_for(users.get(role))
    failures = []
    for endpoint, (method, template, kind, allowed) in MATRIX.items():
        variants = ["own"] if kind is None else (["own", "peer", "other"] if kind == "submission" else ["own", "other"])
        for variant in variants:
            url = template.format(**objects[variant])
            response = _call(client, method, url, endpoint)
            may = role in allowed and (variant == "own" or (variant == "peer" and role in STAFF))
            status = response.status_code
            if status >= 500:
                failures.append(f"{role} {method} {url} ({variant}): server error {status}")
            elif may and status in (401, 403, 404):
                failures.append(f"{role} {method} {url} ({variant}): denied with {status}, should be allowed")
            elif not may:
                denied = status in (401, 403, 404) or (role == "anonymous" and status == 302 and
                                                       "/login" in response.headers.get("Location", ""))
                if not denied:
                    failures.append(f"{role} {method} {url} ({variant}): answered {status}, should be denied")
    assert not failures, "\n".join(failures)


def test_student_lists_only_their_own_submissions(client_for, scenario):
    users, objects = scenario
    listed = client_for(users["owner"]).get(f"/api/assignments/{objects['own']['assignment']}/submissions").json
    assert [s["id"] for s in listed["submissions"]] == [objects["own"]["submission"]]
    staff = client_for(users["ta"]).get(f"/api/assignments/{objects['own']['assignment']}/submissions").json
    assert len(staff["submissions"]) == 2


def test_unreleased_assignments_are_invisible_to_students(client_for, make_student, make_assignment, make_user, course):
    draft = make_assignment("draft", released=False)
    student = client_for(make_student())
    for url in (f"/assignments/{draft.id}", f"/assignments/{draft.id}/release.zip", f"/api/assignments/{draft.id}"):
        assert student.get(url).status_code == 404
    assert all(a["id"] != draft.id for a in student.get(f"/api/courses/{course.id}").json["assignments"])
    assert client_for(make_user("ta", course)).get(f"/assignments/{draft.id}").status_code == 200


@pytest.mark.parametrize("role", ["owner", "ta", "instructor"])
def test_people_cannot_call_worker_routes(client_for, scenario, role):
    users, objects = scenario
    client = client_for(users[role])
    sub, assignment = objects["own"]["submission"], objects["own"]["assignment"]
    for method, url in [("GET", f"/api/worker/submissions/{sub}"), ("GET", f"/api/worker/submissions/{sub}/file"),
                        ("POST", f"/api/worker/submissions/{sub}/result"), ("GET", "/api/worker/stuck"),
                        ("GET", f"/api/worker/assignments/{assignment}/similarity/1"),
                        ("POST", f"/api/worker/assignments/{assignment}/similarity/1/progress"),
                        ("POST", f"/api/worker/assignments/{assignment}/similarity/1/report"),
                        ("POST", "/api/worker/workers/heartbeat"),
                        ("GET", f"/api/worker/trusted-runs/{'a' * 64}"),
                        ("GET", f"/api/worker/trusted-runs/{'a' * 64}/archive"),
                        ("PUT", f"/api/worker/trusted-runs/{'a' * 64}/{'b' * 64}")]:
        assert client.api(method, url, json={"attempt": 1, "result": {}}).status_code in (401, 403)
