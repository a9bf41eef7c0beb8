"""SQLAlchemy 2 wired into Flask as an extension: one engine per app, one session per request."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    pass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


def make_engine(url: str, schema: str = "") -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args = {}
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    return sa.create_engine(url, connect_args=connect_args, pool_size=10, max_overflow=20, pool_pre_ping=True)


def reads_only(view):
    """Mark a view that only reads (a status poll): its request's session runs in autocommit, so
    it costs no BEGIN and no ROLLBACK round trip. Each statement then sees the data committed when
    it starts, as every statement of a READ COMMITTED transaction (PostgreSQL's default) does."""
    view.reads_only = True
    return view


def _request_reads_only() -> bool:
    if not has_request_context() or request.endpoint is None:
        return False
    return getattr(current_app.view_functions.get(request.endpoint), "reads_only", False)


class Database:
    """`db.session` is the current request's (or CLI command's) session."""

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"], app.config.get("DATABASE_SCHEMA", ""))
        app.extensions["dlgrade_db"] = (engine, sessionmaker(bind=engine, expire_on_commit=False))
        # the same connection pool, its connections in autocommit while a reads_only view holds them
        app.extensions["dlgrade_db_autocommit"] = engine.execution_options(isolation_level="AUTOCOMMIT")
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> sa.Engine:
        return current_app.extensions["dlgrade_db"][0]

    @property
    def session(self) -> Session:
        if "db_session" not in g:
            make = current_app.extensions["dlgrade_db"][1]
            g.db_session = (make(bind=current_app.extensions["dlgrade_db_autocommit"]) if _request_reads_only()
                            else make())
        return g.db_session

    @staticmethod
    def _close(_exc=None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


db = Database()

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str, schema: str = ""):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["dlgrade_url"] = url
    config.attributes["dlgrade_schema"] = schema
    return config


def upgrade(url: str, schema: str = "", revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url, schema), revision)
