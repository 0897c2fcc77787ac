#!/usr/bin/env bash
# The supervisor under a real systemd-journald, read back with journalctl.
# Run by tests/journal.rs inside `unshare --mount --propagation private`:
# a temp dir is mounted over /run (journald's sockets and its volatile
# journal) and over /var/log (so nothing reaches the host's journal).
# Usage: real.sh SUPERVISOR DECLARATIONS_DIR WORK_DIR; prints what
# `journalctl INSTANCE=main` shows, then the verbose fields of one event.
set -euo pipefail
supervisor=$1 decl=$2 work=$3
mkdir -p "$work/run" "$work/varlog"
mount --bind "$work/run" /run
mount --bind "$work/varlog" /var/log
mkdir -p /run/systemd/journal /run/log/journal
/lib/systemd/systemd-journald > "$work/journald.out" 2>&1 &
journald=$!
sup=""
cleanup() {
  [ -n "$sup" ] && kill -TERM "$sup" 2>/dev/null && wait "$sup" 2>/dev/null
  kill "$journald" 2>/dev/null; wait "$journald" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || { echo "journald did not start: $(cat "$work/journald.out")" >&2; exit 1; }
# stderr is a file; JOURNAL_STREAM names it, as systemd does for a unit
# whose StandardError is the journal.
: > "$work/stderr.txt"
JOURNAL_STREAM="$(stat -c '%d:%i' "$work/stderr.txt")" OPENCLAW_SUPERVISOR_LOG=info \
  "$supervisor" --dir "$decl" --state-dir "$work/state" --socket "$work/s.sock" start \
  2> "$work/stderr.txt" > /dev/null &
sup=$!
client() { "$supervisor" --socket "$work/s.sock" "$@"; }
for _ in $(seq 1 200); do client version > /dev/null 2>&1 && break; sleep 0.05; done
client start main --wait --timeout 60s > /dev/null 2>&1
client restart main --force --wait --timeout 60s > /dev/null 2>&1
kill -TERM "$sup"; wait "$sup"; sup=""
journalctl --directory=/run/log/journal --sync > /dev/null 2>&1 || true
echo "---- journalctl INSTANCE=main"
journalctl --directory=/run/log/journal --no-pager -o cat INSTANCE=main
echo "---- journalctl INSTANCE=main EVENT=spawned -o verbose"
journalctl --directory=/run/log/journal --no-pager -o verbose INSTANCE=main EVENT=spawned
echo "---- stderr"
cat "$work/stderr.txt"
