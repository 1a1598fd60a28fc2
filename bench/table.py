"""Prints bench/run's table from the JSON lines on stdin (one per
measurement, in the order bench/run produces them)."""
import json
import os
import sys

rows = [json.loads(line) for line in sys.stdin if line.strip()]
dca2, dca1 = rows[0], rows[1]
peer = rows[2] if len(rows) > 2 else None
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
            if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} cores; OPENBLAS_CORETYPE="
      f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
head = ("workload", "threads", "dca cu/s", "peer cu/s", "ratio", "dca MiB", "peer MiB")
fmt = "{:<38} {:>7} {:>10} {:>10} {:>7} {:>8} {:>9}"
print(fmt.format(*head))


def line(name, d, p):
    rate = d["cell_updates_per_second"]
    print(fmt.format(
        name, d["threads"], f"{rate:.3g}",
        f"{p['cell_updates_per_second']:.3g}" if p else "-",
        f"{rate / p['cell_updates_per_second']:.0f}x" if p else "-",
        f"{d['peak_rss_mib']:.0f}", f"{p['peak_rss_mib']:.0f}" if p else "-"))


line("W1 values 1D r=3 B=64 n=1024 T=64", dca2, peer)
line("W1 values, 1 thread", dca1, None)
print(f"thread scaling W1: {dca2['cell_updates_per_second'] / dca1['cell_updates_per_second']:.2f}x"
      f" from 1 to {dca2['threads']} threads")
msg = f"verified: dca kernel vs reference twin, max |diff| {dca2['verify_max_diff']:.2g}"
if peer:
    msg += (f"; peer vs dca after 1 step {peer['verify_step1_max_diff']:.2g}, "
            f"after T steps {peer['final_max_diff']:.2g} (peer: torch {peer['torch']})")
print(msg)
