"""The gradebook and score distributions (staff; TAs read it, only instructors export)."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template

from .. import charts, gradebook
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
                           histograms=histograms, user=g.user, role=role)


def _csv(text: str, name: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/courses/<int:course_id>/gradebook.csv")
@login_required
def export_nbgrader(course_id: int):
    course, _ = course_for(course_id, "instructor")
    return _csv(gradebook.nbgrader_csv(*gradebook.build(db.session, course)), f"{course.slug}-grades.csv")


@bp.get("/courses/<int:course_id>/canvas.csv")
@login_required
def export_canvas(course_id: int):
    course, _ = course_for(course_id, "instructor")
    return _csv(gradebook.canvas_csv(*gradebook.build(db.session, course)), f"{course.slug}-canvas.csv")
