"""Who is asking, and may they: passwords, API tokens, CSRF, rate limits, HMAC, headers."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, jsonify, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from .config import parse_rate
from .db import db, utcnow
from .models import STAFF_ROLES, ApiToken, Membership, User
from .sessions import init_app as init_sessions, regenerate
from .throttle import client_address

TOKEN_LAST_USED_EVERY = dt.timedelta(minutes=1)  # last use is shown to the minute; spare the writes

# --- passwords and tokens -------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH"])


def verify_password(user: User | None, password: str) -> bool:
    if user is None or not user.password_hash:
        # spend the same time as a real check so timing does not reveal which emails exist
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


@functools.lru_cache(maxsize=4)
def _dummy_hash_for(method: str) -> str:
    return generate_password_hash(secrets.token_hex(8), method=method)


def _dummy_hash() -> str:
    return _dummy_hash_for(current_app.config["PASSWORD_HASH"])


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(*, kind: str, user_id: int | None, name: str) -> tuple[ApiToken, str]:
    """Create a token; the plain value is returned once and only its hash is stored."""
    plain = f"dlg_{kind[0]}_{secrets.token_urlsafe(32)}"
    row = ApiToken(kind=kind, user_id=user_id, name=name, token_sha256=token_digest(plain), prefix=plain[:10])
    db.session.add(row)
    return row, plain


# --- the current principal ------------------------------------------------------------------


def load_principal() -> None:
    g.user = None
    g.api_token = None
    g.bearer = None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        plain = header[7:].strip()
        row = db.session.execute(
            sa.select(ApiToken, User).outerjoin(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_sha256 == token_digest(plain), ApiToken.revoked.is_(False))
        ).first()
        if row is None:
            return
        g.api_token, g.bearer = row[0], plain
        if row[0].kind == "user":
            g.user = row[1]
        now = utcnow()
        if row[0].last_used_at is None or now - row[0].last_used_at > TOKEN_LAST_USED_EVERY:
            row[0].last_used_at = now
            db.session.commit()
        return
    # the session row exists only while the login holds (logout, a password change or a
    # sign-out everywhere delete it), so its user_id is all there is to check
    user_id = session.get("user_id")
    if user_id is not None:
        g.user = db.session.get(User, user_id)


def login_user(user: User, *, renewing: bool = False) -> None:
    """Log in on a fresh session id: any id an attacker planted before the login stays anonymous.
    `renewing`: the same user, already logged in here, moves to a new id (after a password change
    or a sign-out of every other session); the CSRF token stays, so open tabs keep working."""
    csrf = session.get("csrf") if renewing else None
    session.clear()
    regenerate(session)
    session["user_id"] = user.id
    session["csrf"] = csrf or secrets.token_urlsafe(32)


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (the caller goes home instead).

    Checked on the raw value and on every percent-decoding of it, since a browser or a proxy
    may decode once more: no scheme or host, no `//` start (protocol-relative), no backslash
    (browsers read it as `/`), no control characters or spaces (browsers drop tab/CR/LF, so
    `/%09/evil` decoded becomes `//evil`), ASCII only."""
    if not target or len(target) > 2000:
        return None
    layer, seen = target, set()
    while layer not in seen:
        seen.add(layer)
        if not layer.startswith("/") or layer.startswith("//") or "\\" in layer:
            return None
        if any(ord(char) <= 0x20 or ord(char) >= 0x7F for char in layer):
            return None
        parts = urlsplit(layer)
        if parts.scheme or parts.netloc:
            return None
        layer = unquote(layer)
    return target


def wants_json() -> bool:
    return request.path.startswith("/api/")


def login_required(view):
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            if wants_json():
                abort(401)
            from flask import redirect, url_for

            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapped


def role_column(user: User | None, course_id) -> sa.ColumnElement:
    """The user's role in the course `course_id` (a value or a column), as an expression to select
    next to the row being loaded, so the row and the caller's right to it cost one query. Admins
    are instructors everywhere."""
    if user is None:
        return sa.null()
    if user.is_admin:
        return sa.literal("instructor")
    return sa.select(Membership.role).where(Membership.user_id == user.id, Membership.course_id == course_id) \
        .scalar_subquery()


