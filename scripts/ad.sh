#!/usr/bin/env bash
# ad.sh start|stop|status|exec CMD... — a throw-away Active Directory domain for bsodwatch's
# tests: Samba as an AD domain controller (realm BSOD.TEST) on loopback, inside network,
# mount and pid namespaces of its own, so that nothing it serves is bound in the machine's
# network namespace and no other process can answer on its ports (88 Kerberos, 389 LDAP with
# StartTLS, 636 LDAPS, 445 SMB).
#
# Inside the namespace, lo carries one address per name (a private /etc/hosts):
#   127.0.0.1  dc1.bsod.test     the domain controller (KDC, LDAP, SMB)
#   127.0.0.2  srv01.bsod.test   OU=Servers                enabled
#   127.0.0.3  srv02.bsod.test   OU=Web,OU=Servers         enabled, member of "Critical Servers"
#   127.0.0.4  srv03.bsod.test   OU=Servers                disabled
#   127.0.0.5  ghost.bsod.test   OU=Orphans                enabled, but no keys (never joined)
#   127.0.0.6  unjoined.bsod.test                          no computer object, no SPN
# plus lab01..lab$LAB_HOSTS.bsod.test (OU=Lab, no address) so that a search spans pages.
# Samba serves ADMIN$ from $AD_ROOT/shares/<address the client connected to>, so each name is
# a host of its own; the share wants members of "BSOD Dump Readers", signing and encryption.
# NTLM is disabled: only Kerberos logs on. Real dumps are copied in from ../shared/dumps at
# start (never committed). The cifs/<name> SPNs live on the DC's account (dc1$), whose smbd
# answers for every name.
#
# `start` provisions a fresh domain under $AD_ROOT (nothing under /etc or /var is written;
# inside the mount namespace the lab's own directories are bind-mounted over /etc/hosts,
# /run/samba, /var/lib/samba, /var/cache/samba and /var/log/samba) and writes $AD_ROOT/env.sh
# with the BSODWATCH_AD_* variables the Go tests read. `exec CMD` runs CMD inside the
# namespaces with that environment: `scripts/ad.sh exec go test -run '^TestAD' ./...`.
# Missing Debian packages (samba-ad-dc, samba-ad-provision, winbind, krb5-user, ldap-utils) are installed.
# Startup took 10-42 s on the shared 2-core VM (provision 5-25 s, samba 1-2 s, objects 4-10 s;
# ranges over the day's runs, noisy: other engineers share the cores); `stop` ends the
# pid namespace, and with it every samba helper.
#
#   AD_ROOT    default /tmp/bsodwatch-ad
#   LAB_HOSTS  default 12 (extra enabled computers in OU=Lab)
#   BSODWATCH_SHARED  default ../shared beside the checkout (the real dumps)
set -euo pipefail
AD_ROOT="${AD_ROOT:-/tmp/bsodwatch-ad}"
LAB_HOSTS="${LAB_HOSTS:-12}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SHARED="${BSODWATCH_SHARED:-$REPO/../shared}"
REALM=BSOD.TEST DOMAIN=BSOD DNSDOMAIN=bsod.test BASE_DN="DC=bsod,DC=test"
ADMIN_PASS='Ad-Admin-Pass-1'
SVC=svc-bsod SVC_PASS='Svc-Bsod-Pass-1'

die() { echo "ad.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

install_packages() {
  local missing=()
  command -v samba >/dev/null && [ -e /usr/share/doc/samba-ad-dc ] || missing+=(samba-ad-dc)
  command -v winbindd >/dev/null || missing+=(winbind)
  command -v kinit >/dev/null || missing+=(krb5-user)
  command -v ldapsearch >/dev/null || missing+=(ldap-utils)
  # The AD schema files that provisioning reads: only Recommended by samba-ad-dc, which
  # --no-install-recommends leaves out.
  [ -d /usr/share/samba/setup/ad-schema ] || missing+=(samba-ad-provision)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]} and installing needs root"
  command -v apt-get >/dev/null || die "missing ${missing[*]} and apt-get is not available"
  # Keep Debian's maintainer scripts from starting a system samba or winbindd.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
  fi
  echo "ad.sh: installing ${missing[*]} from Debian packages" >&2
  local t; t=$(now)
  apt-get -o DPkg::Lock::Timeout=600 update >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" >&2
  echo "ad.sh: packages installed in $(since "$t")" >&2
}

