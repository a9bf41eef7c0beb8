"""Similarity review runs: start one, list what a worker compares, store its progress and
report, and record what staff decide about a pair. Pure functions over the session and plain
values (no request); the worker computes everything (CONTRACT.md, `dlgrade.run_similarity`)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .db import utcnow
from .grading import grade_lines
from .models import PAIR_STATUSES, Assignment, SimilarityPair, SimilarityRun, Submission
from .services import Refused
from .tasks import TaskClient

SIMILARITY_TASK = "dlgrade.run_similarity"
SIMILARITY_QUEUE = "cpu"
ACTIVE = ("queued", "running")
MAX_COMMENT = 4000


def start_run(session: Session, tasks: TaskClient, *, assignment: Assignment, include_earlier: bool,
              by_user_id: int) -> SimilarityRun:
    """Commit a queued run, then enqueue it. A run still queued or running is replaced (its
    task was lost, or staff want other options): its late report is refused."""
    if not assignment.bundle_digest:
        raise Refused("The release gate has not passed, so no worker can read this assignment's notebook yet.", 409)
    last = session.scalar(sa.select(sa.func.max(SimilarityRun.attempt))
                          .where(SimilarityRun.assignment_id == assignment.id)) or 0
    for old in session.scalars(sa.select(SimilarityRun).where(SimilarityRun.assignment_id == assignment.id,
                                                              SimilarityRun.state.in_(ACTIVE))):
        old.state, old.message, old.finished_at = "failed", f"replaced by run {last + 1}", utcnow()
    run = SimilarityRun(assignment_id=assignment.id, attempt=last + 1, include_earlier=include_earlier,
                        requested_by_id=by_user_id)
    session.add(run)
    session.commit()
    tasks.send(SIMILARITY_TASK, [assignment.id, run.attempt], SIMILARITY_QUEUE)
    return run


def run_for(session: Session, assignment_id: int, attempt: int) -> SimilarityRun | None:
    return session.scalar(sa.select(SimilarityRun).where(SimilarityRun.assignment_id == assignment_id,
                                                         SimilarityRun.attempt == attempt))


def submissions_to_compare(session: Session, run: SimilarityRun) -> list[Submission]:
    """Every student's counted submission; with `include_earlier`, all their graded ones."""
    subs = session.scalars(sa.select(Submission).where(Submission.assignment_id == run.assignment_id)
                           .order_by(Submission.id)).all()
    if run.include_earlier:
        return [sub for sub in subs if sub.state == "graded" or sub.override_score is not None]
    # The gradebook's choice: the counting policy, with late days spent course-wide.
    assignment = session.get(Assignment, run.assignment_id)
    course_assignments = list(assignment.course.assignments)
    everyone = session.scalars(sa.select(Submission).where(
        Submission.assignment_id.in_([a.id for a in course_assignments]),
        Submission.user_id.in_({sub.user_id for sub in subs}))).all()
    by_user: dict[int, dict[int, list[Submission]]] = {}
    for sub in everyone:
        by_user.setdefault(sub.user_id, {}).setdefault(sub.assignment_id, []).append(sub)
    counted = []
    for user_subs in by_user.values():
        lines = grade_lines(assignment.course, course_assignments, user_subs)
        counted += [line.submission for line in lines
                    if line.assignment.id == assignment.id and line.submission is not None]
    return sorted(counted, key=lambda sub: sub.id)


def record_progress(session: Session, run: SimilarityRun, *, worker: str, phase: str, done: int, total: int) -> bool:
    """False when the run is already finished (the post is late: ignored)."""
    if run.state not in ACTIVE:
        return False
    run.state, run.worker = "running", worker[:200]
    run.progress_phase, run.progress_done, run.progress_total = phase[:40], max(0, done), max(0, total)
    run.updated_at = utcnow()
    session.commit()
    return True


def record_report(session: Session, run: SimilarityRun, *, worker: str, report: dict | None,
                  error: str = "") -> bool:
    """Store the pairs of a finished run (or why it failed). False when the run already has
    its report (a duplicate post). Raises ValueError on a report that does not fit the contract."""
    if run.state not in ACTIVE:
        return False
    run.worker, run.finished_at, run.updated_at = worker[:200], utcnow(), utcnow()
    if report is None:
        run.state, run.message = "failed", error[:4000] or "the worker sent no report"
        session.commit()
        return True
    allowed = {sub.id for sub in submissions_to_compare(session, run)}
    pairs = [_pair(item, allowed) for item in _list(report, "pairs")]
    matches = {(int(d["a"]), int(d["b"])): d.get("matches", []) for d in _list(report, "details")}
    earlier = _earlier_decisions(session, run)
    for a, b, score, cells in pairs:
        status, comment, by, at = earlier.get((a, b), ("open", "", None, None))
        run.pairs.append(SimilarityPair(a_submission_id=a, b_submission_id=b, score=score, cells=cells,
                                        matches=_matches(matches.get((a, b), [])), status=status,
                                        comment=comment, reviewed_by_id=by, reviewed_at=at))
    sources = report.get("submissions") if isinstance(report.get("submissions"), dict) else {}
    run.sources = {str(int(key)): _source(value) for key, value in sources.items() if int(key) in allowed}
    run.cells = [str(cell) for cell in _list(report, "cells")][:200]
    run.compared = int(report.get("compared") or 0)
    run.total_pairs = int(report.get("total_pairs") or len(pairs))
    run.state, run.progress_done = "done", run.progress_total
    session.commit()
    return True


