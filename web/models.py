"""The portal's tables. The database is the source of truth for every submission's state."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime, utcnow

ROLES = ("student", "ta", "instructor")
STAFF_ROLES = ("ta", "instructor")

# received -> queued -> running -> graded | rejected | error
SUBMISSION_STATES = ("received", "queued", "running", "graded", "rejected", "error")
ACTIVE_STATES = ("received", "queued", "running")

# draft -> gating -> gate_failed | ready -> released
ASSIGNMENT_STATES = ("gating", "gate_failed", "ready", "released")

# Which of a student's submissions counts for an assignment (web/counting.py applies it).
COUNTING_POLICIES = ("last", "best", "final")


class JSONText(sa.types.TypeDecorator):
    """JSON kept as text (identical on SQLite and PostgreSQL, byte-stable for audits)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(value)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    sis_id: Mapped[str] = mapped_column(sa.String(100), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(300), default="")
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="user")


class Course(Base):
    __tablename__ = "courses"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    late_days: Mapped[int] = mapped_column(default=3)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list["Membership"]] = relationship(back_populates="course")
    assignments: Mapped[list["Assignment"]] = relationship(back_populates="course", order_by="Assignment.id")


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("user_id", "course_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(sa.String(20))
    section: Mapped[str] = mapped_column(sa.String(100), default="")
    # From the course's Canvas gradebook export (web/canvas.py); the SIS user id is User.sis_id.
    canvas_user_id: Mapped[str] = mapped_column(sa.String(40), default="")
    sis_login_id: Mapped[str] = mapped_column(sa.String(200), default="")

    user: Mapped[User] = relationship(back_populates="memberships")
    course: Mapped[Course] = relationship(back_populates="memberships")


class ApiToken(Base):
    """A bearer token; only its sha256 is stored. kind: 'worker' (grading hosts) or 'user' (CLI)."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), default="")
    revoked: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User | None] = relationship()


class UserSession(Base):
    """A browser session kept on the server; the cookie holds only a random id whose sha256 is
    the key here. user_id is set once logged in, so every session of an account can be ended."""

    __tablename__ = "user_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    sid_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True,
                                                index=True)
    data: Mapped[Any] = mapped_column(JSONText, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class LoginThrottle(Base):
    """Wrong-login counters shared by every portal process. scope: 'account' (subject: the
    email typed) or 'address' (subject: the client address, IPv6 folded to its /64)."""

    __tablename__ = "login_throttle"
    scope: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(254), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PasswordReset(Base):
    """A one-time password reset link; only the sha256 of its secret is stored."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (sa.UniqueConstraint("course_id", "slug"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    state: Mapped[str] = mapped_column(sa.String(20), default="gating")
    queue: Mapped[str] = mapped_column(sa.String(40), default="cpu")
    parts: Mapped[Any] = mapped_column(JSONText, default=list)  # [{name,title,points,kind,visibility}]
    solution_ids: Mapped[Any] = mapped_column(JSONText, default=list)  # grade_ids of solution cells
    max_score: Mapped[float] = mapped_column(default=0.0)
    max_upload_mb: Mapped[float | None] = mapped_column(nullable=True)
    package_sha256: Mapped[str] = mapped_column(sa.String(64), default="")
    release_sha256: Mapped[str] = mapped_column(sa.String(64), default="")  # the archive the last passed gate built
    bundle_digest: Mapped[str] = mapped_column(sa.String(64), default="")
    gate_attempt: Mapped[int] = mapped_column(default=0)
    gate_passed: Mapped[bool | None] = mapped_column(nullable=True)
    gate_report: Mapped[Any] = mapped_column(JSONText, nullable=True)
    gate_worker: Mapped[str] = mapped_column(sa.String(200), default="")
    gate_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A gate that ran on another queue than the package's own (the first gate of a GPU package
    # runs on `cpu`, before the portal knows it needs a GPU): kept for staff, never releases.
    early_gate_queue: Mapped[str] = mapped_column(sa.String(40), default="")
    early_gate_passed: Mapped[bool | None] = mapped_column(nullable=True)
    early_gate_report: Mapped[Any] = mapped_column(JSONText, nullable=True)
    early_gate_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    release_on_pass: Mapped[bool] = mapped_column(default=False)
    deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    penalty_per_day: Mapped[float] = mapped_column(default=0.1)  # fraction of the score per late day
    grace_days: Mapped[int] = mapped_column(default=0)  # late days a student may spend here penalty-free
    hard_cutoff: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    submissions_per_hour: Mapped[int] = mapped_column(default=20)
    released_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    counting_policy: Mapped[str] = mapped_column(sa.String(20), default="last")  # one of COUNTING_POLICIES
    canvas_assignment_id: Mapped[str] = mapped_column(sa.String(40), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    course: Mapped[Course] = relationship(back_populates="assignments")

    @property
    def released(self) -> bool:
        return self.state == "released"


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (sa.Index("ix_submissions_state_queue", "state", "queued_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(sa.String(20), default="received")
    attempt: Mapped[int] = mapped_column(default=1)
    queue: Mapped[str] = mapped_column(sa.String(40), default="cpu")
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    progress_part: Mapped[str] = mapped_column(sa.String(100), default="")  # a part name, never a test's
    worker: Mapped[str] = mapped_column(sa.String(200), default="")
    score: Mapped[float | None] = mapped_column(nullable=True)
    max_score: Mapped[float | None] = mapped_column(nullable=True)
    message: Mapped[str] = mapped_column(sa.Text, default="")  # student-facing
    override_score: Mapped[float | None] = mapped_column(nullable=True)
    override_comment: Mapped[str] = mapped_column(sa.Text, default="")
    override_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    override_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    marked_final_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # by the student

    assignment: Mapped[Assignment] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    override_by: Mapped[User | None] = relationship(foreign_keys=[override_by_id])
    grades: Mapped[list["GradeRun"]] = relationship(back_populates="submission", order_by="GradeRun.attempt")

    @property
    def final_score(self) -> float | None:
        return self.override_score if self.override_score is not None else self.score


class GradeRun(Base):
    """One attempt at grading a submission: which bundle, which worker, which result."""

    __tablename__ = "grade_runs"
    __table_args__ = (sa.UniqueConstraint("submission_id", "attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column()
    bundle_digest: Mapped[str] = mapped_column(sa.String(64), default="")
    reason: Mapped[str] = mapped_column(sa.String(200), default="submitted")
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    worker: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    score: Mapped[float | None] = mapped_column(nullable=True)
    max_score: Mapped[float | None] = mapped_column(nullable=True)
    result: Mapped[Any] = mapped_column(JSONText, nullable=True)
    received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failures: Mapped[int] = mapped_column(default=0)
    failure_message: Mapped[str] = mapped_column(sa.Text, default="")
    failure_detail: Mapped[str] = mapped_column(sa.Text, default="")

    submission: Mapped[Submission] = relationship(back_populates="grades")


# queued -> running -> done | failed
SIMILARITY_STATES = ("queued", "running", "done", "failed")
# what staff decided about a pair
PAIR_STATUSES = ("open", "reviewed", "dismissed")


class SimilarityRun(Base):
    """One similarity review of an assignment's submissions, computed by a worker."""

    __tablename__ = "similarity_runs"
    __table_args__ = (sa.UniqueConstraint("assignment_id", "attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(sa.ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column()  # 1, 2, ... per assignment: the task's second argument
    state: Mapped[str] = mapped_column(sa.String(20), default="queued")
    include_earlier: Mapped[bool] = mapped_column(default=False)  # every graded submission, not only the counted one
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    worker: Mapped[str] = mapped_column(sa.String(200), default="")
    progress_phase: Mapped[str] = mapped_column(sa.String(40), default="")
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    compared: Mapped[int] = mapped_column(default=0)  # submissions compared
    total_pairs: Mapped[int] = mapped_column(default=0)  # pairs scored (only the top ones are stored)
    cells: Mapped[Any] = mapped_column(JSONText, default=list)  # grade_ids seen
    sources: Mapped[Any] = mapped_column(JSONText, nullable=True)  # {submission id: {"cells": {...}, "error"}}
    message: Mapped[str] = mapped_column(sa.Text, default="")  # why a run failed (staff only)

    assignment: Mapped[Assignment] = relationship()
    pairs: Mapped[list["SimilarityPair"]] = relationship(back_populates="run", order_by="SimilarityPair.score.desc()",
                                                         cascade="all, delete-orphan")


class SimilarityPair(Base):
    """Two submissions of a run, their scores, the matched regions, and what staff decided."""

    __tablename__ = "similarity_pairs"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("similarity_runs.id", ondelete="CASCADE"), index=True)
    a_submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"))
    b_submission_id: Mapped[int] = mapped_column(sa.ForeignKey("submissions.id", ondelete="CASCADE"))
    score: Mapped[float] = mapped_column(default=0.0)
    cells: Mapped[Any] = mapped_column(JSONText, default=dict)  # grade_id → score
    matches: Mapped[Any] = mapped_column(JSONText, default=list)  # [{"a_cell", "a_lines", "b_cell", "b_lines"}]
    status: Mapped[str] = mapped_column(sa.String(20), default="open")
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    run: Mapped[SimilarityRun] = relationship(back_populates="pairs")
    a_submission: Mapped[Submission] = relationship(foreign_keys=[a_submission_id])
    b_submission: Mapped[Submission] = relationship(foreign_keys=[b_submission_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])


class Worker(Base):
    """A grading worker as it last announced itself (POST /api/worker/workers/heartbeat)."""

    __tablename__ = "workers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    queues: Mapped[Any] = mapped_column(JSONText, default=list)  # queue names without the prefix
    gpus: Mapped[Any] = mapped_column(JSONText, default=list)  # GPU indices it owns
    engine_version: Mapped[str] = mapped_column(sa.String(40), default="")
    concurrency: Mapped[int] = mapped_column(default=1)
    running: Mapped[int] = mapped_column(default=0)  # jobs it was grading at the last heartbeat
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # said goodbye


class TrustedRun(Base):
    """A trusted run's archive a worker published, shared by every worker of the deployment
    (autograder/worker/trusted_share.py). `key` is the engine's hash of bundle, seed, hardware
    and harness; the archive is in the file store under `digest`. The first one published is
    kept while its archive is intact."""

    __tablename__ = "trusted_runs"
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    worker: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
