"""Server-side sessions: Flask's `session` lives in the `user_sessions` table and the cookie
carries only a random id (its sha256 is the row's key, so a database leak yields no cookies).

Rows are read and written on a connection of their own, outside the request's ORM session,
so storing a session never commits a view's unfinished work. Ending every session of an
account (`end_sessions`) is a plain DELETE inside the caller's transaction: the next request
with any old cookie finds no row and is anonymous.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from flask import Flask, g
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from werkzeug.datastructures import CallbackDict

from .db import db, utcnow
from .models import UserSession

SESSIONS = UserSession.__table__
LAST_SEEN_EVERY = dt.timedelta(minutes=5)  # how stale last_seen_at may get before a write refreshes it
MAX_SID_LENGTH = 100


def sid_digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, data=None, sid: str | None = None, last_seen_at: dt.datetime | None = None):
        def on_update(this):
            this.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.last_seen_at = last_seen_at
        self.modified = False
        self.regenerate = False  # set at login: a fresh id, so a planted cookie never gets logged in


def regenerate(session: ServerSession) -> None:
    session.regenerate = True
    session.modified = True


class DatabaseSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if sid and len(sid) <= MAX_SID_LENGTH:
            with db.engine.connect() as conn:
                row = conn.execute(sa.select(SESSIONS.c.data, SESSIONS.c.last_seen_at).where(
                    SESSIONS.c.sid_sha256 == sid_digest(sid), SESSIONS.c.expires_at > utcnow())).first()
            if row is not None:
                return ServerSession(row.data, sid, row.last_seen_at)
        return ServerSession()

    def save_session(self, app: Flask, session: ServerSession, response) -> None:
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        now = utcnow()
        if not session:
            if session.sid:
                _write(sa.delete(SESSIONS).where(SESSIONS.c.sid_sha256 == sid_digest(session.sid)))
                response.delete_cookie(name, domain=domain, path=path, secure=self.get_cookie_secure(app),
                                       httponly=True, samesite=self.get_cookie_samesite(app))
            return
        user_id = session.get("user_id")
        if session.regenerate or session.sid is None:
            if session.sid:
                _write(sa.delete(SESSIONS).where(SESSIONS.c.sid_sha256 == sid_digest(session.sid)))
            session.sid = secrets.token_urlsafe(32)
            lifetime = (app.permanent_session_lifetime if user_id is not None
                        else dt.timedelta(seconds=app.config["ANON_SESSION_LIFETIME_S"]))
            expires = now + lifetime
            _write(sa.insert(SESSIONS).values(sid_sha256=sid_digest(session.sid), user_id=user_id,
                                              data=dict(session), created_at=now, last_seen_at=now,
                                              expires_at=expires))
            response.set_cookie(name, session.sid, expires=expires, domain=domain, path=path, httponly=True,
                                secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app))
            response.vary.add("Cookie")
            return
        key = SESSIONS.c.sid_sha256 == sid_digest(session.sid)
        if session.modified:
            # never re-creates a row ended meanwhile (a sign-out elsewhere wins)
            _write(sa.update(SESSIONS).where(key).values(data=dict(session), user_id=user_id, last_seen_at=now))
        elif session.last_seen_at is None or now - session.last_seen_at > LAST_SEEN_EVERY:
            _write(sa.update(SESSIONS).where(key).values(last_seen_at=now))
        response.vary.add("Cookie")


def _write(statement) -> None:
    _drop_unfinished_request_writes()
    with db.engine.begin() as conn:
        conn.execute(statement)


def _drop_unfinished_request_writes() -> None:
    """A view that flushed and then failed leaves a write transaction open until teardown; on
    SQLite our own connection would wait on its lock. That work is discarded at teardown
    anyway, so discard it now."""
    request_session = g.get("db_session")
    if request_session is not None and request_session.info.get("flushed_uncommitted"):
        request_session.rollback()


@event.listens_for(OrmSession, "after_flush")
def _mark_flushed(session, _context) -> None:
    session.info["flushed_uncommitted"] = True


@event.listens_for(OrmSession, "after_transaction_end")
def _clear_flushed(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("flushed_uncommitted", None)


def end_sessions(user_id: int) -> int:
    """End every session of the account, in the caller's transaction. Returns how many."""
    return db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user_id)).rowcount


def active_session_count(user_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(UserSession).where(
        UserSession.user_id == user_id, UserSession.expires_at > utcnow())) or 0


def prune_expired() -> None:
    db.session.execute(sa.delete(UserSession).where(UserSession.expires_at <= utcnow()))


def init_app(app: Flask) -> None:
    app.session_interface = DatabaseSessionInterface()
