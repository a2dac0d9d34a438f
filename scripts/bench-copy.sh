#!/usr/bin/env bash
# bench-copy.sh — the fetcher's copy figures beside smbclient's, measured in one run, so that
# the ratios (not the absolute rates) are what carries over to another machine:
#   copy    a 1 GiB random MEMORY.DMP from the test Samba, to tmpfs and then to disk, by
#             fetcher            the whole process: start, logon, parallel reads, sha256, fsync,
#                                rename (BenchmarkSMBCopy with the default options)
#             smbclient          `smbclient get` alone: no hash, no fsync
#             smbclient+sha256   `smbclient get` then `openssl dgst -sha256` (then `sync` of the
#                                file on disk): the verified copy a person would make
#           for each server mode: default, signing-required (server signing = mandatory, as on
#           Windows 11 24H2 / Server 2025) and encryption-required (server smb encrypt =
#           required). The three sides alternate in rotating order, $RUNS times per mode (after
#           one uncounted warm-up whose copy is checked against the source's sha256). Each
#           figure is the median with (min–max); wall seconds, client CPU seconds (user+sys of
#           the process and its children) and the CPU seconds of the smbd serving it.
#   sweep   a sweep of $HOSTS hosts with nothing new (a dedicated smbd on all loopback
#           addresses, 127.0.x.y): wall time and dump bytes read.
#   memory  peak RSS of the fetcher while it copies a 4 GiB file, in each of $MEM_MODES.
# The result lines a program can check start at column 0 with the mode ("default",
# "signing-required", "encryption-required"; "disk-…" for the disk destination) and end with
# the median fetcher/smbclient speed ratio, e.g. "1.05x". Other engineers' work on a shared
# machine shows in the load averages printed before and after each part.
#
#   RUNS=5 DISK_RUNS=3 HOSTS=500   repetitions and sweep size
#   PARTS="copy sweep memory"      DESTS="tmpfs disk"
#   MODES="default signing-required encryption-required"   DISK_MODES="default signing-required"
#   MEM_MODES="default encryption-required"   (signing adds no buffers; encryption does)
#   TMPFS=/dev/shm DISK=/var/tmp   where the copies go (each must be that kind of file system)
#   SMB_ROOT                       the test Samba (scripts/samba.sh start: free ports, left running)
#   FETCHER_TEST                   a `go test -c ./fetcher` binary built elsewhere (say, against a
#                                  changed go-smb2) instead of this tree's
# Needs root and Samba (scripts/samba.sh start installs and starts it; stop it with
# scripts/samba.sh stop). Its own files are removed. A full run takes about 5 minutes on idle
# cores (10 with a load average near 10).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-5}"; DISK_RUNS="${DISK_RUNS:-3}"; HOSTS="${HOSTS:-500}"
PARTS="${PARTS:-copy sweep memory}"; DESTS="${DESTS:-tmpfs disk}"
MODES="${MODES:-default signing-required encryption-required}"
DISK_MODES="${DISK_MODES:-default signing-required}"
MEM_MODES="${MEM_MODES:-default encryption-required}"
TMPFS="${TMPFS:-/dev/shm}"; DISK="${DISK:-/var/tmp}"
export SMB_ROOT="${SMB_ROOT:-/tmp/bsodwatch-smb}"
./scripts/samba.sh start
# shellcheck disable=SC1091
. "$SMB_ROOT/env.sh"
# shellcheck source=scripts/samba.sh
. ./scripts/samba.sh   # free_port, pid_listens
A="$BSODWATCH_SMB_ROOT/admin"
W="$(mktemp -d /tmp/bsodwatch-bench.XXXXXX)"
DT="$(mktemp -d "$TMPFS/bsodwatch-bench.XXXXXX")"; DD="$(mktemp -d "$DISK/bsodwatch-bench.XXXXXX")"
cleanup() {
  [ -f "$W/sweep/run/smbd.pid" ] && kill "$(cat "$W/sweep/run/smbd.pid")" 2>/dev/null || true
  rm -rf "$DT" "$DD"
  [ -n "${KEEP:-}" ] && return; rm -rf "$W" "$A/bench1g" "$A/bench4g" "$A/benchsweep"
}
trap cleanup EXIT
fstype() { stat -f -c %T "$1"; }
[ "$(fstype "$DT")" = tmpfs ] || { echo "bench-copy.sh: TMPFS=$TMPFS is not a tmpfs" >&2; exit 1; }
[ "$(fstype "$DD")" != tmpfs ] || { echo "bench-copy.sh: DISK=$DISK is a tmpfs" >&2; exit 1; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== machine =="
echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | sort -u | paste -sd/)), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r)"
echo "$(smbd --version), $(smbclient --version), $(openssl version | cut -d' ' -f1-2), $(go version | cut -d' ' -f3)"
echo "tmpfs destination $TMPFS; disk destination $DISK ($(df --output=source "$DD" | tail -1), $(findmnt -no FSTYPE -T "$DD"))"
if [ -n "${FETCHER_TEST:-}" ]; then echo "fetcher: $FETCHER_TEST"; else
  echo "fetcher: this tree, $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- . 2>/dev/null || echo ' with uncommitted changes')"; fi
