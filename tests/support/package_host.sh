#!/usr/bin/env bash
# The Debian package's life on a host, for tests/package.rs. Runs as root inside fresh mount, network
# and PID namespaces (`unshare --mount --net --pid --fork`): /usr, /etc and /var are this host's own,
# seen through overlays whose writable layers live in a tmpfs of the namespace, and /run is a fresh
# tmpfs. dpkg, its database and the maintainer scripts therefore run exactly as on the host (systemd
# not running), and nothing they write outlives the namespace.
#
# Steps: install (dpkg -i); `systemd-analyze verify` of the installed unit; the installed man pages
# and bash completion load; the unit's ExecStartPre, ExecStart and ExecReload run as systemd runs
# them, in a nested mount namespace that makes the system read-only but for the unit's own
# directories (ProtectSystem=strict, PrivateTmp); the client lines the agent prints work as typed;
# SIGTERM stops it; an edited conffile survives a reinstall; remove keeps the conffiles and the
# state, purge deletes them and the link `systemctl enable` made.
#
# Usage: package_host.sh DEB LAYERS_DIR       (internally: package_host.sh --service)
# Exit 0 with `package lifecycle: every step passed`; 77 with `skipping: …` when the kernel refuses
# a tmpfs or an overlay here; else 1 with `FAILED: …`.
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8

fail() {
  echo "FAILED: $*" >&2
  exit 1
}
step() { echo "step: $*"; }
unit=/lib/systemd/system/pagent.service

# The value of the unit's KEY= line (the first one).
unit_value() { sed -n "s/^$1=//p" "$unit" | head -n 1; }

# Waits up to 15 s for PATTERN in FILE while process PID lives.
wait_for() {
  local pattern=$1 file=$2 pid=$3
  for _ in $(seq 150); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Inside a nested mount namespace: the service as systemd would run it.
service() {
  local runtime state logs
  runtime=/run/$(unit_value RuntimeDirectory)
  state=/var/lib/$(unit_value StateDirectory)
  logs=/var/log/$(unit_value LogsDirectory)
  if [ "$runtime" = /run/ ] || [ "$state" = /var/lib/ ]; then
    fail "the unit names no RuntimeDirectory or StateDirectory"
  fi
  step "sandbox: ProtectSystem=strict, PrivateTmp; writable: $runtime $state $logs"
  mount -t tmpfs -o mode=1777 attls-tmp /tmp
  mount -t tmpfs -o mode=1777 attls-var-tmp /var/tmp
  local d mnt
  for d in "$runtime" "$state" "$logs"; do
    mkdir -p "$d"
    mount --bind "$d" "$d"
  done
  # Every other mount read-only, but the API file systems. Mounts hidden under the fresh /run
  # cannot be reached (and need not be): the probes below prove the result.
  while read -r _ _ _ _ mnt _; do
    case "$mnt" in
    /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /tmp | /var/tmp | "$runtime" | "$state" | "$logs") ;;
    *) mount -o remount,bind,ro "$mnt" 2>/dev/null || true ;;
    esac
  done </proc/self/mountinfo
  for d in /etc/attls /usr/sbin /var/lib/dpkg /lib/systemd/system /root /; do
    if touch "$d/.attls-probe" 2>/dev/null; then fail "the sandbox let $d be written"; fi
  done
  for d in "$runtime" "$state" "$logs" /tmp; do
    touch "$d/.attls-probe" || fail "the sandbox does not let $d be written"
    rm "$d/.attls-probe"
  done

  local -a pre start reload
  read -r -a pre <<<"$(unit_value ExecStartPre)"
  read -r -a start <<<"$(unit_value ExecStart)"
  read -r -a reload <<<"$(unit_value ExecReload)"
  step "ExecStartPre: ${pre[*]}"
  "${pre[@]}" || fail "ExecStartPre failed"
  step "ExecStart: ${start[*]}"
  "${start[@]}" >/tmp/agent.out 2>/tmp/agent.err &
  local agent=$!
  wait_for '^Then: ' /tmp/agent.out "$agent" ||
    fail "the agent did not start: $(cat /tmp/agent.out /tmp/agent.err)"
  cat /tmp/agent.out
  for f in ca.pem server.pem server.key; do
    [ -s "$state/dev-keyring/$f" ] || fail "no development keyring file $state/dev-keyring/$f"
  done
  [ "$(stat -c %a "$state/dev-keyring/server.key")" = 600 ] || fail "server.key is not 0600"
  [ -S "$runtime/pagent.sock" ] || fail "no control socket $runtime/pagent.sock"

  # The lines the agent printed, run as typed (the openssl one with its stdin closed).
  local curl_line netstat_line openssl_line body
  curl_line=$(sed -n 's/^  \(curl .*\)/\1/p' /tmp/agent.out)
  openssl_line=$(sed -n 's/^  \(openssl .*\)/\1/p' /tmp/agent.out)
  netstat_line=$(sed -n 's/^Then: //p' /tmp/agent.out)
  if [ -z "$curl_line" ] || [ -z "$openssl_line" ] || [ -z "$netstat_line" ]; then
    fail "the agent printed no client lines"
  fi
  step "as printed: $curl_line"
  body=$(bash -c "$curl_line --silent --show-error --max-time 10") || fail "curl failed"
  echo "$body"
  case "$body" in *"attls demo backend"*) ;; *) fail "curl did not reach the demo backend" ;; esac
  step "as printed: $openssl_line"
  bash -c "$openssl_line" </dev/null >/tmp/openssl.out 2>&1 || fail "openssl: $(cat /tmp/openssl.out)"
  grep -q '^Verification: OK' /tmp/openssl.out || fail "openssl: $(cat /tmp/openssl.out)"
  step "as printed: $netstat_line"
  bash -c "$netstat_line" || fail "netstat failed"
  step "ExecReload: ${reload[*]}"
  "${reload[@]}" || fail "ExecReload failed"
  step "SIGTERM"
  kill -TERM "$agent"
  local rc=0
  wait "$agent" || rc=$?
  [ "$rc" = 0 ] || fail "the agent exited $rc after SIGTERM: $(cat /tmp/agent.err)"
}

