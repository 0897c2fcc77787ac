#!/usr/bin/env python3
"""openclaw-supervisor's adapter for the peer harness (`../shared/peerbench`, kept
outside this repo and not changed), and the way to run the harness with it.

    python3 benches/peerbench/ours.py HARNESS_DIR SCRIPT ARGS...

runs the harness's SCRIPT (`bench.py`, `status_fine.py`) with ARGS after replacing
its `ours`, `ours-sim` and `ours-simnp` adapters with the ones below; `run.sh`
beside this file does it for a whole side-by-side run.

Why a copy of the adapter: since issue 16 every gateway runs under a keeper
(`openclaw-supervisor-keeper`), the supervisor's child, and the gateway is the
keeper's child. The harness finds a service's workload among the children of the
service's parent process, so for us the parent is the instance's keeper, which
lives as long as the instance is supervised (as runit's `runsv` does). The keepers
sit under the supervisor's pid, so the idle figures count them with the
supervisor, as every process the supervisor adds must be counted.

OURS_BACKOFF sets `restart.backoff.initial` (default `0s`: the first restart at
once, as runsv and s6-supervise do).
"""
import os
import runpy
import sys


def install(harness):
    sys.path.insert(0, harness)
    import tools  # the harness's module: patched in place, bench.py imports the same dict
    from common import children, cmdline, stat

    backoff = os.environ.get("OURS_BACKOFF", "0s")

    class Ours(tools.Ours):
        def setup(self, n, fam=False):
            super().setup(n, fam)
            for i in range(1, n + 1):
                path = f"{self.D}/supervisor.d/w{i}.yaml"
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(text.replace("initial: 1ms", f"initial: {backoff}"))

        def keeper_mark(self, i):
            # the keeper's argv ends with the gateway's: `... -- COMMAND gateway --port N ...`
            if self.opts.get("sim"):
                return f" -- {self.SIM} --profile w{i} gateway --port {self.port(i)} "
            return f" -- {self.D}/wrap/w{i}.sh "

        def service_parent(self, i):
            mark = self.keeper_mark(i)
            for c in children(self.root):
                st = stat(c)
                if st and st["state"] != "Z" and mark in cmdline(c) + " ":
                    return c
            return None

        def child_of_service(self, i):
            if not self.opts.get("sim"):
                return tools.Tool.child_of_service(self, i)
            want = f"{self.SIM} --profile w{i} gateway --port {self.port(i)} "
            for c in children(self.service_parent(i) or -1):
                if cmdline(c).startswith(want):
                    st = stat(c)
                    if st and st["state"] != "Z":
                        return c
            return None

    tools.TOOLS["ours"] = Ours
    tools.TOOLS["ours-sim"] = lambda **o: Ours(sim=True, probes=True, **o)
    tools.TOOLS["ours-simnp"] = lambda **o: Ours(sim=True, probes=False, **o)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    harness, script = os.path.abspath(sys.argv[1]), sys.argv[2]
    install(harness)
    sys.argv = [os.path.join(harness, script), *sys.argv[3:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
