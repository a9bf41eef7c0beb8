"""Login, sessions, CSRF, headers, escaping, rate limits, settings, migrations, OpenAPI."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from web import create_app
from web.config import Settings
from web.db import Base, db


def login(client, email, password):
    page = client.get("/login").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_login_logout_and_cookie_flags(app, make_student):
    student = make_student(email="s@example.edu", password="correct horse")
    client = app.test_client()
    assert login(client, "s@example.edu", "wrong").status_code == 401
    response = login(client, "S@example.edu", "correct horse")
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/api/me").json["email"] == "s@example.edu"
    assert student.password_hash.startswith("scrypt:")


def test_secure_cookie_is_configurable(app_config):
    app = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    client = app.test_client()
    response = client.get("/login")
    assert "Secure" in response.headers["Set-Cookie"]
    assert "max-age" in response.headers["Strict-Transport-Security"]
    with app.app_context():
        db.engine.dispose()




def test_forms_and_cookie_api_calls_need_the_csrf_token(app, client_for, make_student, make_assignment):
    assignment = make_assignment()
    client = client_for(make_student())
    assert client.raw.post(f"/assignments/{assignment.id}/submit", data={}).status_code == 400
    assert client.raw.post("/logout").status_code == 400
    assert client.raw.post("/api/tokens", json={}).status_code == 400
    assert client.api("POST", "/api/tokens", json={"name": "cli"}).status_code == 201


def test_user_token_works_without_cookie_or_csrf(app, client_for, make_student):
    client = client_for(make_student())
    token = client.api("POST", "/api/tokens", json={"name": "cli"}).json["token"]
    fresh = app.test_client()
    assert fresh.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert fresh.get("/api/me", headers={"Authorization": "Bearer dlg_u_forged"}).status_code == 401
    from web.models import ApiToken

    assert db.session.scalar(sa.select(ApiToken.token_sha256).where(ApiToken.prefix == token[:10])) != token


def test_security_headers(app, client_for, make_student):
    response = client_for(make_student()).get("/")
    response = client_for(make_student()).get(response.headers.get("Location", "/"))
    headers = response.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin" and headers["Cache-Control"] == "no-store"


def test_names_and_messages_are_escaped(app, session, client_for, make_user, course, make_assignment,
                                        make_submission):
    from web_helpers import make_result

    evil = "<script>alert(1)</script>"
    student = make_user("student", course, name=evil)
    result = make_result()
    result["message"] = evil
    result["tests"][0]["message"] = evil
    sub = make_submission(student, make_assignment(), result=result)
    for user in (student, make_user("instructor", course)):
        client = client_for(user)
        for url in (f"/submissions/{sub.id}", f"/courses/{course.id}/gradebook", f"/courses/{course.id}/members"):
            body = client.get(url).data.decode()
            assert evil not in body



@pytest.mark.redis
def test_rate_limits_shared_through_redis():
    from web.security import RateLimiter

    limiter = RateLimiter("redis://127.0.0.1:6379/15")
    limiter._redis.ping()  # the real service; fails loudly when Redis is down
    key = f"test-{__import__('uuid').uuid4().hex}"
    other = RateLimiter("redis://127.0.0.1:6379/15")  # a second gunicorn worker
    assert [limiter.hit(key, 3, 60), other.hit(key, 3, 60), limiter.hit(key, 3, 60)] == [True] * 3
    assert other.hit(key, 3, 60) is False


def test_settings_from_environment(tmp_path):
    settings = Settings.load({"DATA_DIR": str(tmp_path)},
                             environ={"DLGRADE_MAX_UPLOAD_MB": "2.5", "DLGRADE_ENQUEUE": "no",
                                      "DATABASE_URL": "sqlite:///x.db", "DLGRADE_SESSION_COOKIE_SECURE": "1"})
    assert settings.MAX_UPLOAD_MB == 2.5 and settings.ENQUEUE is False and settings.SESSION_COOKIE_SECURE is True
    assert settings.DATABASE_URL == "sqlite:///x.db" and len(settings.SECRET_KEY) == 64
    with pytest.raises(ValueError, match="DLGRADE_WORKER_OFFLINE_AFTER_S"):
        Settings.load({"DATA_DIR": str(tmp_path)}, environ={"DLGRADE_WORKER_OFFLINE_AFTER_S": "soon"})
    assert all(help_text for *_, help_text in Settings.describe())


def test_migrations_match_the_models(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_openapi_lists_every_api_route(app):
    spec = app.test_client().get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.")
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint != "api.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            path = re.sub(r"\{(submission_id|assignment_id)\}", "{id}", path) if "/worker/" in path else path
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in operations, f"{method} {path} missing from /api/openapi.json"


def test_errors_are_json_on_the_api(app):
    response = app.test_client().get("/api/submissions/1")
    assert response.status_code == 401 and response.json["status"] == 401
