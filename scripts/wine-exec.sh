#!/usr/bin/env bash
# wine-exec.sh BINARY [ARGS...] — the `go test -exec` program of scripts/test-windows.sh: runs
# one Windows test binary under Wine, in the private WINEPREFIX that test-windows.sh prepared,
# and exits with the binary's own exit code (so go test prints its usual ok/FAIL line).
set -euo pipefail
: "${WINEPREFIX:?WINEPREFIX unset: run the Windows tests with scripts/test-windows.sh (make test-windows)}"
[ -f "$WINEPREFIX/system.reg" ] || { echo "wine-exec.sh: $WINEPREFIX is not a prepared Wine prefix" >&2; exit 1; }
export WINEDEBUG="${WINEDEBUG:--all}"
unset DISPLAY WAYLAND_DISPLAY # no window may open: Wine runs headless here
# Wine creates files with the Unix umask, and os.Chmod on Windows only flips the read-only
# bit: without this, folders a test makes for Samba (which acts as another user) would not be
# writable by it, as they are on Linux after the test's chmod 0777.
umask 000
exec "${WINE64:-/usr/lib/wine/wine64}" "$@"
