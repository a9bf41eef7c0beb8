#!/usr/bin/env bash
# Start Redis and PostgreSQL where they are not running (installing them from Debian where
# they are missing), and make sure the database `test` exists. Idempotent.
set -euo pipefail

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "need root to apt-get install $*" >&2; return 1; fi
  [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ] || apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null; then apt_install redis-server redis-tools; fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "redis: $(redis-cli -h 127.0.0.1 -p 6379 ping)"

if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.1; done
fi
psql_as() { if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then su postgres -c "psql -h 127.0.0.1 -qtA $*"; else psql -h 127.0.0.1 -U postgres -qtA "$@"; fi; }
if ! psql -h 127.0.0.1 -U postgres -d test -qtAc "select 1" >/dev/null 2>&1; then
  psql -h 127.0.0.1 -U postgres -qtAc "create database test" >/dev/null 2>&1 || psql_as "-c 'create database test'" || true
fi
echo "postgresql: $(pg_isready -h 127.0.0.1 -p 5432)"
