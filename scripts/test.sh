#!/usr/bin/env bash
# Runs the Go tests with what they need: a private Samba on a loopback port (installed from
# Debian packages when missing), stopped again when the tests end, whatever their outcome.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=("$@"); [ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

if ./scripts/samba.sh start; then
  # shellcheck disable=SC1091
  . "${SMB_ROOT:-/tmp/bsodwatch-smb}/env.sh"
  trap './scripts/samba.sh stop' EXIT
else
  echo "test.sh: Samba could not be started; SMB tests will fail" >&2
  # A set address with nothing else makes the SMB tests fail rather than skip.
  export BSODWATCH_SMB_ADDR=127.0.0.1:1   # loopback, nothing listens
fi
# The web console's browser test drives Debian's chromium (never a downloaded browser).
# Under make test a browser that cannot be installed fails that test rather than skipping it.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing chromium for the browser test" >&2
  (apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; }) ||
    echo "test.sh: chromium could not be installed; the browser test will fail" >&2
fi
export BSODWATCH_CHROMIUM="${BSODWATCH_CHROMIUM:-/usr/bin/chromium}"
rc=0
go test -timeout 15m -count=1 "${pkgs[@]}" || rc=$?
# The labelled-corpus score, printed whatever the outcome (go test hides passing output).
go test -count=1 -v -run '^TestCorpusScore$' ./analyzer/cdbout | grep -E 'corpus score|miss' || true
exit "$rc"
