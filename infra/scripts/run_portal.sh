#!/usr/bin/env bash
# Run the dlgrade portal under gunicorn: migrations first (once), then the workers.
# Settings come from the environment (DLGRADE_*, DATABASE_URL), gunicorn's too
# (DLGRADE_PORTAL_BIND, _WORKERS, _THREADS, ...: web/gunicorn_conf.py); see `flask --app web settings`.
#   infra/scripts/run_portal.sh                 # 127.0.0.1:8000, 2 workers x 8 threads
#   DLGRADE_PORTAL_BIND=0.0.0.0:8000 DLGRADE_PORTAL_WORKERS=4 infra/scripts/run_portal.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV_BIN="${VENV_BIN:-$(pwd)/.venv/bin}"
export DLGRADE_DATA_DIR="${DLGRADE_DATA_DIR:-$(pwd)/var/portal}"
# several processes: rate limits shared through Redis unless told otherwise
export DLGRADE_RATE_LIMIT_STORAGE="${DLGRADE_RATE_LIMIT_STORAGE:-redis://127.0.0.1:6379/1}"

"$VENV_BIN/flask" --app web db-upgrade
export DLGRADE_AUTO_MIGRATE=0   # done above; workers must not race on it

exec "$VENV_BIN/gunicorn" -c python:web.gunicorn_conf "web:create_app()" "$@"
