#!/usr/bin/env bash
# wine-exec.sh BINARY [ARGS...] — the `go test -exec` program of scripts/test-windows.sh: runs
# one Windows test binary under Wine, in the private WINEPREFIX that test-windows.sh prepared,
# and exits with the binary's own exit code (so go test prints its usual ok/FAIL line).
#
# The binary writes to a file, which tail follows until the binary's process is gone, instead of
# to go test's pipe: a long-lived Wine helper (rpcss.exe, services.exe, ...) that a test starts
# on demand inherits whatever the binary's output is, and on go test's pipe it would keep
# go test waiting after the binary ended ("Test I/O incomplete ... WaitDelay expired"), failing a
# package whose tests passed. A process a test leaves behind is held to the same file.
set -euo pipefail
: "${WINEPREFIX:?WINEPREFIX unset: run the Windows tests with scripts/test-windows.sh (make test-windows)}"
[ -f "$WINEPREFIX/system.reg" ] || { echo "wine-exec.sh: $WINEPREFIX is not a prepared Wine prefix" >&2; exit 1; }
export WINEDEBUG="${WINEDEBUG:--all}"
unset DISPLAY WAYLAND_DISPLAY # no window may open: Wine runs headless here
# Wine creates files with the Unix umask, and os.Chmod on Windows only flips the read-only
# bit: without this, folders a test makes for Samba (which acts as another user) would not be
# writable by it, as they are on Linux after the test's chmod 0777.
umask 000
out=$(mktemp "${TMPDIR:-/tmp}/wine-exec.XXXXXX")
trap 'rm -f "$out"' EXIT
"${WINE64:-/usr/lib/wine/wine64}" "$@" >"$out" 2>&1 &
pid=$!
# go test ends a binary that outlives its -timeout by a signal to this script: pass it on.
trap 'kill -TERM "$pid" 2>/dev/null' INT TERM QUIT
# tail reads the file once more after the binary is gone, so nothing it wrote is lost.
tail -n +1 -f --pid="$pid" "$out" &
tailpid=$!
rc=0
wait "$pid" || rc=$?
wait "$tailpid" || true
exit "$rc"
