"""MPI data parallelism (issue 17, docs/cluster.md): under mpirun, dca hands
over to dca-mpi, and run (values, forward-mode diagrams, a loss and its
reverse-mode gradient), train and eval share their configurations or samples
among the ranks. The run files must be bitwise those of the serial
dca for 1, 2 and 4 ranks (4 oversubscribe the 2 cores here); a train run whose
rank is killed leaves its last checkpoint readable, and --resume under mpirun
(with another number of ranks) ends with the uninterrupted run's file. Commands not built for several
ranks are refused, and so is a dca without dca-mpi. Lattice parts (domain
decomposition) are checked by tests/mpi_parts under mpirun. Skipped (TAP skip) when
the build has no dca-mpi or there is no mpirun.
Usage: test_mpi.py PATH/TO/dca CONFIGS_DIR"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import check, datasets, finish, run  # noqa: E402

dca, configs = sys.argv[1], sys.argv[2]
mpirun = shutil.which("mpirun")
if not os.access(os.path.join(os.path.dirname(dca), "dca-mpi"), os.X_OK) or not mpirun:
    print("1..0 # SKIP no dca-mpi in this build, or no mpirun")
    sys.exit(0)

# Under the sanitizer build, LeakSanitizer reports Open MPI's own allocations
# at exit (in plugins it has unloaded, so they cannot be suppressed by name):
# leak detection is off for the ranks, the other ASan/UBSan checks stay on.
# dca's code on these paths is leak-checked by the serial runs.
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1")
env["ASAN_OPTIONS"] = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "detect_leaks=0"]))


def mpi(n, *args, exe=dca):
    return subprocess.run([mpirun, "-np", str(n), "--oversubscribe", exe, *args],
                          capture_output=True, text=True, env=env, timeout=240)


def same_file(a, b, skip=()):
    """Every dataset of b equals a's, bit for bit; returns a reason or ''."""
    da, db = datasets(a), datasets(b)
    for k in skip:
        da.pop(k, None), db.pop(k, None)
    if da.keys() != db.keys():
        return f"datasets differ: {sorted(set(da) ^ set(db))}"
    for k in da:
        x, y = np.asarray(da[k]), np.asarray(db[k])
        if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
            return f"{k} differs"
    return ""


def rank_pids(output):
    """The process ids of the dca-mpi ranks writing `output`."""
    pids = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read()
        except OSError:
            continue
        if comm == "dca-mpi" and output in cmd:
            pids.append(int(pid))
    return pids


tmp = tempfile.mkdtemp(prefix="dca-mpi-test-")
cfg = lambda name: os.path.join(configs, name)  # noqa: E731
out = lambda name: os.path.join(tmp, name)  # noqa: E731

# dca run: values of a Life soup, 5 configurations (uneven shares).
life = ["--set", "lattice.size=48x40", "--set", "init.configurations=5", "--set",
        "run.steps=12", "--set", "run.record-every=5", "--set", "output.rle=none", "--quiet"]
p = run(dca, "run", cfg("life-soup.ini"), "-o", out("life-serial.h5"), *life, "--threads", "1")
check("serial Life run", p.returncode == 0, p.stderr)
for n in (1, 2, 4):
    p = mpi(n, "run", cfg("life-soup.ini"), "-o", out(f"life-{n}.h5"), *life)
    why = same_file(out("life-serial.h5"), out(f"life-{n}.h5")) if p.returncode == 0 else p.stderr
    check(f"run, Life values on {n} rank(s): every dataset bitwise the serial file's", not why,
          why)

# dca run from an RLE pattern (read whole by every rank, then cut to its share).
gl = ["--set", "init.configurations=3", "--set", "run.steps=20", "--set", "output.rle=none",
      "--quiet"]
p = run(dca, "run", cfg("life-glider.ini"), "-o", out("glider-serial.h5"), *gl)
check("serial glider run", p.returncode == 0, p.stderr)
p = mpi(2, "run", cfg("life-glider.ini"), "-o", out("glider-2.h5"), *gl)
why = same_file(out("glider-serial.h5"), out("glider-2.h5")) if p.returncode == 0 else p.stderr
check("run from an RLE pattern on 2 ranks: bitwise the serial file", not why, why)