if [ "${1:-}" = --service ]; then
  service
  exit 0
fi

deb=$1 layers=$2
[ -f "$deb" ] || fail "no package $deb"
mount -t tmpfs -o mode=0700 attls-layers "$layers" || {
  echo "skipping: the kernel refused a tmpfs in a mount namespace"
  exit 77
}
for d in usr etc var lib lib64 bin sbin; do
  if [ -d "/$d" ] && [ ! -L "/$d" ]; then
    mkdir -p "$layers/$d/upper" "$layers/$d/work"
    mount -t overlay "attls-$d" -o "lowerdir=/$d,upperdir=$layers/$d/upper,workdir=$layers/$d/work" "/$d" || {
      echo "skipping: the kernel refused an overlay on /$d"
      exit 77
    }
  fi
done
mount -t tmpfs -o mode=0755 attls-run /run
ip link set lo up
# A fresh host (what the host itself holds stays untouched under the overlays).
if dpkg-query -W -f='${Status}' attls 2>/dev/null | grep -q ' installed$'; then
  dpkg --purge attls >/dev/null
fi
rm -rf /etc/attls /var/lib/attls /var/log/attls
# man-db's trigger would rebuild every index: man finds the new pages without it.
rm -f /var/lib/man-db/auto-update

step "dpkg -i $(basename "$deb")"
dpkg -i "$deb" </dev/null
[ "$(dpkg-query -W -f='${Status}' attls)" = "install ok installed" ] || fail "attls is not installed"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' attls)
grep -q '^ /etc/attls/pagent.conf ' <<<"$conffiles" || fail "pagent.conf is no conffile: $conffiles"

step "systemd-analyze verify $unit"
systemd-analyze verify --man=no "$unit" || fail "systemd-analyze verify"
step "man 8 pagent-start"
man 8 pagent-start 2>&1 | grep -q 'pagent start' || fail "man 8 pagent-start: $(man 8 pagent-start 2>&1)"
step "bash completion"
bash -c 'source /usr/share/bash-completion/completions/pagent && complete -p pagent' || fail "bash completion"

unshare --mount "$0" --service

step "systemctl enable pagent (links only: systemd is not running here)"
systemctl enable pagent.service
link=$(find /etc/systemd/system -name pagent.service -path '*.wants/*' | head -n 1)
[ -L "$link" ] || fail "systemctl enable made no link"

step "reinstall with an edited conffile"
echo "# edited by the administrator" >>/etc/attls/pagent.conf
dpkg -i "$deb" </dev/null
grep -q '^# edited by the administrator$' /etc/attls/pagent.conf || fail "the edited pagent.conf was replaced"

step "dpkg --remove attls"
dpkg --remove attls </dev/null
[ "$(dpkg-query -W -f='${Status}' attls)" = "deinstall ok config-files" ] || fail "attls is not in config-files"
for f in /usr/sbin/pagent "$unit" /usr/share/man/man8/pagent.8.gz /usr/share/doc/attls; do
  [ ! -e "$f" ] || fail "$f is left after remove"
done
for f in /etc/attls/pagent.conf /var/lib/attls/dev-keyring/ca.pem; do
  [ -e "$f" ] || fail "remove deleted $f"
done

step "dpkg --purge attls"
dpkg --purge attls </dev/null
if dpkg-query -W -f='${Status}' attls 2>/dev/null | grep -q 'installed\|config-files'; then
  fail "attls is still known to dpkg"
fi
for f in /etc/attls /var/lib/attls /var/log/attls /run/attls "$link"; do
  if [ -e "$f" ] || [ -L "$f" ]; then fail "$f is left after purge"; fi
done
echo "package lifecycle: every step passed"
