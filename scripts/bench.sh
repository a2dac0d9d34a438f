#!/usr/bin/env bash
# bench.sh — every figure in the README, in one run: the Go benchmarks of each part, then the
# side-by-side copy comparison with smbclient, the 500-host sweep and the whole-pipeline figures. Needs the test
# Samba (started here when absent, as `make test` does) and ../shared for the corpus and dumps.
#   QUICK=1  only the in-process Go benchmarks (no 1 GiB / 4 GiB copies)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BSODWATCH_SMB_ADDR:-}" ]; then
  ./scripts/samba.sh start
  # shellcheck disable=SC1091
  . "${SMB_ROOT:-/tmp/bsodwatch-smb}/env.sh"
fi
echo "== $(date -u +%FT%TZ)  cores: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)  $(go version)"
# Each benchmark runs three times or more: the first run on a cold process is often the slow
# one, and a range says how noisy the machine was.
run() { echo "== $*"; go test -run '^$' -benchmem "$@"; }
run -bench 'BenchmarkParse' -count 3 ./analyzer/cdbout
run -bench 'BenchmarkTriage|BenchmarkReadMinidump' -count 3 ./dumpfile
run -bench 'BenchmarkRead20MiB|BenchmarkUnchanged20MiB' -count 5 ./eventlog
run -bench 'BenchmarkSMBEventLogSweep' -benchtime 50x -count 3 ./fetcher
run -bench 'BenchmarkMatch1000Rules|BenchmarkLoad1000Rules' -count 3 ./rules
run -bench 'BenchmarkWorker' -benchtime 300x -count 3 ./analyzer
run -bench 'BenchmarkRender|BenchmarkHandleGrouped' -count 3 ./notifier
run -bench 'BenchmarkCount100k' -benchtime 1x -count 3 ./history
run -bench 'BenchmarkOverview100k' -benchtime 5x -count 3 ./web
run -bench 'BenchmarkResultsByBucket100k|BenchmarkSubmit10k' -benchtime 1x -count 3 ./cmd/bsodwatch
COUNT=2 ./scripts/bench-share.sh
[ "${QUICK:-0}" = 1 ] && exit 0
./scripts/bench-copy.sh
./scripts/bench-pipeline.sh
