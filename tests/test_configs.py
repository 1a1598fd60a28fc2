"""Every configuration shipped in configs/ runs and writes a readable run
file. Prints TAP. Usage: test_configs.py PATH/TO/dca CONFIG_DIR"""
import glob
import os
import re
import subprocess
import sys
import tempfile

import h5py

dca, confdir = sys.argv[1], sys.argv[2]
configs = sorted(glob.glob(os.path.join(confdir, "*.ini")))
print(f"1..{len(configs)}")
failed = 0
with tempfile.TemporaryDirectory() as tmp:
    for i, c in enumerate(configs, 1):
        out = os.path.join(tmp, os.path.basename(c) + ".h5")
        with open(c) as fh:
            text = fh.read()
        learner = re.search(r"^\s*kind\s*=\s*(ffnet|kuramoto)", text, re.M)
        slm = re.search(r"^\s*kind\s*=\s*(si|potts|segment|mk)\b", text, re.M)
        # Learners and stochastic lattice models train (3 iterations: the
        # check is that the config loads and runs, not the science);
        # everything else runs.
        cmd = [dca, "train", c, "-o", out, "--quiet", "--set", "optimizer.iterations=3"] \
            if learner or slm else [dca, "run", c, "-o", out, "--quiet"]
        if slm and slm.group(1) == "si":
            cmd += ["--set", "data.simulations=10", "--set", "abc.candidates=20"]
        if slm and slm.group(1) == "potts":
            cmd += ["--set", "model.lattices=100"]
        if slm and slm.group(1) == "mk":
            cmd += ["--set", "lattice.size=16x16", "--set", "data.pattern-steps=200",
                    "--set", "model.stability-steps=20", "--set", "model.test-steps=50"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        ok = p.returncode == 0
        detail = p.stderr.strip()
        if ok:
            with h5py.File(out, "r") as f:
                ok = f.attrs["format"] == "dca-run" and (
                    "ensemble" in f if learner else "fit" in f if slm
                    else int(f["run"].attrs["complete"]) == 1)
                detail = "run file incomplete"
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {i} - {os.path.basename(c)}" + ("" if ok else f" # {detail}"))
sys.exit(1 if failed else 0)