echo "smbd and the clients share these cores; CPU-s are for 1 GiB, so also CPU-s per GiB"
echo "load average before: $(load)"

mkdir -p "$A/bench1g" "$A/bench4g"
head -c 1G /dev/urandom > "$A/bench1g/MEMORY.DMP"
truncate -s 4G "$A/bench4g/MEMORY.DMP"
chmod -R a+rwX "$A/bench1g" "$A/bench4g"
SRC_SUM="$(openssl dgst -sha256 -r "$A/bench1g/MEMORY.DMP" | cut -d' ' -f1)"
if [ -n "${FETCHER_TEST:-}" ]; then cp "$FETCHER_TEST" "$W/fetcher.test"; else go test -c -o "$W/fetcher.test" ./fetcher/ >/dev/null; fi

CLK="$(getconf CLK_TCK)"
# smbd_ticks INSTANCE: CPU ticks an instance's smbd has used: the main process, its live
# children (one serves each connection) and the children it has reaped.
smbd_ticks() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v m="$(cat "$SMB_ROOT/$1/run/smbd.pid")" '{ pid = $1; sub(/^.*\) /, "")
      if (pid == m) t += $12 + $13 + $14 + $15; else if ($2 == m) t += $12 + $13 } END { print t + 0 }'
}
smbd_kids() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v m="$(cat "$SMB_ROOT/$1/run/smbd.pid")" '{ sub(/^.*\) /, ""); if ($2 == m) n++ } END { print n + 0 }'
}

# The three sides; $1 = address, $2 = destination directory.
ours() {
  env BSODWATCH_BENCH_ADDR="$1" BSODWATCH_BENCH_DIR=bench1g BSODWATCH_BENCH_DEST="$2/f" BSODWATCH_BENCH_KEEP=1 \
    "$W/fetcher.test" -test.run '^$' -test.bench '^BenchmarkSMBCopy$' -test.benchtime 1x
}
smbget() { smbclient "//127.0.0.1/ADMIN\$" -p "${1##*:}" -U "$BSODWATCH_SMB_USER%$BSODWATCH_SMB_PASS" -c "get bench1g\\MEMORY.DMP $2/s.dmp"; }
smbget_sha() {
  smbget "$@" && openssl dgst -sha256 "$2/s.dmp" && if [ "$2" = "$DD" ]; then sync "$2/s.dmp"; fi
}
export -f ours smbget smbget_sha; export W DD BSODWATCH_SMB_USER BSODWATCH_SMB_PASS

# measure INSTANCE SIDE ADDR DEST: runs one side and prints "wall client-CPU smbd-CPU" seconds.
# It waits for the serving smbd child to exit, so that its CPU time is counted.
measure() {
  local inst=$1 side=$2 kids t0 t1 e u s
  kids=$(smbd_kids "$inst"); t0=$(smbd_ticks "$inst")
  if ! /usr/bin/time -f '%e %U %S' -o "$W/time" bash -c '"$@"' _ "$side" "$3" "$4" > "$W/out" 2>&1; then
    echo "bench-copy.sh: $side against $inst failed:" >&2; tail -n 5 "$W/out" >&2; exit 1
  fi
  for _ in $(seq 100); do [ "$(smbd_kids "$inst")" -le "$kids" ] && break; sleep 0.05; done
  t1=$(smbd_ticks "$inst")
  read -r e u s < "$W/time"
  awk -v e="$e" -v u="$u" -v s="$s" -v t="$((t1 - t0))" -v c="$CLK" 'BEGIN { printf "%s %.2f %.2f\n", e, u + s, t / c }'
}

