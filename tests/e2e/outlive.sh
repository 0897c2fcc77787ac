# Gateways outlive the supervisor (issue 16, "Measure"), with the real
# gateway: sourced by tests/e2e/openclaw.sh, which defines SUPERVISOR, WORK,
# SUP_PID, READY_LIMIT, json, client, wait_until, ready_expr, now_ms, say,
# fail, start_supervisor, keeper_pids, and has main and rescue running and
# ready.
#
# While the scenarios run, tests/e2e/readyz_watch.py asks both gateways'
# `/readyz` every 200 ms over loopback and records every sample, so a
# gateway's downtime is the seconds without a ready `/readyz`.
#   1. SIGKILL of the supervisor, a new one over the same state dir: both
#      gateways keep their pids, no `/readyz` sample fails, their own log
#      files have no SIGTERM or shutdown line, `logs main` has what the
#      gateway wrote while no supervisor ran (its keeper spooled it) and no
#      gap, `events main` has `adopted`.
#   2. `reexec` (when this build has it): the pids kept, no failed sample,
#      readiness probed again after it, no SIGTERM or shutdown line, no new
#      spawn in `logs main`, a `reexecuted` event.
#   3. For comparison, `restart main`: what every supervisor restart did to
#      every gateway before keepers.
# One summary line per scenario goes to stdout and to target/e2e-outlive.txt.

OUTLIVE_WATCH_PID=""
OUTLIVE_SAMPLES=""
OUTLIVE_STOP=""
# Seconds with no supervisor at all after its SIGKILL.
OUTLIVE_GAP=${OPENCLAW_E2E_OUTLIVE_GAP:-5}
OUTLIVE_REPORT="$REPO/target/e2e-outlive.txt"

outlive_say() { # one summary line: stdout (the CI log) and the report file
  echo "outlive: $*"
  echo "outlive: $*" >> "$OUTLIVE_REPORT"
}

outlive_stop_watch() { # called by the e2e's cleanup too
  if [ -n "$OUTLIVE_WATCH_PID" ]; then
    [ -n "$OUTLIVE_STOP" ] && touch "$OUTLIVE_STOP"
    kill -TERM "$OUTLIVE_WATCH_PID" 2>/dev/null || true
    wait "$OUTLIVE_WATCH_PID" 2>/dev/null || true
    OUTLIVE_WATCH_PID=""
  fi
}

# The watcher's last sample of NAME at or after MS, when it was ready.
outlive_ok_after() { # NAME MS
  [ -f "$OUTLIVE_SAMPLES" ] && awk -v name="$1" -v since="$2" '$2 == name && $1 >= since { last = $3 } END { exit !(last == "ok") }' \
    "$OUTLIVE_SAMPLES"
}

outlive_wait_samples() { # MS: both gateways sampled ready after MS
  local since=$1 start
  start=$(date +%s)
  until outlive_ok_after main "$since" && outlive_ok_after rescue "$since"; do
    [ $(( $(date +%s) - start )) -lt "$READY_LIMIT" ] \
      || fail "the readiness watcher saw no ready /readyz of both gateways after $since within ${READY_LIMIT}s"
    sleep 0.2
  done
}

outlive_downtime() { # FROM_MS TO_MS: "<name> <seconds> <samples> <failed> <first>" per gateway
  python3 "$HERE/readyz_watch.py" downtime "$OUTLIVE_SAMPLES" "$1" "$2" main rescue
}

outlive_field() { # DOWNTIME_LINES NAME COLUMN(2 seconds, 3 samples, 4 failed, 5 first)
  awk -v name="$2" -v col="$3" '$1 == name { print $col }' <<< "$1"
}

# NAME's readiness probe passed at or after MS (probes run on).
outlive_probed_after() { # NAME MS
  echo "(i['$1']['probes'].get('readiness') or {}).get('at',0)>=$2 and $(ready_expr "$1")"
}

outlive_log_size() { stat -c %s "$WORK/$1/gateway.log" 2>/dev/null || echo 0; }

# The gateway's own log file since OFFSET has no stop signal and no shutdown.
outlive_assert_no_shutdown() { # NAME OFFSET WHAT
  local stops
  stops=$(tail -c +"$(( $2 + 1 ))" "$WORK/$1/gateway.log" 2>/dev/null \
    | grep -E 'SIGTERM|SIGINT|shutting down|shutdown completed|restarting' || true)
  [ -z "$stops" ] || fail "$3: $1's gateway log has a stop or shutdown line: $stops"
}

