#!/usr/bin/env bash
# bench-share.sh — the dump share's figures for the README: copy into a local share plain
# vs zstd-compressed (MiB/s of dump bytes, ratio) on the real kernel minidumps and on a
# constructed 256 MiB full-memory dump (see constructedFullDump in dumpshare/bench_test.go),
# decompression for the analyzer, the ratio of each kind of page, and retention over
# 100,000 dumps. Ranges over COUNT runs (default 3); the load average is printed before and
# after, because the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
count="${COUNT:-3}"
echo "== $(date -u +%FT%TZ)  cores: $(nproc)  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -run '^$' -bench 'BenchmarkPut|BenchmarkRestore|BenchmarkKinds' -benchtime 2x -count "$count" ./dumpshare | tee -a "$out" >/dev/null
go test -run '^$' -bench 'BenchmarkPrune100k|BenchmarkDecide100k' -benchtime 1x -count "$count" ./retention | tee -a "$out" >/dev/null
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
/^Benchmark/ {
  name=$1; sub(/-[0-9]+$/, "", name)
  for (i=2; i<=NF; i++) {
    if ($(i) == "MB/s") { v=$(i-1)/1.048576; k=name" MiB/s" }
    else if ($(i) == "ratio") { v=$(i-1); k=name" ratio" }
    else if ($(i) == "ns/op") { v=$(i-1)/1e9; k=name" s/op" }
    else continue
    if (!(k in lo) || v < lo[k]) lo[k]=v
    if (!(k in hi) || v > hi[k]) hi[k]=v
    if (!(k in seen)) { order[++n]=k; seen[k]=1 }
  }
}
END { for (i=1; i<=n; i++) { k=order[i]; printf "%-48s %10.2f .. %.2f\n", k, lo[k], hi[k] } }
' "$out"
