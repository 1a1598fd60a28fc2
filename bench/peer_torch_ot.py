"""PyTorch peer for W5: the vectorised outer-totalistic DCA a user would
write in a notebook (float64, CPU), with autograd for the gradient. The
neighbour-count distribution is built by the same Poisson-binomial
recurrence as dca's, on a stacked tensor (counts, B, H, W). Reads the input,
weights, loss and gradient that bench_ot wrote for this size and checks its
own against them before timing.

    peer_torch_ot.py DIR --size HxW --batch B --steps T --threads K [--reps R]
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
ap.add_argument("--size", default="256x256")
ap.add_argument("--batch", type=int, default=4)
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--radius", type=int, default=1)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--reps", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
H, W = (int(v) for v in a.size.split("x"))
r = a.radius
offsets = [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if (dy, dx) != (0, 0)]
m = len(offsets) + 1


def step(x, rho):
    # q[n] = P(n live neighbours), built neighbour by neighbour.
    q = torch.ones((1,) + x.shape, dtype=x.dtype)
    for dy, dx in offsets:
        p = torch.roll(x, shifts=(-dy, -dx), dims=(1, 2))
        z = torch.zeros((1,) + x.shape, dtype=x.dtype)
        q = torch.cat([q * (1 - p), z]) + torch.cat([z, q * p])
    A = torch.einsum("nbhw,sn->sbhw", q, rho)  # (2, B, H, W): dead / live centre
    return A[0] + x * (A[1] - A[0])


def rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


x0 = torch.from_numpy(np.fromfile(f"{a.dir}/x0.bin").reshape(a.batch, H, W))
w0 = torch.from_numpy(np.fromfile(f"{a.dir}/w.bin").reshape(2, m))
grad_dca = np.fromfile(f"{a.dir}/grad.bin").reshape(2, m)
loss_dca = float(np.fromfile(f"{a.dir}/loss.bin")[0])


def loss_and_grad():
    w = w0.clone().requires_grad_(True)
    rho = torch.sigmoid(w)
    x = x0
    for _ in range(a.steps):
        x = step(x, rho)
    phi = x0
    E = -(phi * torch.log(x) + (1 - phi) * torch.log(1 - x)).mean()
    E.backward()
    return float(E), w.grad.numpy()


t0 = time.perf_counter()
E, g = loss_and_grad()
first = time.perf_counter() - t0
dE = abs(E - loss_dca)
dg = float(np.abs(g - grad_dca).max() / max(np.abs(grad_dca).max(), 1e-300))
if not (dE <= 1e-10 and dg <= 1e-8):
    raise SystemExit(f"peer_torch_ot: VERIFY FAILED: loss diff {dE}, gradient rel diff {dg}")
times = [first]
for _ in range(a.reps - 1):
    t0 = time.perf_counter()
    loss_and_grad()
    times.append(time.perf_counter() - t0)
med = sorted(times)[len(times) // 2]
print(json.dumps({
    "peer": "pytorch-autograd-ot", "torch": torch.__version__, "threads": a.threads,
    "size": a.size, "batch": a.batch, "steps": a.steps,
    "median_seconds": med, "first_seconds": first,
    "cell_updates_per_second": H * W * a.batch * a.steps / med,
    "verify_loss_diff": dE, "verify_grad_rel_diff": dg, "peak_rss_mib": rss()}))
