"""Which of a student's submissions counts for an assignment, and why, under the assignment's
counting policy. The gradebook, every export and the student's pages all ask `counted`.

Policies (Assignment.counting_policy):
    last   the latest graded submission
    best   the graded submission with the highest score after its late penalty
    final  the one the student marked final before the deadline; none marked: the latest graded
A staff override is part of the submission it sits on: that submission's score is the override.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Callable

from sqlalchemy.orm import Session

from .models import COUNTING_POLICIES, Assignment, Submission

POLICY_LABELS = {
    "last": "the latest graded submission",
    "best": "the best-scoring graded submission (after late penalties)",
    "final": "the submission the student marks final before the deadline (none marked: the latest graded)",
}
assert set(POLICY_LABELS) == set(COUNTING_POLICIES)


class CountingRefused(ValueError):
    pass


@dataclasses.dataclass
class Counted:
    submission: Submission | None
    reason: str  # one sentence for the student, and for staff


def _gradable(subs: list[Submission]) -> list[Submission]:
    return [s for s in subs if s.state == "graded" or s.override_score is not None]


def _latest(subs: list[Submission]) -> Submission:
    return max(subs, key=lambda s: (s.submitted_at, s.id))


def _override_note(sub: Submission) -> str:
    if sub.override_score is None:
        return ""
    return f" Staff set its score to {sub.override_score:g}."


def counted(assignment: Assignment, subs: list[Submission],
            score_of: Callable[[Submission], float | None]) -> Counted:
    """The submission that counts. `score_of` gives a submission's score after its late penalty
    (the override where there is one); only the `best` policy needs it."""
    candidates = _gradable(subs)
    if not candidates:
        return Counted(None, "No graded submission yet, so nothing counts for this assignment.")
    policy = assignment.counting_policy or "last"
    if policy == "best":
        def key(sub: Submission):
            score = score_of(sub)
            return (float("-inf") if score is None else score, sub.submitted_at, sub.id)

        best = max(candidates, key=key)
        score = score_of(best)
        shown = "no score" if score is None else f"{score:g} after late penalties"
        return Counted(best, f"Submission {best.id} counts: this assignment counts your best graded "
                             f"submission, and it has your highest score ({shown})." + _override_note(best))
    if policy == "final":
        marked = [s for s in candidates if s.marked_final_at is not None]
        if marked:
            sub = _latest(marked)
            return Counted(sub, f"Submission {sub.id} counts: you marked it final on "
                                f"{sub.marked_final_at:%Y-%m-%d %H:%M} UTC." + _override_note(sub))
        sub = _latest(candidates)
        return Counted(sub, f"Submission {sub.id} counts: you have not marked a graded submission final, "
                            f"so your latest graded one counts." + _override_note(sub))
    sub = _latest(candidates)
    return Counted(sub, f"Submission {sub.id} counts: this assignment counts your latest graded submission."
                   + _override_note(sub))


def can_mark_final(assignment: Assignment, sub: Submission, now: dt.datetime) -> bool:
    return (assignment.counting_policy == "final" and sub.state == "graded"
            and (assignment.deadline is None or now <= assignment.deadline))


def mark_final(session: Session, sub: Submission, *, now: dt.datetime) -> None:
    """The student marks one graded submission final; it replaces an earlier mark."""
    assignment = sub.assignment
    if assignment.counting_policy != "final":
        raise CountingRefused(f"This assignment counts {POLICY_LABELS[assignment.counting_policy]}; "
                              "there is nothing to mark.")
    if sub.state != "graded":
        raise CountingRefused("Only a graded submission can be marked final.")
    if assignment.deadline is not None and now > assignment.deadline:
        raise CountingRefused(f"The deadline ({assignment.deadline:%Y-%m-%d %H:%M} UTC) has passed: the choice "
                              "made before it stands.")
    siblings = session.query(Submission).filter(Submission.assignment_id == sub.assignment_id,
                                                Submission.user_id == sub.user_id,
                                                Submission.marked_final_at.is_not(None)).all()
    for other in siblings:
        other.marked_final_at = None
    sub.marked_final_at = now
    session.commit()


def set_policy(session: Session, assignment: Assignment, *, policy: str, canvas_assignment_id: str) -> None:
    if policy not in COUNTING_POLICIES:
        raise CountingRefused(f"The counting policy is one of {', '.join(COUNTING_POLICIES)}, not {policy!r}.")
    canvas_assignment_id = canvas_assignment_id.strip()
    if canvas_assignment_id and not canvas_assignment_id.isdigit():
        raise CountingRefused("A Canvas assignment id is a number (the one in parentheses in Canvas's "
                              "gradebook export, e.g. 'Lab 1 (123456)').")
    assignment.counting_policy = policy
    assignment.canvas_assignment_id = canvas_assignment_id
    session.commit()
