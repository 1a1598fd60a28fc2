#!/usr/bin/env python3
"""The Python binding (scripts/dcalib.py) over the build's libdca.so: hard
rules step exactly like a plain numpy CA, the objective's gradient matches
central finite differences, the plan refuses stale weights, and errors
carry the library's message.
Skipped in sanitizer builds (Python cannot load an ASan library without
preloading its runtime).
Usage: test_python.py DCA_BIN SCRIPTS_DIR LIBDCA_SO SANITIZE  (TAP output)."""
import sys

import numpy as np

if sys.argv[4] not in ("", "none"):
    print("1..0 # SKIP sanitizer build")
    sys.exit(0)
sys.path.insert(0, sys.argv[2])
import dcalib  # noqa: E402

dcalib.load(sys.argv[3])
n = 0


def check(ok, what):
    global n
    n += 1
    print(("ok" if ok else "not ok") + f" {n} - {what}")


check(dcalib.version().count(".") == 2, f"dca_version {dcalib.version()}")

# Rule 30 on a ring, from random 0/1 states: exactly numpy's CA.
rule = dcalib.Rule("radius:1", weights="wolfram:30")
sim = dcalib.Sim("61", rule, batch=3, threads=2)
x0 = sim.initial("bernoulli:0.5", seed=4)
xs = sim.run(x0, steps=20)
ref = [x0.astype(int)]
for _ in range(20):
    a = ref[-1]
    idx = 4 * np.roll(a, 1, axis=1) + 2 * a + np.roll(a, -1, axis=1)
    ref.append((30 >> idx) & 1)
check(xs.shape == (21, 3, 61), f"trajectory shape {xs.shape}")
check(np.array_equal(xs, np.array(ref, dtype=float)), "wolfram:30 equals the numpy CA bit for bit")
check(sim.model == "table" and rule.hex() == "1e", f"model {sim.model}, hex {rule.hex()}")
# The model type's descriptors: labels read as the patterns rule 30 maps to 1.
labels = rule.labels()
ones = sorted(lab for lab, p in zip(labels, rule.probabilities) if p == 1)
check(rule.axes == ("pattern",) and rule.values_per_cell == 1 and labels[6] == "110"
      and ones == ["001", "010", "011", "100"], f"labels of wolfram:30's 1s: {ones}")
ot = dcalib.Rule("moore:1", kind="outer-totalistic", weights="life:B3/S23")
check(ot.axes == ("centre", "live_neighbours") and ot.labels()[9 + 3] == "live,n=3",
      f"outer-totalistic axes {ot.axes}, label 12 {ot.labels()[12]}")

# Objective: loss and reverse-mode gradient against central differences.
soft = dcalib.Rule("radius:2", weights="normal:1", seed=3)
rev = dcalib.Sim("40", soft, batch=2, gradients="reverse")
x0 = rev.initial("bernoulli:0.5", seed=2, eps=1e-3)
phi = np.roll(x0, 1, axis=1).round()
obj = dcalib.Objective(rev, x0, phi, loss="cross-entropy", steps=3, loss_every=1)
w = soft.weights
E, g = obj(w)
h, worst = 1e-5, 0.0
for p in range(soft.params):
    wp, wm = w.copy(), w.copy()
    wp[p] += h
    wm[p] -= h
    num = (obj(wp, gradient=False) - obj(wm, gradient=False)) / (2 * h)
    worst = max(worst, abs(num - g[p]) / max(abs(num), 1e-3))
check(np.isfinite(E) and g.shape == (32,), f"E = {E:.6f}, gradient of {g.size}")
check(worst < 1e-6, f"gradient vs finite differences: worst relative error {worst:.2e}")
check(obj(w, gradient=False) == E, "values-only E equals the gradient evaluation's E")
obj_ck = dcalib.Objective(rev, x0, phi, loss="cross-entropy", steps=3, loss_every=1,
                          reverse_memory=-1)
E2, g2 = obj_ck(w)
check(E2 == E and np.array_equal(g2, g),
      "checkpointed reverse mode (reverse_memory=-1) equals the kept states bit for bit")

