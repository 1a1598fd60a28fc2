"""dca run on the bit-parallel engine (issue 18, part 3): a hard binary rule
on exact 0/1 states, values only, runs 64 cells per machine word; its run
file must be bitwise the soft engine's ([run] bit-parallel = no), and runs
that need probabilities (eps > 0, gradients) must stay on the soft engine.
Usage: test_bitparallel.py PATH/TO/dca CONFIGS_DIR"""
import os
import shutil
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, datasets, finish, run  # noqa: E402

dca, configs = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="dca-bits-test-")
cfg = lambda name: os.path.join(configs, name)  # noqa: E731
out = lambda name: os.path.join(tmp, name)  # noqa: E731


def kernel(path):
    with h5py.File(path, "r") as f:
        return f["run"].attrs["kernel"]


def same(a, b):
    da, db = datasets(a), datasets(b)
    if da.keys() != db.keys():
        return f"datasets differ: {sorted(set(da) ^ set(db))}"
    bad = [k for k in da if da[k].tobytes() != db[k].tobytes() and k != "run/config"]
    return f"differ: {bad}" if bad else ""


cases = [
    ("Life soup, 200x130 (rows of 3 words, the last one partial), 3 configurations",
     "life-soup.ini", ["--set", "lattice.size=200x130", "--set", "init.configurations=3",
                       "--set", "run.record-every=7"]),
    ("Life as a full table, 64x64", "life.ini", ["--set", "run.steps=60"]),
    ("rule 30 on a ring of 101", "rule30.ini", []),
    ("radius 3 ring of 149, a random hard table", "gkl.ini",
     ["--set", "init.kind=bernoulli:0.5", "--set", "init.eps=0", "--set", "init.configurations=5",
      "--set", "run.steps=80", "--set", "run.record-every=3"]),
]
for i, (what, ini, sets) in enumerate(cases):
    a, b = out(f"auto{i}.h5"), out(f"no{i}.h5")
    ra, rb = out(f"auto{i}.rle"), out(f"no{i}.rle")
    pa = run(dca, "run", cfg(ini), "-o", a, *sets, "--set", f"output.rle={ra}")
    pb = run(dca, "run", cfg(ini), "-o", b, *sets, "--set", f"output.rle={rb}", "--set",
             "run.bit-parallel=no")
    ok = pa.returncode == 0 and pb.returncode == 0
    why = pa.stderr + pb.stderr if not ok else same(a, b)
    if ok and not why:
        with open(ra) as f1, open(rb) as f2:
            # The comment naming the run file differs; the pattern must not.
            body = lambda f: [l for l in f if not l.startswith("#C run file")]  # noqa: E731
            why = "" if body(f1) == body(f2) else "the RLE files differ"
    check(f"{what}: bit-parallel, bitwise the soft engine's file and RLE",
          ok and not why and kernel(a) == "bit-parallel" and kernel(b) != "bit-parallel"
          and "bit-parallel engine" in pa.stderr, why or f"kernels {kernel(a)} {kernel(b)}")

# Runs that need probabilities stay soft.
for what, sets in (("eps > 0", ["--set", "init.eps=0.01"]),
                   ("forward-mode gradients", ["--set", "run.gradients=forward", "--set",
                                             "run.record=values,gradients"])):
    p = run(dca, "run", cfg("rule30.ini"), "-o", out("soft.h5"), "--quiet", *sets)
    check(f"{what}: the soft engine", p.returncode == 0 and kernel(out("soft.h5")) != "bit-parallel",
          p.stderr)
p = run(dca, "run", cfg("rule30.ini"), "-o", out("x.h5"), "--set", "run.bit-parallel=maybe")
check("run.bit-parallel = maybe is refused, naming the key",
      p.returncode == 2 and "bit-parallel" in p.stderr and "auto or no" in p.stderr, p.stderr)

shutil.rmtree(tmp)
finish()