# dca run: forward-mode diagrams, 5 configurations, the first 3 recorded (the
# last ranks record nothing and still take part in the collective writes).
fwd = ["--set", "lattice.size=120", "--set", "run.steps=30", "--set", "init.configurations=5",
       "--set", "run.gradients=forward", "--set", "run.record=values,gradients",
       "--set", "run.record-configurations=3", "--quiet"]
p = run(dca, "run", cfg("paper-figure.ini"), "-o", out("fwd-serial.h5"), *fwd, "--threads", "2")
check("serial forward-mode run", p.returncode == 0, p.stderr)
for n in (1, 2, 4):
    p = mpi(n, "run", cfg("paper-figure.ini"), "-o", out(f"fwd-{n}.h5"), *fwd)
    why = same_file(out("fwd-serial.h5"), out(f"fwd-{n}.h5")) if p.returncode == 0 else p.stderr
    check(f"run, forward-mode diagrams on {n} rank(s): bitwise the serial file", not why, why)

# dca eval: density classification, samples shared.
ev = ["--set", "eval.samples=3001", "--quiet"]
p = run(dca, "eval", cfg("gkl.ini"), "-o", out("eval-serial.h5"), *ev)
check("serial eval", p.returncode == 0, p.stderr)
serial_stdout = p.stdout
for n in (2, 4):
    p = mpi(n, "eval", cfg("gkl.ini"), "-o", out(f"eval-{n}.h5"), *ev)
    why = same_file(out("eval-serial.h5"), out(f"eval-{n}.h5")) if p.returncode == 0 else p.stderr
    check(f"eval on {n} ranks: the same file and the same report, printed once",
          not why and p.stdout == serial_stdout, why or p.stdout)

# dca train: every rank trains on its share of each iteration's
# configurations; the loss runs through the ranks in order and the gradient
# blocks are gathered in rank order, so the history is the serial one bit for
# bit (wall_seconds aside).
WALL = ("train/wall_seconds",)
trains = [
    ("1D, 16 configurations (blocks are tiles)", "recover-rule110.ini",
     ["--set", "optimizer.iterations=25"], (1, 2, 4)),
    ("1D, 128 configurations, majority, eval shared", "density.ini",
     ["--set", "optimizer.iterations=4", "--set", "eval.samples=1001"], (2, 4)),
    ("minibatch of 40 of 128", "density.ini",
     ["--set", "optimizer.iterations=4", "--set", "optimizer.minibatch=40", "--set",
      "eval.samples=500"], (2, 3)),
    ("fresh batches", "density.ini",
     ["--set", "optimizer.iterations=4", "--set", "optimizer.fresh=yes", "--set",
      "init.configurations=70", "--set", "eval.samples=500"], (2, 4)),
    ("2D Moore table, 64 configurations (blocks are configurations)", "learn-life.ini",
     ["--set", "optimizer.iterations=5", "--set", "lattice.size=12x10"], (2, 4)),
    ("2D outer-totalistic, adam", "learn-life-ot.ini",
     ["--set", "optimizer.iterations=5", "--set", "lattice.size=20x16", "--set",
      "init.configurations=6", "--set", "optimizer.method=adam"], (2, 4)),
]
for i, (what, ini, sets, ranks) in enumerate(trains):
    ref = out(f"train{i}-serial.h5")
    p = run(dca, "train", cfg(ini), "-o", ref, *sets, "--quiet", "--threads", "2")
    check(f"serial train: {what}", p.returncode == 0, p.stderr)
    serial_stdout = p.stdout
    for n in ranks:
        o = out(f"train{i}-{n}.h5")
        p = mpi(n, "train", cfg(ini), "-o", o, *sets, "--quiet")
        why = same_file(ref, o, WALL) if p.returncode == 0 else p.stderr
        check(f"train, {what}, on {n} rank(s): bitwise the serial file, the same report",
              not why and p.stdout == serial_stdout, why or p.stdout)

