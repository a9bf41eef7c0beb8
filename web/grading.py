"""What a result means for a student: visibility policy, late days, queue position, scores.

Pure functions over plain values and rows; no request, no Flask.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import Assignment, Course, Submission

# Keys a student may see, per level of the result JSON. Everything else (staff `detail`,
# logs, tracebacks, evidence, expected values, seeds) never leaves for a student: an allowlist,
# so a field the worker adds later stays staff-only until someone decides otherwise.
_TOP_KEYS = {"schema_version", "status", "message", "score", "max_score"}
_PART_KEYS = {"name", "title", "score", "max_score", "points", "kind", "visibility", "status", "message"}
_TEST_KEYS = {"name", "part", "status", "score", "max_score", "points", "weight", "message", "hint", "visibility"}
_CHECK_KEYS = {"name", "status", "passed", "message", "hint", "max_abs_error", "max_rel_error", "shape",
               "expected_shape", "dtype", "expected_dtype", "kind"}
_PERF_KEYS = {"name", "part", "status", "speedup_vs_baseline", "student_s", "baseline_s", "spread", "credit",
              "score", "max_score", "hardware", "message", "full_credit_ratio", "zero_credit_ratio"}
_PERF_DETAIL_TYPES = (int, float, str, bool)

PENDING_MESSAGE = "Shown after the deadline."


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
        elif isinstance(value, list) and len(value) <= 16 and all(isinstance(x, (int, float)) for x in value):
            out[key] = value  # shapes
    return out


def _visibility(test: dict, parts_policy: dict[str, str]) -> str:
    return str(test.get("visibility") or parts_policy.get(str(test.get("part")), "visible"))


def student_view(result: dict | None, *, deadline_passed: bool, parts_policy: dict[str, str] | None = None) -> dict | None:
    """The part of a result JSON a student may see under the release policy."""
    if not isinstance(result, dict):
        return None
    parts_policy = parts_policy or {}
    view = _pick(result, _TOP_KEYS)
    withheld_points = 0.0
    tests = []
    for test in result.get("tests") or []:
        if not isinstance(test, dict):
            continue
        visibility = _visibility(test, parts_policy)
        if visibility == "after_deadline" and not deadline_passed:
            withheld_points += float(test.get("score") or 0)
            tests.append({"name": "(shown after the deadline)", "part": test.get("part"), "status": "pending",
                          "message": PENDING_MESSAGE, "visibility": visibility})
            continue
        shown = _pick(test, _TEST_KEYS)
        shown["visibility"] = visibility
        if visibility == "hidden":
            shown.pop("hint", None)  # hidden tests: which case failed and how, nothing more
        else:
            shown["checks"] = [_pick(c, _CHECK_KEYS) for c in test.get("checks") or [] if isinstance(c, dict)]
        tests.append(shown)
    view["tests"] = tests
    parts = []
    for part in result.get("parts") or []:
        shown = _pick(part, _PART_KEYS)
        visibility = str(part.get("visibility") or parts_policy.get(str(part.get("name")), "visible")) \
            if isinstance(part, dict) else "visible"
        if visibility == "after_deadline" and not deadline_passed:
            shown.pop("score", None)
            shown["status"] = "pending"
        parts.append(shown)
    view["parts"] = parts
    perf = []
    for entry in result.get("perf") or []:
        shown = _pick(entry, _PERF_KEYS)
        details = entry.get("details") if isinstance(entry, dict) else None
        if isinstance(details, dict):
            shown["details"] = {str(k): v for k, v in details.items() if isinstance(v, _PERF_DETAIL_TYPES)}
        perf.append(shown)
    view["perf"] = perf
    if withheld_points and isinstance(view.get("score"), (int, float)):
        view["score"] = None  # the total would reveal the withheld tests
        view["score_pending"] = True
    return view


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


def counted_submission(subs: list[Submission]) -> Submission | None:
    """The latest graded (or overridden) submission; nbgrader grades the last one too."""
    graded = [s for s in subs if s.state == "graded" or s.override_score is not None]
    return max(graded, key=lambda s: (s.submitted_at, s.id)) if graded else None


def grade_lines(course: Course, assignments: list[Assignment], subs_by_assignment: dict[int, list[Submission]]) -> list[GradeLine]:
    """One student's grades, spending the course's late-day budget in deadline order."""
    budget = course.late_days
    lines = []
    far = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    for assignment in sorted(assignments, key=lambda a: (a.deadline or far, a.id)):
        sub = counted_submission(subs_by_assignment.get(assignment.id, []))
        if sub is None:
            lines.append(GradeLine(assignment, None, None, 0, 0, 0.0, None))
            continue
        late = days_late(sub.submitted_at, assignment.deadline)
        used = min(late, assignment.grace_days, budget)
        budget -= used
        penalty = min(1.0, max(0, late - used) * assignment.penalty_per_day)
        if sub.override_score is not None:
            score = sub.override_score  # the override is the final word
        else:
            score = None if sub.score is None else round(sub.score * (1 - penalty), 4)
        lines.append(GradeLine(assignment, sub, sub.score, late, used, penalty, score))
    return lines


def late_days_left(course: Course, lines: list[GradeLine]) -> int:
    return course.late_days - sum(line.late_days_used for line in lines)


# --- queue ----------------------------------------------------------------------------------


def queue_position(session: Session, sub: Submission) -> int | None:
    if sub.state != "queued" or sub.queued_at is None:
        return None
    ahead = session.scalar(
        sa.select(sa.func.count()).select_from(Submission).where(
            Submission.state == "queued",
            Submission.queue == sub.queue,
            sa.or_(Submission.queued_at < sub.queued_at,
                   sa.and_(Submission.queued_at == sub.queued_at, Submission.id < sub.id)),
        )
    )
    return int(ahead or 0) + 1


def status_payload(session: Session, sub: Submission, *, staff: bool, now: dt.datetime) -> dict:
    """What the status poll returns."""
    assignment = sub.assignment
    deadline_passed = assignment.deadline is None or now >= assignment.deadline
    payload = {
        "id": sub.id,
        "state": sub.state,
        "attempt": sub.attempt,
        "submitted_at": sub.submitted_at.isoformat(),
        "queue_position": queue_position(session, sub),
        "progress": {"done": sub.progress_done, "total": sub.progress_total, "test": sub.progress_test or None},
        "message": sub.message,
        "final": sub.state in ("graded", "rejected", "error"),
    }
    score, max_score = sub.final_score, sub.max_score
    current = next((g for g in sub.grades if g.attempt == sub.attempt), None)
    if not staff and current is not None and current.result is not None:
        view = student_view(current.result, deadline_passed=deadline_passed, parts_policy=parts_policy(assignment))
        if view and view.get("score_pending") and sub.override_score is None:
            score = None
    payload["score"] = score
    payload["max_score"] = max_score
    return payload


def parts_policy(assignment: Assignment) -> dict[str, str]:
    return {p["name"]: p.get("visibility", "visible") for p in assignment.parts or []}
