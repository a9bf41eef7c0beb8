"""One submission: live status, results under the release policy, staff logs and actions."""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for

from .. import charts, counting, grading, queries, results, services, store
from ..db import db, reads_only, utcnow
from ..security import login_required
from ..tasks import client as task_client
from .common import submission_for, submission_status_for

bp = Blueprint("submissions", __name__)

# How the submission page polls its status: web/static/status.js reads these from the page, and
# bench/bench_portal_load.py polls the same way. First after 1.5 s, each wait 1.3 times the
# last, at most 10 s: quick news while a short grading runs, few requests while a long one does.
STATUS_POLL_FIRST_MS, STATUS_POLL_GROWTH, STATUS_POLL_MAX_MS = 1500, 1.3, 10_000


@bp.get("/submissions/<int:submission_id>")
@login_required
def show(submission_id: int):
    sub, staff, position = submission_status_for(submission_id)
    result = queries.result_for_viewer(sub, staff, utcnow())
    status = grading.status_payload(db.session, sub, staff=staff, now=utcnow(), position=position,
                                    offline_after_s=current_app.config["WORKER_OFFLINE_AFTER_S"])
    perf = grading.perf_entries(result)
    return render_template("submission.html", sub=sub, staff=staff, result=result, status=status,
                           perf=perf, perf_svg=charts.perf_chart(perf), sections=results.sections(result), user=g.user,
                           assignment=sub.assignment,
                           counting_line=_counting_line(sub),
                           poll={"first_ms": STATUS_POLL_FIRST_MS, "growth": STATUS_POLL_GROWTH,
                                 "max_ms": STATUS_POLL_MAX_MS})


def _counting_line(sub) -> grading.GradeLine:
    """The owner's grade line for this submission's assignment: which submission counts, and why."""
    lines, _, _ = queries.student_overview(db.session, sub.assignment.course, sub.user_id)
    return next((l for l in lines if l.assignment.id == sub.assignment_id),
                grading.GradeLine(sub.assignment, None, None, 0, 0, 0.0, None, "This assignment is not released."))


@bp.post("/submissions/<int:submission_id>/final")
@login_required
def mark_final(submission_id: int):
    sub, staff = submission_for(submission_id)
    if staff or sub.user_id != g.user.id:
        abort(403)
    try:
        counting.mark_final(db.session, sub, now=utcnow())
        flash(f"Submission {sub.id} is marked final: it counts for {sub.assignment.title}.")
    except counting.CountingRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("assignments.show", assignment_id=sub.assignment_id), 303)


@bp.get("/submissions/<int:submission_id>/status.json")
@reads_only
@login_required
def status(submission_id: int):
    """The status as JSON with an ETag; a poll that sends the last one back while nothing changed
    gets an empty 304. `no-cache` (not the portal's usual `no-store`) lets the browser keep the
    last answer to revalidate, private to this user."""
    sub, staff, position = submission_status_for(submission_id)
    response = jsonify(grading.status_payload(db.session, sub, staff=staff, now=utcnow(), position=position,
                                              offline_after_s=current_app.config["WORKER_OFFLINE_AFTER_S"]))
    response.headers["Cache-Control"] = "private, no-cache"
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/submissions/<int:submission_id>/download")
@login_required
def download(submission_id: int):
    sub, _ = submission_for(submission_id)
    return Response(store().get(sub.sha256), mimetype="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{sub.filename}"'})


@bp.get("/submissions/<int:submission_id>/logs")
@login_required
def logs(submission_id: int):
    sub, _ = submission_for(submission_id, staff_only=True)
    runs = [(run, json.dumps(run.result, indent=2, sort_keys=True) if run.result is not None else "")
            for run in reversed(sub.grades)]
    return render_template("logs.html", sub=sub, runs=runs, user=g.user, assignment=sub.assignment)


@bp.post("/submissions/<int:submission_id>/regrade")
@login_required
def regrade(submission_id: int):
    sub, _ = submission_for(submission_id, staff_only=True)
    services.regrade(db.session, task_client(), [sub], by_user_id=g.user.id, reason="regrade")
    flash(f"Submission {sub.id} queued again as attempt {sub.attempt}.")
    return redirect(url_for("submissions.show", submission_id=sub.id), 303)


@bp.post("/submissions/<int:submission_id>/override")
@login_required
def override(submission_id: int):
    sub, _ = submission_for(submission_id, staff_only=True)
    raw = request.form.get("score", "").strip()
    try:
        score = float(raw) if raw else None
        services.override(db.session, sub, score=score, comment=request.form.get("comment", ""), by_user_id=g.user.id)
        flash("Override saved." if score is not None else "Override removed.")
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc) if isinstance(exc, services.Refused) else "The score must be a number.", "error")
    return redirect(url_for("submissions.show", submission_id=sub.id), 303)
