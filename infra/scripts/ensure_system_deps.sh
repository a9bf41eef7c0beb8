#!/usr/bin/env bash
# Debian packages the tests and the process sandbox need. Idempotent; needs root to install.
set -euo pipefail
wanted=(bubblewrap chromium chromium-driver redis-server postgresql)
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "missing Debian packages (need root): ${missing[*]}" >&2; exit 1; fi
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
