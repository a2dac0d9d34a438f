#!/usr/bin/env bash
# bench-pipeline.sh — the pipeline's figures for the README:
#   BenchmarkPipeline1000  1,000 small dumps on 100 Samba hosts -> fetcher -> NATS -> analyzer
#                          (replay debugger) -> notifier -> chat endpoint; s/1000dumps is the
#                          wall time of the whole batch, peakMiB the process's peak RSS.
#   BenchmarkCopy4GiB      one 4 GiB MEMORY.DMP copied by the fetcher alone in its process;
#                          peakMiB is that process's peak RSS (VmHWM), MiB/s the copy rate.
#                          warnings counts the run's warn/error log lines; the log of a batch
#                          slower than 15 s is kept in $BENCH_LOG_DIR (default below).
# Needs the test Samba (started here when absent, as make test does) and ../shared/corpus.
# Writes 4 GiB under $SMB_ROOT while it runs (removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BSODWATCH_SMB_ADDR:-}" ]; then
  ./scripts/samba.sh start
  # shellcheck disable=SC1091
  . "${SMB_ROOT:-/tmp/bsodwatch-smb}/env.sh"
fi
export BENCH_LOG_DIR="${BENCH_LOG_DIR:-/tmp/bsodwatch-bench-logs}"
mkdir -p "$BENCH_LOG_DIR"
echo "cores: $(nproc), $(go version); logs of slow batches kept in $BENCH_LOG_DIR"
go test -run '^$' -bench "${BENCH:-BenchmarkPipeline1000|BenchmarkCopy4GiB}" -benchtime "${BENCHTIME:-1x}" -count "${COUNT:-3}" -timeout 60m ./e2e
