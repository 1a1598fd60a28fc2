"""Read dca run files into numpy arrays with named axes.

Use it from your own notebooks (Debian's /usr/bin/python3 with numpy and h5py):

    import sys; sys.path.insert(0, "scripts")
    import dca_h5
    run = dca_h5.open_run("runs/paper-figure.h5")
    v = run.values(configs=[0], steps=slice(0, 100))   # a Named array
    v.data.shape, v.axes        # (1, 100, 500), ('configuration', 'step', 'cell')
    v.coords["step"]            # the step numbers of the rows
    run.rule.probabilities      # rho, (k^m,) or (k^m, k)
    run.rule.pattern_labels()   # ['000', '001', ...] in pattern-index order

Everything is read lazily: values() and gradients() slice the HDF5 datasets
(h5py reads only the selected configurations, rows and cells), so a large
gradient diagram is never loaded whole unless you ask for all of it. The
layout is documented in docs/hdf5-layout.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import h5py
import numpy as np

FORMAT = "dca-run"
SUPPORTED_VERSIONS = (1,)


class RunFileError(Exception):
    """The file is not a dca run file, or lacks what was asked for."""


@dataclass
class Named:
    """An array with axis names and, per axis, optional coordinates."""
    data: np.ndarray
    axes: tuple
    coords: dict = field(default_factory=dict)

    def axis(self, name: str) -> int:
        return self.axes.index(name)


@dataclass
class Rule:
    offsets: np.ndarray        # (m, d) int32
    weights: np.ndarray        # (k^m,) binary, (k^m, k) softmax, (2, m) outer-totalistic
    probabilities: np.ndarray  # rho, same shape
    mode: str                  # "binary" | "softmax"
    states: int
    neighborhood: str
    hard: bool
    hardened_hex: str | None
    kind: str = "table"        # "table" | "outer-totalistic"
    hardened_life: str | None = None  # B/S notation when the hardened rule is Life-like

    @property
    def patterns(self) -> int:
        return self.probabilities.shape[0]

    def pattern_labels(self) -> list[str]:
        """Pattern y as its digits y_0 .. y_{m-1} (first offset first)."""
        m = self.offsets.shape[0]
        labels = []
        for y in range(self.patterns):
            digits = []
            for _ in range(m):
                digits.append(str(y % self.states) if self.states <= 10 else f"{y % self.states},")
                y //= self.states
            labels.append("".join(reversed(digits)))
        return labels


def _str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _select(sel, n):
    """None -> all; int -> [int]; slice / list -> itself (h5py wants sorted lists)."""
    if sel is None:
        return slice(0, n)
    if isinstance(sel, (int, np.integer)):
        return [int(sel)]
    if isinstance(sel, slice):
        return sel
    sel = sorted(int(s) for s in sel)
    if any(s < 0 or s >= n for s in sel):
        raise RunFileError(f"selection {sel} outside 0..{n - 1}")
    return sel


class Run:
    """An open run file. Use as a context manager or call close()."""

    def __init__(self, path: str):
        self.path = path
        try:
            self.file = h5py.File(path, "r")
        except OSError as e:
            raise RunFileError(f"{path}: cannot open as HDF5 ({e})") from None
        fmt = _str(self.file.attrs.get("format", ""))
        if fmt != FORMAT:
            self.file.close()
            raise RunFileError(f"{path}: not a dca run file (format attribute '{fmt}')")
        version = int(self.file.attrs.get("format_version", -1))
        if version not in SUPPORTED_VERSIONS:
            self.file.close()
            raise RunFileError(f"{path}: format version {version}; this reader knows "
                               f"{SUPPORTED_VERSIONS}")
        self.config = _str(self.file.attrs.get("config", ""))
        self.command = _str(self.file.attrs.get("command", ""))
        if "rule" not in self.file:  # dca train of a learner ([model] kind = ffnet, kuramoto)
            self.rule = None
            self.run_attrs = {}
            return
        r = self.file["rule"]
        self.rule = Rule(
            offsets=r["offsets"][()], weights=r["weights"][()],
            probabilities=r["probabilities"][()], mode=_str(r.attrs["mode"]),
            states=int(r.attrs["states"]), neighborhood=_str(r.attrs["neighborhood"]),
            hard=bool(r.attrs.get("hard", 0)),
            hardened_hex=_str(r.attrs["hardened_hex"]) if "hardened_hex" in r.attrs else None,
            kind=_str(r.attrs.get("kind", "table")),
            hardened_life=_str(r.attrs["hardened_life"]) if "hardened_life" in r.attrs else None)
        self.run_attrs = {k: (_str(v) if isinstance(v, (bytes, str)) else v)
                          for k, v in self.file["run"].attrs.items()} if "run" in self.file else {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.file.close()

    @property
    def dims(self) -> int:
        return self.rule.offsets.shape[1]

    def has(self, name: str) -> bool:
        return name in self.file

    def _series(self, name, configs, steps, extra=()):
        if name not in self.file:
            raise RunFileError(f"{self.path}: no {name} (see [run] record)")
        ds = self.file[name]
        axes = tuple(d.label for d in ds.dims)
        times = ds.dims[1][0][()]
        csel = _select(configs, ds.shape[0])
        ssel = _select(steps, ds.shape[1])
        # h5py allows one list index per read: read per list if both are lists.
        if isinstance(csel, list) and isinstance(ssel, list):
            data = np.stack([ds[c, ssel, ...] for c in csel])
        else:
            data = ds[(csel, ssel) + tuple(extra)]
        cidx = np.arange(ds.shape[0])[csel]
        coords = {"configuration": np.atleast_1d(cidx), "step": np.atleast_1d(times[ssel])}
        return Named(data, axes[:data.ndim], coords)

    def values(self, configs=None, steps=None) -> Named:
        """/run/values[configs, steps]: (configuration, step, *lattice[, state])."""
        return self._series("run/values", configs, steps)

    def gradients(self, configs=None, steps=None) -> Named:
        """/run/gradients[configs, steps]: (configuration, step, *lattice[, state], parameter)."""
        return self._series("run/gradients", configs, steps)

    def loss(self):
        return float(self.file["run/loss"][()]) if "run/loss" in self.file else None

    def loss_gradient(self):
        return self.file["run/loss_gradient"][()] if "run/loss_gradient" in self.file else None

    def training(self) -> dict:
        """Every dataset of /train and /eval as arrays (names as keys)."""
        if "train" not in self.file:
            raise RunFileError(f"{self.path}: no /train group (written by dca train)")
        out = {}
        for group in ("train", "eval"):
            if group in self.file:
                for k, v in self.file[group].items():
                    if isinstance(v, h5py.Dataset):
                        out[f"{group}/{k}"] = v[()]
        return out


def open_run(path: str) -> Run:
    return Run(path)
