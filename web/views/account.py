"""A user's own account (password, sessions, API tokens) and the staff actions on others':
an instructor's password reset for a course member, an administrator's sign-out everywhere."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request, url_for

from .. import accounts, throttle
from ..db import db, utcnow
from ..mail import mail_configured
from ..models import User
from ..security import (hash_password, issue_token, login_required, login_user, request_client_address, safe_next,
                        verify_password)
from ..sessions import active_session_count
from .auth import login_policy, mail_reset_link
from .common import course_for

bp = Blueprint("account", __name__)


def _account_page(*, error: str | None = None, new_token: str | None = None, status: int = 200):
    response = make_response(render_template(
        "account.html", user=g.user, error=error, new_token=new_token,
        tokens=accounts.user_tokens(db.session, g.user.id), sessions=active_session_count(g.user.id),
        min_length=current_app.config["PASSWORD_MIN_LENGTH"]), status)
    return response


@bp.get("/account")
@login_required
def show():
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password():
    """The current password is required (a borrowed session alone cannot take the account), and
    wrong ones count against the account's login throttle."""
    policy, address, now = login_policy(), request_client_address(), utcnow()
    refusal = throttle.check(db.session, email=g.user.email, address=address, policy=policy, now=now)
    if refusal is not None:
        return _account_page(error=refusal.message, status=429)
    if not verify_password(g.user, request.form.get("current", "")):
        throttle.record_failure(db.session, email=g.user.email, address=address, policy=policy, now=now)
        db.session.commit()
        return _account_page(error="The current password is wrong.", status=400)
    password = request.form.get("password", "")
    problem = accounts.password_problem(password, request.form.get("confirm", ""), email=g.user.email,
                                        min_length=current_app.config["PASSWORD_MIN_LENGTH"])
    if problem is None and verify_password(g.user, password):
        problem = "The new password is the current one; choose another."
    if problem:
        return _account_page(error=problem, status=400)
    ended = accounts.set_password(db.session, g.user, hash_password(password))
    db.session.commit()
    login_user(g.user, renewing=True)  # this browser carries on with a new session id; every old one is gone
    flash(f"Password changed; {ended} session{'s' if ended != 1 else ''} ended, including every other device.")
    return redirect(url_for("account.show"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_others():
    ended, _ = accounts.sign_out_everywhere(db.session, g.user.id, revoke_tokens=False)
    db.session.commit()
    login_user(g.user, renewing=True)
    flash(f"Every other session has ended ({max(ended - 1, 0)} on other devices).")
    return redirect(url_for("account.show"))


@bp.post("/account/tokens")
@login_required
def create_token():
    name = request.form.get("name", "").strip()[:200] or "cli"
    _, plain = issue_token(kind="user", user_id=g.user.id, name=name)
    db.session.commit()
    response = _account_page(new_token=plain)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    token = accounts.revoke_token(db.session, user_id=g.user.id, token_id=token_id)
    if token is None:
        abort(404)
    db.session.commit()
    flash(f"Token '{token.name}' ({token.prefix}…) is revoked; it no longer works.")
    return redirect(url_for("account.show"))


@bp.post("/courses/<int:course_id>/members/<int:user_id>/password-reset")
@login_required
def staff_reset(course_id: int, user_id: int):
    """An instructor resets a member's password: the member's sessions and API tokens end, and a
    one-time link goes to the member by mail, or (with no mail configured) is shown here once."""
    course, role = course_for(course_id, "instructor")
    target = db.session.get(User, user_id)
    refusal = accounts.staff_reset_refusal(db.session, course_id=course.id, target=target)
    if refusal == "not a member of this course":
        abort(404)
    if refusal:
        abort(403, description=f"Cannot reset this password: {refusal}.")
    accounts.sign_out_everywhere(db.session, target.id, revoke_tokens=True)
    db.session.commit()
    if mail_configured(current_app.config):
        sent = mail_reset_link(target, created_by_id=g.user.id)
        flash(f"{target.email} is signed out everywhere; " + (
            "a reset link was mailed to them." if sent else "the reset mail failed (see the portal log)."),
            "info" if sent else "error")
        return redirect(url_for("courses.members", course_id=course.id))
    secret = accounts.issue_reset(db.session, user=target, created_by_id=g.user.id,
                                  lifetime_s=current_app.config["RESET_LINK_LIFETIME_S"], now=utcnow())
    db.session.commit()
    response = make_response(render_template(
        "reset_link.html", user=g.user, role=role, course=course, target=target,
        link=current_app.config["PUBLIC_URL"].rstrip("/") + url_for("auth.reset_password", secret=secret),
        minutes=current_app.config["RESET_LINK_LIFETIME_S"] // 60))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/users/<int:user_id>/sign-out-everywhere")
@login_required
def admin_sign_out(user_id: int):
    """Administrators only: end every session and revoke every API token of an account."""
    target = db.session.get(User, user_id)
    if not g.user.is_admin or target is None:
        abort(404)
    ended, revoked = accounts.sign_out_everywhere(db.session, target.id, revoke_tokens=True)
    db.session.commit()
    if target.id == g.user.id:
        login_user(g.user, renewing=True)
    flash(f"{target.email}: {ended} session(s) ended, {revoked} API token(s) revoked.")
    return redirect(safe_next(request.form.get("next")) or url_for("account.show"))
