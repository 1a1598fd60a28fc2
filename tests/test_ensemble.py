"""dca train and dca gradcheck for learners beyond lattices ([model] kind =
ffnet, kuramoto): ensembles are bitwise independent of the thread count and of
the ensemble's size, errors name the key, divergence is a result, the run file
has the documented layout, and dcaview draws it. Prints TAP.
Usage: test_ensemble.py PATH/TO/dca SCRIPTS_DIR"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

dca, scripts = sys.argv[1], sys.argv[2]
results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


def sh(*args):
    return subprocess.run([dca, *args], capture_output=True, text=True)


VOWELS = """[model]
kind = ffnet
layers = 35,6,5
patterns = vowels
weights = uniform:0.1
robustness-threshold = 0.25

[optimizer]
method = autonomous
iterations = 300
epsilon = 100
sigma = 0.1

[ensemble]
members = 3
sweep = optimizer.sigma: 0.05 0.1
sweep2 = optimizer.epsilon-r: 0 100
record-every = 7
"""

KURAMOTO = """[model]
kind = kuramoto
oscillators = 6
interval = 2
r0 = 0.6

[optimizer]
method = autonomous
iterations = 40
epsilon = 10
sigma = 0.5

[ensemble]
members = 3
trace-members = 2
"""


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name != "ensemble/seconds":  # wall time
                out[name] = obj[()]
        f.visititems(visit)
    return out


def same(a, b):
    if a.keys() != b.keys():
        return False
    return all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


with tempfile.TemporaryDirectory() as tmp:
    def write(name, text):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    vow = write("vowels.ini", VOWELS)
    kur = write("kuramoto.ini", KURAMOTO)
    out = {}
    for cfg, name in ((vow, "vowels"), (kur, "kuramoto")):
        for t in (1, 2, 3):
            h5 = os.path.join(tmp, f"{name}-{t}.h5")
            p = sh("train", cfg, "-o", h5, "--threads", str(t), "--quiet")
            check(f"{name}: dca train --threads {t} succeeds", p.returncode == 0, p.stderr.strip())
            out[name, t] = datasets(h5) if p.returncode == 0 else {}
        check(f"{name}: records bitwise equal on 1, 2 and 3 threads",
              out[name, 1] and same(out[name, 1], out[name, 2]) and
              same(out[name, 1], out[name, 3]))

    v = out["vowels", 1]
    if v:
        G, M, R = 4, 3, len(range(0, 300, 7)) + 1
        check("vowels: /ensemble/loss is (points, members, rows)",
              v["ensemble/loss"].shape == (G, M, R), str(v["ensemble/loss"].shape))
        check("vowels: /ensemble/iterations are 0, 7, ... and the last",
              list(v["ensemble/iterations"]) == list(range(0, 300, 7)) + [300])
        check("vowels: the last row is the final loss",
              np.array_equal(v["ensemble/loss"][:, :, -1], v["ensemble/final_loss"]))
        check("vowels: axes hold the swept values",
              list(v["ensemble/axis1"]) == [0.05, 0.1] and list(v["ensemble/axis2"]) == [0, 100])
        check("vowels: damaged errors per hidden unit", v["ensemble/damaged_loss"].shape == (G, M, 6))
        th = 0.25
        R_from_damage = (v["ensemble/damaged_loss"] < th).mean(axis=2)
        check("vowels: final robustness is the fraction of deletions below E_th",
              np.array_equal(R_from_damage, v["ensemble/final_robustness"]))
        check("vowels: every member starts from its own weights, the same at every point",
              all(np.array_equal(v["ensemble/initial_weights"][0], v["ensemble/initial_weights"][g])
                  for g in range(G)) and
              not np.array_equal(v["ensemble/initial_weights"][0, 0], v["ensemble/initial_weights"][0, 1]))
        check("vowels: the second objective changes the path (epsilon-r 0 vs 100)",
              not np.array_equal(v["ensemble/final_weights"][0], v["ensemble/final_weights"][1]))
        check("vowels: inputs and one-hot targets stored",
              v["model/inputs"].shape == (5, 35) and np.array_equal(v["model/targets"], np.eye(5)))

    # Member m's record does not depend on how many members there are.
    h5 = os.path.join(tmp, "five.h5")
    p = sh("train", vow, "-o", h5, "--set", "ensemble.members=5", "--quiet")
    if p.returncode == 0 and v:
        w = datasets(h5)
        check("a member's record does not depend on the ensemble's size",
              np.array_equal(w["ensemble/loss"][:, :3], v["ensemble/loss"]))
    else:
        check("a member's record does not depend on the ensemble's size", False, p.stderr)

    k = out["kuramoto", 1]
    if k:
        check("kuramoto: traces for trace-members, 2 intervals of 200 steps",
              k["ensemble/trace_before"].shape == (1, 2, 401))
        check("kuramoto: frequencies spread on [-1, 1]",
              np.allclose(k["model/omega"][0], np.linspace(-1, 1, 6)))
        check("kuramoto: the trace before starts at the initial phases' order",
              np.isclose(k["ensemble/trace_before"][0, 0, 0],
                         abs(np.exp(1j * k["model/initial_phases"][0]).mean())))
        check("kuramoto: loss = |rbar - r0|",
              np.allclose(k["ensemble/loss"], np.abs(k["ensemble/order"] - 0.6)))

    # Exact gradients.
    for cfg, name in ((vow, "ffnet"), (kur, "kuramoto")):
        p = sh("gradcheck", cfg)
        check(f"gradcheck {name} passes", p.returncode == 0 and "PASS" in p.stdout,
              p.stdout[-300:] + p.stderr)
    p = sh("gradcheck", vow, "--set", "model.output=linear", "--set", "model.layers=35,4,3,5")
    check("gradcheck passes on a deeper network with a linear output", p.returncode == 0, p.stdout[-300:])

    # Errors name what is wrong.
    bad = write("bad.ini", VOWELS + "\n[lattice]\nsize = 10\n")
    p = sh("train", bad, "-o", os.path.join(tmp, "x.h5"))
    check("a lattice key in a learner's config is an error naming it",
          p.returncode == 2 and "bad.ini:" in p.stderr and "[lattice] size" in p.stderr, p.stderr)
    p = sh("train", vow, "-o", os.path.join(tmp, "x.h5"), "--set", "model.layers=35,6,4")
    check("layers that do not fit the patterns: error names [model] patterns",
          p.returncode == 2 and "[model] patterns" in p.stderr and "5 outputs" in p.stderr, p.stderr)
    p = sh("train", vow, "-o", os.path.join(tmp, "x.h5"), "--set", "ensemble.sweep=optimizer.sigma: 0.1 -3")
    check("a bad sweep value: error names the sweep and the key's rule",
          p.returncode == 2 and "sweep" in p.stderr and "sigma" in p.stderr, p.stderr)
    p = sh("train", vow, "-o", os.path.join(tmp, "x.h5"), "--set", "model.robustness-threshold=0")
    check("epsilon-r without robustness is an error", p.returncode == 2 and "epsilon-r" in p.stderr,
          p.stderr)
    p = sh("train", vow, "-o", os.path.join(tmp, "x.h5"), "--set", "model.layers=35,5")
    check("robustness without hidden units is an error",
          p.returncode == 2 and "robustness-threshold" in p.stderr and "hidden" in p.stderr, p.stderr)
    p = sh("run", vow, "-o", os.path.join(tmp, "x.h5"))
    check("dca run refuses a learner", p.returncode == 2 and "[model] kind" in p.stderr, p.stderr)
    p = sh("train", kur, "-o", os.path.join(tmp, "x.h5"), "--set", "model.layers=3,3")
    check("an ffnet key on a kuramoto model is an error", p.returncode == 2 and "layers" in p.stderr,
          p.stderr)
    p = sh("train", kur, "-o", os.path.join(tmp, "x.h5"), "--set", "model.dt=0.3")
    check("an interval that is not a whole number of steps is an error",
          p.returncode == 2 and "interval" in p.stderr, p.stderr)
    p = sh("train", vow, "--resume", os.path.join(tmp, "vowels-1.h5"))
    check("--resume is refused for learners", p.returncode == 2 and "resum" in p.stderr, p.stderr)

    # Divergence is a result, not a failure.
    h5 = os.path.join(tmp, "div.h5")
    p = sh("train", vow, "-o", h5, "--set", "model.output=linear", "--set", "optimizer.sigma=1e6",
           "--set", "ensemble.sweep=none", "--set", "ensemble.sweep2=none",
           "--set", "optimizer.epsilon-r=0", "--quiet")
    d = datasets(h5) if p.returncode == 0 else {}
    check("diverging members: exit 0, recorded as diverged with NaN losses",
          d and d["ensemble/diverged"].all() and np.isnan(d["ensemble/final_loss"]).all() and
          "diverged" in p.stdout, p.stdout + p.stderr)

    # Learning happens: backpropagation on the vowels reaches a small error.
    h5 = os.path.join(tmp, "bp.h5")
    p = sh("train", vow, "-o", h5, "--set", "optimizer.method=sgd", "--set", "optimizer.learning-rate=1",
           "--set", "optimizer.epsilon-r=0", "--set", "ensemble.sweep=none",
           "--set", "ensemble.sweep2=none", "--quiet")
    d = datasets(h5) if p.returncode == 0 else {}
    check("SGD classifies the five vowels", d and (d["ensemble/classified"] == 1).all() and
          (d["ensemble/final_loss"] < 0.01).all(), p.stderr)

    # dcaview draws both kinds.
    for name in ("vowels", "kuramoto"):
        png = os.path.join(tmp, name + ".png")
        p = subprocess.run([sys.executable, os.path.join(scripts, "dcaview"), "ensemble",
                            os.path.join(tmp, f"{name}-1.h5"), "-o", png],
                           capture_output=True, text=True)
        check(f"dcaview ensemble draws {name}", p.returncode == 0 and os.path.getsize(png) > 1000,
              p.stderr)
    p = subprocess.run([sys.executable, os.path.join(scripts, "dcaview"), "values",
                        os.path.join(tmp, "vowels-1.h5")], capture_output=True, text=True)
    check("dcaview values on an ensemble file: a clear error", p.returncode == 2 and
          "ensemble" in p.stderr, p.stderr)

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    line = f"{'ok' if ok else 'not ok'} {i} - {name}"
    if not ok and detail:
        line += " # " + detail.replace("\n", " | ")[:600]
    print(line)
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