def role_in(user: User | None, course_id: int) -> str | None:
    if user is None:
        return None
    return db.session.scalar(sa.select(role_column(user, course_id)))


def require_role(course_id: int, *roles: str) -> str:
    """The caller's role in the course, or abort: 404 for outsiders (the course's existence is
    not revealed), 403 for members whose role is not enough."""
    role = role_in(g.get("user"), course_id)
    if role is None:
        abort(404)
    if roles and role not in roles:
        abort(403)
    return role


def is_staff(course_id: int) -> bool:
    return role_in(g.get("user"), course_id) in STAFF_ROLES


# --- CSRF -----------------------------------------------------------------------------------


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    """Every state-changing request authenticated by the session cookie carries the token
    (form field `csrf_token` or header `X-CSRF-Token`). Bearer-token requests carry no cookie."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if g.get("api_token") is not None:
        return
    if request.path.startswith("/api/worker/"):
        return  # worker routes accept only worker tokens anyway
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf", "")
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        abort(400, description="The form expired or was not sent from this site; reload the page and try again.")


# --- rate limits ----------------------------------------------------------------------------


class RateLimiter:
    """Fixed-window counters, in memory (one process) or in Redis (shared by gunicorn workers)."""

    def __init__(self, storage: str):
        self._redis = None
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        if storage.startswith("redis://"):
            import redis

            self._redis = redis.Redis.from_url(storage, socket_timeout=1)

    def hit(self, key: str, limit: int, window_s: int) -> bool:
        """Count one request; False when over the limit."""
        bucket = int(time.time() // window_s)
        if self._redis is not None:
            try:
                name = f"dlgrade:rl:{key}:{bucket}"
                pipe = self._redis.pipeline()
                pipe.incr(name)
                pipe.expire(name, window_s + 1)
                count = pipe.execute()[0]
                return count <= limit
            except Exception:
                pass  # Redis down: fall back to this process's counters
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= bucket}
            count = self._counts.get((key, bucket), 0) + 1
            self._counts[(key, bucket)] = count
            return count <= limit


def rate_limit(key: str, spec: str) -> None:
    limit, window = parse_rate(spec)
    if not current_app.extensions["dlgrade_ratelimit"].hit(key, limit, window):
        abort(429, description="Too many requests; wait a minute and try again.")


def request_client_address() -> str:
    """The client's address as the trusted proxy setting allows (web/throttle.py)."""
    return client_address(request.remote_addr or "", request.headers.getlist("X-Forwarded-For"),
                          current_app.config["TRUSTED_PROXIES"])


def api_rate_limit() -> None:
    if not request.path.startswith("/api/"):
        return
    who = (f"tok{g.api_token.id}" if g.get("api_token") else
           f"u{g.user.id}" if g.get("user") else request_client_address())
    rate_limit(f"api:{who}", current_app.config["API_RATE_LIMIT"])


# --- worker requests ------------------------------------------------------------------------


def require_worker(view):
    """Worker routes: a worker token (else 403) and, on POST/PUT, the body's HMAC (else 401)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        token = g.get("api_token")
        if token is None or token.kind != "worker":
            if token is None and "Authorization" not in request.headers:
                return jsonify(error="a worker token is required"), 401
            return jsonify(error="this token is not a worker token"), 403
        if request.method in ("POST", "PUT"):
            sent = request.headers.get("X-Dlgrade-Signature", "")
            body = request.get_data(cache=True)
            good = "sha256=" + hmac.new(g.bearer.encode(), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(sent, good):
                return jsonify(error="missing or wrong X-Dlgrade-Signature"), 401
        return view(*args, **kwargs)

    return wrapped


def sign(body: bytes, token: str) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


# --- headers --------------------------------------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["SESSION_COOKIE_SECURE"]:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if g.get("user") is not None or request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    init_sessions(app)
    app.extensions["dlgrade_ratelimit"] = RateLimiter(app.config["RATE_LIMIT_STORAGE"])
    app.before_request(load_principal)
    app.before_request(api_rate_limit)
    app.before_request(check_csrf)
    app.after_request(security_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
