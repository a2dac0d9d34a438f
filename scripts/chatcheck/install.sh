#!/usr/bin/env bash
# Installs the npm packages of the chat checks (package-lock.json, exact versions) into
# scripts/chatcheck/node_modules when they are missing or the lock file changed, and Node.js
# and npm from Debian when the machine has none. Quiet when there is nothing to do.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "chatcheck: installing nodejs and npm from Debian" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >&2
fi
stamp=node_modules/.bsodwatch-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "chatcheck: npm ci (package-lock.json)" >&2
start=$(date +%s.%N)
# No package here needs an install script; --ignore-scripts keeps it so.
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
echo "$want" > "$stamp"
echo "chatcheck: npm ci took $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s" >&2
