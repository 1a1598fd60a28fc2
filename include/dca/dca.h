/* dca — differentiable cellular automata.
 *
 * Public API. Calls go one way: this API -> orchestration (sim.c) -> kernels.
 * Every fallible function returns a dca_status (0 = ok) and, when given a
 * non-NULL dca_error, leaves a detailed message in it. There is no global
 * error state: each caller owns its dca_error.
 *
 * Conventions (DESIGN.md §1):
 *  - A lattice is a ring Z/n (dims = 1) or a torus Z/h x Z/w (dims = 2),
 *    cells in row-major order.
 *  - A neighbourhood is an ordered list of m offsets; 2D offsets are (dy, dx).
 *  - Pattern y = (y_0 .. y_{m-1}) has index sum_s y_s k^(m-1-s): the first
 *    offset is the most significant digit.
 *  - Binary mode (k = 2): a cell is one number, P(state 1); the rule has one
 *    weight per pattern, rho = sigmoid(w).
 *  - Softmax mode (k >= 2): a cell is k numbers; the rule has k weights per
 *    pattern, rho(y) = softmax(w(y)). Weights are stored pattern-major,
 *    (k^m, k) row-major.
 *  - Hard rules have rho exactly 0 or 1; their weights are +-infinity
 *    (binary) or 0 / -infinity (softmax).
 */
#ifndef DCA_DCA_H
#define DCA_DCA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The functions libdca.so exports (it is built with hidden visibility). */
#if defined(__GNUC__) || defined(__clang__)
#define DCA_API __attribute__((visibility("default")))
#else
#define DCA_API
#endif

/* ---- status and errors ------------------------------------------------ */

typedef enum dca_status {
    DCA_OK = 0,
    DCA_ERR_ARG,         /* a bad argument or specification string */
    DCA_ERR_CONFIG,      /* a bad configuration (file, line, key in message) */
    DCA_ERR_NOMEM,       /* an allocation failed or a request exceeds memory */
    DCA_ERR_IO,          /* a file could not be read or written */
    DCA_ERR_FORMAT,      /* a file holds data of the wrong shape, type or range */
    DCA_ERR_UNSUPPORTED, /* valid but not available in this version */
    DCA_ERR_INTERRUPTED, /* stopped by a signal; what was computed is saved */
} dca_status;

enum { DCA_ERROR_MSG_LEN = 1024 };

/* A detailed message, owned by the caller (one per object or thread). */
typedef struct dca_error {
    dca_status status;
    char msg[DCA_ERROR_MSG_LEN];
} dca_error;

DCA_API const char *dca_status_str(dca_status status);
DCA_API const char *dca_version(void);

