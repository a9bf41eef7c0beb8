"""JSON API for students, staff and the CLI (session cookie + X-CSRF-Token, or a user token).

Each route is declared with `@route(...)`, which also feeds the OpenAPI document served at
/api/openapi.json, so the document cannot drift from the routes.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, jsonify, request

from .. import accounts, counting, grading, gradebook, operations, queries, services, store
from ..db import db, reads_only, utcnow
from ..models import STAFF_ROLES, Assignment, Submission
from ..roster import RosterError, import_roster
from ..security import hash_password, issue_token, login_required
from ..tasks import client as task_client
from .common import (assignment_for, course_for, parse_when, submission_for, submission_status_for,
                     submit_from_request)

bp = Blueprint("api", __name__, url_prefix="/api")
SPEC: list[dict] = []


def route(path: str, method: str, summary: str, *, roles: str = "member", body: str | None = None):
    def register(view):
        SPEC.append({"path": path, "method": method.lower(), "summary": summary, "roles": roles, "body": body,
                     "name": view.__name__})
        bp.add_url_rule(path, view.__name__, login_required(view), methods=[method])
        return view

    return register


def _error(exc: services.Refused):
    return jsonify(error=str(exc), status=exc.status), exc.status


def assignment_json(a: Assignment, role: str) -> dict:
    data = {
        "id": a.id, "course_id": a.course_id, "slug": a.slug, "title": a.title, "summary": a.summary,
        "state": a.state, "released": a.released, "max_score": a.max_score,
        "parts": [{k: p.get(k) for k in ("name", "title", "points", "kind", "visibility")} for p in a.parts or []],
        "deadline": a.deadline.isoformat() if a.deadline else None,
        "hard_cutoff": a.hard_cutoff.isoformat() if a.hard_cutoff else None,
        "penalty_per_day": a.penalty_per_day, "grace_days": a.grace_days,
        "submissions_per_hour": a.submissions_per_hour, "counting_policy": a.counting_policy,
        "release_url": f"/assignments/{a.id}/release.zip",
    }
    if role in STAFF_ROLES:
        data.update(queue=a.queue, bundle_digest=a.bundle_digest, package_sha256=a.package_sha256,
                    gate_attempt=a.gate_attempt, gate_passed=a.gate_passed, gate_report=a.gate_report,
                    early_gate_queue=a.early_gate_queue or None, early_gate_passed=a.early_gate_passed,
                    canvas_assignment_id=a.canvas_assignment_id)
        waiting = None if a.gate_passed is not None else operations.waiting_message(
            db.session, a.queue, utcnow(), current_app.config["WORKER_OFFLINE_AFTER_S"])
        data.update(gate_waiting_for=waiting, start_worker=operations.start_hint(a.queue) if waiting else None)
    return data


def submission_json(sub: Submission, staff: bool, *, position: int | None | object = grading.NOT_SELECTED) -> dict:
    data = grading.status_payload(db.session, sub, staff=staff, now=utcnow(), position=position,
                                  offline_after_s=current_app.config["WORKER_OFFLINE_AFTER_S"])
    data.update(assignment_id=sub.assignment_id, filename=sub.filename, sha256=sub.sha256,
                override_score=sub.override_score, override_comment=sub.override_comment)
    if staff:
        data.update(user_id=sub.user_id, email=sub.user.email, raw_score=sub.score, worker=sub.worker,
                    override_by=sub.override_by.email if sub.override_by else None,
                    override_at=sub.override_at.isoformat() if sub.override_at else None,
                    attempts=[{"attempt": r.attempt, "bundle_digest": r.bundle_digest, "status": r.status,
                               "score": r.score, "reason": r.reason, "failures": r.failures}
                              for r in sub.grades])
    return data


@route("/me", "GET", "The current user and their courses")
def me():
    courses = queries.courses_of(db.session, g.user.id)
    return jsonify(id=g.user.id, email=g.user.email, name=g.user.name,
                   courses=[{"id": c.id, "slug": c.slug, "title": c.title, "role": r} for c, r in courses])


@route("/courses/<int:course_id>", "GET", "A course and the assignments the caller may see")
def course(course_id: int):
    c, role = course_for(course_id)
    visible = [a for a in c.assignments if role in STAFF_ROLES or a.released]
    data = {"id": c.id, "slug": c.slug, "title": c.title, "role": role,
            "assignments": [assignment_json(a, role) for a in visible]}
    if role == "student":
        lines, left, _ = queries.student_overview(db.session, c, g.user.id)
        data.update(late_days=c.late_days, late_days_left=left,
                    grades=[{"assignment_id": l.assignment.id, "score": l.score, "days_late": l.days_late,
                             "late_days_used": l.late_days_used, "penalty": l.penalty} for l in lines])
    return jsonify(data)


@route("/courses/<int:course_id>/assignments", "POST", "Upload an assignment package (.tar.gz); starts the gate",
       roles="ta, instructor", body="multipart: package")
def upload_package(course_id: int):
    c, _ = course_for(course_id, *STAFF_ROLES)
    upload = request.files.get("package")
    if upload is None:
        abort(400, description="multipart field 'package' is required")
    try:
        a = services.upload_package(db.session, store(), task_client(), course_id=c.id, data=upload.read())
    except services.Refused as exc:
        return _error(exc)
    return jsonify(assignment_json(a, "ta")), 201


@route("/courses/<int:course_id>/roster", "POST", "Import a roster CSV (email,name,role,sis_id,section,password)",
       roles="instructor", body="text/csv")
def roster(course_id: int):
    c, _ = course_for(course_id, "instructor")
    try:
        report = import_roster(db.session, course_id=c.id, csv_text=request.get_data(as_text=True),
                               hash_password=hash_password)
    except RosterError as exc:
        db.session.rollback()
        return jsonify(error=str(exc)), 400
    return jsonify(imported=report)


@route("/courses/<int:course_id>/queue", "GET", "Submissions waiting, running or failed", roles="ta, instructor")
def queue(course_id: int):
    c, _ = course_for(course_id, *STAFF_ROLES)
    subs = [sub for sub, _email, _slug in queries.course_queue(db.session, c.id)]
    return jsonify(queue=[submission_json(s, True) for s in subs])


@route("/courses/<int:course_id>/gradebook", "GET", "Scores by student and assignment", roles="instructor")
def course_gradebook(course_id: int):
    c, _ = course_for(course_id, "instructor")
    assignments, rows = gradebook.build(db.session, c)
    return jsonify(
        assignments=[{"id": a.id, "slug": a.slug, "max_score": a.max_score} for a in assignments],
        students=[{"user_id": r.user.id, "email": r.user.email, "name": r.user.name, "total": r.total,
                   "late_days_left": r.late_days_left,
                   "scores": {str(l.assignment.id): l.score for l in r.lines}} for r in rows])


@route("/assignments/<int:assignment_id>", "GET", "One assignment")
def assignment(assignment_id: int):
    a, role = assignment_for(assignment_id)
    return jsonify(assignment_json(a, role))


@route("/assignments/<int:assignment_id>", "PATCH", "Deadline, late policy, rate limit, counting policy, Canvas id", roles="ta, instructor",
       body="json: deadline, penalty_per_day, grace_days, hard_cutoff, submissions_per_hour, counting_policy (last|best|final), canvas_assignment_id")
def update_assignment(assignment_id: int):
    a, role = assignment_for(assignment_id, *STAFF_ROLES)
    body = request.get_json(silent=True) or {}
    try:
        services.update_settings(
            db.session, a,
            deadline=parse_when(body["deadline"]) if "deadline" in body else a.deadline,
            penalty_per_day=float(body.get("penalty_per_day", a.penalty_per_day)),
            grace_days=int(body.get("grace_days", a.grace_days)),
            hard_cutoff=parse_when(body["hard_cutoff"]) if "hard_cutoff" in body else a.hard_cutoff,
            submissions_per_hour=int(body.get("submissions_per_hour", a.submissions_per_hour)))
        if "counting_policy" in body or "canvas_assignment_id" in body:
            counting.set_policy(db.session, a, policy=str(body.get("counting_policy", a.counting_policy)),
                                canvas_assignment_id=str(body.get("canvas_assignment_id", a.canvas_assignment_id)))
    except counting.CountingRefused as exc:
        db.session.rollback()
        abort(400, description=str(exc))
    except services.Refused as exc:
        db.session.rollback()
        return _error(exc)
    except (TypeError, ValueError):
        db.session.rollback()
        abort(400, description="numbers expected for the late policy and rate limit")
    return jsonify(assignment_json(a, role))


@route("/assignments/<int:assignment_id>/release", "POST", "Release to students (gate must have passed)",
       roles="ta, instructor")
def release(assignment_id: int):
    a, role = assignment_for(assignment_id, *STAFF_ROLES)
    try:
        services.release(db.session, store(), a, offline_after_s=current_app.config["WORKER_OFFLINE_AFTER_S"])
    except services.Refused as exc:
        return _error(exc)
    return jsonify(assignment_json(a, role))


@route("/assignments/<int:assignment_id>/regrade", "POST", "Regrade every submission (new attempts)",
       roles="ta, instructor")
def regrade_all(assignment_id: int):
    a, _ = assignment_for(assignment_id, *STAFF_ROLES)
    subs = queries.regradable_submissions(db.session, a.id)
    services.regrade(db.session, task_client(), subs, by_user_id=g.user.id, reason="regrade all")
    return jsonify(regraded=[s.id for s in subs])


@route("/assignments/<int:assignment_id>/submissions", "GET", "Submissions: a student's own, or all for staff")
def list_submissions(assignment_id: int):
    a, role = assignment_for(assignment_id)
    subs = queries.assignment_submissions(db.session, a.id, user_id=None if role in STAFF_ROLES else g.user.id)
    return jsonify(submissions=[submission_json(s, role in STAFF_ROLES) for s in subs])


@route("/assignments/<int:assignment_id>/submissions", "POST", "Upload a notebook (multipart field 'notebook')",
       roles="student", body="multipart: notebook")
def create_submission(assignment_id: int):
    a, _ = assignment_for(assignment_id, "student")
    try:
        sub = submit_from_request(a)
    except services.Refused as exc:
        return _error(exc)
    return jsonify(submission_json(sub, False)), 201


@route("/submissions/<int:submission_id>", "GET", "Status: state, queue position, progress, score")
@reads_only
def submission(submission_id: int):
    sub, staff, position = submission_status_for(submission_id)
    return jsonify(submission_json(sub, staff, position=position))


@route("/submissions/<int:submission_id>/result", "GET", "The result under the release policy (full for staff)")
def result(submission_id: int):
    sub, staff = submission_for(submission_id)
    return jsonify(submission_id=sub.id, attempt=sub.attempt, state=sub.state, result=queries.result_for_viewer(sub, staff, utcnow()))


@route("/submissions/<int:submission_id>/logs", "GET", "Every attempt with its bundle, worker, failures and result",
       roles="ta, instructor")
def logs(submission_id: int):
    sub, _ = submission_for(submission_id, staff_only=True)
    return jsonify(submission_id=sub.id, attempts=[
        {"attempt": r.attempt, "bundle_digest": r.bundle_digest, "reason": r.reason, "worker": r.worker,
         "status": r.status, "score": r.score, "max_score": r.max_score, "failures": r.failures,
         "failure_message": r.failure_message, "failure_detail": r.failure_detail, "result": r.result,
         "created_at": r.created_at.isoformat(), "received_at": r.received_at.isoformat() if r.received_at else None}
        for r in sub.grades])


@route("/submissions/<int:submission_id>/regrade", "POST", "Regrade one submission (new attempt)",
       roles="ta, instructor")
def regrade(submission_id: int):
    sub, _ = submission_for(submission_id, staff_only=True)
    services.regrade(db.session, task_client(), [sub], by_user_id=g.user.id)
    return jsonify(submission_json(sub, True))


@route("/submissions/<int:submission_id>/override", "POST", "Override the score with a comment",
       roles="ta, instructor", body="json: score (number or null), comment")
def override(submission_id: int):
    sub, _ = submission_for(submission_id, staff_only=True)
    body = request.get_json(silent=True) or {}
    score = body.get("score")
    if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)):
        abort(400, description="'score' must be a number or null")
    try:
        services.override(db.session, sub, score=score, comment=str(body.get("comment", "")), by_user_id=g.user.id)
    except services.Refused as exc:
        db.session.rollback()
        return _error(exc)
    return jsonify(submission_json(sub, True))


@route("/tokens", "POST", "Create a personal API token for the CLI (shown once)", body="json: name")
def create_token(submission_id: int | None = None):
    body = request.get_json(silent=True) or {}
    row, plain = issue_token(kind="user", user_id=g.user.id, name=str(body.get("name", "cli"))[:200])
    db.session.commit()
    return jsonify(id=row.id, token=plain, prefix=row.prefix), 201


@route("/tokens", "GET", "The caller's API tokens with their last use (never the token itself)")
def list_tokens():
    return jsonify(tokens=[{"id": t.id, "name": t.name, "prefix": t.prefix, "revoked": t.revoked,
                            "created_at": t.created_at.isoformat(),
                            "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}
                           for t in accounts.user_tokens(db.session, g.user.id)])


@route("/tokens/<int:token_id>", "DELETE", "Revoke one of the caller's API tokens (the next request with it fails)")
def revoke_token(token_id: int):
    token = accounts.revoke_token(db.session, user_id=g.user.id, token_id=token_id)
    if token is None:
        abort(404)
    db.session.commit()
    return jsonify(id=token.id, revoked=True)


@bp.get("/openapi.json")
def openapi():
    paths: dict[str, dict] = {}
    for entry in SPEC:
        path = re.sub(r"<int:(\w+)>", r"{\1}", "/api" + entry["path"])
        operation = {
            "summary": entry["summary"], "operationId": entry["name"],
            "description": f"Who may call it: {entry['roles']} (of the object's course). Outsiders get 404.",
            "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "integer"}}
                           for n in re.findall(r"\{(\w+)\}", path)],
            "responses": {"200": {"description": "OK"}, "401": {"description": "not logged in"},
                          "403": {"description": "role not allowed"}, "404": {"description": "not found"}},
            "security": [{"session": []}, {"bearer": []}],
        }
        if entry["body"]:
            kind, _, fields = entry["body"].partition(":")
            media = {"multipart": "multipart/form-data", "json": "application/json"}.get(kind, kind)
            operation["requestBody"] = {"content": {media: {"schema": {"type": "object"}}},
                                        "description": fields.strip() or kind}
        paths.setdefault(path, {})[entry["method"]] = operation
    worker = {
        "/api/worker/submissions/{id}": ["get"], "/api/worker/submissions/{id}/file": ["get"],
        "/api/worker/bundles/{digest}": ["get", "put"], "/api/worker/releases/{digest}": ["put"],
        "/api/worker/submissions/{id}/progress": ["post"],
        "/api/worker/submissions/{id}/result": ["post"], "/api/worker/submissions/{id}/failure": ["post"],
        "/api/worker/assignments/{id}": ["get"], "/api/worker/assignments/{id}/package": ["get"],
        "/api/worker/assignments/{id}/gate": ["post"], "/api/worker/stuck": ["get"],
        "/api/worker/assignments/{id}/similarity/{attempt}": ["get"],
        "/api/worker/assignments/{id}/similarity/{attempt}/progress": ["post"],
        "/api/worker/assignments/{id}/similarity/{attempt}/report": ["post"],
        "/api/worker/workers/heartbeat": ["post"],
        "/api/worker/trusted-runs/{key}": ["get"], "/api/worker/trusted-runs/{key}/archive": ["get"],
        "/api/worker/trusted-runs/{key}/{digest}": ["put"],
    }
    for path, methods in worker.items():
        for method in methods:
            paths.setdefault(path, {})[method] = {
                "summary": "Worker endpoint (autograder/worker/CONTRACT.md)", "tags": ["worker"],
                "description": "Worker token only; POST/PUT bodies signed in X-Dlgrade-Signature.",
                "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                               for n in re.findall(r"\{(\w+)\}", path)],
                "responses": {"200": {"description": "OK"}, "401": {"description": "bad signature"},
                              "403": {"description": "not a worker token"}, "409": {"description": "unknown attempt"}},
                "security": [{"bearer": []}],
            }
    return jsonify({
        "openapi": "3.1.0",
        "info": {"title": "dlgrade portal API", "version": "1"},
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "session": {"type": "apiKey", "in": "cookie", "name": "dlgrade_session"}}},
        "paths": paths,
    })
