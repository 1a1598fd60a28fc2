"""How dca starts (src/cli/launch.c, blas_core.c): libgomp's default spin at
barriers collapses throughput when processes share cores, so dca runs with
GOMP_SPINCOUNT=1000 unless the user chose a wait policy, or the run uses one
thread. The launcher sets it before libgomp loads: libgomp starts once, with
no restart. OMP_DISPLAY_ENV makes libgomp print what it was started with. Results
do not depend on the policy. Prints TAP. Usage: test_process.py PATH/TO/dca"""
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

dca = sys.argv[1]
results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


def spin_counts(args, **env):
    e = {k: v for k, v in os.environ.items()
         if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "DCA_OMP_SPINCOUNT", "OMP_NUM_THREADS")}
    e.update(env)
    e["OMP_DISPLAY_ENV"] = "verbose"
    p = subprocess.run([dca, *args], capture_output=True, text=True, env=e)
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", p.stderr), p


c, p = spin_counts(["--version"])
check("a default start loads libgomp once, with GOMP_SPINCOUNT=1000 (no restart)",
      c == ["1000"] and p.returncode == 0, str(c))
c, _ = spin_counts(["--version"], GOMP_SPINCOUNT="5000")
check("the user's GOMP_SPINCOUNT is kept, no restart", c == ["5000"], str(c))
c, _ = spin_counts(["--version"], OMP_WAIT_POLICY="active")
check("the user's OMP_WAIT_POLICY is kept, no restart", len(c) == 1, str(c))
c, _ = spin_counts(["--version"], DCA_OMP_SPINCOUNT="keep")
check("DCA_OMP_SPINCOUNT=keep leaves libgomp's default", c == ["300000"], str(c))
c, _ = spin_counts(["--version"], DCA_OMP_SPINCOUNT="20000")
check("DCA_OMP_SPINCOUNT=N sets N", c == ["20000"], str(c))
c, _ = spin_counts(["run", "--threads", "1", "--help"])
check("a one-thread run is not restarted", c == ["300000"], str(c))
c, p = spin_counts(["--version"], DCA_BLAS_CORETYPE="Haswell")
check("DCA_BLAS_CORETYPE=Haswell runs Haswell, set before OpenBLAS loads (no restart)",
      c == ["1000"] and "OpenBLAS core: Haswell (DCA_BLAS_CORETYPE)" in p.stdout,
      str(c) + p.stdout)
c, _ = spin_counts(["--version"], OMP_NUM_THREADS="1")
check("OMP_NUM_THREADS=1 is not restarted", c == ["300000"], str(c))

with tempfile.TemporaryDirectory() as tmp:
    cfg = os.path.join(tmp, "r.ini")
    with open(cfg, "w") as f:
        f.write("[lattice]\nsize = 256\nneighborhood = radius:2\n[rule]\nweights = normal:1\n"
                "[init]\nconfigurations = 8\n[run]\nsteps = 20\n")
    outs = []
    for i, env in enumerate(({}, {"DCA_OMP_SPINCOUNT": "keep"}, {"OMP_WAIT_POLICY": "passive"})):
        out = os.path.join(tmp, f"{i}.h5")
        e = dict(os.environ, **env)
        p = subprocess.run([dca, "run", cfg, "-o", out, "--quiet", "--threads", "2"], env=e,
                           capture_output=True, text=True)
        outs.append(h5py.File(out, "r")["run/values"][()] if p.returncode == 0 else None)
    check("values are bitwise the same under every wait policy",
          all(o is not None and np.array_equal(o, outs[0]) for o in outs))

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}" + ("" if ok else f" # {detail}"))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
