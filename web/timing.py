"""Where a request's time goes, as a `Server-Timing` response header (off unless SERVER_TIMING).

    Server-Timing: app;dur=12.3, db;dur=8.1;desc="4 statements"

`app` is the whole request inside Flask (from the first before_request hook to the response),
`db` the time spent executing SQL statements (not the connection's pre-ping, BEGIN or COMMIT,
which fall in `app`). What a client measures beyond `app` was spent outside Flask: waiting
for a free gunicorn thread, reading the request, the network.
`bench/bench_portal_load.py` turns the header into its breakdown; a browser's developer tools
show it too. Off by default: it tells clients how long the database took.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import Flask, g, has_request_context


def _now() -> float:
    return time.perf_counter()


def _start() -> None:
    g.timing = {"start": _now(), "db": 0.0, "statements": 0}


def _add_statement(seconds: float) -> None:
    timing = g.get("timing") if has_request_context() else None
    if timing is not None:
        timing["db"] += seconds
        timing["statements"] += 1


def _header(response):
    timing = g.get("timing")
    if timing is not None:
        app_ms = (_now() - timing["start"]) * 1000
        response.headers["Server-Timing"] = (
            f'app;dur={app_ms:.1f}, db;dur={timing["db"] * 1000:.1f};desc="{timing["statements"]} statements"')
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

    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_header)
