"""dlgrade portal: `create_app(config=None)` builds a Flask app; no global app exists.

The portal never imports torch, the engine or the worker. It stores submissions, enqueues
worker tasks by name, and receives results over HTTP (autograder/worker/CONTRACT.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, jsonify, render_template
from werkzeug.exceptions import HTTPException

from .config import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = Settings.load(config)
    app = Flask(__name__)
    app.config.from_mapping(settings.flask_config())

    from . import db as db_module, security, tasks, timing
    from .storage import FileStore

    if settings.AUTO_MIGRATE:
        db_module.upgrade(settings.DATABASE_URL, settings.DATABASE_SCHEMA)
    db_module.db.init_app(app)
    timing.init_app(app, app.extensions["dlgrade_db"][0])
    app.extensions["dlgrade_store"] = FileStore(Path(settings.DATA_DIR) / "files")
    tasks.init_app(app)
    security.init_app(app)

    from .views import account, api, assignments, auth, courses, gradebook, operations, similarity, submissions, worker_api

    for module in (auth, account, courses, assignments, submissions, gradebook, operations, similarity, api, worker_api):
        app.register_blueprint(module.bp)

    from . import cli

    cli.init_app(app)
    app.register_error_handler(HTTPException, _http_error)
    app.jinja_env.globals["app_title"] = "dlgrade"
    return app


def store():
    return current_app.extensions["dlgrade_store"]


def _http_error(exc: HTTPException):
    from .security import wants_json

    if wants_json():
        response = jsonify(error=exc.name, message=exc.description, status=exc.code)
        response.status_code = exc.code or 500
        return response
    return render_template("error.html", error=exc, user=g.get("user")), exc.code or 500


__all__ = ["create_app", "store"]
