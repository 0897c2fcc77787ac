#!/usr/bin/env python3
"""Watch gateways' /readyz over loopback; measure their downtime.

Used by tests/e2e/outlive.sh (the e2e run with the real gateway).

  readyz_watch.py watch OUT STOP NAME=PORT...
      One thread per gateway asks http://127.0.0.1:PORT/readyz every 200 ms
      (1 s timeout) and appends one line per sample to OUT:
      `<unix ms> <name> ok|fail <detail>`. A sample is ok when the answer is
      200 with `"ready": true` in its JSON body. It stops by itself when the
      file STOP exists, when its parent is gone, or after 30 minutes.

  readyz_watch.py downtime OUT FROM_MS TO_MS NAME...
      For each NAME, over the samples in [FROM_MS, TO_MS]: one line
      `<name> <downtime seconds> <samples> <failed> <first failure or ->`.
      Downtime adds up, for each run of failed samples, the time from its
      first failed sample to the first ready sample after it (or to the
      last sample of the window).
"""
import http.client
import json
import os
import sys
import threading
import time

EVERY = 0.2
TIMEOUT = 1.0
LIMIT = 1800.0


def sample(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/readyz")
        answer = conn.getresponse()
        body = answer.read(65536)
        try:
            ready = json.loads(body).get("ready") is True
        except (ValueError, AttributeError):
            ready = False
        if answer.status == 200 and ready:
            return True, "200"
        return False, f"{answer.status} {body[:120]!r}"
    except (OSError, http.client.HTTPException) as err:
        return False, type(err).__name__ + ":" + str(err).replace(" ", "_")[:120]
    finally:
        conn.close()


def watch(out, stop, gateways):
    lock = threading.Lock()
    parent = os.getppid()
    began = time.monotonic()
    sink = open(out, "a", buffering=1)

    def done():
        return (os.path.exists(stop) or os.getppid() != parent
                or time.monotonic() - began > LIMIT)

    def loop(name, port):
        while not done():
            start = time.monotonic()
            ok, detail = sample(port)
            with lock:
                sink.write(f"{int(time.time() * 1000)} {name} {'ok' if ok else 'fail'} {detail}\n")
            time.sleep(max(0.0, EVERY - (time.monotonic() - start)))

    threads = [threading.Thread(target=loop, args=(name, int(port)), daemon=True)
               for name, port in (g.split("=", 1) for g in gateways)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def downtime(out, start, end, names):
    samples = {name: [] for name in names}
    with open(out) as lines:
        for line in lines:
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[1] not in samples:
                continue
            at = int(parts[0])
            if start <= at <= end:
                samples[parts[1]].append((at, parts[2] == "ok", parts[3].strip() if len(parts) > 3 else ""))
    for name in names:
        taken = sorted(samples[name])
        down_ms, failed, failing_since, first = 0, 0, None, "-"
        for at, ok, detail in taken:
            if ok:
                if failing_since is not None:
                    down_ms += at - failing_since
                    failing_since = None
            else:
                failed += 1
                if failing_since is None:
                    failing_since = at
                if first == "-":
                    first = f"{at}:{detail}"
        if failing_since is not None and taken:
            down_ms += taken[-1][0] - failing_since
        print(f"{name} {down_ms / 1000:.1f} {len(taken)} {failed} {first}")


def main(argv):
    if len(argv) >= 4 and argv[1] == "watch":
        watch(argv[2], argv[3], argv[4:])
    elif len(argv) >= 5 and argv[1] == "downtime":
        downtime(argv[2], int(argv[3]), int(argv[4]), argv[5:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