outlive_assert_kept() { # WHAT MAIN_PID RESCUE_PID
  local now_main now_rescue
  now_main=$(json "i['main']['pid']"); now_rescue=$(json "i['rescue']['pid']")
  [ "$now_main" = "$2" ] || fail "$1: main's gateway pid changed from $2 to $now_main"
  [ "$now_rescue" = "$3" ] || fail "$1: the rescue's gateway pid changed from $3 to $now_rescue"
  kill -0 "$2" 2>/dev/null || fail "$1: main's gateway $2 is gone"
  kill -0 "$3" 2>/dev/null || fail "$1: the rescue's gateway $3 is gone"
}

outlive_assert_no_failed_sample() { # WHAT DOWNTIME_LINES
  local name
  for name in main rescue; do
    [ "$(outlive_field "$2" "$name" 3)" -gt 0 ] || fail "$1: the watcher took no sample of $name"
    [ "$(outlive_field "$2" "$name" 4)" = 0 ] \
      || fail "$1: $(outlive_field "$2" "$name" 4) /readyz samples of $name failed (first: $(outlive_field "$2" "$name" 5))"
  done
}

# `logs NAME -t` around a supervisor's absence from FROM_MS on: the
# adoption marker of PID, no new spawn, no gap marker, and the gateway's
# lines by the time they were read (a keeper keeps the time it spooled a
# line). Prints "<lines while no supervisor ran> <lines before> <lines
# after>"; with NEEDLE, one line while no supervisor ran must contain it.
outlive_spool_check() { # NAME FROM_MS PID WHAT [NEEDLE]
  client logs "$1" -t -n 2000 > "$WORK/outlive-logs-$1.txt" || fail "$4: logs $1 failed"
  python3 - "$WORK/outlive-logs-$1.txt" "$2" "$3" "$4" "${5:-}" <<'EOF'
import datetime, sys
path, since, pid, what, needle = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
marker = "[openclaw-supervisor]"
lines, adopted_at, problems = [], None, []
for line in open(path, errors="replace"):
    stamp, _, text = line.rstrip("\n").partition(" ")
    try:
        at = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        continue
    at = int(at.timestamp() * 1000)
    if not text.startswith(marker):
        lines.append((at, text))
    elif at >= since and "spawned pid" in text:
        problems.append(f"a new spawn: {text}")
    elif at >= since and "dropped" in text:
        problems.append(f"a gap: {text}")
    elif at >= since and f"adopted pid {pid}" in text:
        adopted_at = at
if adopted_at is None:
    problems.append(f"no '{marker} adopted pid {pid}' marker after the supervisor's absence")
    adopted_at = float("inf")
before = [t for at, t in lines if at < since]
during = [t for at, t in lines if since <= at < adopted_at]
after = [t for at, t in lines if at >= adopted_at]
if not before:
    problems.append("no gateway line before the supervisor's absence")
if needle and not any(needle in t for t in during):
    problems.append(f"no line with {needle!r} read while no supervisor ran: {during}")
if problems:
    sys.exit(f"{what}: logs: " + "; ".join(problems))
print(len(during), len(before), len(after))
EOF
}

# A line the gateway prints, asked for over loopback: a WebSocket upgrade
# closed before its handshake ends (the gateway logs `[ws] closed before
# connect ... peer=127.0.0.1:<our port>->`). Prints that peer.
outlive_provoke() { # PORT
  python3 - "$1" <<'EOF' || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
print(f"peer=127.0.0.1:{s.getsockname()[1]}->", flush=True)
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          b"Authorization: Bearer not-the-token\r\n\r\n")
try:
    s.recv(4096)
except OSError:
    pass
s.close()
EOF
}

outlive_adopted_event() { # NAME FROM_MS: `events NAME` has an `adopted` event from FROM_MS on
  client events "$1" -n 50 --json > "$WORK/outlive-events-$1.jsonl" || fail "events $1 -n failed"
  python3 - "$WORK/outlive-events-$1.jsonl" "$2" <<'EOF' || fail "no adopted event of $1 in its journal after the supervisor's absence"
import json, sys
since = int(sys.argv[2])
sys.exit(not any(e.get("kind") == "adopted" and e.get("at", 0) >= since
                 for e in map(json.loads, open(sys.argv[1]))))
EOF
}

