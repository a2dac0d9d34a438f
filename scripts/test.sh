#!/usr/bin/env bash
# Runs the Go tests with what they need: a private Samba on a loopback port and the Active
# Directory rig of scripts/ad.sh (both installed from Debian packages when missing), stopped
# again when the tests end, whatever their outcome; and the npm packages of the chat payload
# checks (scripts/chatcheck, installed when missing), which the Go test notifier/chatcheck then
# must run: BSODWATCH_CHATCHECK makes a missing Node a failure, not a skip. The TestAD tests
# run inside the rig's namespaces (scripts/ad.sh exec), the others outside.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=("$@"); [ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
export AD_ROOT="${AD_ROOT:-/tmp/bsodwatch-ad}"

cleanup() { ./scripts/samba.sh stop || true; ./scripts/ad.sh stop || true; }
trap cleanup EXIT
ad=0
t0=$(date +%s)
if ./scripts/ad.sh start; then ad=1; else
  echo "test.sh: the AD rig could not be started; TestAD tests will fail" >&2
  rm -f "$AD_ROOT/env.sh"
fi
echo "test.sh: AD rig start took $(( $(date +%s) - t0 ))s" >&2

if ./scripts/samba.sh start; then
  # shellcheck disable=SC1091
  . "${SMB_ROOT:-/tmp/bsodwatch-smb}/env.sh"
else
  echo "test.sh: Samba could not be started; SMB tests will fail" >&2
  # A set address with nothing else makes the SMB tests fail rather than skip.
  export BSODWATCH_SMB_ADDR=127.0.0.1:1   # loopback, nothing listens
fi
export BSODWATCH_CHATCHECK=1
./scripts/chatcheck/install.sh || echo "test.sh: the chat check packages could not be installed; notifier/chatcheck will fail" >&2
# The web console's browser test drives Debian's chromium (never a downloaded browser).
# Under make test a browser that cannot be installed fails that test rather than skipping it.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test.sh: installing chromium for the browser test" >&2
  (apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y chromium >/dev/null 2>&1; }) ||
    echo "test.sh: chromium could not be installed; the browser test will fail" >&2
fi
export BSODWATCH_CHROMIUM="${BSODWATCH_CHROMIUM:-/usr/bin/chromium}"
rc=0
go test -timeout 15m -count=1 -skip '^TestAD' "${pkgs[@]}" || rc=$?
# The AD tests, one package at a time (each may log on, time out or change the rig's state).
t0=$(date +%s)
if [ "$ad" = 1 ]; then
  ./scripts/ad.sh exec go test -timeout 10m -count=1 -p 1 -run '^TestAD' "${pkgs[@]}" || rc=$?
else
  # The variable set with no env file behind it makes every TestAD test fail, not skip.
  BSODWATCH_AD_ENV="$AD_ROOT/env.sh" go test -count=1 -p 1 -run '^TestAD' "${pkgs[@]}" || rc=$?
fi
echo "test.sh: TestAD tests took $(( $(date +%s) - t0 ))s" >&2
# The labelled-corpus score, printed whatever the outcome (go test hides passing output).
go test -count=1 -v -run '^TestCorpusScore$' ./analyzer/cdbout | grep -E 'corpus score|miss' || true
exit "$rc"