init_pid() { cat "$AD_ROOT/run/init.pid" 2>/dev/null; }
running() { local p; p=$(init_pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# in_ns CMD...: run CMD in the lab's network and mount namespaces.
in_ns() { nsenter --net="/proc/$(init_pid)/ns/net" --mount="/proc/$(init_pid)/ns/mnt" "$@"; }

provision() {
  rm -rf "$AD_ROOT"
  mkdir -p "$AD_ROOT"/{log,run,tls,shares,sys/run,sys/lib,sys/cache}
  : > "$AD_ROOT/empty.conf" # provision reads the system smb.conf unless given one
  # --host-ip and an "ntlm auth" option are ignored here: the generated smb.conf is edited below.
  TDB_NO_FSYNC=1 samba-tool domain provision --configfile="$AD_ROOT/empty.conf" \
    --targetdir="$AD_ROOT" --realm="$REALM" --domain="$DOMAIN" --server-role=dc \
    --dns-backend=NONE --host-name=dc1 --adminpass="$ADMIN_PASS" \
    --option="interfaces = lo" --option="bind interfaces only = yes" \
    --option="disable netbios = yes" \
    --option="pid directory = $AD_ROOT/run" \
    --option="ncalrpc dir = $AD_ROOT/run/ncalrpc" \
    --option="ntp signd socket directory = $AD_ROOT/run/ntp_signd" \
    --option="log file = $AD_ROOT/log/log.%m" \
    --option="server services = -dns -nbt -wrepl -ntp_signd -dnsupdate -kcc" \
    --option="dns update command = /bin/true" \
    --option="tls enabled = yes" \
    --option="tls keyfile = $AD_ROOT/tls/dc.key" \
    --option="tls certfile = $AD_ROOT/tls/dc.pem" \
    --option="tls cafile = $AD_ROOT/tls/ca.pem" \
    --option="ldap server require strong auth = allow_sasl_over_tls" \
    >"$AD_ROOT/log/provision.log" 2>&1 || { tail -n 30 "$AD_ROOT/log/provision.log" >&2; die "provision failed"; }
  sed -i '/^\[global\]/a\	ntlm auth = disabled\n\tserver signing = mandatory\n\tlog level = 1' "$AD_ROOT/etc/smb.conf"
  cat >> "$AD_ROOT/etc/smb.conf" <<CONF

[ADMIN\$]
	path = $AD_ROOT/shares/%i
	read only = yes
	browseable = no
	valid users = @"$DOMAIN\\BSOD Dump Readers"
	server smb encrypt = required
CONF
  # With dnsupdate off, the DC's own SPNs (ldap/dc1..., cifs/dc1...) are only written by
  # samba_spnupdate.
  samba_spnupdate -s "$AD_ROOT/etc/smb.conf" >"$AD_ROOT/log/spnupdate.log" 2>&1 \
    || { tail -n 20 "$AD_ROOT/log/spnupdate.log" >&2; die "samba_spnupdate failed"; }
}

# certificates: an EC CA and server certificate of our own (the one Samba generates has a
# negative serial number, which Go's x509 refuses).
certificates() {
  local d="$AD_ROOT/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=bsodwatch test AD CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$d/dc.key" -out "$d/dc.csr" -subj "/CN=dc1.$DNSDOMAIN" 2>/dev/null
  printf 'subjectAltName=DNS:dc1.%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' "$DNSDOMAIN" > "$d/ext.cnf"
  openssl x509 -req -in "$d/dc.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 7 -extfile "$d/ext.cnf" -out "$d/dc.pem" 2>/dev/null
  chmod 600 "$d/dc.key" "$d/ca.key"
}

# dumps: real crash dumps from ../shared/dumps, one set per host address.
dumps() {
  local k="$SHARED/dumps/kernel"
  [ -d "$k" ] || die "$k is absent: the rig serves real dumps from ../shared/dumps (set BSODWATCH_SHARED)"
  local s="$AD_ROOT/shares"
  mkdir -p "$s"/127.0.0.{2,3,4,5}/Minidump
  cp "$k/triage-x64-win10-19041-bc1000007e.dmp" "$s/127.0.0.2/Minidump/022121-7000-01.dmp"
  cp "$k/triage-arm64-win11-22000-bc1c8.dmp" "$s/127.0.0.3/MEMORY.DMP"
  cp "$k/triage-arm64-win10-17134-bce2.dmp" "$s/127.0.0.3/Minidump/051718-9000-01.dmp"
  cp "$k/triage-x64-win10-19041-bc1000007e.dmp" "$s/127.0.0.4/MEMORY.DMP"
  cp "$k/triage-x64-win10-19041-bc1000007e.dmp" "$s/127.0.0.5/MEMORY.DMP"
  find "$s" -type f -exec touch -d '2024-03-04 05:06:07 UTC' {} +
  chmod -R a+rX "$s"
}

files() {
  {
    printf '127.0.0.1 localhost dc1.%s dc1\n' "$DNSDOMAIN"
    printf '127.0.0.2 srv01.%s srv01\n127.0.0.3 srv02.%s srv02\n' "$DNSDOMAIN" "$DNSDOMAIN"
    printf '127.0.0.4 srv03.%s srv03\n127.0.0.5 ghost.%s ghost\n' "$DNSDOMAIN" "$DNSDOMAIN"
    printf '127.0.0.6 unjoined.%s unjoined\n::1 localhost\n' "$DNSDOMAIN"
  } > "$AD_ROOT/hosts"
  cat > "$AD_ROOT/krb5.conf" <<KRB
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	udp_preference_limit = 1
[realms]
	$REALM = {
		kdc = 127.0.0.1:88
	}
[domain_realm]
	.$DNSDOMAIN = $REALM
	$DNSDOMAIN = $REALM
KRB
}

start_samba() {
  # Samba is the pid namespace's init: when it exits, the kernel ends every helper it started
  # (samba-dcerpcd, which smbd starts on demand, outlives a plain samba otherwise).
  local a script
  a=$(printf 'ip addr add 127.0.0.%s/32 dev lo && ' 2 3 4 5 6)
  script="ip link set lo up && $a
    mount --bind '$AD_ROOT/hosts' /etc/hosts &&
    mount --bind '$AD_ROOT/sys/run' /run/samba && mount --bind '$AD_ROOT/log' /var/log/samba &&
    mount --bind '$AD_ROOT/sys/lib' /var/lib/samba && mount --bind '$AD_ROOT/sys/cache' /var/cache/samba &&
    exec env TDB_NO_FSYNC=1 KRB5_CONFIG='$AD_ROOT/krb5.conf' samba -F --no-process-group -s '$AD_ROOT/etc/smb.conf' -l '$AD_ROOT/log'"
  mkdir -p /run/samba /var/lib/samba /var/cache/samba /var/log/samba
  LIBMOUNT_UTAB="$AD_ROOT/run/utab" setsid unshare --net --mount --pid --fork --kill-child \
    sh -c "$script" >"$AD_ROOT/log/samba.out" 2>&1 </dev/null &
  local u=$! p=
  echo "$u" > "$AD_ROOT/run/unshare.pid"
  for _ in $(seq 1 100); do
    p=$(cat "/proc/$u/task/$u/children" 2>/dev/null | awk '{print $1}') && [ -n "$p" ] && break
    sleep 0.05
  done
  [ -n "$p" ] || die "unshare did not start samba (see $AD_ROOT/log/samba.out)"
  echo "$p" > "$AD_ROOT/run/init.pid"
  # The namespace's process must become samba itself (sh execs it), not stay a shell.
  for _ in $(seq 1 100); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = samba ] && break; sleep 0.05; done
  for port in 88 389 636 445; do
    for _ in $(seq 1 600); do
      owner_ok "$port" && continue 2
      kill -0 "$p" 2>/dev/null || { tail -n 20 "$AD_ROOT/log/samba.out" "$AD_ROOT/log/log.samba" >&2 || true; die "samba exited"; }
      sleep 0.1
    done
    die "samba did not open port $port in its namespace (see $AD_ROOT/log/)"
  done
}

# owner_ok PORT: what listens on 127.0.0.1:PORT in the lab's namespace is our samba (a child
# of the namespace's init, which is samba).
owner_ok() {
  local pids line pid
  line=$(in_ns ss -ltnpH "sport = :$1" 2>/dev/null) || return 1
  [ -n "$line" ] || return 1
  pids=$(grep -o 'pid=[0-9]*' <<<"$line" | cut -d= -f2)
  for pid in $pids; do
    # ss inside the namespace prints host pids (the ns has no /proc of its own): walk up to init.
    while [ -n "$pid" ] && [ "$pid" != 1 ] && [ "$pid" != 0 ]; do
      [ "$pid" = "$(init_pid)" ] && return 0
      pid=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    done
  done
  return 1
}

ldap_admin() { # ldap_admin TOOL ARGS...: an LDAP tool, bound as Administrator over LDAPS
  local tool=$1; shift
  in_ns env LDAPTLS_CACERT="$AD_ROOT/tls/ca.pem" LDAPTLS_REQCERT=demand "$tool" -x -H "ldaps://dc1.$DNSDOMAIN" \
    -D "Administrator@$DNSDOMAIN" -w "$ADMIN_PASS" "$@"
}

samba_tool() { in_ns samba-tool "$@" -s "$AD_ROOT/etc/smb.conf"; }

# computer CN OU DNSNAME UAC [EXTRA-LDIF]: a computer object with dNSHostName, over LDAP.
computer() {
  local cn=$1 ou=$2 dns=$3 uac=$4 extra=${5:-}
  printf 'dn: CN=%s,%s\nobjectClass: computer\nsAMAccountName: %s$\ndNSHostName: %s\nuserAccountControl: %s\n' \
    "$cn" "$ou" "$cn" "$dns" "$uac"
  [ -z "$extra" ] || printf '%s\n' "$extra"
  echo
}

populate() {
  local ldif="$AD_ROOT/populate.ldif" i
  {
    for ou in "OU=Servers,$BASE_DN" "OU=Web,OU=Servers,$BASE_DN" "OU=Orphans,$BASE_DN" "OU=Lab,$BASE_DN" "OU=Service Accounts,$BASE_DN"; do
      printf 'dn: %s\nobjectClass: organizationalUnit\n\n' "$ou"
    done
    # 4096 = WORKSTATION_TRUST_ACCOUNT (enabled); 4098 adds ACCOUNTDISABLE; 32 = no password yet
    computer SRV01 "OU=Servers,$BASE_DN" "srv01.$DNSDOMAIN" 4128 "l: Berlin"
    computer SRV02 "OU=Web,OU=Servers,$BASE_DN" "srv02.$DNSDOMAIN" 4128 "l: Paris"
    computer SRV03 "OU=Servers,$BASE_DN" "srv03.$DNSDOMAIN" 4130
    computer GHOST "OU=Orphans,$BASE_DN" "ghost.$DNSDOMAIN" 4128
    for i in $(seq -w 1 "$LAB_HOSTS"); do computer "LAB$i" "OU=Lab,$BASE_DN" "lab$i.$DNSDOMAIN" 4128; done
    printf 'dn: CN=Critical Servers,OU=Servers,%s\nobjectClass: group\nsAMAccountName: Critical Servers\nmember: CN=SRV02,OU=Web,OU=Servers,%s\n\n' "$BASE_DN" "$BASE_DN"
  } > "$ldif"
  ldap_admin ldapadd -f "$ldif" >"$AD_ROOT/log/populate.log" 2>&1 || { cat "$AD_ROOT/log/populate.log" >&2; die "ldapadd failed"; }

  local sa="OU=Service Accounts,$BASE_DN"
  samba_tool group add "BSOD Dump Readers" >/dev/null
  for u in "$SVC" svc-stale svc-outsider; do
    samba_tool user create "$u" "$SVC_PASS" --userou="OU=Service Accounts" >/dev/null
  done
  samba_tool group addmembers "BSOD Dump Readers" "$SVC,svc-stale" >/dev/null
  # The names the fetcher asks tickets for; the DC's smbd answers for all of them.
  for h in srv01 srv02 srv03; do samba_tool spn add "cifs/$h.$DNSDOMAIN" 'dc1$' >/dev/null; done
  samba_tool domain exportkeytab "$AD_ROOT/$SVC.keytab" --principal="$SVC@$REALM" >/dev/null
  samba_tool domain exportkeytab "$AD_ROOT/svc-stale.keytab" --principal="svc-stale@$REALM" >/dev/null
  # The stale keytab: the account's password changed after the keytab was exported.
  samba_tool user setpassword svc-stale --newpassword='Svc-Stale-Pass-2' >/dev/null
  chmod 600 "$AD_ROOT"/*.keytab
  printf '%s\n' "$SVC_PASS" > "$AD_ROOT/$SVC.pass"
  chmod 600 "$AD_ROOT/$SVC.pass"
  : "$sa"
}

# check: the directory answering on LDAPS is this lab's (its naming context and DC name).
check() {
  local out
  out=$(ldap_admin ldapsearch -LLL -b '' -s base defaultNamingContext dnsHostName 2>&1) || die "LDAPS check failed: $out"
  grep -q "^defaultNamingContext: $BASE_DN\$" <<<"$out" && grep -qi "^dnsHostName: dc1.$DNSDOMAIN\$" <<<"$out" \
    || die "the directory on LDAPS is not this lab's: $out"
}

write_env() {
  local lab=() i
  for i in $(seq -w 1 "$LAB_HOSTS"); do lab+=("lab$i.$DNSDOMAIN"); done
  cat > "$AD_ROOT/env.sh" <<ENV
# written by scripts/ad.sh start; scripts/ad.sh exec runs commands inside the lab with it
export BSODWATCH_AD_ENV='$AD_ROOT/env.sh'
export BSODWATCH_AD_ROOT='$AD_ROOT'
export BSODWATCH_AD_REALM='$REALM'
export BSODWATCH_AD_DOMAIN='$DNSDOMAIN'
export BSODWATCH_AD_BASE_DN='$BASE_DN'
export BSODWATCH_AD_DC='dc1.$DNSDOMAIN'
export BSODWATCH_AD_KDC='127.0.0.1:88'
export BSODWATCH_AD_KRB5_CONF='$AD_ROOT/krb5.conf'
export BSODWATCH_AD_CA_FILE='$AD_ROOT/tls/ca.pem'
export BSODWATCH_AD_USER='$SVC'
export BSODWATCH_AD_KEYTAB='$AD_ROOT/$SVC.keytab'
export BSODWATCH_AD_PASSWORD_FILE='$AD_ROOT/$SVC.pass'
export BSODWATCH_AD_STALE_USER='svc-stale'
export BSODWATCH_AD_STALE_KEYTAB='$AD_ROOT/svc-stale.keytab'
export BSODWATCH_AD_OUTSIDER_USER='svc-outsider'
export BSODWATCH_AD_SHARES='$AD_ROOT/shares'
# enabled hosts with dumps, by OU; disabled; enabled without keys; no account; OU=Lab
export BSODWATCH_AD_SERVERS='srv01.$DNSDOMAIN srv02.$DNSDOMAIN'
export BSODWATCH_AD_NESTED='srv02.$DNSDOMAIN'
export BSODWATCH_AD_DISABLED='srv03.$DNSDOMAIN'
export BSODWATCH_AD_NO_KEYS='ghost.$DNSDOMAIN'
export BSODWATCH_AD_UNJOINED='unjoined.$DNSDOMAIN'
export BSODWATCH_AD_LAB='${lab[*]}'
export BSODWATCH_AD_CRITICAL_GROUP='CN=Critical Servers,OU=Servers,$BASE_DN'
ENV
}

cmd_start() {
  local t0 t; t0=$(now)
  install_packages
  [ "$(id -u)" = 0 ] || die "start needs root (namespaces, bind mounts)"
  cmd_stop >/dev/null
  t=$(now); provision; echo "ad.sh: provisioned $REALM in $(since "$t")" >&2
  certificates; dumps; files
  t=$(now); start_samba; echo "ad.sh: samba up in $(since "$t") (namespace init pid $(init_pid))" >&2
  t=$(now); populate; check; echo "ad.sh: OUs, computers, accounts, SPNs, keytabs in $(since "$t")" >&2
  write_env
  echo "ad.sh: ready in $(since "$t0"); run commands inside with: AD_ROOT=$AD_ROOT $0 exec CMD..." >&2
}

cmd_stop() {
  local u p
  u=$(cat "$AD_ROOT/run/unshare.pid" 2>/dev/null) || return 0
  p=$(init_pid || true)
  [ -n "$p" ] && kill "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$u" 2>/dev/null || { rm -f "$AD_ROOT/run/unshare.pid" "$AD_ROOT/run/init.pid"; echo "ad.sh: stopped" >&2; return 0; }
    sleep 0.1
  done
  kill -9 "$u" 2>/dev/null || true
  rm -f "$AD_ROOT/run/unshare.pid" "$AD_ROOT/run/init.pid"
  echo "ad.sh: samba did not stop in 10s; killed" >&2
}

cmd_exec() {
  running || die "the lab is not running: $0 start"
  [ $# -gt 0 ] || die "usage: $0 exec CMD..."
  # shellcheck disable=SC1091
  . "$AD_ROOT/env.sh"
  exec nsenter --net="/proc/$(init_pid)/ns/net" --mount="/proc/$(init_pid)/ns/mnt" --wd="$PWD" "$@"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if running; then echo "running (namespace init pid $(init_pid))"; else echo stopped; exit 1; fi ;;
  exec) shift; cmd_exec "$@" ;;
  *) echo "usage: $0 start|stop|status|exec CMD..." >&2; exit 2 ;;
esac
