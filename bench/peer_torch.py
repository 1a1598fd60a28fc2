"""PyTorch peer for the value workloads: the vectorised DCA a user would
write in a notebook (float64, CPU). Reads the input and rule that
bench_values wrote, checks its first step against dca's, then times T steps.

    peer_torch.py DIR --n N --batch B --steps T --radius R --threads K [--reps R]
Prints one JSON line.
"""
import argparse
import json
import resource
import time

import numpy as np
import torch

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--n", type=int, default=1024)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--steps", type=int, default=64)
ap.add_argument("--radius", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(a.threads)

m = 2 * a.radius + 1
x0 = torch.from_numpy(np.fromfile(f"{a.dir}/x0.bin").reshape(a.batch, a.n))
rho = torch.from_numpy(np.fromfile(f"{a.dir}/rho.bin"))
x1_dca = np.fromfile(f"{a.dir}/x1.bin").reshape(a.batch, a.n)
assert rho.shape == (2 ** m,), rho.shape
offsets = range(-a.radius, a.radius + 1)


def step(x):
    # Pattern products by successive outer products, first offset most
    # significant: phi[b, i, y] = prod_s <x[b, (i + offset_s) mod n], y_s>.
    phi = torch.ones(x.shape + (1,), dtype=x.dtype)
    for o in offsets:
        nb = torch.roll(x, -o, dims=1).unsqueeze(-1)
        f = torch.cat([1 - nb, nb], dim=-1)  # (B, n, 2)
        phi = (phi.unsqueeze(-1) * f.unsqueeze(-2)).flatten(-2)
    return phi @ rho


with torch.no_grad():
    x1 = step(x0).numpy()
    diff1 = float(np.abs(x1 - x1_dca).max())
    if not diff1 <= 1e-12:
        raise SystemExit(f"peer_torch: VERIFY FAILED: first step differs from dca by {diff1}")
    times = []
    for _ in range(a.reps):
        x = x0.clone()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            x = step(x)
        times.append(time.perf_counter() - t0)
xT_dca = np.fromfile(f"{a.dir}/xT.bin").reshape(a.batch, a.n)
diffT = float(np.abs(x.numpy() - xT_dca).max())
med = sorted(times)[len(times) // 2]
print(json.dumps({
    "peer": "pytorch", "torch": torch.__version__, "threads": a.threads,
    "median_seconds": med,
    "cell_updates_per_second": a.n * a.batch * a.steps / med,
    "verify_step1_max_diff": diff1, "final_max_diff": diffT,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
