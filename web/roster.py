"""Roster import: a CSV with columns email, name, role, sis_id, section, password (optional)."""

from __future__ import annotations

import csv
import io
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import ROLES, Membership, User


class RosterError(ValueError):
    pass


def import_roster(session: Session, *, course_id: int, csv_text: str, hash_password) -> list[dict]:
    """Create or update users and memberships. Returns one line per row; new users without a
    password column get a generated one, returned once (only its hash is stored)."""
    reader = csv.DictReader(io.StringIO(csv_text))
    fields = {f.strip().lower() for f in reader.fieldnames or []}
    if "email" not in fields:
        raise RosterError("The roster needs a header row with at least an 'email' column "
                          "(optional: name, role, sis_id, section, password).")
    report = []
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        email = row.get("email", "").lower()
        if not email or "@" not in email:
            raise RosterError(f"Line {line_no}: {email!r} is not an email address.")
        role = (row.get("role") or "student").lower()
        if role not in ROLES:
            raise RosterError(f"Line {line_no}: role {role!r} must be one of {', '.join(ROLES)}.")
        user = session.scalar(sa.select(User).where(User.email == email))
        generated = None
        if user is None:
            password = row.get("password") or None
            if password is None:
                generated = password = secrets.token_urlsafe(9)
            user = User(email=email, name=row.get("name", ""), sis_id=row.get("sis_id", ""),
                        password_hash=hash_password(password))
            session.add(user)
            session.flush()
        else:
            user.name = row.get("name") or user.name
            user.sis_id = row.get("sis_id") or user.sis_id
        member = session.scalar(sa.select(Membership).where(Membership.user_id == user.id,
                                                            Membership.course_id == course_id))
        if member is None:
            member = Membership(user_id=user.id, course_id=course_id, role=role)
            session.add(member)
        member.role = role
        member.section = row.get("section", member.section or "")
        report.append({"email": email, "role": role, "password": generated})
    session.commit()
    return report
