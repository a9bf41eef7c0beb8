#!/usr/bin/env bash
# `make demo`: grade sample submissions on the command line, then start the portal (gunicorn)
# and a worker (Celery), create a demo course with every assignment, and grade a sample
# submission through the whole system. Leaves the portal and the worker running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BIN="$ROOT/.venv/bin"
STATE="$ROOT/var/demo"
PORT="${DEMO_PORT:-8000}"
mkdir -p "$STATE"

echo "== 1. the engine on the command line: sample submissions of the example assignment"
SAMPLES="$STATE/samples"
mkdir -p "$SAMPLES"
cp tests/example_assignment/source.ipynb "$SAMPLES/full_marks.ipynb"
cp tests/example_assignment/mutants/no_max_shift.py "$SAMPLES/unstable_softmax.py"
sed -i 's/^from reference_solution import \*.*$/import torch\ndef add(a, b):\n    return a + b\ndef rowsum(x):\n    return x.sum(-1)/' "$SAMPLES/unstable_softmax.py"
printf '{"cells": 3}' > "$SAMPLES/broken.ipynb"
for sample in full_marks.ipynb unstable_softmax.py broken.ipynb; do
  echo "-- dlgrade grade --assignment tests/example_assignment $sample"
  "$BIN/dlgrade" grade --assignment tests/example_assignment "$SAMPLES/$sample" --json "$STATE/${sample%.*}.json"
done

echo "== 2. the portal and a worker"
for pidfile in "$STATE/portal.pid" "$STATE/worker.pid"; do
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then kill "$(cat "$pidfile")" || true; sleep 1; fi
done
export DLGRADE_DATA_DIR="$ROOT/var/portal"
export FLASK_APP=web
"$BIN/flask" --app web db-upgrade >/dev/null
"$BIN/flask" --app web create-demo | tee "$STATE/create-demo.txt"
TOKEN=$(sed -n 's/^worker token: //p' "$STATE/create-demo.txt")
DLGRADE_PORTAL_BIND="127.0.0.1:$PORT" DLGRADE_PORTAL_ACCESS_LOG="$STATE/portal-access.log" \
  setsid bash infra/scripts/run_portal.sh >"$STATE/portal.log" 2>&1 &
echo $! > "$STATE/portal.pid"
DLGRADE_PORTAL_URL="http://127.0.0.1:$PORT" DLGRADE_WORKER_TOKEN="$TOKEN" DLGRADE_CPU_SLOTS=2 \
  setsid "$BIN/celery" -A autograder.worker.app worker -Q cpu --concurrency 2 --loglevel INFO \
  >"$STATE/worker.log" 2>&1 &
echo $! > "$STATE/worker.pid"
echo "   the worker also runs the sweeper: a lost job is back in a queue within 2 minutes"

echo "== 3. the release gates (CPU ones here; GPU ones wait for a GPU worker), then a sample submission"
"$BIN/python" infra/scripts/demo_client.py --portal "http://127.0.0.1:$PORT" \
  --token "$("$BIN/flask" --app web create-token --kind user --name demo --email alice@demo.dlgrade)" \
  --staff-token "$("$BIN/flask" --app web create-token --kind user --name demo-ta --email ta@demo.dlgrade)" \
  --timeout "${DEMO_TIMEOUT_S:-1200}"

cat <<TXT

The portal runs at http://127.0.0.1:$PORT (log: var/demo/portal.log; worker log: var/demo/worker.log).
Accounts: see above (password demo-password). Stop both with:
  kill \$(cat var/demo/portal.pid) \$(cat var/demo/worker.pid)
TXT
