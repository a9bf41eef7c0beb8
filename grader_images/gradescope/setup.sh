#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image (Ubuntu), with the
# autograder zip (made by `dlgrade gradescope-zip SLUG`) unpacked in /autograder/source:
#   setup.sh, run_autograder, dlgrade/ (the engine and its requirements), assignment/ (the package).
# It installs Python, bubblewrap (the process sandbox keeps student code away from
# /autograder/source, where the reference and hidden tests are) and the grader's packages.
set -euo pipefail
ROOT="${DLGRADE_GRADESCOPE_ROOT:-/autograder}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv bubblewrap
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --no-cache-dir --requirement "$ROOT/source/dlgrade/requirements.txt"
