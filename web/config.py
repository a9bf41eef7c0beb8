"""Every portal setting, declared once: name, type, default and one line of help.

Values come from (lowest to highest priority) the defaults below, the environment
(`DLGRADE_<NAME>`, and plain `DATABASE_URL` for the database), then the mapping passed to
`create_app(config=...)`. `flask --app web settings` prints the effective values.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path
from typing import Any


def _setting(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class Settings:
    DATA_DIR: str = _setting("var/portal", "Folder for the SQLite database, the file store and the secret key.")
    DATABASE_URL: str = _setting("", "SQLAlchemy URL; empty means SQLite in DATA_DIR/dlgrade.sqlite.")
    DATABASE_SCHEMA: str = _setting("", "PostgreSQL schema to use (search_path); empty means the default.")
    AUTO_MIGRATE: bool = _setting(True, "Run Alembic migrations to head when the app starts.")
    SECRET_KEY: str = _setting("", "Session signing key; empty means one kept in DATA_DIR/secret_key.")
    SESSION_COOKIE_SECURE: bool = _setting(False, "Send the session cookie over HTTPS only (set in production).")
    SESSION_LIFETIME_S: int = _setting(12 * 3600, "How long a login lasts.")
    BROKER_URL: str = _setting("redis://127.0.0.1:6379/0", "Celery broker the portal enqueues tasks on.")
    PUBLIC_URL: str = _setting("http://127.0.0.1:8000", "Public base URL people open (links in mail point there); not the worker's DLGRADE_PORTAL_URL, which may be an internal address.")
    QUEUE_PREFIX: str = _setting("", "Prefix added to every queue name (isolates test or bench runs).")
    ENQUEUE: bool = _setting(True, "Send tasks to the broker; False records them in memory (tests).")
    MAX_UPLOAD_MB: float = _setting(5.0, "Largest notebook accepted when the assignment sets no limit.")
    MAX_PACKAGE_MB: float = _setting(200.0, "Largest assignment package or grader bundle accepted.")
    PASSWORD_HASH: str = _setting("scrypt", "werkzeug password hash method (scrypt, or scrypt:N:r:p).")
    RATE_LIMIT_STORAGE: str = _setting("memory", "'memory' (one process) or a redis:// URL shared by workers.")
    TRUSTED_PROXIES: str = _setting("", "Comma-separated proxy addresses/networks whose X-Forwarded-For is believed.")
    LOGIN_ACCOUNT_FREE_FAILURES: int = _setting(5, "Wrong passwords for one account before each next try must wait.")
    LOGIN_BACKOFF_MAX_S: int = _setting(900, "Longest wait between tries on one account (the wait doubles up to it).")
    LOGIN_FAILURE_MEMORY_S: int = _setting(3600, "An account's wrong passwords are forgotten after this long quiet.")
    LOGIN_ADDRESS_LIMIT: str = _setting("100/600", "Wrong logins per client address (IPv6: per /64): count/seconds.")
    ANON_SESSION_LIFETIME_S: int = _setting(3600, "How long a not-logged-in session (login form, flashes) lasts.")
    PASSWORD_MIN_LENGTH: int = _setting(10, "Shortest new password accepted.")
    RESET_LINK_LIFETIME_S: int = _setting(3600, "How long an emailed or staff-made password reset link works.")
    SMTP_HOST: str = _setting("", "Mail server for password reset links; empty means mail is not configured.")
    SMTP_PORT: int = _setting(587, "Mail server port.")
    SMTP_STARTTLS: bool = _setting(True, "Upgrade the SMTP connection with STARTTLS before logging in.")
    SMTP_USERNAME: str = _setting("", "SMTP login; empty means no authentication.")
    SMTP_PASSWORD: str = _setting("", "SMTP password.")
    MAIL_FROM: str = _setting("dlgrade <noreply@localhost>", "Sender of the portal's mail.")
    API_RATE_LIMIT: str = _setting("600/60", "Requests per user or token on /api: count/seconds.")
    DEFAULT_SUBMISSIONS_PER_HOUR: int = _setting(20, "Submission rate limit of a new assignment.")
    DEFAULT_LATE_DAYS: int = _setting(3, "Late days each student of a new course may spend.")
    WORKER_OFFLINE_AFTER_S: int = _setting(60, "A worker silent this long is offline (it beats every 20 s); "
                                               "its jobs are re-run and its queue shows as unserved.")
    SERVER_TIMING: bool = _setting(False, "Add a Server-Timing header (time in Flask, in SQL, statements) to every "
                                          "response (web/timing.py; the load bench reads it).")
    PORTAL_BIND: str = _setting("127.0.0.1:8000", "Address gunicorn listens on (web/gunicorn_conf.py).")
    PORTAL_WORKERS: int = _setting(2, "gunicorn worker processes (2 x 8 threads on 2 cores: figures in bench/README.md).")
    PORTAL_THREADS: int = _setting(8, "Threads per gunicorn worker (gthread): requests one process serves at once.")
    PORTAL_TIMEOUT_S: int = _setting(60, "gunicorn kills a worker silent this long (a request stuck in it).")
    PORTAL_KEEPALIVE_S: int = _setting(30, "How long gunicorn keeps an idle client connection open for its next request.")
    PORTAL_FORWARDED_ALLOW_IPS: str = _setting("127.0.0.1", "Proxies whose X-Forwarded-Proto gunicorn believes "
                                                             "(TRUSTED_PROXIES covers the client address).")
    PORTAL_ACCESS_LOG: str = _setting("-", "gunicorn access log file ('-' is stdout; '/dev/null' for none).")
    TESTING: bool = _setting(False, "Flask testing mode.")

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> "Settings":
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(f"DLGRADE_{field.name}")
            if raw is None and field.name == "DATABASE_URL":
                raw = environ.get("DATABASE_URL")
            if raw is not None:
                values[field.name] = _parse(field.type, raw, field.name)
        for key, value in (overrides or {}).items():
            if key in cls.__dataclass_fields__:
                values[key] = value
        settings = cls(**values)
        settings.finish()
        return settings

    def finish(self) -> None:
        data_dir = Path(self.DATA_DIR)
        data_dir.mkdir(parents=True, exist_ok=True)
        if not self.DATABASE_URL:
            self.DATABASE_URL = f"sqlite:///{(data_dir / 'dlgrade.sqlite').resolve()}"
        if not self.SECRET_KEY:
            key_file = data_dir / "secret_key"
            if not key_file.exists():
                key_file.write_text(secrets.token_hex(32))
                key_file.chmod(0o600)
            self.SECRET_KEY = key_file.read_text().strip()

    def flask_config(self) -> dict[str, Any]:
        """The mapping handed to `app.config` (Flask's own keys derived from ours)."""
        from datetime import timedelta

        config = dataclasses.asdict(self)
        config.update(
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_NAME="dlgrade_session",
            PERMANENT_SESSION_LIFETIME=timedelta(seconds=self.SESSION_LIFETIME_S),
            MAX_CONTENT_LENGTH=int(max(self.MAX_PACKAGE_MB, self.MAX_UPLOAD_MB) * 1024 * 1024) + 65536,
        )
        return config

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        return [(f.name, str(f.type), f.default, f.metadata["help"]) for f in dataclasses.fields(cls)]


def _parse(kind: Any, raw: str, name: str) -> Any:
    kind = str(kind)
    try:
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ValueError(f"DLGRADE_{name}={raw!r} is not a valid {kind}; fix the environment variable") from None
    return raw


def parse_rate(spec: str) -> tuple[int, int]:
    """'10/60' -> (10 requests, 60 seconds)."""
    count, _, seconds = spec.partition("/")
    return int(count), int(seconds or 60)
