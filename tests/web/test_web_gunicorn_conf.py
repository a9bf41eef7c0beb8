"""gunicorn's settings are the portal's (DLGRADE_PORTAL_*, declared in web/config.py)."""

from __future__ import annotations

import importlib


def test_gunicorn_takes_its_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DLGRADE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DLGRADE_PORTAL_BIND", "0.0.0.0:9123")
    monkeypatch.setenv("DLGRADE_PORTAL_WORKERS", "3")
    monkeypatch.setenv("DLGRADE_PORTAL_THREADS", "5")
    import web.gunicorn_conf as conf

    conf = importlib.reload(conf)
    assert (conf.bind, conf.workers, conf.threads, conf.worker_class) == ("0.0.0.0:9123", 3, 5, "gthread")


def test_gunicorn_defaults_are_the_settings_defaults(monkeypatch, tmp_path):
    from web.config import Settings

    monkeypatch.setenv("DLGRADE_DATA_DIR", str(tmp_path))
    for name in ("BIND", "WORKERS", "THREADS", "TIMEOUT_S", "KEEPALIVE_S"):
        monkeypatch.delenv(f"DLGRADE_PORTAL_{name}", raising=False)
    import web.gunicorn_conf as conf

    conf = importlib.reload(conf)
    defaults = Settings.load(environ={"DLGRADE_DATA_DIR": str(tmp_path)})
    assert (conf.bind, conf.workers, conf.threads, conf.timeout, conf.keepalive) == (
        defaults.PORTAL_BIND, defaults.PORTAL_WORKERS, defaults.PORTAL_THREADS, defaults.PORTAL_TIMEOUT_S,
        defaults.PORTAL_KEEPALIVE_S)
