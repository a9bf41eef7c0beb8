"""`flask --app web <command>`: create-demo, accounts, tokens, migrations. (The sweeper is the
worker's: autograder/worker/sweeper.py.)"""

from __future__ import annotations

import datetime as dt
import io
import tarfile
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import services
from .config import Settings
from .db import db, upgrade, utcnow
from .models import Course, Membership, User
from .security import hash_password, issue_token
from .tasks import client as task_client


def ensure_user(email: str, name: str, password: str, *, is_admin: bool = False) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=name, is_admin=is_admin)
        db.session.add(user)
    user.password_hash = hash_password(password)
    db.session.flush()
    return user


def ensure_member(user: User, course: Course, role: str, section: str = "") -> None:
    member = db.session.scalar(sa.select(Membership).where(Membership.user_id == user.id,
                                                           Membership.course_id == course.id))
    if member is None:
        db.session.add(Membership(user_id=user.id, course_id=course.id, role=role, section=section))
    else:
        member.role = role


def ensure_course(slug: str, title: str) -> Course:
    course = db.session.scalar(sa.select(Course).where(Course.slug == slug))
    if course is None:
        course = Course(slug=slug, title=title, late_days=current_app.config["DEFAULT_LATE_DAYS"])
        db.session.add(course)
        db.session.flush()
    return course


def package_folder(repo: Path, slug: str) -> bytes | None:
    """A .tar.gz of assignments/<slug> + reference/<slug>, or None if either is missing."""
    assignment_dir, reference_dir = repo / "assignments" / slug, repo / "reference" / slug
    if not (assignment_dir / "assignment.toml").is_file() or not reference_dir.is_dir():
        return None
    buffer = io.BytesIO()
    skip = ("__pycache__", ".ipynb_checkpoints", ".pytest_cache")
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for folder, arcname in ((assignment_dir, f"assignments/{slug}"), (reference_dir, f"reference/{slug}")):
            archive.add(folder, arcname=arcname, filter=lambda info: None if any(s in info.name for s in skip) else info)
    return buffer.getvalue()


@click.command("db-upgrade")
@with_appcontext
def db_upgrade():
    """Apply the Alembic migrations."""
    upgrade(current_app.config["DATABASE_URL"], current_app.config["DATABASE_SCHEMA"])
    click.echo("database at head")


@click.command("settings")
@with_appcontext
def settings_command():
    """Print every setting with its help and effective value."""
    for name, kind, default, help_text in Settings.describe():
        value = "***" if name == "SECRET_KEY" else current_app.config.get(name)
        click.echo(f"{name} ({kind}) = {value!r}\n    {help_text} [default {default!r}]")


@click.command("create-user")
@with_appcontext
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True)
@click.option("--admin", is_flag=True)
def create_user(email, name, password, admin):
    """Create (or reset the password of) an account."""
    ensure_user(email.lower(), name, password, is_admin=admin)
    db.session.commit()
    click.echo(f"user {email} ready")


@click.command("create-course")
@with_appcontext
@click.argument("slug")
@click.argument("title")
@click.option("--instructor", "instructor_email", default=None)
def create_course(slug, title, instructor_email):
    course = ensure_course(slug, title)
    if instructor_email:
        user = db.session.scalar(sa.select(User).where(User.email == instructor_email.lower()))
        if user is None:
            raise click.ClickException(f"no user {instructor_email}; run create-user first")
        ensure_member(user, course, "instructor")
    db.session.commit()
    click.echo(f"course {slug} (id {course.id})")


@click.command("import-roster")
@with_appcontext
@click.argument("course_slug")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
def import_roster_command(course_slug, csv_file):
    """Import a roster CSV (email,name,role,sis_id,section,password)."""
    from .roster import import_roster

    course = db.session.scalar(sa.select(Course).where(Course.slug == course_slug))
    if course is None:
        raise click.ClickException(f"no course {course_slug}")
    for line in import_roster(db.session, course_id=course.id, csv_text=csv_file.read(),
                              hash_password=hash_password):
        click.echo(f"{line['email']}\t{line['role']}\t{line['password'] or ''}")


@click.command("create-token")
@with_appcontext
@click.option("--kind", type=click.Choice(["worker", "user"]), default="worker")
@click.option("--name", default="worker")
@click.option("--email", default=None, help="Owner of a user token.")
def create_token(kind, name, email):
    """Print a new API token (only its hash is stored)."""
    user_id = None
    if kind == "user":
        user = db.session.scalar(sa.select(User).where(User.email == (email or "").lower()))
        if user is None:
            raise click.ClickException("--email of an existing user is required for a user token")
        user_id = user.id
    _, plain = issue_token(kind=kind, user_id=user_id, name=name)
    db.session.commit()
    click.echo(plain)


@click.command("create-demo")
@with_appcontext
@click.option("--repo", type=click.Path(path_type=Path), default=Path(__file__).resolve().parent.parent)
@click.option("--password", default="demo-password")
@click.option("--worker-token", default="", help="Use this worker token (else one is created and printed).")
def create_demo(repo, password, worker_token):
    """Demo course, accounts, and every assignment package found under assignments/."""
    course = ensure_course("dlsys-demo", "Efficient Deep Learning Systems (demo)")
    accounts = [("instructor@demo.dlgrade", "Ines Instructor", "instructor"),
                ("ta@demo.dlgrade", "Tomas Assistant", "ta"),
                ("alice@demo.dlgrade", "Alice Student", "student"),
                ("bob@demo.dlgrade", "Bob Student", "student")]
    for email, name, role in accounts:
        ensure_member(ensure_user(email, name, password), course, role, "A" if role == "student" else "")
    db.session.commit()
    if worker_token:
        from .models import ApiToken
        from .security import token_digest

        if db.session.scalar(sa.select(ApiToken).where(ApiToken.token_sha256 == token_digest(worker_token))) is None:
            db.session.add(ApiToken(kind="worker", name="demo worker", token_sha256=token_digest(worker_token),
                                    prefix=worker_token[:10]))
    else:
        _, worker_token = issue_token(kind="worker", user_id=None, name="demo worker")
    db.session.commit()
    found = []
    for folder in sorted((repo / "assignments").glob("*")):
        data = package_folder(repo, folder.name) if folder.is_dir() else None
        if data is None:
            click.echo(f"skip {folder.name}: package not complete yet (needs assignment.toml and reference/)")
            continue
        try:
            assignment = services.upload_package(db.session, current_app.extensions["dlgrade_store"],
                                                 task_client(), course_id=course.id, data=data)
        except services.Refused as exc:
            db.session.rollback()
            click.echo(f"skip {folder.name}: {exc}")
            continue
        if assignment.deadline is None:
            assignment.deadline = utcnow().replace(microsecond=0) + dt.timedelta(days=7)
            assignment.grace_days = 2
        assignment.release_on_pass = True  # released by itself when the worker's gate passes
        db.session.commit()
        found.append(assignment.slug)
    click.echo(f"course: {course.title} (id {course.id}); assignments gating: {', '.join(found) or 'none yet'}")
    click.echo(f"accounts (password {password!r}):")
    for email, _, role in accounts:
        click.echo(f"  {role:10s} {email}")
    click.echo(f"worker token: {worker_token}")


COMMANDS = (db_upgrade, settings_command, create_user, create_course, import_roster_command, create_token,
            create_demo)


def init_app(app: Flask) -> None:
    """Register the commands on `flask --app web` (flaskr style: the commands live at module level)."""
    for command in COMMANDS:
        app.cli.add_command(command)