/* Sets err (if non-NULL) and returns status. printf-style message. */
DCA_API dca_status dca_error_set(dca_error *err, dca_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "<prefix>: <old message>". */
DCA_API dca_status dca_error_prefix(dca_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- lattice ------------------------------------------------------------ */

/* Plain data. 1D: dims = 1, shape[0] = n, shape[1] = 1. */
typedef struct dca_lattice {
    int dims;
    int64_t shape[2];
} dca_lattice;

/* "149" -> ring of 149 cells; "64x48" -> torus of 64 rows and 48 columns. */
DCA_API dca_status dca_lattice_parse(const char *spec, dca_lattice *out, dca_error *err);
DCA_API int64_t dca_lattice_cells(const dca_lattice *lat);

/* ---- neighbourhood ------------------------------------------------------ */

typedef struct dca_nbhd dca_nbhd;

/* Specs: radius:R (1D, offsets -R..R), moore:R and vonneumann:R (2D,
 * row-major (dy, dx) order), offsets:-1,0,1 (1D) or
 * offsets:(-1,0),(0,0),(1,0) (2D). dims must match the lattice. */
DCA_API dca_status dca_nbhd_parse(const char *spec, int dims, dca_nbhd **out, dca_error *err);
DCA_API dca_status dca_nbhd_create(int dims, int count, const int32_t *offsets, dca_nbhd **out,
                           dca_error *err);
DCA_API void dca_nbhd_destroy(dca_nbhd *nb);
DCA_API int dca_nbhd_dims(const dca_nbhd *nb);
DCA_API int dca_nbhd_count(const dca_nbhd *nb);
/* count x dims, row-major. */
DCA_API const int32_t *dca_nbhd_offsets(const dca_nbhd *nb);
/* Position of offset (0) / (0,0) in the list, or -1. */
DCA_API int dca_nbhd_center(const dca_nbhd *nb);
/* For a binary pattern index y over nb (which holds the centre): the
 * outer-totalistic entry alive * m + count, alive the centre's bit and count
 * the live bits among the other offsets. */
DCA_API int64_t dca_nbhd_totalistic_entry(const dca_nbhd *nb, int64_t y);

/* ---- rules -------------------------------------------------------------- */

typedef enum dca_mode { DCA_MODE_BINARY = 0, DCA_MODE_SOFTMAX = 1 } dca_mode;

typedef struct dca_rule dca_rule;

/* Table: one entry per pattern (k^m). Outer-totalistic (binary, Life-like):
 * rho depends on the centre cell's state and the number n of live cells
 * among the other m - 1 offsets; the weights are a (2, m) array, row s =
 * centre state, column n = live neighbours, index s*m + n. */
typedef enum dca_rule_kind { DCA_RULE_TABLE = 0, DCA_RULE_OUTER_TOTALISTIC = 1 } dca_rule_kind;

/* A full pattern table over nb with k states. Weights start at zero
 * (rho = 1/2 binary, 1/k softmax). Fails with DCA_ERR_NOMEM (and the size)
 * when the table cannot be held. */
DCA_API dca_status dca_rule_create(const dca_nbhd *nb, int states, dca_mode mode, dca_rule **out,
                           dca_error *err);
/* An outer-totalistic binary rule over nb, which must hold the centre
 * offset; 2m weights starting at zero. */
DCA_API dca_status dca_rule_create_outer_totalistic(const dca_nbhd *nb, dca_rule **out, dca_error *err);
DCA_API void dca_rule_destroy(dca_rule *rule);
DCA_API dca_rule_kind dca_rule_kind_of(const dca_rule *rule);

DCA_API const dca_nbhd *dca_rule_nbhd(const dca_rule *rule);
DCA_API int dca_rule_states(const dca_rule *rule);
DCA_API dca_mode dca_rule_mode(const dca_rule *rule);
/* Rule entries: k^m for a table, 2m (centre state x count) for an
 * outer-totalistic rule. */
DCA_API int64_t dca_rule_patterns(const dca_rule *rule);
/* The weights' array shape (HDF5 /rule/weights): returns the rank and
 * fills dims: (patterns,) binary table, (patterns, k) softmax table, (2, m)
 * outer-totalistic. */
DCA_API int dca_rule_shape(const dca_rule *rule, int64_t dims[2]);
/* Outputs per pattern: 1 in binary mode, k in softmax mode. */
DCA_API int dca_rule_outputs(const dca_rule *rule);
/* patterns x outputs */
DCA_API int64_t dca_rule_params(const dca_rule *rule);

/* The rule's model type, described (one entry of the model-type table):
 * its name ("table" or "outer-totalistic", HDF5 /rule@kind); the numbers
 * per cell of a state (1 binary: P(1); k softmax); the names of the axes of
 * dca_rule_shape ("pattern" and "state" for a table, "centre" and
 * "live_neighbours" for an outer-totalistic rule; returns the rank); and a
 * label for parameter p: a table entry's neighbourhood pattern in base-k
 * digits, one per offset in the neighbourhood's order, with "->a" for the
 * output a of a softmax table ("0110", "012->2"); an outer-totalistic
 * entry's centre state and live-neighbour count ("dead,n=2", "live,n=3").
 * dca_rule_param_label returns DCA_ERR_ARG for p outside [0, params) or
 * when the label does not fit in len bytes (buf then holds ""). */
DCA_API const char *dca_rule_model(const dca_rule *rule);
DCA_API int dca_rule_values_per_cell(const dca_rule *rule);
DCA_API int dca_rule_axes(const dca_rule *rule, const char *names[2]);
DCA_API dca_status dca_rule_param_label(const dca_rule *rule, int64_t p, char *buf, size_t len);
DCA_API const double *dca_rule_weights(const dca_rule *rule);
DCA_API const double *dca_rule_probabilities(const dca_rule *rule);

/* Sets the weights (params values, NaN rejected) and recomputes rho. */
DCA_API dca_status dca_rule_set_weights(dca_rule *rule, const double *weights, dca_error *err);
/* Sets rho directly (binary: each in [0,1]; softmax: rows in [0,1] summing
 * to 1 within 1e-9, then renormalised); weights become the matching logits,
 * +-inf / -inf where rho is exactly 0 or 1. */
DCA_API dca_status dca_rule_set_probabilities(dca_rule *rule, const double *rho, dca_error *err);
/* True when every rho is exactly 0 or 1. */
DCA_API bool dca_rule_is_hard(const dca_rule *rule);
/* Hardened binary table as hex: bit i = output of pattern i (rho >= 1/2),
 * most significant digit first, ceil(patterns/4) digits. buf must hold
 * patterns/4 + 2 bytes. Binary tables only (two-state softmax tables use
 * P(state 1)). Returns false for k > 2. */
DCA_API bool dca_rule_hex(const dca_rule *rule, char *buf, size_t buflen);
/* The hardened rule in B/S notation ("B3/S23"; counts above 9 as comma
 * lists with ranges, "B34..45/S33..57"), counting live cells among the
 * offsets other than the centre. Works for outer-totalistic rules and for
 * binary tables whose hardened outputs depend only on (centre, count);
 * false otherwise (or when buf is too small). */
DCA_API bool dca_rule_life(const dca_rule *rule, char *buf, size_t buflen);
/* Sets a hard Life-like rule from B/S notation ("B3/S23", or comma lists
 * with ranges for counts above 9, "B34..45/S33..57"), counting live cells
 * among the offsets other than the centre, which nb must hold. Works for
 * outer-totalistic rules and for 2-state tables. */
DCA_API dca_status dca_rule_set_life(dca_rule *rule, const char *bs, dca_error *err);

/* Weight sources: spec is what follows "weights = " in a configuration
 * (normal:STD, zeros, list:..., probabilities:..., wolfram:N, hex:DIGITS,
 * mix:A,B,ALPHA, life:Bxx/Syy, file:PATH.h5:/DATASET; configs/README.md).
 * seed feeds normal:; basedir (NULL: ".") resolves a relative file: path. */
DCA_API dca_status dca_rule_load_weights(dca_rule *rule, const char *spec, uint64_t seed,
                                         const char *basedir, dca_error *err);

/* ---- simulation plan ---------------------------------------------------- */

typedef enum dca_kernel {
    DCA_KERNEL_AUTO = 0,
    DCA_KERNEL_BLAS,      /* split-neighbourhood GEMM formulation (DESIGN.md §4) */
    DCA_KERNEL_REFERENCE, /* plain pattern enumeration: the reference twin */
    DCA_KERNEL_TOTALISTIC, /* outer-totalistic rules (the only kernel for them) */
    DCA_KERNEL_FUSED,     /* binary tables, m <= 14: fused register-blocked value steps
                             (gradients on the BLAS kernels); AUTO's choice there */
} dca_kernel;

/* Which gradients a plan must be able to compute (bits). */
enum { DCA_GRAD_FORWARD = 1, DCA_GRAD_REVERSE = 2 };

/* Arithmetic of the value and reverse-mode kernels. States passed to and
 * from the plan are float64 either way; float32 computes each step (and
 * keeps the reverse-mode buffers) in single precision: about twice the
 * throughput, at a relative error of ~1e-6 per step (docs/performance.md).
 * float32 needs a table rule on the BLAS kernel or an outer-totalistic rule,
 * and no forward mode. */
typedef enum dca_precision { DCA_FLOAT64 = 0, DCA_FLOAT32 = 1 } dca_precision;

typedef struct dca_part_info dca_part_info;     /* below */
typedef struct dca_halo_buffer dca_halo_buffer; /* below */

typedef struct dca_sim_options {
    dca_kernel kernel;
    int threads;         /* 0: omp_get_max_threads() */
    int64_t tile_cells;  /* 0: chosen from the table shape */
    unsigned gradients;  /* DCA_GRAD_* bits */
    dca_precision precision;
    uint64_t seed;       /* keys the noise of stochastic models (unused by rule tables) */
    /* Reverse mode: this plan's configurations are [block_first, block_first
     * + B) of a batch of block_batch (0: B), e.g. one MPI rank's share. The
     * rule gradient is summed in blocks fixed by the whole batch (see
     * dca_sim_batch_share), so slices' blocks combine to the whole batch's
     * gradient bit for bit (dca_sim_adjoint_blocks, dca_sim_adjoint_finish). */
    int64_t block_first, block_batch;
    /* Lattice parts (domain decomposition): parts > 1 makes a plan for part
     * `part` (0..parts-1) of the lattice, computed on a window of it (see
     * dca_part_info below); halo (with halo_ctx) fills windows' halos from
     * the other parts (an MPI exchange, say) and is required with parts > 1.
     * 0 or 1: the whole lattice. */
    int parts, part;
    struct dca_halo_hook {
        dca_status (*fn)(void *ctx, const dca_part_info *part, const dca_halo_buffer *buf);
        void *ctx;
    } halo;
} dca_sim_options;

/* ---- lattice parts (domain decomposition; docs/cluster.md) --------------
 *
 * A lattice too big for one process is split into `parts` contiguous ranges
 * of cells (row-major order), part 0 first. Each range holds whole tiles of
 * the whole lattice's plan (and, in reverse mode, whole gradient blocks), so
 * every cell is computed by the same operations as in the whole plan and
 * the values, dE/dx and dE/dw are bitwise the whole plan's. A part's plan
 * keeps a window of the lattice: the part's own cells and a halo on either
 * side, its neighbours within the neighbourhood's reach (2D: whole rows
 * above and below; 1D: cells left and right). Its configurations are
 * windows: dca_sim_config_len is the window's length, and every state
 * passed to it holds window cells. Steps compute the own cells only (the
 * halo of y is left as it was); before each step the caller fills x's halo
 * with dca_sim_halo_fill. An adjoint step fills the halo of its own
 * per-offset buffer (kernel.h, Gx) through the same hook between its two
 * halves, and reads ybar and writes xbar on the own cells only.
 *
 * The hook receives the buffer and this part's layout; it must fill, for
 * every configuration and plane, the window cells [0, own_first) with the
 * last own_first own cells of part prev, and [own_first + own_count,
 * cells) with the first cells of part next (to_prev / to_next say how many
 * cells this part sends each way). Every part calls the hook at the same
 * points, so a collective implementation works.
 *
 * The rule gradient: each part's blocks (dca_sim_adjoint_blocks, block_count
 * per configuration) are the whole batch's blocks [block_first, block_first
 * + block_count) of each configuration; dca_sim_adjoint_finish takes the
 * batch's blocks configuration by configuration, each configuration's in
 * part order. Limits, refused with a message: forward mode, batch slices
 * (block_batch), a part with fewer cells than a neighbour's halo, a window
 * that would wrap onto itself, and more parts than tile groups. */
struct dca_part_info {
    int parts, part, prev, next;
    int64_t cells;              /* window cells; a configuration is cells x cell_len numbers */
    int64_t own_first, own_count; /* the part's cells in the window */
    int64_t lattice_first;      /* the lattice index of the first own cell */
    int64_t window_first;       /* the lattice index of window cell 0 (wrapped) */
    int64_t window_rows, window_cols;
    int64_t to_prev, to_next;   /* own cells sent: the first to_prev to prev, the last
                                   to_next to next */
    int64_t block_first, block_count, blocks_per_config; /* reverse mode; 0 otherwise */
};

/* A buffer whose halo the hook fills: configs x planes x cells x cell_len
 * numbers of `real` bytes (8: double, 4: float), planes and cells as
 * described by dca_part_info. States: planes 1, cell_len 1 (binary) or k. */
struct dca_halo_buffer {
    void *data;
    size_t real;
    int64_t configs, planes, cell_len;
};

typedef struct dca_sim dca_sim;

/* Plans stepping B configurations of lat under rule: validates shapes, lets
 * the rule's model type (table, outer-totalistic) pick its kernels, sizes
 * the workspace. The rule must outlive the plan. The plan keeps values
 * derived from the weights: change them with dca_sim_set_params. A plan
 * whose rule was changed behind its back (dca_rule_set_weights) refuses to
 * step (DCA_ERR_ARG) until dca_sim_set_params(sim, NULL) re-reads it.
 *
 * Misuse (a NULL or aliased buffer, a gradient step on a plan made without
 * that gradient, an adjoint step outside begin/end, stale weights) returns
 * DCA_ERR_ARG and leaves a message for dca_sim_error; the checks are cheap
 * and always on. Thread safety: one caller thread per plan at a time (the
 * plan opens its own OpenMP regions); distinct plans may run concurrently. */
DCA_API dca_status dca_sim_create(const dca_lattice *lat, dca_rule *rule, int64_t batch,
                          const dca_sim_options *opt, dca_sim **out, dca_error *err);

/* ---- the autotuner (FFTW's measure mode) ----------------------------------
 * dca_sim_tune makes the plan opt describes for each candidate kernel (the
 * one AUTO picks, and the fused or BLAS alternative where it applies) and
 * tile (the heuristic's, half and twice it), times a value step (and an
 * adjoint step when opt->gradients has DCA_GRAD_REVERSE) on seeded random
 * states of the real shape (rounds of about 5 ms, best of 3 after one
 * untimed), and sets opt->kernel and opt->tile_cells to the fastest; the
 * heuristic's own plan stays unless another is at least 3 % faster. opt must leave both to
 * the plan (DCA_KERNEL_AUTO, 0) and be a whole lattice (parts <= 1);
 * DCA_ERR_ARG otherwise. The choice changes the last bits of results
 * (kernels round differently; the tile fixes the rule gradient's
 * summation blocks), not their independence of the thread count: record
 * it to repeat a run bit for bit. Costs about 20 ms per candidate (more
 * for steps longer than 5 ms: 4 of them). */
#define DCA_TUNE_MAX 8
typedef struct dca_tune_candidate {
    dca_kernel kernel;
    int64_t tile_cells;
    double seconds; /* one value (+ adjoint) step of the whole batch */
} dca_tune_candidate;
typedef struct dca_tune_report {
    int count, best; /* candidates measured; the chosen one's index */
    dca_tune_candidate c[DCA_TUNE_MAX];
} dca_tune_report;
DCA_API dca_status dca_sim_tune(const dca_lattice *lat, dca_rule *rule, int64_t batch,
                                dca_sim_options *opt, dca_tune_report *rep, dca_error *err);
/* "fused/288 1.23 ms (chosen), fused/144 1.31 ms, ..." into buf (len bytes,
 * truncated); returns the length it needed. */
DCA_API int dca_tune_describe(const dca_tune_report *rep, char *buf, size_t len);
DCA_API void dca_sim_destroy(dca_sim *sim);
/* Sets the rule's weights (params doubles; NaN rejected) and every value
 * the plan derives from them. weights = NULL re-reads the rule as it is. */
DCA_API dca_status dca_sim_set_params(dca_sim *sim, const double *weights, dca_error *err);
/* The message of the last misuse of this plan. */
DCA_API const char *dca_sim_error(const dca_sim *sim);
/* Doubles per configuration: cells (binary) or cells * k (softmax). */
DCA_API int64_t dca_sim_config_len(const dca_sim *sim);
DCA_API int64_t dca_sim_batch(const dca_sim *sim);
/* The rule's parameter count (weights). */
DCA_API int64_t dca_sim_params(const dca_sim *sim);
DCA_API int dca_sim_threads(const dca_sim *sim);
DCA_API dca_kernel dca_sim_kernel(const dca_sim *sim);
/* "auto", "blas", "reference", "totalistic" or "fused" (HDF5 /run@kernel). */
DCA_API const char *dca_kernel_name(dca_kernel kernel);
DCA_API dca_precision dca_sim_precision(const dca_sim *sim);
DCA_API int64_t dca_sim_tile_cells(const dca_sim *sim);
DCA_API unsigned dca_sim_gradients(const dca_sim *sim);
/* The model type's name: "table" or "outer-totalistic". */
DCA_API const char *dca_sim_model(const dca_sim *sim);
/* One step of all B configurations: y = mu(x). x and y each hold
 * B * config_len doubles and must not overlap. t is the step index
 * (stochastic models key their noise by it; rule tables ignore it);
 * dca_sim_step is dca_sim_step_at with t = 0. */
DCA_API dca_status dca_sim_step_at(dca_sim *sim, int64_t t, const double *x, double *y);
DCA_API dca_status dca_sim_step(dca_sim *sim, const double *x, double *y);

/* Forward mode (needs DCA_GRAD_FORWARD). J holds d x / d w for the first
 * `configs` configurations (1..B), each config_len x params doubles (cell,
 * state, parameter); Jn receives d y / d w after the step y = mu(x). The
 * parameters are the weights in storage order. */
DCA_API dca_status dca_sim_tangent_step(dca_sim *sim, const double *x, const double *J, double *Jn,
                                int64_t configs);

/* Reverse mode (needs DCA_GRAD_REVERSE). Between begin and end, each
 * adjoint step takes x (the state the step y = mu(x) started from) and
 * ybar = dE/dy, writes xbar = dE/dx (all B configurations), and adds the
 * step's contribution to dE/d rho. end writes dE/dw (params doubles,
 * through rho = sigmoid / softmax of w). The sum over configurations and
 * cells runs in a fixed order: results do not depend on the thread count. */
DCA_API dca_status dca_sim_adjoint_begin(dca_sim *sim);
DCA_API dca_status dca_sim_adjoint_step_at(dca_sim *sim, int64_t t, const double *x, const double *ybar,
                                   double *xbar);
DCA_API dca_status dca_sim_adjoint_step(dca_sim *sim, const double *x, const double *ybar, double *xbar);
DCA_API dca_status dca_sim_adjoint_end(dca_sim *sim, double *grad_w);
/* The gradient's blocks (reverse mode). dca_sim_adjoint_end sums the plan's
 * blocks of dE/drho in block order, then applies drho/dw. With slices of one
 * batch (block_first, block_batch), each slice's blocks are whole blocks of
 * the batch's partition: dca_sim_adjoint_blocks ends the sweep and writes
 * this plan's blocks (dca_sim_gradient_blocks x P doubles, block-major);
 * dca_sim_adjoint_finish sums any blocks given in order (all slices', in
 * slice order) and applies drho/dw. Both steps together equal
 * dca_sim_adjoint_end bit for bit. */
DCA_API int64_t dca_sim_gradient_blocks(const dca_sim *sim);
/* The whole batch's blocks (all slices'; the plan's own without slicing). */
DCA_API int64_t dca_sim_gradient_blocks_batch(const dca_sim *sim);
DCA_API dca_status dca_sim_adjoint_blocks(dca_sim *sim, double *blocks);
DCA_API dca_status dca_sim_adjoint_finish(dca_sim *sim, const double *blocks, int64_t nblocks,
                                          double *grad_w);
/* A share of a batch of `batch` configurations for slice r of R whose
 * gradient blocks are whole blocks of the batch's (for a rule of `params`
 * parameters): configurations [*first, *first + *count). Contiguous, in
 * slice order, covering the batch; a slice can be empty when R exceeds the
 * number of blocks. */
DCA_API void dca_sim_batch_share(int64_t batch, int64_t params, int ranks, int rank,
                                 int64_t *first, int64_t *count);
/* Bytes the plan holds beyond the rule (workspaces, gradient buffers). */
DCA_API int64_t dca_sim_memory(const dca_sim *sim);
/* A part plan's layout (every field; a whole-lattice plan reports one part
 * whose window is the lattice). */
DCA_API dca_status dca_sim_part(const dca_sim *sim, dca_part_info *out);
/* Fills the halo of the plan's B window configurations in x through the
 * plan's halo hook (nothing to do for a whole-lattice plan). */
DCA_API dca_status dca_sim_halo_fill(dca_sim *sim, double *x);

/* ---- initial configurations --------------------------------------------- */

/* Kinds: bernoulli:P, uniform-density, uniform-states, single. (file: is
 * resolved by the configuration layer.) Fills B configurations of 0/1 (or
 * one-hot) states, then applies eps (see dca_init_apply_eps). Draws are
 * keyed by (seed, configuration, cell): independent of threads and of B. */
DCA_API dca_status dca_init_generate(const char *kind, const dca_lattice *lat, int states,
                             dca_mode mode, int64_t batch, uint64_t seed, double *x,
                             dca_error *err);
/* Configurations [first, first + batch) of a larger batch: the same draws as
 * dca_init_generate gives them there (one MPI rank's share). */
DCA_API dca_status dca_init_generate_part(const char *kind, const dca_lattice *lat, int states,
                                          dca_mode mode, int64_t first, int64_t batch,
                                          uint64_t seed, double *x, dca_error *err);
/* Cells [cell0, cell0 + ncells) (lattice indices, row-major, wrapped at the
 * end of the lattice) of configurations [first, first + batch): a part
 * plan's window (dca_part_info.window_first, .cells), with the same draws as
 * dca_init_generate_part gives those cells. */
DCA_API dca_status dca_init_generate_window(const char *kind, const dca_lattice *lat, int states,
                                            dca_mode mode, int64_t first, int64_t batch,
                                            uint64_t seed, int64_t cell0, int64_t ncells,
                                            double *x, dca_error *err);
/* x -> (1 - eps k/(k-1)) x + eps/(k-1): a certain state gets 1 - eps and
 * the others share eps. eps = 0 keeps states exact. */
DCA_API void dca_init_apply_eps(double *x, int64_t n_values, int states, dca_mode mode, double eps);

#ifdef __cplusplus
}
#endif
#endif