# dca run with a [task]: the loss through the ranks in order, and its
# reverse-mode gradient from the gathered blocks (7 configurations: blocks of
# tiles; 100: blocks of configurations, 3 ranks).
for B, ranks in ((7, (2, 4)), (100, (3,))):
    for grads in ("none", "reverse"):
        sets = ["--set", f"init.configurations={B}", "--set", f"run.gradients={grads}",
                "--quiet"]
        ref = out(f"task-{B}-{grads}.h5")
        p = run(dca, "run", cfg("paper-gradient-test.ini"), "-o", ref, *sets)
        check(f"serial run with a loss, {B} configurations, gradients {grads}",
              p.returncode == 0, p.stderr)
        for n in ranks:
            o = out(f"task-{B}-{grads}-{n}.h5")
            p = mpi(n, "run", cfg("paper-gradient-test.ini"), "-o", o, *sets)
            why = same_file(ref, o) if p.returncode == 0 else p.stderr
            check(f"run with a loss, {B} configurations, gradients {grads}, on {n} ranks: "
                  "bitwise the serial file", not why, why)

# A rank killed mid-run: the last checkpoint (written by rank 0 aside, then
# renamed) stays readable, and --resume on another number of ranks ends with
# the uninterrupted run's file.
long = ["--set", "optimizer.iterations=40", "--set", "optimizer.checkpoint-every=2", "--set",
        "eval.samples=500"]
