#!/usr/bin/env python3
"""The side-by-side table from one run of run.sh: python3 benches/peerbench/table.py [RESULTS_DIR]
(default $PEERBENCH/results). Each figure: ours, the best peer, and ours/best."""
import json, os, statistics, sys

R = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("PEERBENCH") or "/tmp/peerbench", "results")
PEERS = ["runit", "s6", "horust", "supervisord", "pm2"]


def load(name):
    try:
        with open(f"{R}/{name}.jsonl") as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


idle, resp, stat = load("idle"), load("respawn"), load("status_fine")


def last(rows, **kw):
    out = [r for r in rows if all(r.get(k) == v for k, v in kw.items())]
    return out[-1] if out else None


def pss(t, n):
    r = last(idle, tool=t, n=n)
    return r and r["mem_30s"]["pss_kb"] / 1024


def cpu(t, n):
    r = last(idle, tool=t, n=n)
    return r and (r["sched_ms"], r["cpu_window_s"])


def respawn(t, key, variant=None):
    r = last(resp, tool=t, spacing_s=2.0, variant=variant)
    return r and r["exec_ms"] and r["exec_ms"][key]


def status(t):
    r = last(stat, tool=t)
    return r and r["median_ms"]


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, tuple):
        return f"{v[0]:.1f} ({v[1]:.0f} s)"
    return f"{v:.2f}"


def key(v):
    return v[0] / v[1] if isinstance(v, tuple) else v


rows = [
    ("idle PSS, 2 services (MiB)", lambda t: pss(t, 2)),
    ("idle PSS, 100 services (MiB)", lambda t: pss(t, 100)),
    ("idle PSS, 200 services (MiB)", lambda t: pss(t, 200)),
    ("SIGKILL -> new child exec'd, median (ms; 25 kills, 2 s apart)", lambda t: respawn(t, "median")),
    ("SIGKILL -> new child exec'd, p90 (ms)", lambda t: respawn(t, "p90")),
    ("status of one service as a process, median of 40 (ms)", status),
    ("idle CPU, 2 services (ms over the window)", lambda t: cpu(t, 2)),
    ("idle CPU, 100 services (ms over the window)", lambda t: cpu(t, 100)),
]
print("| figure | ours | " + " | ".join(PEERS) + " | best peer | ours / best |")
print("|---|---|" + "---|" * len(PEERS) + "---|---|")
for name, get in rows:
    vals = {t: get(t) for t in ["ours"] + PEERS}
    peers = [(key(v), t) for t, v in vals.items() if t != "ours" and v is not None]
    best = min(peers) if peers else None
    ours = vals["ours"]
    if best is None or ours is None:
        ratio = "—"
    elif best[0] == 0:
        ratio = "best is 0"
    else:
        ratio = f"{key(ours) / best[0]:.2f}"
    print(f"| {name} | {fmt(ours)} | " + " | ".join(fmt(vals[t]) for t in PEERS)
          + f" | {best[1] if best else '—'} | {ratio} |")
r = last(resp, tool="s6", spacing_s=2.0, variant="ready")
if r and r["exec_ms"]:
    print(f"\ns6 with readiness notification: respawn median {r['exec_ms']['median']:.2f} ms, p90 {r['exec_ms']['p90']:.2f} ms.")
true = [r["bin_true_median_ms"] for r in stat]
if true:
    print(f"`/bin/true` through the same timing: {statistics.median(true):.2f} ms (median of the runs' medians).")
for t in ("ours-simnp", "ours-sim"):
    r = last(idle, tool=t, n=2)
    if r:
        print(f"{t}: PSS {r['mem_30s']['pss_kb'] / 1024:.2f} MiB, CPU {r['sched_ms']:.1f} ms over {r['cpu_window_s']:.0f} s.")
la = [float(r[k].split()[0]) for r in idle + resp + stat for k in ("loadavg_start", "loadavg") if r.get(k)]
if la:
    print(f"Load average (1 min) over the run: {min(la):.2f} to {max(la):.2f}.")
