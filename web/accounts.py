"""Account verbs: change a password, reset one through a one-time link, sign out everywhere,
revoke API tokens. Plain values in, no `request`; the caller commits."""

from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import ApiToken, Membership, PasswordReset, User
from .security import token_digest
from .sessions import end_sessions


def password_problem(password: str, confirm: str, *, min_length: int, email: str = "") -> str | None:
    """Why this new password is refused, or None."""
    if password != confirm:
        return "The two new passwords differ; type the same one twice."
    if len(password) < min_length:
        return f"Choose a password of at least {min_length} characters."
    if len(password) > 1000:
        return "Choose a password of at most 1000 characters."
    if email and password.strip().lower() == email.strip().lower():
        return "Choose a password that is not your email address."
    return None


def set_password(session: Session, user: User, password_hash: str) -> int:
    """New hash; every session of the account ends. Returns how many sessions ended."""
    user.password_hash = password_hash
    session.flush()
    return end_sessions(user.id)


def sign_out_everywhere(session: Session, user_id: int, *, revoke_tokens: bool) -> tuple[int, int]:
    """End every session of the account and, where asked, revoke its API tokens (for an account
    that may be compromised: a stolen token would outlive the sessions). Returns the counts."""
    ended = end_sessions(user_id)
    revoked = 0
    if revoke_tokens:
        revoked = session.execute(sa.update(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.kind == "user", ApiToken.revoked.is_(False))
            .values(revoked=True)).rowcount
    return ended, revoked


def revoke_token(session: Session, *, user_id: int, token_id: int) -> ApiToken | None:
    """The caller's own user token, now revoked; None when it is not theirs (the caller answers 404)."""
    token = session.get(ApiToken, token_id)
    if token is None or token.kind != "user" or token.user_id != user_id:
        return None
    token.revoked = True
    return token


def user_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.kind == "user")
                                .order_by(ApiToken.revoked, ApiToken.id.desc())))


# --- reset links ----------------------------------------------------------------------------


def issue_reset(session: Session, *, user: User, created_by_id: int | None, lifetime_s: int,
                now: dt.datetime) -> str:
    """A new one-time link secret (returned once; only its hash is stored). Older unused links
    of the account stop working, so only the latest one mailed or handed over counts."""
    session.execute(sa.update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                    .values(used_at=now))
    secret = secrets.token_urlsafe(32)
    session.add(PasswordReset(user_id=user.id, token_sha256=token_digest(secret), created_by_id=created_by_id,
                              created_at=now, expires_at=now + dt.timedelta(seconds=lifetime_s)))
    return secret


def valid_reset(session: Session, secret: str, *, now: dt.datetime) -> PasswordReset | None:
    if not secret or len(secret) > 100:
        return None
    return session.scalar(sa.select(PasswordReset).where(
        PasswordReset.token_sha256 == token_digest(secret), PasswordReset.used_at.is_(None),
        PasswordReset.expires_at > now))


def use_reset(session: Session, secret: str, *, password_hash: str, now: dt.datetime) -> User | None:
    """Spend the link and set the password; None when the link is unknown, used or expired.
    The UPDATE ... WHERE used_at IS NULL makes two simultaneous uses yield one winner."""
    reset = valid_reset(session, secret, now=now)
    if reset is None:
        return None
    spent = session.execute(sa.update(PasswordReset).where(PasswordReset.id == reset.id,
                                                           PasswordReset.used_at.is_(None))
                            .values(used_at=now)).rowcount
    if spent != 1:
        return None
    user = session.get(User, reset.user_id)
    set_password(session, user, password_hash)
    sign_out_everywhere(session, user.id, revoke_tokens=True)
    return user


def staff_reset_refusal(session: Session, *, course_id: int, target: User | None) -> str | None:
    """Why an instructor of `course_id` may not reset this account's password, or None.
    A reset hands over the account, so it is limited to students and TAs of the course who hold
    no instructor role anywhere and are not administrators."""
    if target is None:
        return "not a member of this course"
    role = session.scalar(sa.select(Membership.role).where(Membership.user_id == target.id,
                                                           Membership.course_id == course_id))
    if role is None:
        return "not a member of this course"
    if target.is_admin or session.scalar(sa.select(sa.func.count()).select_from(Membership).where(
            Membership.user_id == target.id, Membership.role == "instructor")):
        return "instructors and administrators reset their own password (or ask an administrator)"
    return None
