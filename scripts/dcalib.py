"""dcalib: a thin Python binding over libdca.so (ctypes, numpy).

Plans, steps and objectives of the C library, with states in numpy arrays:

    import numpy as np, dcalib
    rule = dcalib.Rule("radius:1", weights="wolfram:30")
    sim = dcalib.Sim("64", rule, batch=2)
    x0 = sim.initial("single")                  # (2, 64) float64
    xs = sim.run(x0, steps=32)                  # (33, 2, 64): the space-time diagram
    obj = dcalib.Objective(sim_rev, x0, phi, loss="cross-entropy", steps=4)
    E, grad = obj(weights)                      # loss and exact dE/dw

    x, t = dcalib.bitmaps("vowels")             # the shipped 5x7 bitmaps, one-hot targets
    net = dcalib.FFNet([35, 10, 5], x, t)       # feed-forward network (seeds 003, 004)
    E, grad = net(w)                            # MSE and its backpropagated gradient
    osc = dcalib.Kuramoto(omega, phases, dt=0.01, steps=2000, r0=0.6)
    E, grad, rbar = osc(w); osc.advance()       # |rbar - r0|, its adjoint; phases move on

The library is found in $DCA_LIBRARY, else next to this file's project
(build/libdca.so), else on the system (ldconfig). Errors raise DcaError
with the library's message. Everything is float64; arrays are copied to
C-contiguous float64 where needed. A Sim and the Rule it steps must stay
alive together (the binding keeps the references).
"""
import ctypes
import ctypes.util
import os

import numpy as np

_c = ctypes
_i64 = _c.c_int64
_dp = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")


class DcaError(RuntimeError):
    """A dca_status other than DCA_OK, with the library's message."""


class _Error(_c.Structure):
    _fields_ = [("status", _c.c_int), ("msg", _c.c_char * 1024)]


class _Lattice(_c.Structure):
    _fields_ = [("dims", _c.c_int), ("shape", _i64 * 2)]


class _SimOptions(_c.Structure):
    _fields_ = [("kernel", _c.c_int), ("threads", _c.c_int), ("tile_cells", _i64),
                ("gradients", _c.c_uint), ("precision", _c.c_int), ("seed", _c.c_uint64),
                ("block_first", _i64), ("block_batch", _i64),
                # lattice parts (dca.h): whole-lattice plans from Python
                ("parts", _c.c_int), ("part", _c.c_int),
                ("halo_fn", _c.c_void_p), ("halo_ctx", _c.c_void_p)]


class _TaskShape(_c.Structure):
    _fields_ = [("lat", _c.c_void_p), ("states", _c.c_int), ("mode", _c.c_int),
                ("batch", _i64), ("nb", _c.c_void_p), ("basedir", _c.c_char_p),
                ("read_configurations", _c.c_void_p), ("norm_batch", _i64)]


class _Range(_c.Structure):
    _fields_ = [("first", _i64), ("count", _i64), ("global_count", _i64)]


class _ObjOptions(_c.Structure):
    _fields_ = [("steps", _i64), ("loss_every", _i64), ("range", _Range),
                ("reduce", _c.c_void_p),  # NULL: the whole batch in this process
                ("keep_all_bytes", _i64)]  # reverse mode's memory (0: 256 MiB; < 0: never)


class _TuneCandidate(_c.Structure):
    _fields_ = [("kernel", _c.c_int), ("tile_cells", _i64), ("seconds", _c.c_double)]


class _TuneReport(_c.Structure):
    _fields_ = [("count", _c.c_int), ("best", _c.c_int), ("c", _TuneCandidate * 8)]


KERNELS = {"auto": 0, "blas": 1, "reference": 2, "totalistic": 3, "fused": 4}
GRADIENTS = {"none": 0, "forward": 1, "reverse": 2, "both": 3}
MODES = {"binary": 0, "softmax": 1}

_lib = None