outlive_sigkill() {
  local main_pid rescue_pid main_off rescue_off t0 t_start t_running t_ready down spool spooled name pid
  local -A peer
  say "outlive: SIGKILL the supervisor, ${OUTLIVE_GAP}s with none, then a new one over the same state dir"
  main_pid=$(json "i['main']['pid']"); rescue_pid=$(json "i['rescue']['pid']")
  main_off=$(outlive_log_size main); rescue_off=$(outlive_log_size rescue)
  t0=$(now_ms)
  kill -KILL "$SUP_PID"
  wait "$SUP_PID" 2>/dev/null || true
  SUP_PID=""
  # The gap is the thing measured, not a synchronisation: the gateways
  # live on their own meanwhile. Ask each for a line of output in it.
  peer[main]=$(outlive_provoke 18789); peer[rescue]=$(outlive_provoke 19789)
  sleep "$OUTLIVE_GAP"
  kill -0 "$main_pid" 2>/dev/null && kill -0 "$rescue_pid" 2>/dev/null \
    || fail "sigkill: a gateway died with its supervisor"
  t_start=$(now_ms)
  start_supervisor
  wait_until "$READY_LIMIT" "the new supervisor answers, main and rescue running" \
    "i['main']['state']=='running' and i['rescue']['state']=='running'"
  t_running=$(now_ms)
  outlive_assert_kept "sigkill+restart" "$main_pid" "$rescue_pid"
  wait_until "$READY_LIMIT" "both probed ready under the new supervisor" \
    "$(outlive_probed_after main "$t_start") and $(outlive_probed_after rescue "$t_start")"
  t_ready=$(now_ms)
  outlive_wait_samples "$t_ready"
  down=$(outlive_downtime "$t0" "$(now_ms)")
  say "outlive: /readyz samples: $(tr '\n' ';' <<< "$down")"
  outlive_assert_no_failed_sample "sigkill+restart" "$down"
  outlive_assert_kept "sigkill+restart" "$main_pid" "$rescue_pid"
  outlive_assert_no_shutdown main "$main_off" "sigkill+restart"
  outlive_assert_no_shutdown rescue "$rescue_off" "sigkill+restart"
  outlive_adopted_event main "$t0"
  outlive_adopted_event rescue "$t0"
  for name in main rescue; do
    [ "$(json "(i['$name'].get('adoption') or {}).get('kind')")" = adopted ] \
      || fail "sigkill+restart: status does not say $name was adopted: $(json "i['$name'].get('adoption')")"
  done
  client status main > "$WORK/outlive-status-main.txt" || fail "status main failed"
  grep -q 'adopted .*(pid '"$main_pid"')' "$WORK/outlive-status-main.txt" \
    || fail "sigkill+restart: status main does not say adopted (pid $main_pid): $(cat "$WORK/outlive-status-main.txt")"
  say "outlive: status main: $(grep 'adopted' "$WORK/outlive-status-main.txt" | head -n 1 | sed 's/^ *//')"
  spooled=""
  for name in main rescue; do
    pid=$main_pid; [ "$name" = rescue ] && pid=$rescue_pid
    spool=$(outlive_spool_check "$name" "$t0" "$pid" "sigkill+restart" "${peer[$name]}" 2>&1) || fail "$spool"
    set -- $spool
    spooled="$spooled; $name wrote $1 lines while no supervisor ran, all in logs ($2 before, $3 after)"
  done
  say "outlive: ${spooled#; }"
  outlive_say "sigkill+restart downtime main=$(outlive_field "$down" main 2)s rescue=$(outlive_field "$down" rescue 2)s pids kept; no supervisor for $(( (t_start - t0) / 1000 ))s, status answered both running $(( t_running - t_start )) ms after the new start$spooled"
}

