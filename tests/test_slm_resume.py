#!/usr/bin/python3
"""dca train --resume for the stochastic lattice models (si, potts, segment,
mk): a fit interrupted by SIGINT after a checkpoint (in the fit, and for si
and potts in the ABC baseline) and resumed ends with datasets bitwise those
of an uninterrupted run; a changed configuration, another model's file and
a fit that left its domain are refused. TAP output."""
import os
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import tap
from tap import check, datasets

dca, confdir = sys.argv[1], sys.argv[2]


def run(*args):
    return tap.run(dca, *args)


def equal(a, b):
    try:
        return np.array_equal(a, b, equal_nan=True)
    except TypeError:  # strings
        return np.array_equal(a, b)


def attrs(path, group):
    with h5py.File(path, "r") as f:
        return dict(f[group].attrs) if group in f else {}


def interrupted_run(cfg, out, extra, ready):
    """Starts a fit, waits until its checkpoint satisfies ready(path), sends
    SIGINT; returns (exit code, whether the interrupt came before the end)."""
    p = subprocess.Popen([dca, "train", cfg, "-o", out, "--quiet", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    sent = False
    while p.poll() is None and time.time() - t0 < 120:
        try:
            if os.path.exists(out) and ready(out):
                p.send_signal(signal.SIGINT)
                sent = True
                break
        except OSError:  # the file was being replaced
            pass
        time.sleep(0.005)
    p.communicate()
    return p.returncode, sent


def case(name, cfg, extra, ready, tmp, stage):
    full, part = os.path.join(tmp, f"{name}-full.h5"), os.path.join(tmp, f"{name}-{stage}.h5")
    if not os.path.exists(full):
        p = run("train", cfg, "-o", full, "--quiet", *extra)
        check(f"{name}: the uninterrupted fit", p.returncode == 0, p.stderr)
    rc, sent = interrupted_run(cfg, part, extra, ready)
    a = attrs(part, "/fit")
    stopped = rc == 1 and a.get("finished") == 0
    check(f"{name}: SIGINT in the {stage} exits 1 with an unfinished checkpoint",
          stopped or not sent, f"rc {rc}, {a.get('finished')}")
    if not stopped:
        print(f"# {name}: the fit finished before the interrupt; resume is still checked")
    p = run("train", cfg, "--resume", part, "--quiet", *extra)
    check(f"{name}: --resume after the {stage} exits 0", p.returncode == 0, p.stderr)
    da, db = datasets(full), datasets(part)
    same = da.keys() == db.keys() and all(np.array_equal(da[k], db[k]) for k in da)
    diff = [k for k in da if k not in db or not np.array_equal(da[k], db[k])]
    check(f"{name}: resumed from the {stage}, every dataset is bitwise the uninterrupted one's",
          same, f"{diff} {sorted(set(db) - set(da))}")
    fa, fb = attrs(full, "/fit"), attrs(part, "/fit")
    keys = [k for k in fa if k not in ("seconds", "test_seconds")]
    check(f"{name}: and so is every /fit attribute but the timings",
          all(equal(fa[k], fb.get(k)) for k in keys) and fb.get("finished") == 1,
          str({k: (fa[k], fb.get(k)) for k in keys if not equal(fa[k], fb.get(k))}))
    return part


with tempfile.TemporaryDirectory() as tmp:
    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    mk = write("mk.ini", """[lattice]
size = 16x16
[model]
kind = mk
N = 10
D_A = 0.1
D_B = 0.4
k1 = 0.5
k2 = 0.5
k3 = 0.5
stability-steps = 100
test-every = 7
test-steps = 100
offset-estimator = score
seed = 3
[data]
source = simulate
reference = 0.1,0.4,0.98,0.1,0.2
pattern-steps = 200
seed = 1
[optimizer]
method = adam
learning-rate = 0.002
iterations = 40
checkpoint-every = 5
""")
    part = case("mk", mk, [], lambda p: attrs(p, "/fit").get("iterations_done", 0) >= 5, tmp,
                "fit")
    p = run("train", mk, "--resume", part, "--set", "optimizer.iterations=41")
    check("mk: --resume under another configuration: exit 2, says so",
          p.returncode == 2 and "another configuration" in p.stderr, p.stderr)
    p = run("train", mk, "--resume", os.path.join(tmp, "none.h5"))
    check("mk: --resume of a missing file: exit 2 naming it",
          p.returncode == 2 and "none.h5" in p.stderr, p.stderr)
    # A fit that leaves the domain stops there; there is nothing to resume.
    left = os.path.join(tmp, "left.h5")
    fast = ["--set", "optimizer.learning-rate=0.05", "--set", "model.stability-steps=40"]
    p = run("train", mk, "-o", left, "--quiet", *fast)
    if attrs(left, "/fit").get("left_domain") == 1:
        p = run("train", mk, "--resume", left, *fast)
        check("mk: --resume of a fit that left its domain: exit 2, says why",
              p.returncode == 2 and "left" in p.stderr, p.stderr)
    else:
        check("mk: a learning rate of 0.05 leaves the domain (the refusal's test case)", False,
              str(attrs(left, "/fit")))

    # Ctrl-C while X_ref is being made: exit 1, saying so, and no file.
    ref_out = os.path.join(tmp, "ref.h5")
    p = subprocess.Popen([dca, "train", mk, "-o", ref_out, "--quiet", "--set",
                          "data.pattern-steps=100000000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    check("mk: SIGINT while making the reference pattern: exit 1, says so, writes nothing",
          p.returncode == 1 and "reference pattern" in err and not os.path.exists(ref_out), err)

    potts = write("potts.ini", """[lattice]
size = 32x32
[model]
kind = potts
temperature = 0.5
target-msd = 2
estimator = score
lattices = 200
sampling-steps = 400
seed = 1
[optimizer]
method = sgd
learning-rate = 0.0004
momentum = 0
iterations = 30
checkpoint-every = 4
[abc]
candidates = 30
simulations = 100
seed = 2
""")
    case("potts", potts, [], lambda p: attrs(p, "/fit").get("iterations_done", 0) >= 4, tmp,
         "fit")
    case("potts", potts, [], lambda p: attrs(p, "/abc").get("candidates_done", 0) >= 4, tmp,
         "ABC baseline")

    si = os.path.join(confdir, "si.ini")
    small = ["--set", "lattice.size=32x32", "--set", "data.simulations=10", "--set", "optimizer.iterations=200",
             "--set", "abc.candidates=100", "--set", "abc.simulations=5",
             "--set", "optimizer.checkpoint-every=40"]
    case("si", si, small, lambda p: attrs(p, "/fit").get("iterations_done", 0) >= 40, tmp, "fit")
    case("si", si, small, lambda p: attrs(p, "/abc").get("candidates_done", 0) >= 40, tmp,
         "ABC baseline")
    with h5py.File(os.path.join(tmp, "si-full.h5"), "r") as f:
        check("a finished fit keeps no optimizer state; /fit@finished = 1",
              "optimizer_state" not in f["fit"] and f["fit"].attrs["finished"] == 1)

    seg = os.path.join(confdir, "segment-cells.ini")
    segx = ["--set", "lattice.size=64x64", "--set", "data.cells=4",
            "--set", "optimizer.checkpoint-every=20"]
    case("segment", seg, segx,
         lambda p: attrs(p, "/fit").get("iterations_done", 0) >= 20, tmp, "fit")
    p = run("train", seg, *segx, "--resume",
            os.path.join(tmp, "si-fit.h5"))
    check("segment: --resume of an SI run file: exit 2", p.returncode == 2, p.stderr)

tap.finish()
