"""Peer for W3: the source paper's numpy algorithm (its appendix code),
with its two gradient bugs fixed, computing the figure's values and
gradient diagrams. Reads the initial configuration and rule from dca's run
file, checks its diagrams against dca's, then times evaluate_diagram.

    peer_paper.py RUN.h5 [--reps R]
Prints one JSON line.

The fixes (DESIGN.md §2): the appendix's global_grad_map takes the
neighbours in the opposite order to its value map (np.roll(x, i) for
i = -1, 0, 1 is x[j+1], x[j], x[j-1]), and it rolls the (cells, params)
gradient array without axis=0, which shifts the flattened array. Everything
else, including generic_filter and the per-cell Python loop, is the
paper's code.
"""
import argparse
import json
import resource
import time

import h5py
import numpy as np
import scipy.ndimage


def local_map(neighborhood, patterns, outputs):
    return np.sum(outputs * np.prod(neighborhood * patterns + (1 - neighborhood) * (1 - patterns),
                                    axis=1), axis=0)


def global_map(configuration, patterns, outputs):
    return scipy.ndimage.generic_filter(configuration, local_map, size=patterns.shape[1],
                                        mode='wrap', extra_arguments=(patterns, outputs))


def local_grad_map(neighborhood, neighborhood_gradient, patterns, outputs):
    return outputs * (1 - outputs) * np.prod(patterns * neighborhood + (1 - patterns) * (1 - neighborhood), axis=1) + \
        np.sum(outputs * np.prod(patterns * neighborhood + (1 - patterns) * (1 - neighborhood), axis=1) *
               np.sum((np.rollaxis(np.tile(neighborhood_gradient, (outputs.shape[0], 1, 1)), 2) * (2 * patterns - 1)
                       / (patterns * neighborhood + (1 - patterns) * (1 - neighborhood))), axis=2), axis=1)


def global_grad_map(configuration, configuration_gradient, patterns, outputs):
    offsets = range(-(patterns.shape[1] // 2), patterns.shape[1] // 2 + 1)
    # Fixed: neighbour s of cell j is x[j + offset_s], as in the value map,
    # and the gradient array is rolled along the cell axis only.
    return np.array([local_grad_map(a_, b_, patterns, outputs) for a_, b_ in zip(
        np.transpose([np.roll(configuration, -i) for i in offsets]),
        np.transpose([np.roll(configuration_gradient, -i, axis=0) for i in offsets], (1, 0, 2))
    )])


def evaluate_diagram(initial, depth, patterns, outputs):
    diagram = np.ndarray((depth, initial.shape[0]))
    diagram_gradient = np.ndarray((depth, initial.shape[0], outputs.shape[0]))
    diagram[0] = initial
    diagram_gradient[0] = np.zeros((initial.shape[0], outputs.shape[0]))
    for layer in range(depth - 1):
        diagram[layer + 1] = global_map(diagram[layer], patterns, outputs)
        diagram_gradient[layer + 1] = global_grad_map(diagram[layer], diagram_gradient[layer],
                                                      patterns, outputs)
    return diagram, diagram_gradient


ap = argparse.ArgumentParser()
ap.add_argument("run")
ap.add_argument("--reps", type=int, default=1)
a = ap.parse_args()
with h5py.File(a.run, "r") as f:
    values = f["run/values"][0]
    grads = f["run/gradients"][0]
    outputs = f["rule/probabilities"][()]
m = int(np.log2(outputs.shape[0]))
patterns = np.array(np.unravel_index(np.arange(2 ** m), (2,) * m)).T.astype(float)
depth, n = values.shape
diagram, diagram_gradient = evaluate_diagram(values[0], depth, patterns, outputs)
dv = float(np.abs(diagram - values).max())
dg = float(np.abs(diagram_gradient - grads).max() / max(np.abs(grads).max(), 1e-300))
if not (dv <= 1e-9 and dg <= 1e-9):
    raise SystemExit(f"peer_paper: VERIFY FAILED: values differ by {dv}, gradients by {dg} (relative)")
times = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    evaluate_diagram(values[0], depth, patterns, outputs)
    times.append(time.perf_counter() - t0)
med = sorted(times)[len(times) // 2]
print(json.dumps({
    "peer": "paper-numpy", "median_seconds": med,
    "cell_updates_per_second": n * (depth - 1) / med,
    "verify_values_max_diff": dv, "verify_gradients_rel_diff": dg,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
