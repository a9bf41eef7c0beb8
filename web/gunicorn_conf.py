"""gunicorn's settings for the portal, taken from web/config.py (DLGRADE_PORTAL_*), so each is
declared once, with its default and help, beside the portal's others:

    gunicorn -c python:web.gunicorn_conf 'web:create_app()'

infra/scripts/run_portal.sh, the compose file, the Kubernetes manifest and the image all start
it this way. gthread workers: a status poll spends most of its time waiting on PostgreSQL, so
a process serves several at once; how many workers and threads on 2 cores is measured in
bench/README.md.
"""

from web.config import Settings

_settings = Settings.load()

bind = _settings.PORTAL_BIND
workers = _settings.PORTAL_WORKERS
worker_class = "gthread"
threads = _settings.PORTAL_THREADS
timeout = _settings.PORTAL_TIMEOUT_S
graceful_timeout = 20
keepalive = _settings.PORTAL_KEEPALIVE_S
max_requests, max_requests_jitter = 5000, 500  # recycle a worker now and then (a slow leak stays small)
forwarded_allow_ips = _settings.PORTAL_FORWARDED_ALLOW_IPS
accesslog = _settings.PORTAL_ACCESS_LOG
