"""Log in and out; the landing page lists the user's courses."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for

from ..db import db
from ..models import Course, Membership, User
from ..security import login_required, login_user, rate_limit, verify_password

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        rate_limit(f"login:{request.remote_addr}", current_app.config["LOGIN_RATE_LIMIT"])
        email = request.form.get("email", "").strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if verify_password(user, request.form.get("password", "")):
            login_user(user)
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("auth.index")
            return redirect(target)
        error = "Wrong email or password."
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("auth.login"))


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
