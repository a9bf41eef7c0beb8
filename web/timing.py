"""Where a request's time goes, as a `Server-Timing` response header (off unless SERVER_TIMING).

    Server-Timing: app;dur=12.3, db;dur=8.1;desc="4 statements"

`app` is the whole request inside the WSGI app, from the moment gunicorn's thread hands it to
Flask (so the session lookup counts) to the response's headers; `db` the time spent executing
SQL statements (not the connection's pre-ping, BEGIN or COMMIT, which fall in `app`). What a
client measures beyond `app` was spent outside Flask: waiting for a free gunicorn thread or
worker, reading the request, the network. A session write after the response (a login, a
`last_seen_at` refresh every few minutes) is not counted: the header is sent by then.
`bench/bench_portal_load.py` turns the header into its breakdown; a browser's developer tools
show it too. Off by default: it tells clients how long the database took.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Flask, has_request_context, request

_ENVIRON_KEY = "dlgrade.timing"  # the request's tally lives in its WSGI environ, set before Flask sees it


def _now() -> float:
    return time.perf_counter()


class _StartClock:
    """WSGI middleware: the tally starts before Flask pushes the request (and opens the session)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ[_ENVIRON_KEY] = {"start": _now(), "db": 0.0, "statements": 0}
        return self.wsgi_app(environ, start_response)


def _tally() -> dict | None:
    return request.environ.get(_ENVIRON_KEY) if has_request_context() else None


def _add_statement(seconds: float) -> None:
    tally = _tally()
    if tally is not None:
        tally["db"] += seconds
        tally["statements"] += 1


def _header(response):
    tally = _tally()
    if tally is not None:
        app_ms = (_now() - tally["start"]) * 1000
        response.headers["Server-Timing"] = (
            f'app;dur={app_ms:.1f}, db;dur={tally["db"] * 1000:.1f};desc="{tally["statements"]} statements"')
    return response


def init_app(app: Flask, engine: sa.Engine) -> None:
    if not app.config["SERVER_TIMING"]:
        return

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _before(conn, _cursor, _statement, _parameters, context, _many):
        conn.info.setdefault("timing_started", []).append(_now())

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _after(conn, _cursor, _statement, _parameters, context, _many):
        _add_statement(_now() - conn.info["timing_started"].pop())

    app.wsgi_app = _StartClock(app.wsgi_app)
    app.after_request(_header)
