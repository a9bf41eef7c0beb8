"""Password change, password reset (by an instructor, or through a mailed one-time link sent to
a real SMTP sink on loopback), API tokens listed with their last use and revocable, CSRF."""

from __future__ import annotations

import datetime as dt
import email
import re
import socket

import pytest
import sqlalchemy as sa
from web_helpers import Client, csrf_of, form_login

from web import create_app
from web.db import db
from web.models import ApiToken, PasswordReset

PASSWORD = "pw-123456"
NEW_PASSWORD = "correct horse battery"


def _change(client, current, password, confirm=None):
    return client.post("/account/password", data={"csrf_token": csrf_of(client), "current": current,
                                                   "password": password, "confirm": confirm or password})


def test_password_change_checks_the_current_password_and_the_new_one(app, make_student):
    current = "the current long one"
    student = make_student(password=current)
    client = app.test_client()
    form_login(client, student.email, current)
    wrong = _change(client, "not it", NEW_PASSWORD)
    assert wrong.status_code == 400 and "current password is wrong" in wrong.data.decode()
    for new, confirm, why in [("short", "short", "at least 10 characters"),
                              (NEW_PASSWORD, "something else", "differ"),
                              (current, current, "is the current one"),
                              (student.email, student.email, "not your email address")]:
        refused = _change(client, current, new, confirm)
        assert refused.status_code == 400 and why in refused.data.decode(), why
    assert form_login(app.test_client(), student.email, current).status_code == 302  # unchanged so far
    assert _change(client, current, NEW_PASSWORD).status_code == 302
    assert form_login(app.test_client(), student.email, NEW_PASSWORD).status_code == 302


def test_guessing_the_current_password_is_throttled(app, make_student):
    student = make_student(password=PASSWORD)
    client = app.test_client()
    form_login(client, student.email, PASSWORD)
    assert [_change(client, f"guess-{n}", NEW_PASSWORD).status_code for n in range(5)] == [400] * 5
    refused = _change(client, PASSWORD, NEW_PASSWORD)
    assert refused.status_code == 429 and "wait" in refused.data.decode()


# --- reset by an instructor -----------------------------------------------------------------


def _reset_link(response) -> str:
    return re.search(r'value="http://[^/]+(/password/reset/[^"]+)" id="reset-link"', response.data.decode()).group(1)


