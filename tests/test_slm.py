#!/usr/bin/python3
"""dca train / gradcheck with [model] kind = si: the run file's layout, thread
independence, data from a file (and its errors), the fit against the
least-squares fixed point, the ABC baseline. TAP output."""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

import tap
from tap import check, datasets

dca, confdir = sys.argv[1], sys.argv[2]
cfg = os.path.join(confdir, "si.ini")


def run(*args):
    return tap.run(dca, *args)


view = os.path.join(os.path.dirname(os.path.abspath(confdir)), "scripts", "dcaview")
small = ["--set", "data.simulations=20", "--set", "optimizer.iterations=200",
         "--set", "abc.candidates=50", "--set", "abc.simulations=5", "--quiet"]

with tempfile.TemporaryDirectory() as tmp:
    a, b = os.path.join(tmp, "a.h5"), os.path.join(tmp, "b.h5")
    p1 = run("train", cfg, "-o", a, "--threads", "1", *small)
    p2 = run("train", cfg, "-o", b, "--threads", "2", *small)
    check("dca train si (1 and 2 threads)", p1.returncode == 0 and p2.returncode == 0,
          p1.stderr + p2.stderr)
    if p1.returncode == 0 and p2.returncode == 0:
        da, db = datasets(a), datasets(b)
        same = da.keys() == db.keys() and all(np.array_equal(da[k], db[k]) for k in da)
        check("run file bitwise the same on 1 and 2 threads", same)
        with h5py.File(a, "r") as f:
            fr = f["data/frames"]
            check("/data/frames is uint8 (simulations, states, rows, columns)",
                  fr.dtype == np.uint8 and fr.shape == (20, 30, 64, 64), f"{fr.dtype} {fr.shape}")
            check("/data/frames: one aware centre cell at t = 0, aware cells stay aware",
                  fr[:, 0].sum() == 20 and fr[0, 0, 32, 32] == 1
                  and np.all(np.diff(fr[:].astype(int), axis=1) >= 0))
            check("/fit/beta has iterations + 1 entries, /fit/loss iterations",
                  f["fit/beta"].shape == (201,) and f["fit/loss"].shape == (200,))
            n, k = f["data/counts"][:, 0], f["data/counts"][:, 1]
            check("/data/counts: 9 neighbour counts, k <= n, none informed at N = 0",
                  f["data/counts"].shape == (9, 2) and np.all(k <= n) and k[0] == 0)
            ml, ls = f["data"].attrs["beta_ml"], f["data"].attrs["beta_ls"]
            check("beta_ml and beta_ls near the data's mean beta (0.5)",
                  0.4 < ml < 0.55 and 0.4 < ls < 0.55, f"{ml} {ls}")
            check("/abc: 50 candidates in [0, 1], an estimate",
                  f["abc/beta"].shape == (50,) and np.all((f["abc/beta"][:] >= 0) & (f["abc/beta"][:] <= 1))
                  and 0 < f["abc"].attrs["estimate_final"] < 1)
            frames = fr[:]
        png = os.path.join(tmp, "a-slm.png")
        p = subprocess.run(["/usr/bin/python3", view, "slm", a, "-o", png, "--frames", "3"],
                           capture_output=True, text=True)
        check("dcaview slm draws the fit", p.returncode == 0 and os.path.getsize(png) > 1000,
              p.stderr)

        # The same transitions from a file: the same counts and estimates.
        data = os.path.join(tmp, "obs.h5")
        with h5py.File(data, "w") as f:
            f["traj"] = frames.astype(np.float32)
        c = os.path.join(tmp, "si-file.ini")
        text = (f"[lattice]\nsize = 64x64\nneighborhood = moore:1\n[model]\nkind = si\n"
                f"[data]\nsource = file:{data}:/traj\n[optimizer]\nmethod = sgd\n"
                f"learning-rate = 1\nminibatch = 32\n")
        with open(c, "w") as fh:
            fh.write(text)
        out = os.path.join(tmp, "f.h5")
        p = run("train", c, "-o", out, "--set", "optimizer.iterations=20", "--set",
                "abc.candidates=0", "--quiet")
        check("[data] source = file:PATH:DATASET trains", p.returncode == 0, p.stderr)
        if p.returncode == 0:
            with h5py.File(out, "r") as f, h5py.File(a, "r") as g:
                check("file data: the same counts and likelihood estimate",
                      np.array_equal(f["data/counts"][:], g["data/counts"][:])
                      and f["data"].attrs["beta_ml"] == g["data"].attrs["beta_ml"])
        bad = frames.copy()
        bad[3, 10, 32, 32] = 0
        with h5py.File(data, "w") as f:
            f["traj"] = bad
        p = run("train", c, "-o", out, "--quiet")
        check("a cell turning unaware again: exit 2 naming the entry",
              p.returncode == 2 and "/traj[3, 10" in p.stderr and "unaware" in p.stderr, p.stderr)
        with h5py.File(data, "w") as f:
            f["traj"] = frames[:, :, :32, :]
        p = run("train", c, "-o", out, "--quiet")
        check("a file of the wrong shape: exit 2 naming the shape",
              p.returncode == 2 and "shape" in p.stderr, p.stderr)

    # The fit converges to the least-squares fixed point of the STE.
    fit = os.path.join(tmp, "fit.h5")
    p = run("train", cfg, "-o", fit, "--set", "abc.candidates=0", "--set",
            "optimizer.iterations=400", "--quiet")
    if p.returncode == 0:
        with h5py.File(fit, "r") as f:
            bf, ls = f["fit"].attrs["beta_fit"], f["data"].attrs["beta_ls"]
        check("the STE fit lands on the least-squares estimate (|diff| < 0.01)",
              abs(bf - ls) < 0.01, f"{bf} vs {ls}")
    else:
        check("dca train si.ini", False, p.stderr)

    p = run("gradcheck", cfg, "--set", "data.simulations=8")
    check("dca gradcheck si: PASS", p.returncode == 0 and "PASS" in p.stdout, p.stdout + p.stderr)
    p = run("train", cfg, "--set", "model.beta=1.5", "-o", fit)
    check("beta = 1.5: exit 2 naming the key", p.returncode == 2 and "model.beta" in p.stderr,
          p.stderr)
    p = run("train", cfg, "--set", "lattice.neighborhood=offsets:(0,0)", "-o", fit)
    check("a neighbourhood of the centre only: exit 2",
          p.returncode == 2 and "neighborhood" in p.stderr, p.stderr)
    p = run("train", cfg, "--set", "optimizer.learning-rate=200", "--set", "abc.candidates=0",
            "--set", "data.simulations=5", "-o", fit, "--quiet")
    with h5py.File(fit, "r") as f:
        left = int(f["fit"].attrs["left_domain"])
    check("beta leaving [0, 1]: the fit stops, says so, keeps its iterations",
          p.returncode == 0 and "out of [0, 1]" in p.stderr and left == 1, p.stderr)
    p = run("run", cfg)
    check("dca run refuses kind = si", p.returncode == 2, p.stderr)

    # The cellular Potts model.
    pc = os.path.join(confdir, "potts-msd2.ini")
    pa, pb = os.path.join(tmp, "pa.h5"), os.path.join(tmp, "pb.h5")
    few = ["--set", "model.lattices=400", "--set", "optimizer.iterations=5", "--quiet"]
    p1 = run("train", pc, "-o", pa, "--threads", "1", *few)
    p2 = run("train", pc, "-o", pb, "--threads", "2", *few)
    check("dca train potts (1 and 2 threads)", p1.returncode == 0 and p2.returncode == 0,
          p1.stderr + p2.stderr)
    if p1.returncode == 0 and p2.returncode == 0:
        da, db = datasets(pa), datasets(pb)
        check("potts run file bitwise the same on 1 and 2 threads",
              da.keys() == db.keys() and all(np.array_equal(da[k], db[k]) for k in da))
        with h5py.File(pa, "r") as f:
            g = f["fit"]
            check("/fit/temperature (6), msd, acceptance, both gradients (5)",
                  g["temperature"].shape == (6,) and g["msd"].shape == (5,)
                  and g["gradient_ste"].shape == (5,) and g["gradient_score"].shape == (5,)
                  and np.array_equal(g["gradient"][()], g["gradient_score"][()]))
            check("acceptance follows e^(-1/T)",
                  abs(g["acceptance"][0] - np.exp(-1 / g["temperature"][0])) < 0.02,
                  f"{g['acceptance'][0]} vs {np.exp(-1 / g['temperature'][0])}")
        png = os.path.join(tmp, "pa-slm.png")
        view = os.path.join(os.path.dirname(os.path.abspath(confdir)), "scripts", "dcaview")
        p = subprocess.run(["/usr/bin/python3", view, "slm", pa, "-o", png],
                           capture_output=True, text=True)
        check("dcaview slm draws a potts fit", p.returncode == 0, p.stderr)
    pabc = os.path.join(tmp, "pabc.h5")
    p = run("train", pc, "-o", pabc, "--set", "model.lattices=200", "--set", "optimizer.iterations=3",
            "--set", "abc.candidates=40", "--set", "abc.simulations=50", "--set", "abc.accept=0.1",
            "--quiet")
    check("potts with ABC", p.returncode == 0 and "abc:" in p.stdout, p.stderr)
    if p.returncode == 0:
        with h5py.File(pabc, "r") as f:
            t = f["abc/temperature"][()]
            check("/abc: 40 candidates in the prior [0.1, 1], an estimate, its check",
                  t.shape == (40,) and t.min() >= 0.1 and t.max() <= 1
                  and 0.1 < f["abc"].attrs["estimate"] < 1 and f["abc"].attrs["msd_check"] > 0)
    p = run("gradcheck", pc, "--set", "model.lattices=1000", "--set", "model.temperature=0.33")
    check("dca gradcheck potts: the score-function estimator PASSes, the STE's bias printed",
          p.returncode == 0 and "PASS" in p.stdout and "straight-through bias" in p.stdout,
          p.stdout + p.stderr)
    for key, value in (("model.temperature", "-1"), ("model.lattices", "1"),
                       ("lattice.size", "4x4")):
        p = run("train", pc, "--set", f"{key}={value}", "-o", os.path.join(tmp, "bad.h5"))
        check(f"potts {key} = {value}: exit 2 naming the key",
              p.returncode == 2 and key.split(".")[1] in p.stderr, p.stderr)
    p = run("train", pc, "--set", "data.simulations=5", "-o", os.path.join(tmp, "bad.h5"))
    check("potts with an SI key: exit 2", p.returncode == 2 and "data" in p.stderr, p.stderr)

    # Segmentation by state fitting.
    sc = os.path.join(confdir, "segment-cells.ini")
    sa = os.path.join(tmp, "sa.h5")
    p = run("train", sc, "-o", sa, "--set", "lattice.size=96x80", "--set", "data.cells=5",
            "--set", "data.cell-radius=5:9", "--set", "optimizer.iterations=80", "--quiet")
    check("dca train segment", p.returncode == 0, p.stderr)
    if p.returncode == 0:
        with h5py.File(sa, "r") as f:
            g = f["fit"]
            check("/data/image (96, 80), /data/mask uint8, /fit/masks (9, 96, 80), dice (81)",
                  f["data/image"].shape == (96, 80) and f["data/mask"].dtype == np.uint8
                  and g["masks"].shape == (9, 96, 80) and g["dice"].shape == (81,))
            check("the fit raises the Dice score above 0.85 (from under 0.5)",
                  g["dice"][-1] > 0.85 and g["dice"][-1] > g["dice"][0] + 0.3,
                  f"{g['dice'][0]} -> {g['dice'][-1]}")
            img, mask = f["data/image"][()], f["data/mask"][()]
            final = f["fit/dice"][-1]
        # The same image and mask from a file: the same fit.
        im = os.path.join(tmp, "img.h5")
        with h5py.File(im, "w") as f:
            f["img"] = np.stack([img] * 3, axis=-1)  # colour: grey = 0.299 R + 0.587 G + 0.114 B
            f["truth"] = mask
        fc = os.path.join(tmp, "seg-file.ini")
        with open(fc, "w") as fh:
            fh.write(f"[model]\nkind = segment\n[data]\nsource = file:{im}:/img\n"
                     f"mask = file:{im}:/truth\n[optimizer]\nmethod = sgd\n"
                     f"learning-rate = 0.1\nmomentum = 0\niterations = 80\n")
        p = run("train", fc, "-o", os.path.join(tmp, "sf.h5"), "--quiet")
        check("segment from an RGB file with a mask file", p.returncode == 0, p.stderr)
        if p.returncode == 0:
            with h5py.File(os.path.join(tmp, "sf.h5"), "r") as f:
                check("... gives the same Dice", abs(f["fit/dice"][-1] - final) < 1e-9,
                      f"{f['fit/dice'][-1]} vs {final}")
        with h5py.File(im, "a") as f:
            f["small"] = mask[:10]
        p = run("train", fc, "--set", f"data.mask=file:{im}:/small", "-o",
                os.path.join(tmp, "bad.h5"))
        check("a mask of another shape: exit 2 naming [data] mask",
              p.returncode == 2 and "mask" in p.stderr, p.stderr)
        view = os.path.join(os.path.dirname(os.path.abspath(confdir)), "scripts", "dcaview")
        p = subprocess.run(["/usr/bin/python3", view, "slm", sa, "-o", os.path.join(tmp, "s.png")],
                           capture_output=True, text=True)
        check("dcaview slm draws a segmentation", p.returncode == 0, p.stderr)
    p = run("gradcheck", sc, "--set", "lattice.size=40x30")
    check("dca gradcheck segment: PASS", p.returncode == 0 and "PASS" in p.stdout, p.stdout + p.stderr)
    p = run("train", sc, "--set", "model.lambda-d=-1", "-o", os.path.join(tmp, "bad.h5"))
    check("lambda-d = -1: exit 2", p.returncode == 2 and "lambda-d" in p.stderr, p.stderr)
    p = run("train", sc, "--set", "model.beta=0.3", "-o", os.path.join(tmp, "bad.h5"))
    check("segment with an SI key: exit 2", p.returncode == 2 and "beta" in p.stderr, p.stderr)

    # The Malevanets-Kapral lattice gas.
    mc = os.path.join(confdir, "mk-e1.ini")
    small_mk = ["--set", "lattice.size=16x16", "--set", "data.pattern-steps=300",
                "--set", "model.stability-steps=20", "--set", "optimizer.iterations=4",
                "--set", "model.test-every=2", "--set", "model.test-steps=50", "--quiet"]
    ma, mb = os.path.join(tmp, "ma.h5"), os.path.join(tmp, "mb.h5")
    p1 = run("train", mc, "-o", ma, "--threads", "1", *small_mk)
    p2 = run("train", mc, "-o", mb, "--threads", "2", *small_mk)
    check("dca train mk (1 and 2 threads)", p1.returncode == 0 and p2.returncode == 0,
          p1.stderr + p2.stderr)
    if p1.returncode == 0 and p2.returncode == 0:
        da, db = datasets(ma), datasets(mb)
        check("mk run file bitwise the same on 1 and 2 threads",
              da.keys() == db.keys() and all(np.array_equal(da[k], db[k]) for k in da))
        with h5py.File(ma, "r") as f:
            g = f["fit"]
            check("/fit/params (5, 5), loss (4), gradient (4, 5), 3 pattern tests",
                  g["params"].shape == (5, 5) and g["loss"].shape == (4,)
                  and g["gradient"].shape == (4, 5) and g["test_patterns"].shape == (3, 16, 16)
                  and f["data/reference"].shape == (2, 16, 16))
            check("gamma defaults to 0.005 for mk", g.attrs["gamma"] == 0.005
                  or "gamma = 0.005" in f.attrs["config"], str(g.attrs["gamma"]))
        p = subprocess.run(["/usr/bin/python3", view, "slm", ma, "-o", os.path.join(tmp, "m.png")],
                           capture_output=True, text=True)
        check("dcaview slm draws an mk fit", p.returncode == 0, p.stderr)
    # configs/mk-labyrinth.ini: no fitting, the patterns only.
    lab = os.path.join(tmp, "lab.h5")
    p = run("train", os.path.join(confdir, "mk-labyrinth.ini"), "-o", lab, "--quiet",
            "--set", "lattice.size=24x24", "--set", "data.pattern-steps=300",
            "--set", "model.test-steps=100")
    ok = p.returncode == 0
    if ok:
        with h5py.File(lab, "r") as f:
            ok = (f["fit/loss"].shape == (0,) and f["fit/test_patterns"].shape == (1, 24, 24)
                  and f["data"].attrs["pattern_steps"] == 300
                  and np.array_equal(f["data/reference_params"][()], [0.1, 0.4, 0.98, 0.1, 0.2]))
    check("mk with iterations = 0: X_ref and one pattern test, no fit", ok, p.stderr)
    p = subprocess.run(["/usr/bin/python3", view, "slm", lab, "-o", os.path.join(tmp, "l.png")],
                       capture_output=True, text=True)
    check("dcaview slm draws the patterns of an unfitted mk run", p.returncode == 0
          and os.path.getsize(os.path.join(tmp, "l.png")) > 1000, p.stderr)
    m3 = os.path.join(confdir, "mk-e3.ini")
    p = run("train", m3, "-o", os.path.join(tmp, "m3.h5"), *small_mk)
    if p.returncode == 0:
        with h5py.File(os.path.join(tmp, "m3.h5"), "r") as f:
            prm = f["fit/params"][()]
        check("fit = k keeps D_A and D_B fixed", np.all(prm[:, 0] == 0.1) and np.all(prm[:, 1] == 0.4)
              and np.any(prm[:, 2] != prm[0, 2]))
    else:
        check("dca train mk-e3", False, p.stderr)
    p = run("train", os.path.join(confdir, "mk-e2-score.ini"), "-o", os.path.join(tmp, "ms.h5"),
            *small_mk)
    if p.returncode == 0:
        with h5py.File(os.path.join(tmp, "ms.h5"), "r") as f:
            g = f["fit"]
            check("offset-estimator = score: D moves by its own gradient, the STE's is recorded",
                  g.attrs["offset_estimator"] in ("score", b"score")
                  and g["gradient_d_ste"].shape == (4, 2)
                  and not np.array_equal(g["gradient"][:, :2], g["gradient_d_ste"][()])
                  and np.all(g["params"][:, 2:] == g["params"][0, 2:]))
    else:
        check("dca train mk-e2-score", False, p.stderr)
    p = run("gradcheck", mc, "--set", "lattice.size=16x16")
    check("dca gradcheck mk: the smoothed model's adjoint PASSes", p.returncode == 0
          and "PASS" in p.stdout, p.stdout + p.stderr)
    for key, value, word in (("model.N", "2", "N"), ("model.k2", "5", "> 1"),
                             ("model.D_A", "1", "D_A"), ("model.gamma", "-1", "gamma")):
        p = run("train", mc, "--set", f"{key}={value}", "-o", os.path.join(tmp, "bad.h5"))
        check(f"mk {key} = {value}: exit 2 saying why", p.returncode == 2 and word in p.stderr,
              p.stderr)

tap.finish()
