"""What a result means for a student: visibility policy, late days, queue position, scores.

Pure functions over plain values and rows; no request, no Flask.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from . import counting, operations
from .models import ACTIVE_STATES, Assignment, Course, Submission

# Keys a student may see, per level of the result JSON (autograder/result.py, schema 1).
# Everything else (staff `detail`, `flags` with tamper evidence, the run's seed and sandbox,
# tracebacks) never leaves for a student: an allowlist, so a field the worker adds later stays
# staff-only until someone decides otherwise.
_TOP_KEYS = {"schema_version", "status", "assignment", "message", "score", "max_score", "unmeasured_points"}
_PART_KEYS = {"name", "title", "score", "max_score", "visibility"}
_TEST_KEYS = {"name", "part", "status", "score", "max_score", "message", "visibility", "hidden"}
_PERF_TYPES = (int, float)


def _pick(source: Any, keys: set[str]) -> dict:
    """Allowed keys with plain values only (a nested object under an allowed name is dropped)."""
    if not isinstance(source, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in source.items():
        if key not in keys:
            continue
        if isinstance(value, str):
            out[key] = value[:2000]
        elif value is None or isinstance(value, (int, float, bool)):
            out[key] = value
    return out


def _perf_figures(test: dict) -> dict | None:
    perf = test.get("perf")
    if not isinstance(perf, dict):
        return None
    return {str(k): v for k, v in perf.items() if isinstance(v, _PERF_TYPES) and not isinstance(v, bool)}


def details_allowed(test: dict, visibility: str, deadline_passed: bool) -> bool:
    """Public tests always show their messages; hidden tests as their part's visibility says."""
    return not test.get("hidden") or visibility == "visible" or (visibility == "after_deadline" and deadline_passed)


def student_view(result: dict | None, *, deadline_passed: bool, parts_policy: dict[str, str] | None = None) -> dict | None:
    """The part of a result JSON a student may see under the release policy."""
    if not isinstance(result, dict):
        return None
    parts_policy = parts_policy or {}
    view = _pick(result, _TOP_KEYS)
    view["warnings"] = [w[:500] for w in result.get("warnings") or [] if isinstance(w, str)][:50]
    view["parts"] = [_pick(p, _PART_KEYS) for p in result.get("parts") or [] if isinstance(p, dict)]
    tests = []
    for test in result.get("tests") or []:
        if not isinstance(test, dict):
            continue
        visibility = str(test.get("visibility") or parts_policy.get(str(test.get("part")), "visible"))
        shown = _pick(test, _TEST_KEYS)
        shown["visibility"] = visibility
        if details_allowed(test, visibility, deadline_passed):
            figures = _perf_figures(test)
            if figures:
                shown["perf"] = figures
        else:
            shown["name"] = f"{test.get('part')}: hidden test"
            shown["message"] = ("Details are shown after the deadline." if visibility == "after_deadline"
                                else "Details of hidden tests are not shown.")
        tests.append(shown)
    view["tests"] = tests
    run = result.get("run")
    if isinstance(run, dict) and isinstance(run.get("hardware"), str):
        view["run"] = {"hardware": run["hardware"][:200]}
    return view


def perf_entries(result: dict | None) -> list[dict]:
    """Perf figures of every test that carries them (in whatever view was given)."""
    entries = []
    for test in (result or {}).get("tests") or []:
        if isinstance(test, dict) and isinstance(test.get("perf"), dict):
            entries.append({"name": test.get("name"), "status": test.get("status"), "message": test.get("message"),
                            **_perf_figures(test)})
    return entries


# --- late days ------------------------------------------------------------------------------


def days_late(submitted_at: dt.datetime, deadline: dt.datetime | None) -> int:
    if deadline is None or submitted_at <= deadline:
        return 0
    return math.ceil((submitted_at - deadline) / dt.timedelta(days=1))


@dataclasses.dataclass
class GradeLine:
    assignment: Assignment
    submission: Submission | None
    raw_score: float | None
    days_late: int
    late_days_used: int
    penalty: float  # fraction taken off
    score: float | None
    reason: str = ""  # which submission counts and why (web/counting.py)


