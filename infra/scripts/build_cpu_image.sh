#!/usr/bin/env bash
# Build the CPU grader image of this tree unless its content-hashed tag already exists, and
# print the tag. Needs a running Docker engine (infra/scripts/ensure_docker.sh).
#
# Where Docker Hub is reachable you may use the public base instead of debootstrap:
#   DLGRADE_BASE_IMAGE=debian:bookworm-slim infra/scripts/build_cpu_image.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-$repo/.venv/bin/python}"
cd "$repo"
exec "$python" -m autograder.images build cpu "$@"
