"""dcaview and dca_h5 on run files made by dca. Prints TAP.
Usage: test_dcaview.py PATH/TO/dca SCRIPTS_DIR"""
import os
import struct
import subprocess
import sys
import tempfile

import h5py
import numpy as np

dca, scripts = sys.argv[1], sys.argv[2]
sys.path.insert(0, scripts)
import dca_h5  # noqa: E402

results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def dcaview(*args):
    return subprocess.run([sys.executable, os.path.join(scripts, "dcaview"), *args],
                          capture_output=True, text=True)


def run(tmp, name, ini, *sets):
    cfg = os.path.join(tmp, name + ".ini")
    with open(cfg, "w") as f:
        f.write(ini)
    out = os.path.join(tmp, name + ".h5")
    args = [dca, "run", cfg, "-o", out, "--quiet"]
    for s in sets:
        args += ["--set", s]
    p = subprocess.run(args, capture_output=True, text=True)
    check(f"dca run {name}", p.returncode == 0, p.stderr)
    return out


with tempfile.TemporaryDirectory() as tmp:
    one = run(tmp, "one", "[lattice]\nsize = 60\nneighborhood = radius:1\n"
              "[rule]\nweights = probabilities:0,0.5,1,1,0,1,0,1\n[init]\nconfigurations = 3\n"
              "[run]\nsteps = 40\ngradients = forward\nrecord = values, gradients\n"
              "record-configurations = 2\n")
    two = run(tmp, "two", "[lattice]\nsize = 16x12\nstates = 3\nneighborhood = vonneumann:1\n"
              "[rule]\nweights = normal:1\n[init]\nkind = uniform-states\nconfigurations = 2\n"
              "[run]\nsteps = 10\ngradients = forward\nrecord = values, gradients\n")
    # Every subcommand writes a non-empty PNG of exactly --size x --dpi pixels.
    for cmd, path, extra in [("values", one, []), ("gradients", one, []), ("rule", one, []),
                             ("values", two, ["--configs", "0,1"]),
                             ("gradients", two, ["--params", "0:5", "--state", "2"]),
                             ("rule", two, [])]:
        png = os.path.join(tmp, f"{os.path.basename(path)}-{cmd}.png")
        p = dcaview(cmd, path, "-o", png, "--size", "6x4", "--dpi", "50", *extra)
        size = png_size(png) if os.path.exists(png) else None
        check(f"dcaview {cmd} {os.path.basename(path)} -> 300x200 PNG",
              p.returncode == 0 and size == (300, 200), f"{p.stderr} size={size}")
    # An outer-totalistic rule: rho against the neighbour count, B/S in the title.
    ot = run(tmp, "ot", "[lattice]\nsize = 16x16\nneighborhood = moore:1\n"
             "[rule]\nkind = outer-totalistic\nweights = life:B3/S23\n[run]\nsteps = 2\n")
    png = os.path.join(tmp, "ot-rule.png")
    p = dcaview("rule", ot, "-o", png, "--size", "6x4", "--dpi", "50")
    check("dcaview rule (outer-totalistic) -> 300x200 PNG",
          p.returncode == 0 and os.path.exists(png) and png_size(png) == (300, 200), p.stderr)
    with dca_h5.open_run(ot) as r:
        check("outer-totalistic rule read", r.rule.kind == "outer-totalistic" and
              r.rule.hardened_life == "B3/S23" and r.rule.weights.shape == (2, 9))
    gif = os.path.join(tmp, "two.gif")
    p = dcaview("values", two, "--gif", "-o", gif)
    check("dcaview values --gif (2D)", p.returncode == 0 and os.path.getsize(gif) > 1000, p.stderr)
    # Errors: clear message, status 2.
    p = dcaview("training", one)
    check("training without /train: exit 2 and says why",
          p.returncode == 2 and "no /train group" in p.stderr, p.stderr)
    p = dcaview("values", one, "--configs", "7")
    check("bad --configs: exit 2", p.returncode == 2 and "outside 0..1" in p.stderr, p.stderr)
    p = dcaview("values", os.path.join(tmp, "one.ini"))
    check("not a run file: exit 2", p.returncode == 2 and "cannot open" in p.stderr, p.stderr)
    # Training plots from a file with the documented /train layout.
    tr = os.path.join(tmp, "train.h5")
    with h5py.File(one, "r") as src, h5py.File(tr, "w") as f:
        for k, v in src.attrs.items():
            f.attrs[k] = v
        src.copy("rule", f)
        f["train/loss"] = np.linspace(1, 0.1, 20)
        f["train/gradient_norm"] = np.linspace(1, 0.01, 20)
        f["train/step_size"] = np.full((20, 8), 0.1)
        f["eval/accuracy"] = 0.8
    png = os.path.join(tmp, "train.png")
    p = dcaview("training", tr, "-o", png, "--size", "9x3", "--dpi", "40")
    check("dcaview training -> 360x120 PNG", p.returncode == 0 and png_size(png) == (360, 120),
          p.stderr)

    # dca search: the /search layout, dca eval --rule on its result, dcaview search.
    cfg = os.path.join(tmp, "se.ini")
    with open(cfg, "w") as f:
        f.write("[lattice]\nsize = 49\nneighborhood = radius:3\n[search]\nruns = 3\n"
                "generations = 5\npopulation = 10\nelite = 2\nconfigurations = 40\n"
                "test-samples = 300\ntest-every = 2\n")
    srun = os.path.join(tmp, "se.h5")
    p = subprocess.run([dca, "search", cfg, "-o", srun, "--quiet"], capture_output=True,
                       text=True)
    check("dca search", p.returncode == 0 and "over 3 runs" in p.stdout, p.stderr)
    with h5py.File(srun, "r") as f:
        g = f["search"]
        shapes = {k: g[k].shape for k in g}
        want = {"best_fitness": (3, 5), "mean_fitness": (3, 5), "evaluations": (3, 5),
                "best_rule": (3, 5, 128), "test_accuracy": (3, 3), "test_generation": (3,),
                "final_rule": (3, 128), "final_test": (3,), "gradient_evaluations": (3,),
                "seconds": (3,)}
        check("/search datasets and shapes", shapes == want, str(shapes))
        check("/search/test_generation is 1, 3, 4",
              list(g["test_generation"][()]) == [1, 3, 4], str(g["test_generation"][()]))
        check("/search/evaluations counts population x configurations",
              list(g["evaluations"][0]) == [400 * (i + 1) for i in range(5)])
        best = float(g.attrs["best_test"])
        check("best_test is the best final_test", best == g["final_test"][()].max())
    p = subprocess.run([dca, "eval", cfg, "--rule", srun, "--set", "eval.samples=300",
                        "--set", "eval.seed=2", "--quiet"], capture_output=True, text=True)
    acc = [ln for ln in p.stdout.splitlines() if ln.startswith("accuracy")]
    check("dca eval --rule SEARCH.h5 reproduces the search's test accuracy",
          p.returncode == 0 and acc and abs(float(acc[0].split()[1]) - best) < 1e-4,
          f"{p.stdout} {p.stderr} best={best}")
    # Runs side by side (3 threads, one run each) or one at a time (1 thread): the same file.
    for threads in ("1", "3"):
        tr = os.path.join(tmp, f"se_t{threads}.h5")
        p = subprocess.run([dca, "search", cfg, "-o", tr, "--threads", threads, "--quiet"],
                           capture_output=True, text=True)
        with h5py.File(srun, "r") as a, h5py.File(tr, "r") as b:
            diff = [k for k in a["search"] if k != "seconds" and
                    not np.array_equal(a["search"][k][()], b["search"][k][()])]
        order = [ln.split(":")[0] for ln in p.stdout.splitlines() if ln.startswith("run ")]
        check(f"dca search --threads {threads}: the same /search, runs reported in order",
              p.returncode == 0 and not diff and order == ["run 0", "run 1", "run 2"],
              f"{p.stderr} differ: {diff} order: {order}")
    # --resume: 2 runs, then resumed to 3, equals the 3-run search (but for wall times).
    part = os.path.join(tmp, "se2.h5")
    p1 = subprocess.run([dca, "search", cfg, "-o", part, "--set", "search.runs=2", "--quiet"],
                        capture_output=True, text=True)
    p2 = subprocess.run([dca, "search", cfg, "--resume", part, "--quiet"], capture_output=True,
                        text=True)
    with h5py.File(srun, "r") as a, h5py.File(part, "r") as b:
        diff = [k for k in a["search"] if k != "seconds" and
                not np.array_equal(a["search"][k][()], b["search"][k][()])]
    check("dca search --resume continues to the uninterrupted result",
          p1.returncode == 0 and p2.returncode == 0 and "resumed: 2 runs" in p2.stdout and
          not diff, f"{p1.stderr} {p2.stderr} differ: {diff}")
    p = subprocess.run([dca, "search", cfg, "--resume", part, "--set", "search.generations=6",
                        "--quiet"], capture_output=True, text=True)
    check("dca search --resume with other generations: exit 2, says why",
          p.returncode == 2 and "another shape" in p.stderr, p.stderr)
    png = os.path.join(tmp, "se.png")
    p = dcaview("search", srun, "-o", png, "--size", "8x2", "--dpi", "50")
    check("dcaview search -> 400x100 PNG", p.returncode == 0 and png_size(png) == (400, 100),
          p.stderr)
    p = dcaview("search", one)
    check("dcaview search without /search: exit 2", p.returncode == 2 and "no /search" in
          p.stderr, p.stderr)
    p = subprocess.run([dca, "search", cfg, "--set", "search.strategy=hill", "--quiet"],
                       capture_output=True, text=True)
    check("dca search: unknown strategy names the key and the choices",
          p.returncode == 2 and "search.strategy=hill" in p.stderr and "ga-gradient" in p.stderr,
          p.stderr)
    # [search] symmetry: the attribute, symmetric results, --resume refuses another symmetry,
    # a bad value names the key and the choices, dcaview names it.
    sym = os.path.join(tmp, "sym.h5")
    p = subprocess.run([dca, "search", cfg, "-o", sym, "--set", "search.runs=2",
                        "--set", "search.symmetry=complement-reflection", "--quiet"],
                       capture_output=True, text=True)
    with h5py.File(sym, "r") as f:
        rules = f["search/best_rule"][()].reshape(-1, 128)
        mirror = [~int(f"{i:07b}"[::-1], 2) & 127 for i in range(128)]
        ok = bool((rules != rules[:, mirror]).all())
        attr = f["search"].attrs.get("symmetry", b"")
        attr = attr.decode() if isinstance(attr, bytes) else attr
    check("dca search symmetry=complement-reflection: symmetric rules, /search symmetry",
          p.returncode == 0 and ok and attr == "complement-reflection", p.stderr)
    with h5py.File(srun, "r") as f:
        attr = f["search"].attrs.get("symmetry", b"")
        attr = attr.decode() if isinstance(attr, bytes) else attr
    check("dca search without the key: /search symmetry is none", attr == "none", attr)
    p = subprocess.run([dca, "search", cfg, "--resume", sym, "--set", "search.runs=3",
                        "--quiet"], capture_output=True, text=True)
    check("dca search --resume of a symmetric search without the key: exit 2, says why",
          p.returncode == 2 and "another [search] symmetry" in p.stderr, p.stderr)
    p = subprocess.run([dca, "search", cfg, "--set", "search.symmetry=mirror", "--quiet"],
                       capture_output=True, text=True)
    check("dca search: a bad symmetry names the key and the choices",
          p.returncode == 2 and "search.symmetry=mirror" in p.stderr and
          "complement-reflection" in p.stderr, p.stderr)
    png = os.path.join(tmp, "sym.png")
    p = dcaview("search", sym, "-o", png, "--size", "8x2", "--dpi", "50")
    check("dcaview search of a symmetric search", p.returncode == 0 and
          png_size(png) == (400, 100), p.stderr)

    # ... and on a real dca train run file.
    cfg = os.path.join(tmp, "tr.ini")
    with open(cfg, "w") as f:
        f.write("[lattice]\nsize = 40\nneighborhood = radius:1\n[init]\nconfigurations = 4\n"
                "[run]\nsteps = 1\n[task]\ntarget = rule:30:1\n[optimizer]\niterations = 20\n")
    trun = os.path.join(tmp, "tr.h5")
    p = subprocess.run([dca, "train", cfg, "-o", trun, "--quiet"], capture_output=True, text=True)
    check("dca train", p.returncode == 0, p.stderr)
    png = os.path.join(tmp, "tr.png")
    p = dcaview("training", trun, "-o", png, "--size", "9x3", "--dpi", "40")
    check("dcaview training on dca train output -> 360x120 PNG",
          p.returncode == 0 and png_size(png) == (360, 120), p.stderr)
    with dca_h5.open_run(trun) as r, h5py.File(trun, "r") as f:
        t = r.training()
        check("training arrays", np.array_equal(t["train/loss"], f["train/loss"][()]) and
              t["train/weights"].shape == (21, 8), {k: np.shape(v) for k, v in t.items()})

    # The module's arrays are what the file holds.
    with dca_h5.open_run(one) as r, h5py.File(one, "r") as f:
        v = r.values(configs=[1], steps=slice(5, 20))
        check("values slice", np.array_equal(v.data, f["run/values"][[1], 5:20]))
        check("values axes", v.axes == ("configuration", "step", "cell"), v.axes)
        check("values step coords", list(v.coords["step"]) == list(range(5, 20)))
        g = r.gradients(configs=0, steps=[0, 3, 9])
        check("gradients slice", np.array_equal(g.data, f["run/gradients"][[0]][:, [0, 3, 9]]))
        check("gradients axes", g.axes == ("configuration", "step", "cell", "parameter"), g.axes)
        check("rule arrays", np.array_equal(r.rule.probabilities, f["rule/probabilities"][()]) and
              np.array_equal(r.rule.weights, f["rule/weights"][()]))
        check("pattern labels", r.rule.pattern_labels()[6] == "110")
    with dca_h5.open_run(two) as r, h5py.File(two, "r") as f:
        v = r.values()
        check("2D softmax values", np.array_equal(v.data, f["run/values"][()]) and
              v.axes == ("configuration", "step", "row", "column", "state"), v.axes)
        check("softmax labels", r.rule.pattern_labels()[5] == "00012")

print(f"1..{len(results)}")
for i, (name, ok, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}" + ("" if ok else f" # {detail!r}"))
sys.exit(0 if all(ok for _, ok, _ in results) else 1)
