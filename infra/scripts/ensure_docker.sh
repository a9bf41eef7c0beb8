#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (idempotent; Debian, run as root).
#
#  - installs Debian's docker.io (and debootstrap, which the image build uses for its base)
#    where they are missing;
#  - starts dockerd in the background when `docker info` fails, logging to
#    $DLGRADE_DOCKERD_LOG (default /var/log/dlgrade/dockerd.log), with the default storage
#    driver (overlay2) and, if that does not come up, with vfs (slow but works anywhere);
#  - waits until `docker info` works.
set -euo pipefail

log_file="${DLGRADE_DOCKERD_LOG:-/var/log/dlgrade/dockerd.log}"
wait_s="${DLGRADE_DOCKERD_WAIT_S:-60}"

say() { echo "[ensure_docker] $*" >&2; }

docker_answers() { docker info >/dev/null 2>&1; }

wait_for_docker() {
    local pid="$1" waited=0
    while ! docker_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if (( waited >= wait_s )); then return 1; fi
        sleep 1; waited=$((waited + 1))
    done
}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if (( ${#missing[@]} )); then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if docker_answers; then
    say "docker is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
fi

mkdir -p "$(dirname "$log_file")"
for driver in "" vfs; do
    say "starting dockerd${driver:+ with --storage-driver $driver} (log: $log_file)"
    # A stale pid file from a daemon that died blocks the next start.
    if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        rm -f /var/run/docker.pid
    fi
    nohup dockerd ${driver:+--storage-driver "$driver"} >>"$log_file" 2>&1 </dev/null &
    pid=$!
    if wait_for_docker "$pid"; then
        say "docker is running (pid $pid, storage driver $(docker info --format '{{.Driver}}'))"
        exit 0
    fi
    say "dockerd did not come up; last lines of its log:"
    tail -n 5 "$log_file" >&2 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
say "could not start dockerd; see $log_file"
exit 1
