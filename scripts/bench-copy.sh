#!/usr/bin/env bash
# bench-copy.sh — the fetcher's figures, side by side in one run:
#   1. a 1 GiB copy by the fetcher vs `smbclient get` from the same Samba, default and with
#      signing required (median of $RUNS runs each, interleaved), with the default options
#      (parallel_sessions 2) and with a single SMB session;
#   2. a sweep of $HOSTS hosts with nothing new (Samba answering on 127.0.x.y): wall time and
#      dump bytes read;
#   3. peak RSS of the fetcher while it copies a 4 GiB file.
# Needs root and Samba (scripts/samba.sh start installs/starts it and leaves it running, so
# repeated runs reuse it; stop it with scripts/samba.sh stop). Its own files are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"; HOSTS="${HOSTS:-500}"; SWEEP_PORT="${SWEEP_PORT:-4458}"
SMB_ROOT="${SMB_ROOT:-/tmp/bsodwatch-smb}"
./scripts/samba.sh start
# shellcheck disable=SC1091
. "$SMB_ROOT/env.sh"
A="$BSODWATCH_SMB_ROOT/admin"
W="$(mktemp -d /tmp/bsodwatch-bench.XXXXXX)"
cleanup() {
  [ -f "$W/sweep/run/smbd.pid" ] && kill "$(cat "$W/sweep/run/smbd.pid")" 2>/dev/null || true
  [ -n "${KEEP:-}" ] && return; rm -rf "$W" "$A/bench1g" "$A/bench4g" "$A/benchsweep"
}
trap cleanup EXIT
mkdir -p "$A/bench1g" "$A/bench4g" "$W/dest"
head -c 1G /dev/urandom > "$A/bench1g/MEMORY.DMP"
truncate -s 4G "$A/bench4g/MEMORY.DMP"
# one folder per host: Samba's share-mode locking falls over when hundreds of sessions open
# the very same directory at once, which real hosts never do
for i in $(seq 0 $((HOSTS - 1))); do
  mkdir -p "$A/benchsweep/h$i/Minidump"
  { printf 'PAGEDU64'; head -c 65536 /dev/urandom; } > "$A/benchsweep/h$i/Minidump/010124-1-01.dmp"
  truncate -s 1M "$A/benchsweep/h$i/MEMORY.DMP"
done
chmod -R a+rwX "$A/bench1g" "$A/bench4g" "$A/benchsweep"

go test -c -o "$W/fetcher.test" ./fetcher/ >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ours() { # one copy, whole process (start, dial, copy, hash, fsync, rename); $3 = sessions
  env BSODWATCH_BENCH_ADDR="$1" BSODWATCH_BENCH_DIR="$2" BSODWATCH_BENCH_DEST="$W/dest" BSODWATCH_BENCH_SESSIONS="${3:-}" BSODWATCH_BENCH_KEEP=1 \
    "$W/fetcher.test" -test.run '^$' -test.bench '^BenchmarkSMBCopy$' -test.benchtime 1x
}
theirs() { smbclient "//127.0.0.1/ADMIN\$" -p "${1##*:}" -U "$BSODWATCH_SMB_USER%$BSODWATCH_SMB_PASS" -c "get bench1g\\MEMORY.DMP $W/dest/smbclient.dmp"; }
# secs FUNC ARGS: wall seconds of one run (the functions are exported for the child bash)
export -f ours theirs; export W BSODWATCH_SMB_USER BSODWATCH_SMB_PASS
secs() { /usr/bin/time -f %e -o "$W/t" bash -c '"$@"' _ "$@" >/dev/null 2>&1; cat "$W/t"; }

