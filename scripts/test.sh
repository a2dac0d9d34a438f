#!/usr/bin/env bash
# Runs the Go tests with what they need: a private Samba on a loopback port (installed from
# Debian packages when missing), stopped again when the tests end, whatever their outcome;
# and the npm packages of the chat payload checks (scripts/chatcheck, installed when
# missing), which the Go test notifier/chatcheck then must run: BSODWATCH_CHATCHECK makes a
# missing Node a failure, not a skip.
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
export BSODWATCH_CHATCHECK=1
./scripts/chatcheck/install.sh || echo "test.sh: the chat check packages could not be installed; notifier/chatcheck will fail" >&2
rc=0
go test -timeout 15m -count=1 "${pkgs[@]}" || rc=$?
# The labelled-corpus score, printed whatever the outcome (go test hides passing output).
go test -count=1 -v -run '^TestCorpusScore$' ./analyzer/cdbout | grep -E 'corpus score|miss' || true
exit "$rc"