def _find():
    env = os.environ.get("DCA_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    local = os.path.join(here, "..", "build", "libdca.so")
    if os.path.exists(local):
        return local
    found = ctypes.util.find_library("dca")
    if found:
        return found
    raise DcaError("libdca.so not found: build dca (scripts/setup && ninja -C build), "
                   "install it, or set DCA_LIBRARY=/path/to/libdca.so")


def load(path=None):
    """Loads libdca.so (once) and declares the functions the binding uses."""
    global _lib
    if _lib is not None and path is None:
        return _lib
    lib = _c.CDLL(path or _find())
    P, E = _c.c_void_p, _c.POINTER(_Error)
    sig = {
        "dca_version": (_c.c_char_p, []),
        "dca_lattice_parse": (_c.c_int, [_c.c_char_p, _c.POINTER(_Lattice), E]),
        "dca_lattice_cells": (_i64, [_c.POINTER(_Lattice)]),
        "dca_nbhd_parse": (_c.c_int, [_c.c_char_p, _c.c_int, _c.POINTER(P), E]),
        "dca_nbhd_destroy": (None, [P]),
        "dca_nbhd_count": (_c.c_int, [P]),
        "dca_rule_create": (_c.c_int, [P, _c.c_int, _c.c_int, _c.POINTER(P), E]),
        "dca_rule_create_outer_totalistic": (_c.c_int, [P, _c.POINTER(P), E]),
        "dca_rule_destroy": (None, [P]),
        "dca_rule_params": (_i64, [P]),
        "dca_rule_shape": (_c.c_int, [P, _i64 * 2]),
        "dca_rule_weights": (_c.POINTER(_c.c_double), [P]),
        "dca_rule_probabilities": (_c.POINTER(_c.c_double), [P]),
        "dca_rule_set_weights": (_c.c_int, [P, _dp, E]),
        "dca_rule_load_weights": (_c.c_int, [P, _c.c_char_p, _c.c_uint64, _c.c_char_p, E]),
        "dca_rule_hex": (_c.c_bool, [P, _c.c_char_p, _c.c_size_t]),
        "dca_rule_model": (_c.c_char_p, [P]),
        "dca_rule_axes": (_c.c_int, [P, _c.c_char_p * 2]),
        "dca_rule_values_per_cell": (_c.c_int, [P]),
        "dca_rule_param_label": (_c.c_int, [P, _i64, _c.c_char_p, _c.c_size_t]),
        "dca_sim_create": (_c.c_int, [_c.POINTER(_Lattice), P, _i64, _c.POINTER(_SimOptions),
                                      _c.POINTER(P), E]),
        "dca_sim_destroy": (None, [P]),
        "dca_sim_tune": (_c.c_int, [_c.POINTER(_Lattice), P, _i64, _c.POINTER(_SimOptions),
                                    _c.POINTER(_TuneReport), E]),
        "dca_tune_describe": (_c.c_int, [_c.POINTER(_TuneReport), _c.c_char_p, _c.c_size_t]),
        "dca_sim_kernel": (_c.c_int, [P]),
        "dca_kernel_name": (_c.c_char_p, [_c.c_int]),
        "dca_sim_tile_cells": (_i64, [P]),
        "dca_sim_set_params": (_c.c_int, [P, _c.c_void_p, E]),
        "dca_sim_error": (_c.c_char_p, [P]),
        "dca_sim_config_len": (_i64, [P]),
        "dca_sim_model": (_c.c_char_p, [P]),
        "dca_sim_step_at": (_c.c_int, [P, _i64, _dp, _dp]),
        "dca_init_generate": (_c.c_int, [_c.c_char_p, _c.POINTER(_Lattice), _c.c_int, _c.c_int,
                                         _i64, _c.c_uint64, _dp, E]),
        "dca_init_apply_eps": (None, [_dp, _i64, _c.c_int, _c.c_int, _c.c_double]),
        "dca_loss_lookup": (P, [_c.c_char_p]),
        "dca_objective_create": (_c.c_int, [P, _dp, _dp, P, _c.POINTER(_TaskShape),
                                            _c.POINTER(_ObjOptions), _c.POINTER(P), E]),
        "dca_objective_destroy": (None, [P]),
        "dca_objective_eval": (_c.c_int, [P, _c.c_void_p, _c.POINTER(_c.c_double), _c.c_void_p,
                                          _c.c_void_p, E]),
        "dca_ffnet_create": (_c.c_int, [_c.c_int, _c.POINTER(_i64), _c.c_bool, _i64, _dp, _dp,
                                        _c.POINTER(P), E]),
        "dca_ffnet_destroy": (None, [P]),
        "dca_ffnet_params": (_i64, [P]),
        "dca_ffnet_hidden": (_i64, [P]),
        "dca_ffnet_eval": (None, [P, _dp, _c.POINTER(_c.c_double), _c.c_void_p, _c.c_void_p]),
        "dca_ffnet_robustness": (_c.c_double, [P, _dp, _c.c_double, _c.c_void_p]),
        "dca_bitmaps": (_i64, [_c.c_char_p, _c.c_void_p, _c.c_void_p]),
        "dca_kuramoto_create": (_c.c_int, [_i64, _dp, _dp, _c.c_double, _i64, _c.c_double,
                                           _c.POINTER(P), E]),
        "dca_kuramoto_destroy": (None, [P]),
        "dca_kuramoto_params": (_i64, [P]),
        "dca_kuramoto_eval": (None, [P, _dp, _c.POINTER(_c.c_double), _c.c_void_p,
                                     _c.POINTER(_c.c_double)]),
        "dca_kuramoto_advance": (None, [P]),
        "dca_kuramoto_phases": (_c.POINTER(_c.c_double), [P]),
        "dca_kuramoto_order_trace": (None, [P, _dp, _i64, _dp]),
        "dca_potts_create": (_c.c_int, [_c.POINTER(_Lattice), _c.c_int, _c.c_uint64,
                                        _c.POINTER(P), E]),
        "dca_potts_destroy": (None, [P]),
        "dca_potts_run": (None, [P, _c.c_double, _i64, _i64, _i64, _c.c_void_p, _c.c_void_p,
                                 _c.c_void_p, _c.c_void_p, _c.c_void_p]),
        "dca_potts_score_gradient": (_c.c_double, [_c.c_double, _i64, _dp, _dp, _dp]),
    }
    for name, (res, args) in sig.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    _lib = lib
    return lib


def _check(status, err):
    if status != 0:
        raise DcaError(err.msg.decode(errors="replace"))


def version():
    return load().dca_version().decode()


class Rule:
    """A rule over a neighbourhood: kind 'table' (binary or softmax) or
    'outer-totalistic'; weights is any [rule] weights spec (configs/README.md)."""

    def __init__(self, neighborhood, dims=None, states=2, mode=None, kind="table",
                 weights="zeros", seed=1):
        lib = load()
        if dims is None:  # moore:, vonneumann: and (dy,dx) offset lists are 2D
            dims = 2 if neighborhood.startswith(("moore:", "vonneumann:")) or "(" in neighborhood \
                else 1
        mode = mode or ("binary" if states == 2 else "softmax")
        err = _Error()
        self._nb, self._ptr = _c.c_void_p(), _c.c_void_p()
        _check(lib.dca_nbhd_parse(neighborhood.encode(), dims, _c.byref(self._nb),
                                  _c.byref(err)), err)
        if kind == "table":
            st = lib.dca_rule_create(self._nb, states, MODES[mode], _c.byref(self._ptr),
                                     _c.byref(err))
        elif kind == "outer-totalistic":
            st = lib.dca_rule_create_outer_totalistic(self._nb, _c.byref(self._ptr),
                                                      _c.byref(err))
        else:
            raise DcaError(f"unknown rule kind {kind!r}: expected table or outer-totalistic")
        _check(st, err)
        self.dims, self.states, self.mode, self.kind = dims, states, mode, kind
        self.load(weights, seed)

    def load(self, spec, seed=1):
        err = _Error()
        _check(load().dca_rule_load_weights(self._ptr, spec.encode(), seed, None,
                                            _c.byref(err)), err)

    @property
    def params(self):
        return int(load().dca_rule_params(self._ptr))

    def _shape(self):
        dims = (_i64 * 2)()
        rank = load().dca_rule_shape(self._ptr, dims)
        return tuple(int(d) for d in dims[:rank])

    @property
    def weights(self):
        p = load().dca_rule_weights(self._ptr)
        return np.ctypeslib.as_array(p, (self.params,)).copy().reshape(self._shape())

    @weights.setter
    def weights(self, w):
        w = np.ascontiguousarray(w, dtype=np.float64).reshape(-1)
        if w.size != self.params:
            raise DcaError(f"{w.size} weights for a rule of {self.params}")
        err = _Error()
        _check(load().dca_rule_set_weights(self._ptr, w, _c.byref(err)), err)

    @property
    def probabilities(self):
        p = load().dca_rule_probabilities(self._ptr)
        return np.ctypeslib.as_array(p, (self.params,)).copy().reshape(self._shape())

    @property
    def axes(self):
        """The names of the weights' axes: ('pattern',) or ('pattern', 'state') for a
        table, ('centre', 'live_neighbours') for an outer-totalistic rule."""
        names = (_c.c_char_p * 2)()
        rank = load().dca_rule_axes(self._ptr, names)
        return tuple(n.decode() for n in names[:rank])

    @property
    def values_per_cell(self):
        """Numbers per cell of a state: 1 (binary, P(1)) or k (softmax)."""
        return int(load().dca_rule_values_per_cell(self._ptr))

    def labels(self):
        """A label per parameter, in the weights' flat order: a table entry's
        neighbourhood pattern ('0110', '012->2'), an outer-totalistic entry's
        centre and live-neighbour count ('live,n=3')."""
        lib, buf, out = load(), _c.create_string_buffer(256), []
        for p in range(self.params):
            if lib.dca_rule_param_label(self._ptr, p, buf, len(buf)) != 0:
                raise DcaError(f"parameter {p} has no label")
            out.append(buf.value.decode())
        return out

    def hex(self):
        buf = _c.create_string_buffer(self.params // 4 + 8)
        return buf.value.decode() if load().dca_rule_hex(self._ptr, buf, len(buf)) else None

    def __del__(self):
        if _lib is not None and getattr(self, "_ptr", None):
            _lib.dca_rule_destroy(self._ptr)
            _lib.dca_nbhd_destroy(self._nb)


class Sim:
    """A plan stepping `batch` configurations of a lattice ("149", "64x64")."""

    def __init__(self, size, rule, batch=1, gradients="none", threads=0, kernel="auto", seed=0,
                 tile=0, tune=False):
        """kernel, tile: the plan's kernel and cells per work unit ("auto", 0: chosen from the
        shape); tune=True measures the candidates first (dca_sim_tune) and keeps the fastest:
        self.tuned lists them, self.kernel and self.tile say what the plan uses."""
        lib = load()
        err = _Error()
        self._lat = _Lattice()
        _check(lib.dca_lattice_parse(size.encode(), _c.byref(self._lat), _c.byref(err)), err)
        opt = _SimOptions(KERNELS[kernel], threads, tile, GRADIENTS[gradients], 0, seed)
        self.tuned = None
        if tune:
            rep = _TuneReport()
            _check(lib.dca_sim_tune(_c.byref(self._lat), rule._ptr, batch, _c.byref(opt),
                                    _c.byref(rep), _c.byref(err)), err)
            buf = _c.create_string_buffer(1024)
            lib.dca_tune_describe(_c.byref(rep), buf, 1024)
            self.tuned = buf.value.decode()
        self._ptr = _c.c_void_p()
        _check(lib.dca_sim_create(_c.byref(self._lat), rule._ptr, batch, _c.byref(opt),
                                  _c.byref(self._ptr), _c.byref(err)), err)
        self.rule, self.batch, self.gradients = rule, batch, gradients
        self.lattice = tuple(int(s) for s in self._lat.shape[:self._lat.dims])
        self.cell_len = 1 if rule.mode == "binary" else rule.states
        self.shape = (batch,) + self.lattice + ((self.cell_len,) if self.cell_len > 1 else ())
        self.kernel = lib.dca_kernel_name(lib.dca_sim_kernel(self._ptr)).decode()
        self.tile = lib.dca_sim_tile_cells(self._ptr)

    @property
    def model(self):
        return load().dca_sim_model(self._ptr).decode()

    def _fail(self):
        raise DcaError(load().dca_sim_error(self._ptr).decode())

    def set_weights(self, w=None):
        """New weights (None: re-read the rule) and everything the plan derives."""
        err = _Error()
        arg = None
        if w is not None:
            w = np.ascontiguousarray(w, dtype=np.float64).reshape(-1)
            if w.size != self.rule.params:
                raise DcaError(f"{w.size} weights for a rule of {self.rule.params}")
            arg = w.ctypes.data_as(_c.c_void_p)
        _check(load().dca_sim_set_params(self._ptr, arg, _c.byref(err)), err)

    def _state(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != self.shape:
            raise DcaError(f"states of shape {x.shape}; this plan takes {self.shape}")
        return x

    def initial(self, kind="bernoulli:0.5", seed=1, eps=0.0):
        """Initial configurations ([init] kind: bernoulli:P, uniform-density, single, ...)."""
        lib = load()
        x = np.empty(self.shape)
        err = _Error()
        _check(lib.dca_init_generate(kind.encode(), _c.byref(self._lat), self.rule.states,
                                     MODES[self.rule.mode], self.batch, seed, x, _c.byref(err)),
               err)
        if eps:
            lib.dca_init_apply_eps(x, x.size, self.rule.states, MODES[self.rule.mode], eps)
        return x

    def step(self, x, t=0):
        """One step y = mu(x) of every configuration."""
        x = self._state(x)
        y = np.empty_like(x)
        if load().dca_sim_step_at(self._ptr, t, x, y) != 0:
            self._fail()
        return y

    def run(self, x0, steps):
        """The trajectory: an array (steps + 1, *shape), row 0 = x0."""
        out = np.empty((steps + 1,) + self.shape)
        out[0] = self._state(x0)
        for t in range(steps):
            if load().dca_sim_step_at(self._ptr, t, out[t], out[t + 1]) != 0:
                self._fail()
        return out

    def __del__(self):
        if _lib is not None and getattr(self, "_ptr", None):
            _lib.dca_sim_destroy(self._ptr)


class Objective:
    """The library objective: T steps from x0, the loss against targets phi
    (at x_T, plus every `loss_every` steps when given), and dE/dw by reverse
    mode (the Sim needs gradients="reverse" for that)."""

    def __init__(self, sim, x0, phi, loss="cross-entropy", steps=1, loss_every=0,
                 reverse_memory=0):
        lib = load()
        self.sim = sim
        self.x0, self.phi = sim._state(x0).copy(), sim._state(phi).copy()
        fn = lib.dca_loss_lookup(loss.encode())
        if not fn:
            raise DcaError(f"unknown loss {loss!r}: expected cross-entropy or mse")
        self._shape = _TaskShape(_c.addressof(sim._lat), sim.rule.states, MODES[sim.rule.mode],
                                 sim.batch, sim.rule._nb, None, None, 0)
        # reverse_memory: bytes of states reverse mode may keep whole (0: 256 MiB; < 0: never,
        # checkpoints every ceil(sqrt(T)) steps); the results are the same bit for bit.
        opt = _ObjOptions(steps, loss_every, _Range(0, 0, 0), None, reverse_memory)
        err = _Error()
        self._ptr = _c.c_void_p()
        _check(lib.dca_objective_create(sim._ptr, self.x0, self.phi, fn, _c.byref(self._shape),
                                        _c.byref(opt), _c.byref(self._ptr), _c.byref(err)), err)

    def __call__(self, weights=None, gradient=True):
        """E, or (E, dE/dw) with gradient=True; weights=None keeps the current ones."""
        P = self.sim.rule.params
        w = None
        if weights is not None:
            w = np.ascontiguousarray(weights, dtype=np.float64).reshape(-1)
            if w.size != P:
                raise DcaError(f"{w.size} weights for a rule of {P}")
        g = np.empty(P) if gradient else None
        E = _c.c_double()
        err = _Error()
        _check(load().dca_objective_eval(self._ptr,
                                         None if w is None else w.ctypes.data_as(_c.c_void_p),
                                         _c.byref(E),
                                         None if g is None else g.ctypes.data_as(_c.c_void_p),
                                         None, _c.byref(err)), err)
        return (E.value, g.reshape(self.sim.rule._shape())) if gradient else E.value

    def __del__(self):
        if _lib is not None and getattr(self, "_ptr", None):
            _lib.dca_objective_destroy(self._ptr)


def bitmaps(name="vowels"):
    """The shipped 5x7 bitmaps ("vowels" or "vowels+digits"): inputs
    (count, 35) and one-hot targets (count, count)."""
    lib = load()
    n = lib.dca_bitmaps(name.encode(), None, None)
    if n < 0:
        raise DcaError(f"unknown bitmap set {name!r}: expected vowels or vowels+digits")
    x, t = np.zeros((n, 35)), np.zeros((n, n))
    lib.dca_bitmaps(name.encode(), x.ctypes.data, t.ctypes.data)
    return x, t


class FFNet:
    """A feed-forward network of sigmoid units with threshold nodes
    (dca/learn.h): layers [n_0, ..., n_out], the patterns x (B, n_0) and
    targets t (B, n_out). net(w) returns (E, dE/dw), E the mean squared
    error; parameters layer by layer, W_l (n_{l+1}, n_l + 1) row-major with
    the threshold weights last."""

    def __init__(self, layers, x, t, linear_output=False):
        lib = load()
        self._lib, self._p = lib, _c.c_void_p()
        x = np.ascontiguousarray(x, dtype=np.float64)
        t = np.ascontiguousarray(t, dtype=np.float64)
        sizes = (_i64 * len(layers))(*layers)
        if x.ndim != 2 or t.ndim != 2 or x.shape[0] != t.shape[0] or \
                x.shape[1] != layers[0] or t.shape[1] != layers[-1]:
            raise DcaError(f"patterns {x.shape} and targets {t.shape} do not fit layers {layers}")
        err = _Error()
        _check(lib.dca_ffnet_create(len(layers), sizes, linear_output, x.shape[0], x, t,
                                    _c.byref(self._p), _c.byref(err)), err)
        self.params = lib.dca_ffnet_params(self._p)
        self.hidden = lib.dca_ffnet_hidden(self._p)

    def _w(self, w):
        w = np.ascontiguousarray(w, dtype=np.float64)
        if w.shape != (self.params,):
            raise DcaError(f"expected {self.params} weights, got shape {w.shape}")
        return w

    def __call__(self, w, gradient=True):
        w, E = self._w(w), _c.c_double()
        g = np.empty(self.params) if gradient else None
        self._lib.dca_ffnet_eval(self._p, w, _c.byref(E), g.ctypes.data if gradient else None,
                                 None)
        return (E.value, g) if gradient else E.value

    def robustness(self, w, threshold):
        """(R, damaged errors): the fraction of single hidden-unit deletions
        with error below threshold, and every deletion's error."""
        d = np.empty(self.hidden)
        R = self._lib.dca_ffnet_robustness(self._p, self._w(w), threshold, d.ctypes.data)
        return R, d

    def __del__(self):
        if getattr(self, "_p", None):
            self._lib.dca_ffnet_destroy(self._p)


class Kuramoto:
    """N phase oscillators (dca/learn.h): one call integrates `steps` Euler
    steps of dt from the current phases and returns (E, dE/dw, rbar) with
    E = |rbar - r0| and the exact adjoint gradient over the N(N-1)/2
    weights w_ij, i < j. advance() moves the phases to the interval's end."""

    def __init__(self, omega, phases, dt=0.01, steps=2000, r0=0.6):
        lib = load()
        self._lib, self._p = lib, _c.c_void_p()
        omega = np.ascontiguousarray(omega, dtype=np.float64)
        phases = np.ascontiguousarray(phases, dtype=np.float64)
        if omega.shape != phases.shape or omega.ndim != 1:
            raise DcaError("omega and phases must be two vectors of the same length")
        err = _Error()
        _check(lib.dca_kuramoto_create(omega.size, omega, phases, dt, steps, r0,
                                       _c.byref(self._p), _c.byref(err)), err)
        self.n, self.steps = omega.size, steps
        self.params = lib.dca_kuramoto_params(self._p)

    def __call__(self, w, gradient=True):
        w = np.ascontiguousarray(w, dtype=np.float64)
        if w.shape != (self.params,):
            raise DcaError(f"expected {self.params} weights, got shape {w.shape}")
        E, rbar = _c.c_double(), _c.c_double()
        g = np.empty(self.params) if gradient else None
        self._lib.dca_kuramoto_eval(self._p, w, _c.byref(E), g.ctypes.data if gradient else None,
                                    _c.byref(rbar))
        return (E.value, g, rbar.value) if gradient else (E.value, rbar.value)

    def advance(self):
        self._lib.dca_kuramoto_advance(self._p)

    @property
    def phases(self):
        return np.ctypeslib.as_array(self._lib.dca_kuramoto_phases(self._p), (self.n,)).copy()

    def order_trace(self, w, steps):
        r = np.empty(steps + 1)
        self._lib.dca_kuramoto_order_trace(self._p, np.ascontiguousarray(w, dtype=np.float64),
                                           steps, r)
        return r

    def __del__(self):
        if getattr(self, "_p", None):
            self._lib.dca_kuramoto_destroy(self._p)


class Potts:
    """The one-pixel random-walk cellular Potts model of seed 001 (dca/slm.h).
    run(T, first, count, steps) simulates lattices first .. first+count-1 and
    returns per-lattice arrays: msd, accepted and rejected growth attempts,
    and (gradient=True) d msd/dT by the identity straight-through estimator.
    score_gradient(T, msd, accepted, rejected) is the score-function
    estimate of d E[msd]/dT."""

    def __init__(self, size="128x128", sampling="boundary", seed=1):
        lib = load()
        self._lib, self._p = lib, _c.c_void_p()
        lat, err = _Lattice(), _Error()
        _check(lib.dca_lattice_parse(size.encode(), _c.byref(lat), _c.byref(err)), err)
        if sampling not in ("boundary", "uniform"):
            raise DcaError("sampling must be boundary or uniform")
        _check(lib.dca_potts_create(_c.byref(lat), 0 if sampling == "boundary" else 1, seed,
                                    _c.byref(self._p), _c.byref(err)), err)

    def run(self, T, first, count, steps, gradient=True):
        if not (T > 0 and np.isfinite(T)):
            raise DcaError(f"temperature T = {T}: expected T > 0")
        out = [np.empty(count) for _ in range(4 if gradient else 3)]
        self._lib.dca_potts_run(self._p, T, first, count, steps, out[0].ctypes.data,
                                out[1].ctypes.data, out[2].ctypes.data,
                                out[3].ctypes.data if gradient else None, None)
        return tuple(out)

    def score_gradient(self, T, msd, accepted, rejected):
        arr = [np.ascontiguousarray(x, dtype=np.float64) for x in (msd, accepted, rejected)]
        return self._lib.dca_potts_score_gradient(T, arr[0].size, *arr)

    def __del__(self):
        if getattr(self, "_p", None):
            self._lib.dca_potts_destroy(self._p)
