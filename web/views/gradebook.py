"""The gradebook and score distributions (staff; TAs read it), exports and the Canvas roster import
(instructors only)."""

from __future__ import annotations

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for

from .. import canvas, charts, exports, gradebook
from ..db import db
from ..models import STAFF_ROLES
from ..security import login_required
from .common import course_for

bp = Blueprint("gradebook", __name__)


@bp.get("/courses/<int:course_id>/gradebook")
@login_required
def show(course_id: int):
    course, role = course_for(course_id, *STAFF_ROLES)
    assignments, rows = gradebook.build(db.session, course)
    histograms = []
    for index, assignment in enumerate(assignments):
        scores = [row.lines[index].score for row in rows if row.lines[index].score is not None]
        histograms.append(charts.histogram(scores, assignment.max_score, title=assignment.title))
    return render_template("gradebook.html", course=course, assignments=assignments, rows=rows,
                           histograms=histograms, user=g.user, role=role,
                           unlinked=[a for a in assignments if not a.canvas_assignment_id],
                           no_canvas_id=[r.user for r in rows if not r.member.canvas_user_id])


def _csv(text: str, name: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/courses/<int:course_id>/gradebook.csv")
@login_required
def export_nbgrader(course_id: int):
    course, _ = course_for(course_id, "instructor")
    return _csv(exports.nbgrader_csv(*gradebook.build(db.session, course)), f"{course.slug}-grades.csv")


@bp.get("/courses/<int:course_id>/canvas.csv")
@login_required
def export_canvas(course_id: int):
    course, _ = course_for(course_id, "instructor")
    return _csv(canvas.export_csv(*gradebook.build(db.session, course)), f"{course.slug}-canvas.csv")


@bp.post("/courses/<int:course_id>/canvas-roster")
@login_required
def canvas_roster(course_id: int):
    course, role = course_for(course_id, "instructor")
    upload = request.files.get("canvas_export")
    text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
    try:
        report = canvas.import_export(db.session, course, text)
    except canvas.CanvasError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("gradebook.show", course_id=course.id), 303)
    return render_template("canvas_report.html", course=course, report=report, user=g.user, role=role)
