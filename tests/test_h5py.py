"""What a Python user sees: a run file opened with h5py (Debian's
/usr/bin/python3). Prints TAP. Usage: test_h5py.py PATH/TO/dca"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

DCA = sys.argv[1]
results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


with tempfile.TemporaryDirectory() as tmp:
    ini = os.path.join(tmp, "t.ini")
    with open(ini, "w") as f:
        f.write("[lattice]\nsize = 6x5\nstates = 3\nneighborhood = moore:1\n"
                "[rule]\nweights = normal:1\n"
                "[init]\nconfigurations = 3\nkind = uniform-states\n"
                "[run]\nsteps = 5\nrecord-every = 2\n")
    out = os.path.join(tmp, "t.h5")
    p = subprocess.run([DCA, "run", ini, "-o", out, "--quiet"], capture_output=True, text=True)
    check("dca run exits 0", p.returncode == 0, p.stderr)
    with h5py.File(out, "r") as f:
        check("format attribute is str", f.attrs["format"] == "dca-run", repr(f.attrs["format"]))
        check("format_version is 1", int(f.attrs["format_version"]) == 1)
        check("config is str", isinstance(f.attrs["config"], str) and "[lattice]" in f.attrs["config"])
        v = f["run/values"]
        check("values shape (B, rows, H, W, k)", v.shape == (3, 4, 6, 5, 3), v.shape)
        check("values float64", v.dtype == np.float64, v.dtype)
        labels = [d.label for d in v.dims]
        check("axis labels", labels == ["configuration", "step", "row", "column", "state"], labels)
        times = v.dims[1][0][()]
        check("time scale", list(times) == [0, 2, 4, 5], list(times))
        arr = v[()]
        check("rows sum to 1", np.abs(arr.sum(-1) - 1).max() < 1e-12)
        check("row 0 is eps-mapped one-hot", np.allclose(np.sort(arr[:, 0], -1)[..., -1], 0.999))
        w = f["rule/weights"]
        check("weights (k^m, k)", w.shape == (3 ** 9, 3), w.shape)
        rho = f["rule/probabilities"][()]
        check("probabilities are softmax of weights",
              np.allclose(rho, np.exp(w[()]) / np.exp(w[()]).sum(1, keepdims=True), atol=1e-14))
        check("offsets (m, 2)", f["rule/offsets"].shape == (9, 2))
        check("run complete", int(f["run"].attrs["complete"]) == 1)
        check("mode attr", f["rule"].attrs["mode"] == "softmax")

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}" + ("" if ok else f" # {detail}"))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