def _line(assignment: Assignment, sub: Submission, budget: int) -> GradeLine:
    """One submission's grade with `budget` late days left to spend on it."""
    late = days_late(sub.submitted_at, assignment.deadline)
    used = min(late, assignment.grace_days, budget)
    late_days_charged = max(0, late - used)
    penalty = min(1.0, late_days_charged * assignment.penalty_per_day)
    if sub.override_score is not None:
        score = sub.override_score  # the override is the final word
    elif sub.score is None:
        score = None
    elif late_days_charged == 0:
        score = sub.score  # on time: exactly the graded score, no rounding residue
    else:
        score = round(sub.score * (1 - penalty), 4)
    return GradeLine(assignment, sub, sub.score, late, used, penalty, score)


def grade_lines(course: Course, assignments: list[Assignment], subs_by_assignment: dict[int, list[Submission]]) -> list[GradeLine]:
    """One student's grades, spending the course's late-day budget in deadline order; the
    submission that counts is the assignment's counting policy's choice."""
    budget = course.late_days
    lines = []
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    for assignment in sorted(assignments, key=lambda a: (a.deadline or far, a.id)):
        choice = counting.counted(assignment, subs_by_assignment.get(assignment.id, []),
                                  lambda sub: _line(assignment, sub, budget).score)
        if choice.submission is None:
            lines.append(GradeLine(assignment, None, None, 0, 0, 0.0, None, choice.reason))
            continue
        line = _line(assignment, choice.submission, budget)
        line.reason = choice.reason
        budget -= line.late_days_used
        lines.append(line)
    return lines


def late_days_left(course: Course, lines: list[GradeLine]) -> int:
    return course.late_days - sum(line.late_days_used for line in lines)


# --- queue ----------------------------------------------------------------------------------


def queue_position_column() -> sa.ColumnElement:
    """The selected submission's place in its queue (None unless it is queued), as a column to
    select next to it: queued submissions of the same queue ahead of it, plus one."""
    ahead = aliased(Submission)
    count = sa.select(sa.func.count()).select_from(ahead).where(
        ahead.state == "queued", ahead.queue == Submission.queue,
        sa.or_(ahead.queued_at < Submission.queued_at,
               sa.and_(ahead.queued_at == Submission.queued_at, ahead.id < Submission.id)),
    ).correlate(Submission).scalar_subquery()
    return sa.case((sa.and_(Submission.state == "queued", Submission.queued_at.is_not(None)), count + 1),
                   else_=sa.null())


def queue_position(session: Session, sub: Submission) -> int | None:
    if sub.state != "queued" or sub.queued_at is None:
        return None
    return session.scalar(sa.select(queue_position_column()).where(Submission.id == sub.id))


NOT_SELECTED = object()  # status_payload's `position` when the caller did not select it


def status_payload(session: Session, sub: Submission, *, staff: bool, now: dt.datetime, offline_after_s: int,
                   position: int | None | object = NOT_SELECTED) -> dict:
    """What the status poll returns. `waiting_for` says which kind of worker an active job waits
    for while no worker of its queue is online (then it is not running, whatever `state` says).
    `position`: the queue position when the caller selected it with the submission."""
    payload = {
        "id": sub.id,
        "state": sub.state,
        "attempt": sub.attempt,
        "submitted_at": sub.submitted_at.isoformat(),
        "queue_position": queue_position(session, sub) if position is NOT_SELECTED else position,
        "progress": {"done": sub.progress_done, "total": sub.progress_total,
                     "part": part_title(sub.assignment, sub.progress_part)},
        "message": sub.message,
        "final": sub.state in ("graded", "rejected", "error"),
        "waiting_for": (operations.waiting_message(session, sub.queue, now, offline_after_s)
                        if sub.state in ACTIVE_STATES else None),
    }
    payload["score"] = sub.final_score
    payload["max_score"] = sub.max_score
    return payload


def part_title(assignment: Assignment, name: str) -> str | None:
    """The title students know a part by (its name when it has none); None for no part."""
    if not name:
        return None
    return next((p.get("title") or name for p in assignment.parts or [] if p.get("name") == name), name)


def parts_policy(assignment: Assignment) -> dict[str, str]:
    return {p["name"]: p.get("visibility", "visible") for p in assignment.parts or []}
