"""PyTorch peer: the vectorised DCA a user would write in a notebook
(float64, CPU), with autograd for gradients. Reads the input and rule that
bench_values wrote and checks its result against dca's before timing.

    peer_torch.py DIR [--mode values|reverse] (--n N --radius R | --size HxW)
                  --batch B --steps T --threads K [--reps R]
values:  W1, T steps of values (checks step 1 and step T against dca).
reverse: W2, loss (cross-entropy, identity target) and its gradient by
         autograd (checks both against dca's reverse mode).
--size HxW runs W4 on a torus with the neighbourhood dca wrote to
DIR/offsets.bin (first offset most significant, as in dca).
DIR must come from bench_values run at the same size.
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
ap.add_argument("--mode", default="values")
ap.add_argument("--n", type=int, default=1024)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--steps", type=int, default=64)
ap.add_argument("--radius", type=int, default=3)
ap.add_argument("--size", default=None)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=3)
a = ap.parse_args()
torch.set_num_threads(a.threads)

if a.size:
    shape = tuple(int(v) for v in a.size.split("x"))
    offsets = [tuple(int(v) for v in o)
               for o in np.fromfile(f"{a.dir}/offsets.bin").reshape(-1, len(shape))]
else:
    shape = (a.n,)
    offsets = [(o,) for o in range(-a.radius, a.radius + 1)]
m = len(offsets)
dims = tuple(range(1, 1 + len(shape)))
cells = int(np.prod(shape))


def step(x, rho):
    # Pattern products by successive outer products, first offset most
    # significant: phi[b, i, y] = prod_s <x[b, (i + offset_s) mod n], y_s>.
    phi = torch.ones(x.shape + (1,), dtype=x.dtype)
    for o in offsets:
        nb = torch.roll(x, tuple(-v for v in o), dims=dims).unsqueeze(-1)
        f = torch.cat([1 - nb, nb], dim=-1)  # (B, *shape, 2)
        phi = (phi.unsqueeze(-1) * f.unsqueeze(-2)).flatten(-2)
    return phi @ rho


def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


x0 = torch.from_numpy(np.fromfile(f"{a.dir}/x0.bin").reshape((a.batch,) + shape))

if a.mode == "reverse":
    w0 = torch.from_numpy(np.fromfile(f"{a.dir}/w.bin"))
    grad_dca = np.fromfile(f"{a.dir}/grad.bin")
    loss_dca = float(np.fromfile(f"{a.dir}/loss.bin")[0])

    def loss_and_grad():
        w = w0.clone().requires_grad_(True)
        x = x0
        rho = torch.sigmoid(w)
        for _ in range(a.steps):
            x = step(x, rho)
        phi = x0
        E = -(phi * torch.log(x) + (1 - phi) * torch.log(1 - x)).mean()
        E.backward()
        return float(E), w.grad.numpy()

    E, g = loss_and_grad()
    dE = abs(E - loss_dca)
    dg = float(np.abs(g - grad_dca).max() / max(np.abs(grad_dca).max(), 1e-300))
    if not (dE <= 1e-10 and dg <= 1e-9):
        raise SystemExit(f"peer_torch: VERIFY FAILED: loss diff {dE}, gradient rel diff {dg}")
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        loss_and_grad()
        times.append(time.perf_counter() - t0)
    med = sorted(times)[len(times) // 2]
    print(json.dumps({
        "peer": "pytorch-autograd", "torch": torch.__version__, "threads": a.threads,
        "median_seconds": med, "cell_updates_per_second": cells * a.batch * a.steps / med,
        "size": "x".join(map(str, shape)), "verify_loss_diff": dE, "verify_grad_rel_diff": dg, "peak_rss_mib": rss()}))
    raise SystemExit(0)

rho = torch.from_numpy(np.fromfile(f"{a.dir}/rho.bin"))
x1_dca = np.fromfile(f"{a.dir}/x1.bin").reshape((a.batch,) + shape)
assert rho.shape == (2 ** m,), rho.shape
with torch.no_grad():
    x1 = step(x0, rho).numpy()
    diff1 = float(np.abs(x1 - x1_dca).max())
    if not diff1 <= 1e-12:
        raise SystemExit(f"peer_torch: VERIFY FAILED: first step differs from dca by {diff1}")
    times = []
    for _ in range(a.reps):
        x = x0.clone()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            x = step(x, rho)
        times.append(time.perf_counter() - t0)
xT_dca = np.fromfile(f"{a.dir}/xT.bin").reshape((a.batch,) + shape)
diffT = float(np.abs(x.numpy() - xT_dca).max())
med = sorted(times)[len(times) // 2]
print(json.dumps({
    "peer": "pytorch", "torch": torch.__version__, "threads": a.threads,
    "median_seconds": med,
    "cell_updates_per_second": cells * a.batch * a.steps / med,
    "size": "x".join(map(str, shape)), "verify_step1_max_diff": diff1, "final_max_diff": diffT,
    "peak_rss_mib": rss(),
}))
