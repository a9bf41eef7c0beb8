#!/usr/bin/env sh
# Entry point of a containerised worker that grades with the Docker sandbox.
#
# The worker asks the host's Docker daemon to bind-mount folders into sandbox containers, and
# the daemon resolves those paths on the host. So everything the engine mounts (its harness
# source, per-job folders, the trusted-run cache) must live where host and worker see the same
# path: $DLGRADE_STATE, mounted at an identical path (compose: a bind mount; k8s: hostPath).
# This copies the worker's code there and runs Celery from that copy.
set -eu
state="${DLGRADE_STATE:-/var/lib/dlgrade}"
code="$state/code-$(hostname)"
mkdir -p "$state/tmp" "$state/run" "$state/cache"
rm -rf "$code.new"
mkdir -p "$code.new"
cp -r /srv/dlgrade/autograder /srv/dlgrade/grader_images "$code.new/"
rm -rf "$code"
mv "$code.new" "$code"
export PYTHONPATH="$code" TMPDIR="$state/tmp"
export DLGRADE_RUN_DIR="${DLGRADE_RUN_DIR:-$state/run}" DLGRADE_BUNDLE_CACHE_DIR="${DLGRADE_BUNDLE_CACHE_DIR:-$state/bundles}" DLGRADE_CACHE_DIR="${DLGRADE_CACHE_DIR:-$state/cache}"
cd "$code"
# The grader image must exist on the daemon (built from the same commit on the host:
# infra/scripts/build_cpu_image.sh); its tag is a hash of this code.
echo "grader image: $(python -m autograder.images tag "${DLGRADE_IMAGE_KIND:-cpu}")" >&2
exec celery -A autograder.worker.app worker "$@"
