"""Login throttling: per account (backoff that leaves other accounts alone) and per client
address (high enough for a classroom NAT), shared by every portal process through the
database, with the client address taken from X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from web_helpers import form_login

from web import create_app
from web.db import db
from web.models import LoginThrottle
from web.throttle import Policy, address_subject, client_address

PASSWORD = "pw-123456"


def _rewind(session, scope: str, subject: str, seconds: float):
    """Move a counter's clock back, as if `seconds` had passed."""
    row = session.get(LoginThrottle, (scope, subject))
    row.last_failure_at -= dt.timedelta(seconds=seconds)
    row.window_started_at -= dt.timedelta(seconds=seconds)
    session.commit()


def test_account_backoff_starts_after_the_free_failures_and_doubles(app, session, make_student):
    victim = make_student(email="victim@example.edu", password=PASSWORD)
    client = app.test_client()
    statuses = [form_login(client, victim.email, f"guess-{n}").status_code for n in range(5)]
    assert statuses == [401] * 5
    refused = form_login(client, victim.email, PASSWORD)  # even the right password waits: no oracle
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    assert "wait 1 second before the next try" in refused.data.decode()
    _rewind(session, "account", victim.email, 1.5)
    assert form_login(client, victim.email, "guess-5").status_code == 401
    refused = form_login(client, victim.email, PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "2"
    _rewind(session, "account", victim.email, 2.5)
    assert form_login(client, victim.email, PASSWORD).status_code == 302
    assert session.get(LoginThrottle, ("account", victim.email)) is None  # success forgets the failures


def test_a_locked_account_does_not_lock_others_on_the_same_network(app, make_student, make_user, course):
    victim = make_student(email="victim@example.edu", password=PASSWORD)
    instructor = make_user("instructor", course, password=PASSWORD)
    attacker = app.test_client()
    statuses = [form_login(attacker, victim.email, f"guess-{n}").status_code for n in range(12)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    assert form_login(app.test_client(), instructor.email, PASSWORD).status_code == 302
    assert form_login(app.test_client(), "someone-else@example.edu", "typo").status_code == 401


def test_backoff_is_capped_and_forgotten_after_quiet():
    policy = Policy(account_free_failures=5, backoff_max_s=900, failure_memory_s=3600, address_limit=100,
                    address_window_s=600)
    assert [policy.backoff_s(n) for n in (0, 4, 5, 6, 7, 14, 15, 60)] == [0, 0, 1, 2, 4, 512, 900, 900]


@pytest.fixture
def tight_app(app_config):
    """A portal with a small per-address limit and a trusted reverse proxy at 10.0.0.2."""
    app = create_app({**app_config, "LOGIN_ADDRESS_LIMIT": "6/600", "TRUSTED_PROXIES": "10.0.0.2, 10.1.0.0/16"})
    with app.app_context():
        yield app
        db.session.close()
        db.engine.dispose()


def _behind_proxy(client_ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": "10.0.0.2"}, "headers": {"X-Forwarded-For": client_ip}}


def test_address_limit_counts_wrong_logins_across_accounts(tight_app, make_student):
    students = [make_student(password=PASSWORD) for _ in range(3)]
    sprayer = tight_app.test_client()
    for student in students:  # a password spray: two guesses per account, under the account limit
        for n in range(2):
            assert form_login(sprayer, student.email, f"guess-{n}", **_behind_proxy("203.0.113.9")).status_code == 401
    refused = form_login(sprayer, students[0].email, PASSWORD, **_behind_proxy("203.0.113.9"))
    assert refused.status_code == 429 and "6 per 10 minutes" in refused.data.decode()
    assert 590 <= int(refused.headers["Retry-After"]) <= 600
    # the same accounts from another address behind the proxy are not blocked
    assert form_login(tight_app.test_client(), students[0].email, PASSWORD,
                      **_behind_proxy("198.51.100.7")).status_code == 302


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tight_app, make_student):
    student = make_student(password=PASSWORD)
    spoofer = tight_app.test_client()
    for n in range(6):  # a different spoofed X-Forwarded-For each time, straight from 192.0.2.50
        form_login(spoofer, f"nobody{n}@example.edu", "x", environ_base={"REMOTE_ADDR": "192.0.2.50"},
                   headers={"X-Forwarded-For": f"198.51.100.{n}"})
    refused = form_login(spoofer, student.email, PASSWORD, environ_base={"REMOTE_ADDR": "192.0.2.50"},
                         headers={"X-Forwarded-For": "198.51.100.200"})
    assert refused.status_code == 429
    assert db.session.get(LoginThrottle, ("address", "192.0.2.50")).failures == 6
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginThrottle).where(
        LoginThrottle.subject.like("198.51.100.%"))) == 0


def test_a_classroom_behind_one_nat_is_not_locked_out(app, make_student):
    """Default limits: 40 students behind one address, each mistyping twice, all get in."""
    students = [make_student(password=PASSWORD) for _ in range(40)]
    for student in students:
        client = app.test_client()
        assert [form_login(client, student.email, "typo").status_code for _ in range(2)] == [401, 401]
        assert form_login(client, student.email, PASSWORD).status_code == 302


def test_throttle_state_is_shared_between_processes(app_config, app, make_student):
    """Two portal apps on one database stand for two gunicorn workers."""
    student = make_student(password=PASSWORD)
    other_worker = create_app(app_config)
    try:
        for n in range(5):
            client = (app if n % 2 else other_worker).test_client()
            assert form_login(client, student.email, f"guess-{n}").status_code == 401
        assert form_login(other_worker.test_client(), student.email, PASSWORD).status_code == 429
        assert form_login(app.test_client(), student.email, PASSWORD).status_code == 429
    finally:
        with other_worker.app_context():
            db.engine.dispose()


def test_the_login_page_states_the_limits(app):
    page = app.test_client().get("/login").data.decode()
    assert "After 5 wrong passwords for an account" in page and "up to 15 minutes" in page
    assert "100 wrong logins per 10 minutes" in page


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [
    ("192.0.2.1", ["203.0.113.5"], "", "192.0.2.1"),
    ("10.0.0.2", ["203.0.113.5"], "10.0.0.2", "203.0.113.5"),
    ("10.0.0.2", ["1.1.1.1, 203.0.113.5"], "10.0.0.2", "203.0.113.5"),  # the client's own entry is not believed
    ("10.0.0.2", ["203.0.113.5, 10.1.4.4"], "10.0.0.0/8", "203.0.113.5"),  # two trusted hops
    ("10.0.0.2", ["203.0.113.5", "10.1.4.4"], "10.0.0.0/8", "203.0.113.5"),  # repeated headers
    ("10.0.0.2", ["not-an-ip, 10.1.4.4"], "10.0.0.0/8", "10.1.4.4"),
    ("10.0.0.2", [], "10.0.0.2", "10.0.0.2"),
    ("2001:db8::1", ["203.0.113.5"], "2001:db8::/32", "203.0.113.5"),
])
def test_client_address(peer, forwarded, trusted, expected):
    assert client_address(peer, forwarded, trusted) == expected


def test_ipv6_clients_are_counted_per_64():
    assert address_subject("2001:db8:1:2:aaaa::1") == address_subject("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert address_subject("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_subject("192.0.2.7") == "192.0.2.7"