PARTS="${PARTS:-copy sweep memory}"
if [[ " $PARTS " == *" copy "* ]]; then
echo "== 1 GiB copy (median of $RUNS, MiB/s = 1024 / seconds) =="
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %10s %8s\n' mode fetcher smbclient ratio
for mode in default:"$BSODWATCH_SMB_ADDR" signing-required:"$BSODWATCH_SMB_SIGNED_ADDR"; do
  name=${mode%%:*}; addr=${mode#*:}
  ours "$addr" bench1g >/dev/null 2>&1 || true; theirs "$addr" >/dev/null 2>&1 || true   # warm-up
  rm -rf "$W/dest/bench" "$W/dest/smbclient.dmp"
  : > "$W/o"; : > "$W/o1"; : > "$W/s"
  for _ in $(seq "$RUNS"); do
    secs ours "$addr" bench1g >> "$W/o"; rm -rf "$W/dest/bench"
    secs theirs "$addr" >> "$W/s"; rm -f "$W/dest/smbclient.dmp"
    secs ours "$addr" bench1g 1 >> "$W/o1"; rm -rf "$W/dest/bench"
  done
  s=$(median < "$W/s")
  for v in o:"" o1:", 1 session"; do
    o=$(median < "$W/${v%%:*}")
    printf '%-34s %7.0f MiB/s %7.0f MiB/s %6.2fx   (%ss vs %ss)\n' "$name${v#*:}" "$(echo "1024/$o" | bc -l)" "$(echo "1024/$s" | bc -l)" "$(echo "$s/$o" | bc -l)" "$o" "$s"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

fi
if [[ " $PARTS " == *" sweep "* ]]; then
echo "== sweep of $HOSTS hosts, nothing new =="
mkdir -p "$W/sweep"/{lock,state,cache,run/ncalrpc,log,private}
cat > "$W/sweep/smb.conf" <<CONF
[global]
  server role = standalone server
  smb ports = $SWEEP_PORT
  bind interfaces only = no
  hosts allow = 127.0.0.0/8
  hosts deny = ALL
  disable netbios = yes
  private dir = $W/sweep/private
  lock directory = $W/sweep/lock
  state directory = $W/sweep/state
  cache directory = $W/sweep/cache
  pid directory = $W/sweep/run
  ncalrpc dir = $W/sweep/run/ncalrpc
  log file = $W/sweep/log/log.%m
  passdb backend = tdbsam:$BSODWATCH_SMB_PASSDB
  map to guest = Never
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  max connections = 0
  force user = $BSODWATCH_SMB_USER
[ADMIN\$]
  path = $A
  read only = yes
  valid users = $BSODWATCH_SMB_USER
CONF
smbd -D -s "$W/sweep/smb.conf" -l "$W/sweep/log"
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.2/"$SWEEP_PORT") 2>/dev/null && break; sleep 0.1; done
BSODWATCH_BENCH_SWEEP_PORT=$SWEEP_PORT BSODWATCH_BENCH_SWEEP_DIR=benchsweep BSODWATCH_BENCH_HOSTS=$HOSTS \
  "$W/fetcher.test" -test.run '^$' -test.bench '^BenchmarkSweepNothingNew$' -test.benchtime 3x > "$W/sweep.out" 2>&1 || true
awk '/^BenchmarkSweep/ {printf "%d hosts: %.2f s per sweep, %d dump bytes read per sweep, %s hosts failed per sweep\n", $9, $3/1e9, $7, $5; ok=1}
     END {if (!ok) exit 1}' "$W/sweep.out" || { echo "sweep benchmark failed:"; tail -c 600 "$W/sweep.out"; }

fi
if [[ " $PARTS " == *" memory "* ]]; then
echo "== peak memory copying a 4 GiB file =="
BSODWATCH_BENCH_ADDR="$BSODWATCH_SMB_ADDR" BSODWATCH_BENCH_DIR=bench4g BSODWATCH_BENCH_DEST="$W/dest" \
  /usr/bin/time -f '%M' -o "$W/rss" "$W/fetcher.test" -test.run '^$' -test.bench '^BenchmarkSMBCopy$' -test.benchtime 1x \
  | awk '/^BenchmarkSMBCopy/ {printf "4 GiB copy: %.0f MiB/s, ", $5}'
echo "max RSS $(( $(cat "$W/rss") / 1024 )) MiB (whole process)"
fi
