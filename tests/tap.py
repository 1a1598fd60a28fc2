"""What the Python test scripts share: TAP results, running dca, reading a
run file's datasets. A script imports it from its own directory."""
import subprocess
import sys

import h5py

results = []


def check(name, ok, detail=""):
    results.append((name, bool(ok), detail))


def run(dca, *args):
    return subprocess.run([dca, *args], capture_output=True, text=True)


def datasets(path):
    """Every dataset of an HDF5 file, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def finish():
    """Prints the TAP plan and lines; exits 0 when every check passed."""
    print(f"1..{len(results)}")
    for i, (name, ok, detail) in enumerate(results, 1):
        line = f"{'ok' if ok else 'not ok'} {i} - {name}"
        if not ok and detail:
            line += " # " + detail.strip().replace("\n", " | ")[:400]
        print(line)
    sys.exit(0 if all(ok for _, ok, _ in results) else 1)