ref = out("long-serial.h5")
p = run(dca, "train", cfg("density.ini"), "-o", ref, *long, "--quiet", "--threads", "2")
check("serial train for the kill test", p.returncode == 0, p.stderr)
kill = out("kill.h5")
q = subprocess.Popen([mpirun, "-np", "2", "--oversubscribe", dca, "train", cfg("density.ini"),
                      "-o", kill, *long, "--quiet"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
t0, done = time.time(), 0
while time.time() - t0 < 120 and q.poll() is None:
    try:
        with h5py.File(kill, "r") as f:
            done = int(f["/train"].attrs["iterations_done"])
    except (OSError, KeyError):
        done = 0
    if done >= 4:
        break
    time.sleep(0.05)
victims = rank_pids(kill)
if victims:
    os.kill(max(victims), signal.SIGKILL)  # one rank, not rank 0 alone
try:
    q.communicate(timeout=60)
except subprocess.TimeoutExpired:
    q.kill()
    q.communicate()
ok, why = False, f"ranks found: {victims}, iterations seen {done}, rc {q.returncode}"
try:
    with h5py.File(kill, "r") as f:
        n_done = int(f["/train"].attrs["iterations_done"])
        ok = (f["/train/loss"].shape == (n_done,) and n_done % 2 == 0 and 4 <= n_done < 40
              and f["/train"].attrs["finished"] == 0)
        why += f"; checkpoint at iteration {n_done}"
except OSError as e:
    why += f"; {e}"
check("a rank killed mid-run: the job ends, the last checkpoint is readable",
      ok and q.returncode != 0 and len(victims) == 2, why)
p = mpi(4, "train", cfg("density.ini"), "--resume", kill, *long, "--quiet")
why = same_file(ref, kill, WALL) if p.returncode == 0 else p.stderr
check("--resume on 4 ranks of a 2-rank run: bitwise the uninterrupted serial file", not why, why)

# A rank killed by SIGKILL in the middle of dca run: the partial file's
# rows_written rows read back (compressed chunks, written collectively) and
# equal the serial run's. Recording every 10 steps of a fast run makes many
# writes per second; before the file-space strategy of dca_runfile_create,
# 3 of 5 such trials left rows that failed to inflate.
soup = ["--set", "lattice.size=256x256", "--set", "init.configurations=4", "--set",
        "run.record-every=10", "--set", "output.rle=none"]
kill = out("kill-run.h5")
q = subprocess.Popen([mpirun, "-np", "2", "--oversubscribe", dca, "run", cfg("life-soup.ini"),
                      "-o", kill, *soup, "--set", "run.steps=100000", "--quiet"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
t0 = time.time()
while not os.path.exists(kill + ".partial") and time.time() - t0 < 60:
    time.sleep(0.05)
time.sleep(3.0)
victims = rank_pids(kill)
if victims:
    os.kill(max(victims), signal.SIGKILL)
try:
    q.communicate(timeout=60)
except subprocess.TimeoutExpired:
    q.kill()
    q.communicate()
ok, why = False, f"ranks found: {victims}, rc {q.returncode}"
try:
    with h5py.File(kill + ".partial", "r") as f:
        n = int(f["/run"].attrs["rows_written"])
        got = f["/run/values"][:, :n]
    why += f"; {n} rows written"
    ref = out("kill-run-serial.h5")
    p = run(dca, "run", cfg("life-soup.ini"), "-o", ref, *soup, "--set",
            f"run.steps={10 * (n - 1)}", "--quiet")
    with h5py.File(ref, "r") as f:
        want = f["/run/values"][()]
    ok = n >= 2 and got.tobytes() == want.tobytes()
except (OSError, KeyError) as e:
    why += f"; {e}"
check("a rank killed by SIGKILL mid-run: the partial file's written rows read back and equal "
      "the serial run's", ok and q.returncode != 0 and len(victims) == 2, why)

# Refusals, with exit status 2 and the reason.
p = mpi(2, "train", cfg("xor.ini"), "-o", out("t.h5"))
check("train of a [model] learner on 2 ranks is refused (exit 2, says so)",
      p.returncode == 2 and "runs on one process" in p.stderr, p.stderr)
p = mpi(2, "gradcheck", cfg("rule110.ini"))
check("gradcheck on 2 ranks is refused (exit 2, says so)",
      p.returncode == 2 and "does not run on several MPI ranks" in p.stderr, p.stderr)
p = mpi(4, "train", cfg("recover-rule110.ini"), "-o", out("t.h5"), "--set",
        "init.configurations=3")
check("train with fewer configurations than ranks is refused (exit 2)",
      p.returncode == 2 and "cannot be shared" in p.stderr, p.stderr)
p = mpi(2, "run", cfg("paper-gradient-test.ini"), "-o", out("t.h5"), "--set",
        "run.gradients=forward")
check("run with a forward-mode loss gradient on 2 ranks is refused (exit 2, says so)",
      p.returncode == 2 and "forward-mode loss gradient" in p.stderr, p.stderr)
p = mpi(4, "run", cfg("rule30.ini"), "-o", out("t.h5"))
check("run with fewer configurations than ranks is refused",
      p.returncode == 2 and "each rank needs" in p.stderr, p.stderr)
solo = os.path.join(tmp, "solo")
os.mkdir(solo)
shutil.copy(dca, solo)
module = os.path.join(os.path.dirname(dca), "libdca-cli.so")  # the launcher's program
if os.path.exists(module):
    shutil.copy(module, solo)
p = mpi(2, "run", cfg("rule30.ini"), "-o", out("t.h5"), exe=os.path.join(solo, "dca"))
check("a dca without dca-mpi beside it refuses several ranks, once",
      p.returncode == 2 and p.stderr.count("built without MPI") == 1, p.stderr)
p = mpi(1, "run", cfg("rule30.ini"), "-o", out("solo.h5"), "--quiet",
        exe=os.path.join(solo, "dca"))
check("... and runs serially on one rank", p.returncode == 0 and os.path.exists(out("solo.h5")),
      p.stderr)

# Ctrl-C: mpirun passes SIGINT to the ranks; they stop at the same step,
# close the partial file together and exit 1 without an abort.
part = out("int.h5") + ".partial"
q = subprocess.Popen([mpirun, "-np", "2", "--oversubscribe", dca, "run", cfg("life-soup.ini"),
                      "-o", out("int.h5"), "--set", "lattice.size=256x256", "--set",
                      "init.configurations=4", "--set", "run.steps=1000000", "--set",
                      "run.record-every=100000", "--set", "output.rle=none"],
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
t0 = time.time()
while not os.path.exists(part) and time.time() - t0 < 60:
    time.sleep(0.1)
time.sleep(1.0)
q.send_signal(signal.SIGINT)
try:
    _, err = q.communicate(timeout=60)
except subprocess.TimeoutExpired:
    q.kill()
    _, err = q.communicate()
ok = False
if os.path.exists(part):
    with h5py.File(part, "r") as f:
        ok = f["/run"].attrs["complete"] == 0 and f["/run/values"].shape[0] == 4
check("Ctrl-C on 2 ranks: exit 1, one message, a readable partial file, no abort",
      q.returncode == 1 and err.count("interrupted after step") == 1 and "MPI_ABORT" not in err
      and ok and not os.path.exists(out("int.h5")), f"rc {q.returncode}: {err}")

# Lattice parts (domain decomposition): tests/mpi_parts runs each case on a
# lattice split among the ranks and checks halo, values, dE/dx and dE/dw
# bitwise against the whole-lattice plan (2D Moore tables incl. float32 and
# parts ending mid-row, Life-like radius 1 and 2, outer-totalistic Moore in
# float32 and von Neumann, whose whole plans take the stripe adjoint without
# Gx, softmax, a 1D ring), and the refusals of parts smaller than their
# halos. 3 ranks: uneven parts; 2 ranks x 2 threads: the thread count
# changes nothing.
parts = os.path.join(os.path.dirname(dca), "tests", "mpi_parts")
for n, threads in ((1, 1), (2, 1), (3, 1), (4, 1), (2, 2)):
    p = subprocess.run([mpirun, "-np", str(n), "--oversubscribe", parts], capture_output=True,
                       text=True, env=dict(env, OMP_NUM_THREADS=str(threads)), timeout=240)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok", "not ok"))]
    bad = [ln for ln in lines if ln.startswith("not ok")]
    check(f"lattice parts on {n} rank(s) x {threads} thread(s): {len(lines)} cases bitwise the "
          "whole lattice's, refusals alike on every rank",
          p.returncode == 0 and len(lines) == 11 and not bad, " | ".join(bad) + p.stderr[-400:])

# dca run with [run] split = lattice: every rank steps its part of every
# configuration (halo exchange) and writes its cells of /run/values; the file
# is the serial one bit for bit (uneven parts, 3 ranks; parts ending mid-row).
split = ["--set", "run.split=lattice"]
cases = [
    ("Life soup, outer-totalistic", "life-soup.ini",
     ["--set", "lattice.size=90x70", "--set", "init.configurations=3", "--set", "run.steps=15",
      "--set", "run.record-every=4", "--set", "output.rle=none"]),
    ("soft Moore table, 2D", "learn-life.ini",
     ["--set", "lattice.size=64x50", "--set", "init.configurations=2", "--set", "run.steps=6",
      "--set", "task.target=none", "--set", "run.record-every=2"]),
    ("softmax 3 states, von Neumann", "softmax-3state.ini",
     ["--set", "lattice.size=96x90", "--set", "run.steps=12", "--set",
      "run.record-configurations=1"]),
    ("glider from an RLE pattern", "life-glider.ini",
     ["--set", "lattice.size=80x72", "--set", "init.configurations=2", "--set", "run.steps=9",
      "--set", "output.rle=none"]),
    ("ring, radius 3", "rule110.ini",
     ["--set", "lattice.size=2000", "--set", "lattice.neighborhood=radius:3", "--set",
      "rule.weights=normal:1", "--set", "run.steps=10", "--set", "init.configurations=2"]),
]
for name, ini, sets in cases:
    ref = out(f"split-{ini}-serial.h5")
    p = run(dca, "run", cfg(ini), "-o", ref, *sets, "--quiet")
    if p.returncode != 0:
        check(f"serial run for the split-lattice case {name}", False, p.stderr)
        continue
    for n in (2, 3, 4):
        o = out(f"split-{ini}-{n}.h5")
        p = mpi(n, "run", cfg(ini), "-o", o, *sets, *split, "--quiet")
        why = same_file(ref, o) if p.returncode == 0 else p.stderr
        check(f"run, split = lattice on {n} ranks, {name}: every dataset bitwise the serial "
              "file's", not why, why)

# What a split lattice cannot do is refused on every rank alike (exit 2).
p = mpi(2, "run", cfg("learn-life.ini"), "-o", out("split-task.h5"), *split)
check("run, split = lattice with a [task]: exit 2 and the reason",
      p.returncode == 2 and "records values only" in p.stderr, p.stderr)
p = mpi(2, "run", cfg("life-soup.ini"), "-o", out("split-rle.h5"), *split,
        "--set", "lattice.size=64x64")
check("run, split = lattice with [output] rle: exit 2 and the reason",
      p.returncode == 2 and "[output] rle" in p.stderr, p.stderr)
p = mpi(4, "run", cfg("life-soup.ini"), "-o", out("split-small.h5"), *split,
        "--set", "lattice.size=3x4096", "--set", "output.rle=none")
check("run, split = lattice: 4 parts of 3 rows with halos: exit 2 and the reason",
      p.returncode == 2 and "use fewer parts" in p.stderr, p.stderr)
p = mpi(2, "train", cfg("recover-rule110.ini"), "-o", out("split-train.h5"), *split)
check("train with split = lattice: exit 2, only dca run splits the lattice",
      p.returncode == 2 and "only dca run splits the lattice" in p.stderr, p.stderr)

shutil.rmtree(tmp)
finish()