outlive_reexec() {
  local main_pid rescue_pid main_off rescue_off t0 t_back down
  if ! "$SUPERVISOR" reexec --help > /dev/null 2>&1; then
    outlive_say "reexec not available in this build"
    return 0
  fi
  say "outlive: reexec"
  main_pid=$(json "i['main']['pid']"); rescue_pid=$(json "i['rescue']['pid']")
  main_off=$(outlive_log_size main); rescue_off=$(outlive_log_size rescue)
  t0=$(now_ms)
  client reexec >&2 || fail "reexec failed"
  wait_until "$READY_LIMIT" "the re-executed supervisor answers, main and rescue running" \
    "i['main']['state']=='running' and i['rescue']['state']=='running'"
  t_back=$(now_ms)
  kill -0 "$SUP_PID" 2>/dev/null || fail "reexec: the supervisor's pid $SUP_PID is gone"
  outlive_assert_kept "reexec" "$main_pid" "$rescue_pid"
  wait_until "$READY_LIMIT" "both probed ready after reexec" \
    "$(outlive_probed_after main "$t0") and $(outlive_probed_after rescue "$t0")"
  client events -n 50 --json > "$WORK/outlive-events-reexec.jsonl" || fail "reexec: events -n failed"
  python3 -c 'import json, sys
since = int(sys.argv[2])
sys.exit(not any(e.get("kind") == "reexecuted" and e.get("at", 0) >= since for e in map(json.loads, open(sys.argv[1]))))' \
    "$WORK/outlive-events-reexec.jsonl" "$t0" || fail "reexec: no reexecuted event in the journal"
  outlive_wait_samples "$(now_ms)"
  down=$(outlive_downtime "$t0" "$(now_ms)")
  say "outlive: /readyz samples: $(tr '\n' ';' <<< "$down")"
  outlive_assert_no_failed_sample "reexec" "$down"
  outlive_assert_kept "reexec" "$main_pid" "$rescue_pid"
  outlive_assert_no_shutdown main "$main_off" "reexec"
  outlive_assert_no_shutdown rescue "$rescue_off" "reexec"
  client logs main -n 2000 -t > "$WORK/outlive-logs-reexec.txt" || fail "reexec: logs main failed"
  ! awk -v since="$(date -u -d "@$(( t0 / 1000 ))" +%Y-%m-%dT%H:%M:%S)" \
      '$1 >= since && /\[openclaw-supervisor\] spawned pid/' "$WORK/outlive-logs-reexec.txt" | grep -q . \
    || fail "reexec: logs main has a new spawn"
  outlive_say "reexec downtime main=$(outlive_field "$down" main 2)s rescue=$(outlive_field "$down" rescue 2)s pids kept; status answered both running $(( t_back - t0 )) ms after reexec"
}

outlive_restart() {
  local main_pid rescue_pid main_off t0 t_ready down
  say "outlive: for comparison, restart main (what a supervisor restart did to every gateway)"
  main_pid=$(json "i['main']['pid']"); rescue_pid=$(json "i['rescue']['pid']")
  main_off=$(outlive_log_size main)
  t0=$(now_ms)
  client restart main >&2 || fail "restart main failed"
  wait_until "$READY_LIMIT" "main restarted and ready" \
    "i['main']['pid'] not in (None, $main_pid) and $(ready_expr main)"
  t_ready=$(now_ms)
  outlive_wait_samples "$t_ready"
  down=$(outlive_downtime "$t0" "$(now_ms)")
  say "outlive: /readyz samples: $(tr '\n' ';' <<< "$down")"
  [ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "restart main: the rescue's pid changed"
  [ "$(outlive_field "$down" main 4)" -gt 0 ] || fail "restart main: no /readyz sample of main failed (is the watcher blind?)"
  # What the checks above look for is there when a gateway is stopped.
  tail -c +"$(( main_off + 1 ))" "$WORK/main/gateway.log" | grep -q 'SIGTERM' \
    || fail "restart main: no SIGTERM line in main's gateway log (is that check blind?)"
  outlive_say "restart main downtime=$(outlive_field "$down" main 2)s (rescue=$(outlive_field "$down" rescue 2)s); ready in status $(( t_ready - t0 )) ms after the restart"
}

outlive_keepers() { # the keepers' count and memory (RSS and PSS) now
  local pid rss=0 pss=0 n=0 kb
  for pid in $(keeper_pids); do
    kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || continue
    [ -n "$kb" ] || continue
    n=$(( n + 1 )); rss=$(( rss + kb ))
    pss=$(( pss + $(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0) ))
  done
  awk -v n="$n" -v rss="$rss" -v pss="$pss" \
    'BEGIN { printf "keepers: %d processes, RSS %.1f MiB, PSS %.1f MiB in all\n", n, rss / 1024, pss / 1024 }'
}

outlive_run() {
  mkdir -p "$(dirname "$OUTLIVE_REPORT")"
  : > "$OUTLIVE_REPORT"
  OUTLIVE_SAMPLES="$WORK/readyz-samples.txt"
  OUTLIVE_STOP="$WORK/readyz-stop"
  rm -f "$OUTLIVE_STOP"
  python3 "$HERE/readyz_watch.py" watch "$OUTLIVE_SAMPLES" "$OUTLIVE_STOP" main=18789 rescue=19789 &
  OUTLIVE_WATCH_PID=$!
  outlive_wait_samples "$(now_ms)"
  outlive_say "$(outlive_keepers)"
  outlive_sigkill
  outlive_reexec
  outlive_restart
  outlive_stop_watch
  say "outlive: the figures are in $OUTLIVE_REPORT"
}
