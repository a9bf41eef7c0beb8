"""An assignment: students download the release and submit; staff gate, configure, release."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, url_for

from .. import counting, operations, queries, services, store
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
                               can_mark_final=lambda sub: counting.can_mark_final(assignment, sub, now),
                               counting_label=counting.POLICY_LABELS[assignment.counting_policy],
                               max_mb=max_upload_bytes(assignment) / 1024 / 1024)
    subs = queries.assignment_submissions_with_email(db.session, assignment.id)
    gate_waiting = (operations.waiting_message(db.session, assignment.queue, now,
                                               current_app.config["WORKER_OFFLINE_AFTER_S"])
                    if assignment.gate_passed is None else None)
    return render_template("assignment_staff.html", assignment=assignment, subs=subs, now=now, user=g.user,
                           role=role, bundle_present=store().exists(assignment.bundle_digest),
                           counting_labels=counting.POLICY_LABELS, gate_waiting=gate_waiting)


@bp.get("/assignments/<int:assignment_id>/release.zip")
@login_required
def release_zip(assignment_id: int):
    """The archive the release gate built and checked, byte for byte, named by its digest."""
    assignment, _ = assignment_for(assignment_id)
    digest = assignment.release_sha256
    if not digest or not store().exists(digest):
        abort(404, description="No release yet: it is built by the release gate, which has not passed.")
    return Response(store().get(digest), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{assignment.slug}-release.zip"',
                             "ETag": f'"{digest}"', "X-Release-Sha256": digest})


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


@bp.post("/assignments/<int:assignment_id>/counting")
@login_required
def counting_settings(assignment_id: int):
    assignment, _ = assignment_for(assignment_id, *STAFF_ROLES)
    try:
        counting.set_policy(db.session, assignment, policy=request.form.get("counting_policy", ""),
                            canvas_assignment_id=request.form.get("canvas_assignment_id", ""))
        flash(f"Counts {counting.POLICY_LABELS[assignment.counting_policy]}.")
    except counting.CountingRefused as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("assignments.show", assignment_id=assignment.id), 303)


@bp.post("/assignments/<int:assignment_id>/release")
@login_required
def release(assignment_id: int):
    assignment, _ = assignment_for(assignment_id, *STAFF_ROLES)
    try:
        services.release(db.session, store(), assignment,
                         offline_after_s=current_app.config["WORKER_OFFLINE_AFTER_S"])
        flash(f"'{assignment.title}' is released to students.")
    except services.Refused as exc:
        flash(str(exc), "error")
    return redirect(url_for("assignments.show", assignment_id=assignment.id), 303)


@bp.post("/assignments/<int:assignment_id>/regrade")
@login_required
def regrade_all(assignment_id: int):
    assignment, role = assignment_for(assignment_id, *STAFF_ROLES)
    subs = queries.regradable_submissions(db.session, assignment.id)
    if request.form.get("confirm") != str(len(subs)):  # a bulk action asks first, naming what it does
        return render_template("confirm_regrade.html", assignment=assignment, count=len(subs), user=g.user,
                               role=role)
    services.regrade(db.session, task_client(), subs, by_user_id=g.user.id, reason="regrade all")
    flash(f"{len(subs)} submissions queued for regrading.")
    return redirect(url_for("assignments.show", assignment_id=assignment.id), 303)