def test_instructor_reset_hands_over_a_one_time_link(app, session, make_student, make_user, course, client_for):
    student = make_student(password=PASSWORD)
    student_client = app.test_client()
    form_login(student_client, student.email, PASSWORD)
    token = student_client.post("/api/tokens", json={}, headers={"X-CSRF-Token": csrf_of(student_client)}).json["token"]
    instructor = client_for(make_user("instructor", course))
    members = instructor.get(f"/courses/{course.id}/members").data.decode()
    assert f"/courses/{course.id}/members/{student.id}/password-reset" in members
    response = instructor.post(f"/courses/{course.id}/members/{student.id}/password-reset")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    link = _reset_link(response)
    assert student_client.get("/api/me").status_code == 401  # signed out everywhere
    assert app.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    anonymous = app.test_client()
    page = anonymous.get(link)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.data.decode()).group(1)
    short = anonymous.post(link, data={"csrf_token": csrf, "password": "short", "confirm": "short"})
    assert short.status_code == 400
    done = anonymous.post(link, data={"csrf_token": csrf, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert anonymous.get(link).status_code == 404  # single use
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', anonymous.get("/login").data.decode()).group(1)
    assert anonymous.post(link, data={"csrf_token": csrf, "password": "another password!",
                                      "confirm": "another password!"}).status_code == 404
    assert form_login(app.test_client(), student.email, NEW_PASSWORD).status_code == 302
    assert form_login(app.test_client(), student.email, PASSWORD).status_code == 401


def test_reset_links_expire_and_a_newer_one_replaces_the_older(app, session, make_student, make_user, course,
                                                                 client_for):
    student = make_student(password=PASSWORD)
    instructor = client_for(make_user("instructor", course))
    first = _reset_link(instructor.post(f"/courses/{course.id}/members/{student.id}/password-reset"))
    second = _reset_link(instructor.post(f"/courses/{course.id}/members/{student.id}/password-reset"))
    anonymous = app.test_client()
    assert anonymous.get(first).status_code == 404 and anonymous.get(second).status_code == 200
    session.execute(sa.update(PasswordReset).values(expires_at=dt.datetime.now(dt.timezone.utc)
                                                    - dt.timedelta(seconds=1)))
    session.commit()
    assert anonymous.get(second).status_code == 404
    assert anonymous.get("/password/reset/made-up-token").status_code == 404


def test_who_may_reset_whose_password(app, session, make_student, make_user, make_course, course, client_for):
    student = make_student(password=PASSWORD)
    url = f"/courses/{course.id}/members/{student.id}/password-reset"
    assert client_for(make_user("ta", course)).post(url).status_code == 403
    assert client_for(make_student()).post(url).status_code == 403
    other_course = make_course()
    other_instructor = client_for(make_user("instructor", other_course))
    assert other_instructor.post(url).status_code == 404
    assert other_instructor.post(f"/courses/{other_course.id}/members/{student.id}/password-reset").status_code == 404
    instructor = client_for(make_user("instructor", course))
    colleague = make_user("instructor", course)
    assert instructor.post(f"/courses/{course.id}/members/{colleague.id}/password-reset").status_code == 403
    ta_elsewhere = make_user("ta", course)
    from web.models import Membership

    session.add(Membership(user_id=ta_elsewhere.id, course_id=other_course.id, role="instructor"))
    session.commit()
    assert instructor.post(f"/courses/{course.id}/members/{ta_elsewhere.id}/password-reset").status_code == 403
    assert form_login(app.test_client(), student.email, PASSWORD).status_code == 302  # nothing was reset


# --- reset through a mailed link ------------------------------------------------------------


@pytest.fixture
def smtp_sink():
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self):
            self.messages: list[email.message.Message] = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.port = port
    yield sink
    controller.stop()


@pytest.fixture
def mail_app(app_config, smtp_sink):
    app = create_app({**app_config, "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp_sink.port, "SMTP_STARTTLS": False,
                      "MAIL_FROM": "dlgrade <grader@example.edu>", "PUBLIC_URL": "https://grader.example.edu"})
    with app.app_context():
        yield app
        db.session.close()
        db.engine.dispose()


def _ask_for_link(client, address: str):
    page = client.get("/password/forgot").data.decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/password/forgot", data={"csrf_token": csrf, "email": address})


def test_mailed_reset_link_works_once(mail_app, smtp_sink, make_student):
    student = make_student(password=PASSWORD)
    logged_in = mail_app.test_client()
    form_login(logged_in, student.email, PASSWORD)
    answer = _ask_for_link(mail_app.test_client(), student.email.upper())
    assert answer.status_code == 302
    unknown = _ask_for_link(mail_app.test_client(), "nobody@example.edu")
    assert unknown.status_code == 302  # the same answer: no hint which accounts exist
    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0]
    assert message["To"] == student.email and message["From"] == "dlgrade <grader@example.edu>"
    link = re.search(r"https://grader\.example\.edu(/password/reset/\S+)", message.get_payload(decode=True).decode())
    path = link.group(1)
    browser = mail_app.test_client()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).data.decode()).group(1)
    assert browser.post(path, data={"csrf_token": csrf, "password": NEW_PASSWORD,
                                    "confirm": NEW_PASSWORD}).status_code == 302
    assert browser.get(path).status_code == 404
    assert logged_in.get("/api/me").status_code == 401  # the reset ended the old session
    assert form_login(mail_app.test_client(), student.email, NEW_PASSWORD).status_code == 302
    _ask_for_link(mail_app.test_client(), student.email)
    assert len(smtp_sink.messages) == 1  # at most one mail a minute per account
    for reset in db.session.scalars(sa.select(PasswordReset)):
        reset.created_at -= dt.timedelta(seconds=61)
    db.session.commit()
    _ask_for_link(mail_app.test_client(), student.email)
    _ask_for_link(mail_app.test_client(), student.email)
    assert len(smtp_sink.messages) == 2


