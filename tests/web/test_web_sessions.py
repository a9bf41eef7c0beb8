"""Sessions that hold up: `next` stays on this site, the cookie is an opaque id, and logout, a
password change or an administrator's sign-out end every session of the account at once."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from web_helpers import csrf_of, form_login

from web.models import ApiToken, UserSession
from web.security import safe_next

PASSWORD = "pw-123456"

# every form a Flask app's `next` has been bypassed with; each must land on the home page
BYPASSES = [
    "//evil.example/phish", "///evil.example", "////evil.example", "/\\evil.example", "\\/evil.example",
    "\\\\evil.example", "/\\/evil.example", "/%09/evil.example/phish", "%2F%2Fevil.example", "/%2F/evil.example",
    "/%252F%252Fevil.example", "/%25252F/evil.example", "/%5Cevil.example", "/%255Cevil.example",
    "/\t/evil.example", "/\r\n/evil.example", "/%0d%0a/evil.example", "/%0A/evil.example", "/ /evil.example",
    "https://evil.example", "http:evil.example", "HTTPS://evil.example", "//user@evil.example",
    "https://localhost@evil.example", "//localhost%40evil.example", "/%2F@evil.example", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "%6Aavascript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "evil.example", "courses/1", "/\u2215evil.example", "/\uff0f/evil.example", "/%E3%80%82evil.example",
    "",
]
KEPT = ["/", "/courses/3", "/submissions/7?tab=logs", "/assignments/2#parts", "/account/"]


def test_safe_next_refuses_every_bypass_form():
    assert [form for form in BYPASSES if safe_next(form) is not None] == []
    assert [safe_next(form) for form in KEPT] == KEPT


@pytest.mark.parametrize("target", BYPASSES)
def test_login_redirect_never_leaves_the_site(app, make_student, target):
    student = make_student(password=PASSWORD)
    response = form_login(app.test_client(), student.email, PASSWORD, next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] in ("/", "http://localhost/"), target


def test_login_redirect_keeps_a_same_site_path(app, make_student):
    student = make_student(password=PASSWORD)
    response = form_login(app.test_client(), student.email, PASSWORD, next_url="/courses/3?x=1")
    assert response.headers["Location"] in ("/courses/3?x=1", "http://localhost/courses/3?x=1")


def test_cookie_carries_an_opaque_id_only(app, session, make_student):
    student = make_student(password=PASSWORD)
    client = app.test_client()
    response = form_login(client, student.email, PASSWORD)
    sid = client.get_cookie("dlgrade_session").value
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert len(sid) >= 40 and "." not in sid  # not a signed itsdangerous payload
    row = session.scalar(sa.select(UserSession).where(UserSession.user_id == student.id))
    assert row.sid_sha256 != sid and "pw" not in row.data
    assert student.password_hash[-16:] not in str(row.data) and set(row.data) == {"user_id", "csrf"}


def test_login_issues_a_fresh_session_id(app, make_student):
    """A cookie planted before login (session fixation) stays anonymous after it."""
    student = make_student(password=PASSWORD)
    client = app.test_client()
    client.get("/login")
    planted = client.get_cookie("dlgrade_session").value
    form_login(client, student.email, PASSWORD)
    assert client.get_cookie("dlgrade_session").value != planted
    attacker = app.test_client()
    attacker.set_cookie("dlgrade_session", planted)
    assert attacker.get("/api/me").status_code == 401


def _two_logins(app, user):
    first, second = app.test_client(), app.test_client()
    for client in (first, second):
        assert form_login(client, user.email, PASSWORD).status_code == 302
        assert client.get("/api/me").status_code == 200
    return first, second


def _replay(app, cookie: str):
    client = app.test_client()
    client.set_cookie("dlgrade_session", cookie)
    return client


def _assert_logged_out(app, cookie: str):
    replay = _replay(app, cookie)
    assert replay.get("/api/me").status_code == 401
    page = replay.get("/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_logout_ends_every_session_of_the_account(app, make_student):
    student = make_student(password=PASSWORD)
    other = make_student(password=PASSWORD)
    first, second = _two_logins(app, student)
    bystander, _ = _two_logins(app, other)
    cookies = [c.get_cookie("dlgrade_session").value for c in (first, second)]
    assert first.post("/logout", data={"csrf_token": csrf_of(first, "/account")}).status_code == 302
    for cookie in cookies:
        _assert_logged_out(app, cookie)
    assert bystander.get("/api/me").status_code == 200  # other accounts keep their sessions


def test_password_change_ends_every_session(app, make_student):
    student = make_student(password=PASSWORD)
    first, second = _two_logins(app, student)
    old_cookies = [c.get_cookie("dlgrade_session").value for c in (first, second)]
    response = first.post("/account/password", data={
        "csrf_token": csrf_of(first), "current": PASSWORD, "password": "a new long password",
        "confirm": "a new long password"})
    assert response.status_code == 302
    for cookie in old_cookies:
        _assert_logged_out(app, cookie)
    assert first.get("/api/me").status_code == 200  # the changer carries on, on a new id
    assert first.get_cookie("dlgrade_session").value not in old_cookies
    assert form_login(app.test_client(), student.email, PASSWORD).status_code == 401
    assert form_login(app.test_client(), student.email, "a new long password").status_code == 302


def test_admin_signs_an_account_out_everywhere(app, session, make_student, make_user, client_for):
    student = make_student(password=PASSWORD)
    first, second = _two_logins(app, student)
    token = first.post("/api/tokens", json={"name": "cli"},
                       headers={"X-CSRF-Token": csrf_of(first)}).json["token"]
    cookies = [c.get_cookie("dlgrade_session").value for c in (first, second)]
    admin = make_user("instructor", email="admin@example.edu")
    admin.is_admin = True
    session.commit()
    not_admin = client_for(make_user("instructor"))
    assert not_admin.post(f"/users/{student.id}/sign-out-everywhere").status_code == 404
    assert first.get("/api/me").status_code == 200
    response = client_for(admin).post(f"/users/{student.id}/sign-out-everywhere", {"next": "//evil.example"})
    assert response.status_code == 302 and "evil" not in response.headers["Location"]
    for cookie in cookies:
        _assert_logged_out(app, cookie)
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    session.expire_all()
    assert session.scalar(sa.select(ApiToken.revoked).where(ApiToken.user_id == student.id)) is True


def test_sign_out_every_other_session(app, make_student):
    student = make_student(password=PASSWORD)
    first, second = _two_logins(app, student)
    old = first.get_cookie("dlgrade_session").value
    assert first.post("/account/sign-out-everywhere", data={"csrf_token": csrf_of(first)}).status_code == 302
    assert second.get("/api/me").status_code == 401
    _assert_logged_out(app, old)
    assert first.get("/api/me").status_code == 200


def test_expired_sessions_do_not_log_in(app, session, make_student):
    student = make_student(password=PASSWORD)
    client = app.test_client()
    form_login(client, student.email, PASSWORD)
    session.execute(sa.update(UserSession).where(UserSession.user_id == student.id).values(
        expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    session.commit()
    assert client.get("/api/me").status_code == 401


def test_storing_the_session_never_commits_a_failed_views_work(app_config):
    """A view that flushed, then failed, leaves its transaction open until teardown; storing the
    session (on its own connection) must neither wait on that lock nor commit the work."""
    import time

    from flask import abort, session

    from web import create_app
    from web.db import db
    from web.models import Course

    app = create_app(app_config)

    @app.get("/flush-then-fail")
    def flush_then_fail():
        db.session.add(Course(slug="half-made", title="never committed"))
        db.session.flush()
        session["marker"] = "written"  # the session changes too, so it must be stored
        abort(409)

    try:
        client = app.test_client()
        client.get("/login")
        started = time.monotonic()
        assert client.get("/flush-then-fail").status_code == 409
        assert time.monotonic() - started < 10
        with app.app_context():
            assert db.session.scalar(sa.select(Course).where(Course.slug == "half-made")) is None
            stored = db.session.scalars(sa.select(UserSession.data)).all()
            assert [data.get("marker") for data in stored] == ["written"]
    finally:
        with app.app_context():
            db.engine.dispose()
