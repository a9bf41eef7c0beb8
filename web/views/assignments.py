"""An assignment: students download the release and submit; staff gate, configure, release."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from .. import queries, services, store
from ..db import db, utcnow
from ..models import STAFF_ROLES
from ..security import login_required
from ..tasks import client as task_client
from .common import assignment_for, max_upload_bytes, parse_when, submit_from_request

bp = Blueprint("assignments", __name__)


@bp.get("/assignments/<int:assignment_id>")
@login_required
def show(assignment_id: int):
    assignment, role = assignment_for(assignment_id)
    now = utcnow()
    if role == "student":
        lines, left, by_assignment = queries.student_overview(db.session, assignment.course, g.user.id)
        line = next(l for l in lines if l.assignment.id == assignment.id)
        history = sorted(by_assignment.get(assignment.id, []), key=lambda s: s.id, reverse=True)
        return render_template("assignment_student.html", assignment=assignment, history=history, line=line,
                               late_days_left=left, now=now, user=g.user, role=role,
                               max_mb=max_upload_bytes(assignment) / 1024 / 1024)
    subs = queries.assignment_submissions_with_email(db.session, assignment.id)
    return render_template("assignment_staff.html", assignment=assignment, subs=subs, now=now, user=g.user,
                           role=role, bundle_present=store().exists(assignment.bundle_digest))


@bp.get("/assignments/<int:assignment_id>/release.zip")
@login_required
def release_zip(assignment_id: int):
    assignment, _ = assignment_for(assignment_id)
    digest = assignment.release_sha256 or assignment.pending_release_sha256
    if not store().exists(digest):
        abort(404)
    return Response(store().get(digest), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{assignment.slug}-release.zip"'})


@bp.post("/assignments/<int:assignment_id>/submit")
@login_required
def submit(assignment_id: int):
    assignment, role = assignment_for(assignment_id, "student")
    try:
        sub = submit_from_request(assignment)
    except services.Refused as exc:
        if exc.status in (413, 429):
            abort(exc.status, description=str(exc))
        flash(str(exc), "error")
        return redirect(url_for("assignments.show", assignment_id=assignment.id)), 303
    return redirect(url_for("submissions.show", submission_id=sub.id), 303)


@bp.post("/assignments/<int:assignment_id>/settings")
@login_required
def settings(assignment_id: int):
    assignment, _ = assignment_for(assignment_id, *STAFF_ROLES)
    form = request.form
    try:
        services.update_settings(
            db.session, assignment, deadline=parse_when(form.get("deadline")),
            penalty_per_day=float(form.get("penalty_per_day") or 0), grace_days=int(form.get("grace_days") or 0),
            hard_cutoff=parse_when(form.get("hard_cutoff")),
            submissions_per_hour=int(form.get("submissions_per_hour") or 1))
        flash("Settings saved.")
    except (services.Refused, ValueError) as exc:
        db.session.rollback()
        flash(str(exc) if isinstance(exc, services.Refused) else "Numbers only in the late policy fields.", "error")
    return redirect(url_for("assignments.show", assignment_id=assignment.id), 303)


@bp.post("/assignments/<int:assignment_id>/release")
@login_required
def release(assignment_id: int):
    assignment, _ = assignment_for(assignment_id, *STAFF_ROLES)
    try:
        services.release(db.session, store(), assignment)
        flash(f"'{assignment.title}' is released to students.")
    except services.Refused as exc:
        flash(str(exc), "error")
    return redirect(url_for("assignments.show", assignment_id=assignment.id), 303)


@bp.post("/assignments/<int:assignment_id>/regrade")
@login_required
def regrade_all(assignment_id: int):
    assignment, _ = assignment_for(assignment_id, *STAFF_ROLES)
    subs = queries.regradable_submissions(db.session, assignment.id)
    services.regrade(db.session, task_client(), subs, by_user_id=g.user.id, reason="regrade all")
    flash(f"{len(subs)} submissions queued for regrading.")
    return redirect(url_for("assignments.show", assignment_id=assignment.id), 303)