def test_instructor_reset_mails_the_link_when_mail_is_configured(mail_app, smtp_sink, make_student, make_user,
                                                                 course):
    student = make_student(password=PASSWORD)
    response = Client(mail_app, make_user("instructor", course)).post(
        f"/courses/{course.id}/members/{student.id}/password-reset")
    assert response.status_code == 302 and len(smtp_sink.messages) == 1
    assert smtp_sink.messages[0]["To"] == student.email


def test_forgot_page_without_mail_says_whom_to_ask(app):
    client = app.test_client()
    assert "Ask your course instructor" in client.get("/password/forgot").data.decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").data.decode()).group(1)
    assert client.post("/password/forgot", data={"csrf_token": csrf, "email": "x@example.edu"}).status_code == 404


# --- API tokens -----------------------------------------------------------------------------


def test_tokens_are_listed_with_last_use_and_revocation_takes_effect(app, session, make_student, client_for):
    student = make_student(password=PASSWORD)
    client = app.test_client()
    form_login(client, student.email, PASSWORD)
    page = client.post("/account/tokens", data={"csrf_token": csrf_of(client), "name": "laptop"})
    plain = re.search(r'value="([^"]+)" id="new-token"', page.data.decode()).group(1)
    bearer = {"Authorization": f"Bearer {plain}"}
    listed = client.get("/api/tokens").json["tokens"]
    assert [(t["name"], t["last_used_at"], t["revoked"]) for t in listed] == [("laptop", None, False)]
    assert plain not in str(listed)
    assert app.test_client().get("/api/me", headers=bearer).status_code == 200
    listed = client.get("/api/tokens").json["tokens"]
    assert listed[0]["last_used_at"] is not None
    assert "never" not in client.get("/account").data.decode().split("laptop")[1].split("</tr>")[0]
    other = client_for(make_student())
    assert other.post(f"/account/tokens/{listed[0]['id']}/revoke").status_code == 404
    assert other.api("DELETE", f"/api/tokens/{listed[0]['id']}").status_code == 404
    assert app.test_client().get("/api/me", headers=bearer).status_code == 200
    revoke = client.post(f"/account/tokens/{listed[0]['id']}/revoke", data={"csrf_token": csrf_of(client)})
    assert revoke.status_code == 302
    assert app.test_client().get("/api/me", headers=bearer).status_code == 401
    assert client.get("/api/tokens").json["tokens"][0]["revoked"] is True


def test_token_revoked_through_the_api_fails_next(app, make_student):
    student = make_student(password=PASSWORD)
    client = app.test_client()
    form_login(client, student.email, PASSWORD)
    created = client.post("/api/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": csrf_of(client)}).json
    bearer = {"Authorization": f"Bearer {created['token']}"}
    fresh = app.test_client()
    assert fresh.delete(f"/api/tokens/{created['id']}", headers=bearer).json == {"id": created["id"], "revoked": True}
    assert fresh.get("/api/me", headers=bearer).status_code == 401
    assert db.session.get(ApiToken, created["id"]).revoked is True


def test_every_new_form_needs_the_csrf_token(app, make_student, make_user, course, client_for):
    student = make_student(password=PASSWORD)
    instructor = client_for(make_user("instructor", course))
    client = client_for(student)
    token_id = client.api("POST", "/api/tokens", json={}).json["id"]
    for url in ("/account/password", "/account/sign-out-everywhere", "/account/tokens",
                f"/account/tokens/{token_id}/revoke", f"/users/{student.id}/sign-out-everywhere"):
        assert client.raw.post(url, data={"current": PASSWORD}).status_code == 400, url
    assert instructor.raw.post(f"/courses/{course.id}/members/{student.id}/password-reset").status_code == 400
    anonymous = app.test_client()
    assert anonymous.post("/password/forgot", data={"email": student.email}).status_code == 400
    assert anonymous.post("/login", data={"email": student.email, "password": PASSWORD}).status_code == 400
    assert client.raw.delete(f"/api/tokens/{token_id}").status_code == 400
    assert client.get("/api/me").status_code == 200
