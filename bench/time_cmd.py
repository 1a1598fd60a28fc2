"""Times a whole command (median of --reps runs) and prints one JSON line
with a cell-updates rate: time_cmd.py --cells C --steps T --reps R -- CMD..."""
import argparse
import json
import resource
import subprocess
import time

ap = argparse.ArgumentParser()
ap.add_argument("--cells", type=int, required=True)
ap.add_argument("--steps", type=int, required=True)
ap.add_argument("--reps", type=int, default=5)
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
times = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    times.append(time.perf_counter() - t0)
med = sorted(times)[len(times) // 2]
print(json.dumps({"median_seconds": med, "cell_updates_per_second": a.cells * a.steps / med,
                  "threads": a.threads,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
