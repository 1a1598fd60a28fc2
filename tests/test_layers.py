#!/usr/bin/env python3
"""The library's layers call one way (DESIGN.md §6): a file in src/LAYER may
include headers of its own layer and of the layers below it, never above.
HDF5 and inih headers appear only in io and exp (and the command line).
Usage: test_layers.py DCA_BIN SOURCE_ROOT  (TAP output)."""
import os
import re
import sys

ORDER = ["core", "engine", "models", "train", "io", "exp", "cli"]
root = os.path.join(sys.argv[2], "src")
home = {"dca.h": "core"}
files = []
for layer in ORDER:
    for d, _, names in os.walk(os.path.join(root, layer)):
        for n in names:
            home[n] = layer
            files.append((layer, os.path.join(d, n)))

n = 0
def check(ok, what):
    global n
    n += 1
    print(("ok" if ok else "not ok") + f" {n} - {what}")

upward, foreign = [], []
for layer, path in files:
    text = open(path).read()
    for inc in re.findall(r'#include "([^"]+)"', text):
        h = home.get(os.path.basename(inc))
        if h and ORDER.index(h) > ORDER.index(layer):
            upward.append(f"{os.path.relpath(path, root)} includes {inc} ({h})")
    for inc in re.findall(r"#include <([^>]+)>", text):
        if (inc.startswith("hdf5") or inc.startswith("H5") or inc == "ini.h") and \
                layer not in ("io", "exp", "cli"):
            foreign.append(f"{os.path.relpath(path, root)} includes <{inc}>")
check(len(files) > 20, f"{len(files)} source files found under src/")
check(not upward, "no layer includes a layer above it" + ("".join("\n# " + u for u in upward)))
check(not foreign, "HDF5 and inih only in io, exp and cli" + ("".join("\n# " + u for u in foreign)))
print(f"1..{n}")
