#!/usr/bin/env bash
# What `scripts/run` shows, for tests/package.rs: the agent started as scripts/run starts it (from
# the repository, on the relative policies/pagent.conf) prints client lines; each must work as typed
# in another shell: from another directory, with a bare environment and no pagent on its PATH.
# Runs as root inside fresh mount, network and PID namespaces (`unshare --mount --net --pid --fork`):
# /run and /var/lib are fresh tmpfs there, so the control socket and the development keyring the
# agent writes outlive nothing, and port 8443 is this namespace's own.
# Usage: run_lines.sh PAGENT REPOSITORY
# Exit 0 with `client lines: every line worked as typed`; 1 with `FAILED: …`.
set -euo pipefail
pagent=$1 repo=$2
fail() {
  echo "FAILED: $*" >&2
  exit 1
}

ip link set lo up
mount -t tmpfs -o mode=0755 attls-run /run
mount -t tmpfs -o mode=0755 attls-var-lib /var/lib
mkdir -p /run/attls
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
(cd "$repo" && exec "$pagent" start -c policies/pagent.conf) >"$out" 2>"$err" &
agent=$!
for _ in $(seq 150); do
  grep -q '^Then: ' "$out" && break
  kill -0 "$agent" 2>/dev/null || fail "the agent did not start: $(cat "$out" "$err")"
  sleep 0.1
done
cat "$out"
lines=$(sed -n -e 's/^  \(curl .*\)/\1/p' -e 's/^  \(openssl .*\)/\1/p' -e 's/^Then: //p' "$out")
[ "$(wc -l <<<"$lines")" = 3 ] || fail "not three client lines: $lines"
while read -r line; do
  echo "as typed: $line"
  (cd / && env -i PATH=/usr/bin:/bin HOME=/ bash --norc --noprofile -c "$line" </dev/null) ||
    fail "$line"
done <<<"$lines"
kill -TERM "$agent"
wait "$agent" || fail "the agent exited $? after SIGTERM"
echo "client lines: every line worked as typed"
