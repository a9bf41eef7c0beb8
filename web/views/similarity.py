"""Similarity review, for staff only: start a run, watch it, rank its pairs (overall or per
cell), read a pair side by side, mark it reviewed or dismissed with a comment. Students get
403 on their own course's pages and 404 elsewhere, as every staff route."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
import sqlalchemy as sa

from .. import services, similarity
from ..db import db
from ..models import STAFF_ROLES, SimilarityPair, SimilarityRun, Submission, User
from ..security import login_required
from ..tasks import client as task_client
from .common import assignment_for

bp = Blueprint("similarity", __name__)


def _labels(submission_ids: set[int]) -> dict[int, str]:
    """submission id → "email (#id)" for the pages."""
    rows = db.session.execute(sa.select(Submission.id, User.email).join(User, User.id == Submission.user_id)
                              .where(Submission.id.in_(submission_ids))).all()
    return {sid: f"{email} (#{sid})" for sid, email in rows}


@bp.get("/assignments/<int:assignment_id>/similarity")
@login_required
def show(assignment_id: int):
    assignment, role = assignment_for(assignment_id, *STAFF_ROLES)
    runs = db.session.scalars(sa.select(SimilarityRun).where(SimilarityRun.assignment_id == assignment.id)
                              .order_by(SimilarityRun.attempt.desc())).all()
    wanted = request.args.get("run", type=int)
    run = next((r for r in runs if r.attempt == wanted), None) if wanted else (runs[0] if runs else None)
    cell = request.args.get("cell") or None
    if run is not None and cell is not None and cell not in (run.cells or []):
        abort(404)
    ranked = similarity.ranked_pairs(run, cell) if run is not None and run.state == "done" else []
    labels = _labels({sid for pair, _ in ranked for sid in (pair.a_submission_id, pair.b_submission_id)})
    return render_template("similarity.html", assignment=assignment, runs=runs, run=run, cell=cell,
                           ranked=ranked, labels=labels, user=g.user, role=role,
                           refresh=run is not None and run.state in similarity.ACTIVE)


@bp.post("/assignments/<int:assignment_id>/similarity")
@login_required
def start(assignment_id: int):
    assignment, _ = assignment_for(assignment_id, *STAFF_ROLES)
    try:
        run = similarity.start_run(db.session, task_client(), assignment=assignment,
                                   include_earlier=request.form.get("include_earlier") == "1", by_user_id=g.user.id)
        flash(f"Similarity review {run.attempt} queued on a worker.")
    except services.Refused as exc:
        flash(str(exc), "error")
    return redirect(url_for("similarity.show", assignment_id=assignment.id), 303)


def _pair_for(pair_id: int) -> tuple[SimilarityPair, str]:
    pair = db.session.get(SimilarityPair, pair_id) or abort(404)
    _, role = assignment_for(pair.run.assignment_id, *STAFF_ROLES)
    return pair, role


@bp.get("/similarity/pairs/<int:pair_id>")
@login_required
def pair(pair_id: int):
    found, role = _pair_for(pair_id)
    run = found.run
    labels = _labels({found.a_submission_id, found.b_submission_id})
    return render_template("similarity_pair.html", pair=found, run=run, assignment=run.assignment,
                           labels=labels, user=g.user, role=role,
                           side_a=similarity.cell_lines(run, found.a_submission_id, found.matches, "a"),
                           side_b=similarity.cell_lines(run, found.b_submission_id, found.matches, "b"),
                           reviewer=db.session.get(User, found.reviewed_by_id) if found.reviewed_by_id else None)


@bp.post("/similarity/pairs/<int:pair_id>/review")
@login_required
def review(pair_id: int):
    found, _ = _pair_for(pair_id)
    try:
        similarity.review_pair(db.session, found, status=request.form.get("status", ""),
                               comment=request.form.get("comment", ""), by_user_id=g.user.id)
        flash(f"Pair marked {found.status}.")
    except services.Refused as exc:
        flash(str(exc), "error")
    return redirect(url_for("similarity.pair", pair_id=found.id), 303)