# The autotuner: candidates measured, the chosen kernel and tile used; pinned, the same bits.
tuned = dcalib.Sim("600", soft, batch=2, gradients="reverse", tune=True)
check(tuned.tuned and "(chosen)" in tuned.tuned and f"{tuned.kernel}/{tuned.tile} " in tuned.tuned,
      f"tuned: {tuned.tuned}; plan {tuned.kernel}/{tuned.tile}")
pinned = dcalib.Sim("600", soft, batch=2, gradients="reverse", kernel=tuned.kernel,
                    tile=tuned.tile)
xt = tuned.initial("bernoulli:0.5", seed=4, eps=1e-3)
check(np.array_equal(tuned.step(xt), pinned.step(xt)) and pinned.tuned is None,
      "a plan pinned to the tuned kernel and tile steps bit for bit alike")

# Stale weights: set on the rule behind the plan's back, the step refuses.
soft.weights = w + 1
try:
    rev.step(x0)
    check(False, "a stale plan refuses to step")
except dcalib.DcaError as e:
    check("dca_sim_set_params" in str(e), f"a stale plan refuses to step: {e}")
rev.set_weights()
check(rev.step(x0).shape == (2, 40), "after set_weights() it steps")

# Errors carry the library's message.
for what, fn, word in [
    ("bad neighbourhood", lambda: dcalib.Rule("radius:x"), "radius"),
    ("bad weights", lambda: dcalib.Rule("radius:1", weights="hex:zz"), "hex"),
    ("bad lattice", lambda: dcalib.Sim("0", rule), "0"),
    ("gradient without reverse mode",
     lambda: dcalib.Objective(sim, sim.initial(), sim.initial(), steps=1)(), "REVERSE"),
    ("states of the wrong shape", lambda: sim.step(np.zeros((2, 61))), "shape"),
]:
    try:
        fn()
        check(False, f"{what} raises DcaError")
    except dcalib.DcaError as e:
        check(word in str(e), f"{what} raises DcaError: {e}")

# Learners: backpropagation and the Kuramoto adjoint against central
# differences, through the binding; robustness and phases.
x, t = dcalib.bitmaps("vowels")
check(x.shape == (5, 35) and np.array_equal(t, np.eye(5)), f"vowel bitmaps {x.shape}")
net = dcalib.FFNet([35, 4, 5], x, t)
rng = np.random.default_rng(1)
w = rng.uniform(-1, 1, net.params)
E, g = net(w)
num = np.array([(net(w + h * e, gradient=False) - net(w - h * e, gradient=False)) / (2 * h)
                for e in np.eye(net.params)])
check(net.params == 4 * 36 + 5 * 5 and np.max(np.abs(num - g)) < 1e-8,
      f"ffnet gradient vs finite differences {np.max(np.abs(num - g)):.2g}")
R, d = net.robustness(w, threshold=1.0)
check(R == 1.0 and d.shape == (4,), f"robustness {R}, damaged {d.shape}")
osc = dcalib.Kuramoto(np.linspace(-1, 1, 5), rng.uniform(0, 2 * np.pi, 5), dt=0.05, steps=100)
w = rng.uniform(-1, 2, osc.params)
E, g, rbar = osc(w)
num = np.array([(osc(w + h * e, gradient=False)[0] - osc(w - h * e, gradient=False)[0]) / (2 * h)
                for e in np.eye(osc.params)])
check(abs(E - abs(rbar - 0.6)) < 1e-15 and np.max(np.abs(num - g)) < 1e-7 * np.max(np.abs(g)),
      f"kuramoto adjoint vs finite differences {np.max(np.abs(num - g)):.2g}")
before = osc.phases
osc.advance()
check(not np.array_equal(before, osc.phases), "advance moves the phases")
try:
    dcalib.FFNet([35, 4, 6], x, t)
    check(False, "mismatched layers raise DcaError")
except dcalib.DcaError as e:
    check("do not fit" in str(e), f"mismatched layers raise DcaError: {e}")
print(f"1..{n}")
