"""A course: its assignments (students see released ones), the roster. The queue: operations.py."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from .. import operations, queries, services, store
from ..db import db, utcnow
from ..models import STAFF_ROLES
from ..roster import RosterError, import_roster
from ..security import hash_password, login_required
from ..tasks import client as task_client
from .common import course_for

bp = Blueprint("courses", __name__)


@bp.get("/courses/<int:course_id>")
@login_required
def show(course_id: int):
    course, role = course_for(course_id)
    if role == "student":
        lines, left, by_assignment = queries.student_overview(db.session, course, g.user.id)
        latest = {aid: max(subs, key=lambda s: s.id) for aid, subs in by_assignment.items()}
        return render_template("course_student.html", course=course, lines=lines, late_days_left=left,
                               latest=latest, now=utcnow(), user=g.user, role=role)
    counts = queries.submission_counts(db.session, course.id)
    now, offline_after_s = utcnow(), current_app.config["WORKER_OFFLINE_AFTER_S"]
    gate_waiting = {a.id: operations.waiting_message(db.session, a.queue, now, offline_after_s)
                    for a in course.assignments if a.gate_passed is None}
    return render_template("course_staff.html", course=course, counts=counts, user=g.user, role=role,
                           gate_waiting=gate_waiting, start_hint=operations.start_hint)


@bp.post("/courses/<int:course_id>/assignments")
@login_required
def upload_package(course_id: int):
    course, _ = course_for(course_id, *STAFF_ROLES)
    upload = request.files.get("package")
    if upload is None:
        abort(400, description="Choose the package file (.tar.gz) to upload.")
    try:
        assignment = services.upload_package(db.session, store(), task_client(), course_id=course.id,
                                             data=upload.read())
    except services.Refused as exc:
        flash(str(exc), "error")
        return redirect(url_for("courses.show", course_id=course.id))
    flash(f"Package for '{assignment.slug}' stored; the release gate is running.")
    return redirect(url_for("assignments.show", assignment_id=assignment.id))


@bp.post("/courses/<int:course_id>/roster")
@login_required
def roster(course_id: int):
    course, role = course_for(course_id, "instructor")
    upload = request.files.get("roster")
    text = upload.read().decode("utf-8-sig", errors="replace") if upload else request.form.get("roster_text", "")
    try:
        report = import_roster(db.session, course_id=course.id, csv_text=text, hash_password=hash_password)
    except RosterError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("courses.show", course_id=course.id))
    return render_template("roster_report.html", course=course, report=report, user=g.user, role=role)


@bp.get("/courses/<int:course_id>/members")
@login_required
def members(course_id: int):
    course, role = course_for(course_id, *STAFF_ROLES)
    rows = queries.course_members(db.session, course.id)
    return render_template("members.html", course=course, rows=rows, user=g.user, role=role)
