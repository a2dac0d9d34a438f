#!/usr/bin/env bash
# evtx-crosscheck.sh — checks bsodwatch's EVTX reader and test writer against python-evtx
# (Debian python3-evtx), a parser written by others:
#   1. every real log in ../shared/evtx: the record count python-evtx renders = what
#      `bsodwatch events --json` walked;
#   2. the synthetic log eventlogtest writes: python-evtx renders every record and passes both
#      checksums of every chunk, and the records match what bsodwatch reads.
# Needs root for apt-get when python3-evtx is missing. Prints one line per check; exit 1 if any fails.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${BSODWATCH_SHARED:-../shared}"
if [ ! -x /usr/bin/evtx_dump.py ]; then
  echo "evtx-crosscheck: installing python3-evtx from Debian packages" >&2
  apt-get install -y python3-evtx >&2 || { apt-get update >&2 && apt-get install -y python3-evtx >&2; }
fi
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/bsodwatch" ./cmd/bsodwatch
go run ./internal/evtxsample "$tmp/synthetic.evtx"
py() { /usr/bin/python3 "/usr/bin/$1" "${@:2}"; }
fail=0
check() { # name python-count our-count
  if [ "$2" = "$3" ]; then echo "ok    $1: $2 records (python-evtx) = $3 (bsodwatch)"; else echo "FAIL  $1: python-evtx $2, bsodwatch $3"; fail=1; fi
}
for f in "$shared"/evtx/*.evtx "$tmp/synthetic.evtx"; do
  [ -e "$f" ] || continue
  theirs=$(py evtx_dump.py "$f" | grep -c '<Event ' || true)
  ours=$("$tmp/bsodwatch" events --json "$f" 2>/dev/null | jq -r .log.records || true)
  check "$(basename "$f")" "$theirs" "$ours"
done
# The synthetic log: both checksums of every chunk pass in python-evtx's own check.
info=$(py evtx_info.py "$tmp/synthetic.evtx")
chunks=$(echo "$info" | grep -cE '^[>* ] +[0-9]+ +[0-9]+ ' || true)
passed=$(echo "$info" | grep -cE '^[>* ] +[0-9]+ .* pass +pass$' || true)
if [ "$chunks" -gt 0 ] && [ "$chunks" = "$passed" ]; then echo "ok    synthetic.evtx: $passed/$chunks chunks pass both checksums (python-evtx)"; else echo "FAIL  synthetic.evtx: $passed/$chunks chunks pass"; echo "$info"; fail=1; fi
# And the crash records python-evtx renders are the ones bsodwatch reports.
theirs=$(py evtx_dump.py "$tmp/synthetic.evtx" | grep -oE '<EventID[^>]*>(41|1001|6008|49)</EventID>' | sed -E 's/.*>([0-9]+)<.*/\1/' | tr '\n' ' ')
ours=$("$tmp/bsodwatch" events --json "$tmp/synthetic.evtx" | jq -r '[.events[] | select(.id==41 or .id==1001 or .id==6008 or .id==49) | .id] | map(tostring) | join(" ")')
if [ "$theirs" = "$ours " ]; then echo "ok    synthetic.evtx: crash event ids $ours"; else echo "FAIL  synthetic.evtx: python-evtx ids '$theirs', bsodwatch '$ours'"; fail=1; fi
exit "$fail"