# negotiated INSTANCE SIDE ADDR DEST: runs SIDE once, uncounted, and prints the dialect,
# encryption and signing that smbstatus last showed for its session while it ran.
negotiated() {
  local conf="$SMB_ROOT/$1/smb.conf" pid row seen=""
  bash -c '"$@"' _ "$2" "$3" "$4" > "$W/out" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    row=$(smbstatus -s "$conf" -b 2>/dev/null | awk '$1 ~ /^[0-9]+$/ && NF >= 8 && $(NF-2) != "-" { print $(NF-2) ", encryption " $(NF-1) ", signing " $NF; exit }') || true
    [ -n "$row" ] && seen=$row
    sleep 0.2
  done
  wait "$pid" || { echo "bench-copy.sh: $2 against $1 failed:" >&2; tail -n 5 "$W/out" >&2; exit 1; }
  echo "${seen:-(session not seen)}"
}

# check_copy SIDE DEST: the side's copy is all there (and the fetcher's has the source's hash
# when $3 is set); then it is removed (a file never fsynced is dropped with its dirty pages).
check_copy() {
  local f
  if [ "$1" = ours ]; then f=$(find "$2/f" -type f -name '*MEMORY.DMP'); else f="$2/s.dmp"; fi
  [ "$(stat -c %s "$f" 2>/dev/null)" = $((1 << 30)) ] || { echo "bench-copy.sh: $1 left no 1 GiB copy in $2" >&2; exit 1; }
  if [ -n "${3:-}" ] && [ "$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)" != "$SRC_SUM" ]; then
    echo "bench-copy.sh: the fetcher's copy differs from the source" >&2; exit 1
  fi
  rm -rf "$2/f" "$2/s.dmp"
}

addr_of() {
  case $1 in
    default) echo "$BSODWATCH_SMB_ADDR plain" ;;
    signing-required) echo "$BSODWATCH_SMB_SIGNED_ADDR signed" ;;
    encryption-required) echo "$BSODWATCH_SMB_ENCRYPTED_ADDR encrypted" ;;
    *) echo "bench-copy.sh: unknown mode $1" >&2; exit 1 ;;
  esac
}

# stats FILE COLUMN: "median min max" of a column (the lower middle value for an even count).
stats() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ a[NR] = $1 } END { printf "%s %s %s\n", a[int((NR + 1) / 2)], a[1], a[NR] }'; }

# copy_part DEST-NAME DIR RUNS MODES...
copy_part() {
  local dname=$1 dir=$2 runs=$3 mode addr inst i k side prefix=""
  shift 3
  [ "$dname" = disk ] && prefix="disk-"
  local t0=$SECONDS
  echo
  echo "== 1 GiB copy to $dname ($dir, $(fstype "$dir")): $runs runs per mode, sides alternating; median (min–max) =="
  echo "load average before: $(load)"
  printf '   %-38s %-20s %7s %10s %10s\n' side "wall s" MiB/s "client CPU-s" "smbd CPU-s"
  : > "$W/summary"
  for mode in "$@"; do
    read -r addr inst < <(addr_of "$mode")
    local sides=(ours smbget smbget_sha)
    # warm-up, which also shows what each side negotiated and checks the fetcher's bytes
    echo "   $prefix$mode: fetcher $(negotiated "$inst" ours "$addr" "$dir"); smbclient $(negotiated "$inst" smbget "$addr" "$dir")"
    check_copy ours "$dir" verify
    for side in "${sides[@]}"; do : > "$W/$side"; done
    for i in $(seq "$runs"); do
      for k in 0 1 2; do
        side=${sides[$(( (i + k) % 3 ))]}
        measure "$inst" "$side" "$addr" "$dir" >> "$W/$side"; check_copy "$side" "$dir"
      done
    done
    for side in "${sides[@]}"; do
      local label
      case $side in
        ours) label=fetcher ;;
        smbget) label=smbclient ;;
        smbget_sha) label=smbclient+sha256; [ "$dname" = disk ] && label+=+sync ;;
      esac
      read -r wm wl wh < <(stats "$W/$side" 1)
      read -r cm _ _ < <(stats "$W/$side" 2)
      read -r sm _ _ < <(stats "$W/$side" 3)
      printf '   %-38s %-20s %7.0f %10s %10s\n' "$prefix$mode $label" "$wm ($wl–$wh)" "$(echo "1024 / $wm" | bc -l)" "$cm" "$sm"
    done
    # per-run ratios: run i of one side against run i of the other
    paste "$W/ours" "$W/smbget" | awk '{ print $4 / $1 }' > "$W/r1"
    paste "$W/ours" "$W/smbget_sha" | awk '{ print $4 / $1 }' > "$W/r2"
    read -r r1m r1l r1h < <(stats "$W/r1" 1)
    read -r r2m r2l r2h < <(stats "$W/r2" 1)
    printf '%-26s vs smbclient+sha256 %.2fx (%.2f–%.2f)   vs smbclient (%.2f–%.2f) %.2fx\n' \
      "$prefix$mode" "$r2m" "$r2l" "$r2h" "$r1l" "$r1h" "$r1m" >> "$W/summary"
  done
  echo "fetcher speed / other side's speed, from the runs paired in order; median last:"
  cat "$W/summary"
  echo "load average after: $(load) (this part took $((SECONDS - t0)) s)"
}

