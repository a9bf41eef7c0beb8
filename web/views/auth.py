"""Log in and out, forgotten passwords; the landing page lists the user's courses."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import (Blueprint, abort, current_app, flash, g, make_response, redirect, render_template, request,
                   session, url_for)

from .. import accounts, sessions, throttle
from ..db import db, utcnow
from ..mail import MailError, mail_configured, send_mail
from ..models import Course, Membership, PasswordReset, User
from ..security import (hash_password, login_required, login_user, rate_limit, request_client_address, safe_next,
                        verify_password)

bp = Blueprint("auth", __name__)
RESET_MAIL_EVERY_S = 60  # one reset mail per account per minute, whatever is asked
FORGOT_LIMIT = "5/3600"  # reset requests per client address


def login_policy() -> throttle.Policy:
    return throttle.Policy.from_config(current_app.config)


@bp.route("/login", methods=["GET", "POST"])
def login():
    policy, error, status, retry_after = login_policy(), None, 200, None
    if request.method == "POST":
        email = request.form.get("email", "").strip().lower()
        address, now = request_client_address(), utcnow()
        refusal = throttle.check(db.session, email=email, address=address, policy=policy, now=now)
        if refusal is not None:
            error, status, retry_after = refusal.message, 429, refusal.wait_s
        else:
            user = db.session.scalar(sa.select(User).where(User.email == email))
            if verify_password(user, request.form.get("password", "")):
                throttle.forget_account(db.session, email)
                throttle.prune(db.session, policy=policy, now=now)
                sessions.prune_expired()
                db.session.commit()
                login_user(user)
                return redirect(safe_next(request.args.get("next")) or url_for("auth.index"))
            throttle.record_failure(db.session, email=email, address=address, policy=policy, now=now)
            db.session.commit()
            error, status = "Wrong email or password.", 401
    response = make_response(render_template("login.html", error=error, limits=policy.describe(),
                                             mail=mail_configured(current_app.config)), status)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
def logout():
    """Ends every session of the account, on every device, not only this one."""
    if g.get("user") is not None:
        sessions.end_sessions(g.user.id)
        db.session.commit()
    session.clear()
    flash("You are logged out on every device.")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    mail = mail_configured(current_app.config)
    if request.method == "POST":
        if not mail:
            abort(404, description="Password reset by email is not set up here; ask your course instructor.")
        rate_limit(f"forgot:{throttle.address_subject(request_client_address())}", FORGOT_LIMIT)
        email = request.form.get("email", "").strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None and not _mailed_recently(user.id):
            mail_reset_link(user, created_by_id=None)
        flash("If an account exists for that address, a reset link is on its way; it works once, for "
              f"{current_app.config['RESET_LINK_LIFETIME_S'] // 60} minutes.")
        return redirect(url_for("auth.login"))
    return render_template("password_forgot.html", mail=mail)


def _mailed_recently(user_id: int) -> bool:
    latest = db.session.scalar(sa.select(sa.func.max(PasswordReset.created_at)).where(
        PasswordReset.user_id == user_id, PasswordReset.created_by_id.is_(None)))
    if latest is not None and latest.tzinfo is None:
        latest = latest.replace(tzinfo=dt.timezone.utc)
    return latest is not None and (utcnow() - latest).total_seconds() < RESET_MAIL_EVERY_S


def mail_reset_link(user: User, *, created_by_id: int | None) -> bool:
    """Mail a fresh one-time link; False (and logged) when the mail server refused."""
    config = current_app.config
    secret = accounts.issue_reset(db.session, user=user, created_by_id=created_by_id,
                                  lifetime_s=config["RESET_LINK_LIFETIME_S"], now=utcnow())
    db.session.commit()
    link = config["PUBLIC_URL"].rstrip("/") + url_for("auth.reset_password", secret=secret)
    try:
        send_mail(config, to=user.email, subject="dlgrade: set a new password", body=(
            f"Someone asked to set a new password for {user.email} on dlgrade.\n\n"
            f"Open this link to choose one (it works once, for {config['RESET_LINK_LIFETIME_S'] // 60} minutes):\n"
            f"{link}\n\nIf it was not you, ignore this mail; your password stays as it is.\n"))
    except MailError as exc:
        current_app.logger.error("password reset mail to user %s failed: %s", user.id, exc)
        return False
    return True


@bp.route("/password/reset/<secret>", methods=["GET", "POST"])
def reset_password(secret: str):
    config = current_app.config
    if accounts.valid_reset(db.session, secret, now=utcnow()) is None:
        abort(404, description="This reset link is unknown, already used or expired; ask for a new one.")
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        error = accounts.password_problem(password, request.form.get("confirm", ""),
                                          min_length=config["PASSWORD_MIN_LENGTH"])
        if error is None:
            user = accounts.use_reset(db.session, secret, password_hash=hash_password(password), now=utcnow())
            if user is None:
                abort(404, description="This reset link was used meanwhile; ask for a new one.")
            db.session.commit()
            session.clear()
            flash("Your password is set; every other session and API token of the account has ended. Log in.")
            return redirect(url_for("auth.login"))
    response = make_response(render_template("password_reset.html", error=error,
                                             min_length=config["PASSWORD_MIN_LENGTH"]), 400 if error else 200)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@login_required
def index():
    if g.user.is_admin:
        rows = [(c, "instructor") for c in db.session.scalars(sa.select(Course).order_by(Course.id))]
    else:
        rows = db.session.execute(
            sa.select(Course, Membership.role).join(Membership).where(Membership.user_id == g.user.id)
            .order_by(Course.id)).all()
    if len(rows) == 1:
        return redirect(url_for("courses.show", course_id=rows[0][0].id))
    return render_template("index.html", rows=rows, user=g.user)


@bp.get("/healthz")
def healthz():
    db.session.execute(sa.text("SELECT 1"))
    return {"ok": True}
