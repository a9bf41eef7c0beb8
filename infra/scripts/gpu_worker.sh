#!/usr/bin/env sh
# One grading worker for every GPU of this host (docs/gpu-workers.md), run from a checkout:
#
#   DLGRADE_PORTAL_URL=https://portal.example.edu DLGRADE_WORKER_TOKEN=... \
#   DLGRADE_BROKER_URL=redis://redis.example.edu:6379/0 DLGRADE_SEED_SECRET=... \
#     infra/scripts/gpu_worker.sh
#
# DLGRADE_GPUS defaults to `auto`: every GPU `nvidia-smi -L` lists. The worker then runs one
# pool process per GPU and consumes `gpu`, `gpu-2` ... `gpu-<N>`; each job leases the GPUs it
# needs for its whole run (autograder/worker/gpus.py). Set DLGRADE_GPUS=0,1 to grade on some
# GPUs only. Extra arguments go to `celery worker`.
set -eu
cd "$(dirname "$0")/../.."
export DLGRADE_GPUS="${DLGRADE_GPUS:-auto}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python="${PYTHON:-python3}"
# Resolve the settings once here, so a host without GPUs or nvidia-smi fails with the reason.
"$python" - <<'PY'
from autograder.worker.settings import load_settings
s = load_settings()
print(f"dlgrade GPU worker: GPUs {','.join(map(str, s['gpus'])) or 'none'}, {s['concurrency']} pool "
      f"processes, queues {','.join(s['queue_prefix'] + q for q in s['queues'])}, run dir {s['run_dir']}")
PY
exec "$python" -m celery -A autograder.worker.app worker -n "gpu@%h" --loglevel INFO "$@"