if [[ " $PARTS " == *" copy "* ]]; then
  for d in $DESTS; do
    case $d in
      tmpfs) copy_part tmpfs "$DT" "$RUNS" $MODES ;;
      disk) copy_part disk "$DD" "$DISK_RUNS" $DISK_MODES ;;
      *) echo "bench-copy.sh: unknown destination $d" >&2; exit 1 ;;
    esac
  done
fi

if [[ " $PARTS " == *" sweep "* ]]; then
  echo
  echo "== sweep of $HOSTS hosts, nothing new =="
  t0=$SECONDS
  echo "load average before: $(load)"
  # one folder per host: Samba's share-mode locking falls over when hundreds of sessions open
  # the very same directory at once, which real hosts never do
  for i in $(seq 0 $((HOSTS - 1))); do
    mkdir -p "$A/benchsweep/h$i/Minidump"
    { printf 'PAGEDU64'; head -c 65536 /dev/urandom; } > "$A/benchsweep/h$i/Minidump/010124-1-01.dmp"
    truncate -s 1M "$A/benchsweep/h$i/MEMORY.DMP"
  done
  chmod -R a+rwX "$A/benchsweep"
  SWEEP_PORT="$(free_port)"
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
  for _ in $(seq 100); do pid_listens "$(cat "$W/sweep/run/smbd.pid" 2>/dev/null)" "$SWEEP_PORT" && break; sleep 0.1; done
  pid_listens "$(cat "$W/sweep/run/smbd.pid" 2>/dev/null)" "$SWEEP_PORT" \
    || { echo "bench-copy.sh: the sweep's smbd does not answer on port $SWEEP_PORT" >&2; exit 1; }
  BSODWATCH_BENCH_SWEEP_PORT=$SWEEP_PORT BSODWATCH_BENCH_SWEEP_DIR=benchsweep BSODWATCH_BENCH_HOSTS=$HOSTS \
    "$W/fetcher.test" -test.run '^$' -test.bench '^BenchmarkSweepNothingNew$' -test.benchtime 3x > "$W/sweep.out" 2>&1 || true
  awk '/^BenchmarkSweep/ {printf "%d hosts: %.2f s per sweep, %d dump bytes read per sweep, %s hosts failed per sweep\n", $9, $3/1e9, $7, $5; ok=1}
       END {if (!ok) exit 1}' "$W/sweep.out" || { echo "sweep benchmark failed:"; tail -c 600 "$W/sweep.out"; }
  echo "load average after: $(load) (this part took $((SECONDS - t0)) s)"
fi

if [[ " $PARTS " == *" memory "* ]]; then
  echo
  echo "== peak memory copying a 4 GiB file (sparse, to disk) =="
  for mode in $MEM_MODES; do
    read -r addr _ < <(addr_of "$mode")
    rate=$(BSODWATCH_BENCH_ADDR="$addr" BSODWATCH_BENCH_DIR=bench4g BSODWATCH_BENCH_DEST="$DD/m" \
      /usr/bin/time -f '%M' -o "$W/rss" "$W/fetcher.test" -test.run '^$' -test.bench '^BenchmarkSMBCopy$' -test.benchtime 1x \
      | awk '/^BenchmarkSMBCopy/ {printf "%.0f", $5}')
    printf '%-26s 4 GiB at %s MiB/s, max RSS %d MiB (whole process)\n' "$mode" "$rate" $(( $(cat "$W/rss") / 1024 ))
  done
fi
echo
echo "load average at the end: $(load); the whole run took $SECONDS s"