def _list(report: dict, key: str) -> list:
    value = report.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"report['{key}'] must be a list")
    return value


def _pair(item: Any, allowed: set[int]) -> tuple[int, int, float, dict[str, float]]:
    a, b, score = int(item["a"]), int(item["b"]), float(item["score"])
    if a not in allowed or b not in allowed or a == b:
        raise ValueError(f"pair ({a}, {b}) names a submission this run did not list")
    if not 0.0 <= score <= 1.0:
        raise ValueError(f"pair ({a}, {b}) has score {score}, outside 0..1")
    cells = {str(cell): float(value) for cell, value in (item.get("cells") or {}).items()}
    return (min(a, b), max(a, b), score, cells) if a < b else (b, a, score, cells)


def _source(raw: Any) -> dict:
    """One submission's cells as the report carries them, checked: text cells, integer lines."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", {}), dict):
        raise ValueError("a submission's entry must be {'cells': {...}, 'code_lines': {...}, 'error': ''}")
    code_lines = raw.get("code_lines") or {}
    if not isinstance(code_lines, dict):
        raise ValueError("'code_lines' must map a cell to its line numbers")
    return {"cells": {str(cell): str(text) for cell, text in raw.get("cells", {}).items()},
            "code_lines": {str(cell): [int(line) for line in lines] for cell, lines in code_lines.items()},
            "error": str(raw.get("error") or "")}


def _matches(raw: Any) -> list[dict]:
    out = []
    for match in raw if isinstance(raw, list) else []:
        out.append({"a_cell": str(match["a_cell"]), "a_lines": [int(x) for x in match["a_lines"][:2]],
                    "b_cell": str(match["b_cell"]), "b_lines": [int(x) for x in match["b_lines"][:2]]})
    return out


def _earlier_decisions(session: Session, run: SimilarityRun) -> dict[tuple[int, int], tuple]:
    """What staff decided about the same two submissions in this assignment's earlier runs."""
    rows = session.execute(
        sa.select(SimilarityPair).join(SimilarityRun)
        .where(SimilarityRun.assignment_id == run.assignment_id, SimilarityRun.id != run.id,
               SimilarityPair.status != "open").order_by(SimilarityPair.reviewed_at)).scalars()
    return {(p.a_submission_id, p.b_submission_id): (p.status, p.comment, p.reviewed_by_id, p.reviewed_at)
            for p in rows}


def review_pair(session: Session, pair: SimilarityPair, *, status: str, comment: str, by_user_id: int) -> None:
    if status not in PAIR_STATUSES:
        raise Refused(f"A pair is marked one of {', '.join(PAIR_STATUSES)}, not {status!r}.")
    if len(comment) > MAX_COMMENT:
        raise Refused(f"Keep the comment under {MAX_COMMENT} characters.")
    pair.status, pair.comment = status, comment.strip()
    pair.reviewed_by_id, pair.reviewed_at = by_user_id, utcnow()
    session.commit()


def ranked_pairs(run: SimilarityRun, cell: str | None) -> list[tuple[SimilarityPair, float]]:
    """The run's pairs with the score to rank by: overall, or in one cell."""
    if cell is None:
        return [(pair, pair.score) for pair in run.pairs]
    scored = [(pair, float(pair.cells.get(cell, 0.0))) for pair in run.pairs if cell in (pair.cells or {})]
    return sorted(scored, key=lambda item: -item[1])


def cell_lines(run: SimilarityRun, submission_id: int, matches: list[dict], side: str) -> list[dict]:
    """One side of the side-by-side view, cells in notebook order:
    [{"cell", "lines": [(number, text, match number or 0)]}]. (autograder/similarity_html.py
    marks its HTML report the same way; the portal cannot import the engine.)"""
    source = (run.sources or {}).get(str(submission_id)) or {}
    cells = source.get("cells") or {}
    code_lines = source.get("code_lines") or {}
    marks: dict[str, dict[int, int]] = {}
    for number, match in enumerate(matches, 1):
        first, last = match[f"{side}_lines"]
        cell = match[f"{side}_cell"]
        code = set(code_lines.get(cell) or range(first, last + 1))  # only lines that hold code
        for line in range(first, last + 1):
            if line in code:
                marks.setdefault(cell, {}).setdefault(line, number)
    known = [cell for cell in (run.cells or []) if cell in cells]
    order = known + [cell for cell in cells if cell not in known]
    return [{"cell": cell, "lines": [(n, text, marks.get(cell, {}).get(n, 0))
                                     for n, text in enumerate(str(cells[cell]).splitlines(), 1)]}
            for cell in order]
