"""Prints bench/run's table from its results file on stdin: lines
"NAME {json}"."""
import json
import os
import sys

r = {}
for line in sys.stdin:
    if line.strip():
        name, rest = line.split(" ", 1)
        r[name] = json.loads(rest)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
            if l.startswith("model name")), "?")
print(f"machine: {cpu}, {os.cpu_count()} cores; OPENBLAS_CORETYPE="
      f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
if "machine" in r:
    mc, m1 = r["machine"], r.get("machine_1thread", {})
    print(f"ceilings (bench_machine, best of 5): DGEMM {mc['dgemm_gflops']:.0f} GFLOP/s "
          f"({m1.get('dgemm_gflops', 0):.0f} on 1 thread), SGEMM {mc['sgemm_gflops']:.0f} "
          f"({m1.get('sgemm_gflops', 0):.0f}), stream triad {mc['triad_gbs']:.0f} GB/s "
          f"({m1.get('triad_gbs', 0):.0f})")
core = next((r[k]["openblas_core"] for k in r if "openblas_core" in r[k]), "?")
print(f"OpenBLAS core used by dca: {core}")
fmt = "{:<46} {:>7} {:>10} {:>10} {:>8} {:>8} {:>9}"
print(fmt.format("workload", "threads", "dca cu/s", "peer cu/s", "ratio", "dca MiB", "peer MiB"))


def line(label, key, peer=None, rate_key="cell_updates_per_second", mib=True):
    if key not in r:
        return
    d, p = r[key], r.get(peer) if peer else None
    rate = d[rate_key]
    print(fmt.format(
        label, d["threads"], f"{rate:.3g}",
        f"{p['cell_updates_per_second']:.3g}" if p else "-",
        f"{rate / p['cell_updates_per_second']:.0f}x" if p else "-",
        f"{d['peak_rss_mib']:.0f}" if mib else "-", f"{p['peak_rss_mib']:.0f}" if p else "-"))


line(f"W1 values 1D r=3 B=64 n=1024 T=64 ({r['w1'].get('kernel', '')})", "w1", "w1_peer")
line("W1 on the BLAS kernel (AUTO picks fused)", "w1_blas")
line("W1, 1 thread", "w1_1thread")
line("W1, float32", "w1_f32")
if "w1_tuned" in r:
    line(f"W1 autotuned ({r['w1_tuned']['kernel']}/{r['w1_tuned']['tile']})", "w1_tuned", "w1_peer")
line("W2 values + reverse gradient + loss (as W1)", "w2", "w2_peer")
line("W2, 1 thread", "w2_1thread")
line("W2, float32", "w2_f32")
if "w2_tuned" in r:
    line(f"W2 autotuned ({r['w2_tuned']['kernel']}/{r['w2_tuned']['tile']})", "w2_tuned", "w2_peer")
line("W3 paper figure + forward diagrams -> HDF5", "w3", "w3_peer")
line("W4 2D Moore table 256^2 B=16 T=64 value+grad", "w4")
line("W4, 1 thread", "w4_1thread")
line("W4, float32", "w4_f32")
line("W4 values only", "w4_values")
line("W4 values only, BLAS kernel", "w4_values_blas")
if "w4_at_peer_size" in r:
    line(f"W4 at the peer's size {r['w4_at_peer_size']['cells']} cells", "w4_at_peer_size",
         "w4_peer")
if "w5" in r:
    line("W5 2D Life-like 1024^2 B=4 T=100 value+grad", "w5")
    line("W5, 1 thread", "w5_1thread")
    line("W5, float32", "w5_f32")
    if "w5_peer" in r:
        p = r["w5_peer"]
        d = r["w5"]["at_peer_size_cell_updates_per_second"]
        print(fmt.format(f"W5 at the peer's size {p['size']}", r["w5"]["threads"], f"{d:.3g}",
                         f"{p['cell_updates_per_second']:.3g}",
                         f"{d / p['cell_updates_per_second']:.0f}x", "-",
                         f"{p['peak_rss_mib']:.0f}"))
print()
for key, label in (("w6", "W6 density class. N=149 r=3 GKL, bit-sliced"),
                   ("w6_random", "W6, a random rule (no early stops)"),
                   ("w6_1thread", "W6 GKL, 1 thread")):
    if key in r:
        d = r[key]
        print(fmt.format(label, d["threads"], f"{d['cell_updates_per_second']:.3g}",
                         f"{d['byte_cell_updates_per_second']:.3g}",
                         f"{d['cell_updates_per_second'] / d['byte_cell_updates_per_second']:.0f}x",
                         f"{d['peak_rss_mib']:.0f}", "-"))
if "w6" in r:
    d = r["w6"]
    print(f"  W6 peer: the byte evaluator (dca_hard_step) in the same process. Whole evaluation "
          f"of {d['samples']} samples incl. draws: {d['eval_seconds']:.2f} s, "
          f"{d['eval_cell_updates_per_second']:.3g} cu/s; accuracy {d['accuracy']:.4f}")
for key, label in (("life_exact", "Life B3/S23 exact states 8192^2, bit-parallel"),
                   ("life_exact_1thread", "Life on exact states, 1 thread")):
    if key in r:
        d = r[key]
        print(fmt.format(label, d["threads"], f"{d['bits_cell_updates_per_second']:.3g}",
                         f"{d['soft_cell_updates_per_second']:.3g}", f"{d['speedup']:.0f}x",
                         "-", "-"))
if "life_exact" in r:
    print("  Life peer: dca's soft engine (outer-totalistic kernel, float64) on the same states "
          "and threads; goal >= 5e9 cu/s on 2 cores")
if "concurrent" in r:
    d, sec = r["concurrent"], r["concurrent"]["seconds"]
    print(f"two W1 runs (T = 640) sharing 2 cores, medians of {d['reps']}: default pair "
          f"{sec['pair']:.2f} s, two --threads 1 runs {sec['pair_1thread']:.2f} s "
          f"({d['pair_over_pair_1thread']:.2f}x; goal <= 1.2x); libgomp's default spin "
          f"{sec.get('pair DCA_OMP_SPINCOUNT=keep', float('nan')):.2f} s; single run "
          f"{sec['single']:.3f} s, {d['single_over_best_single']:.3f}x the best single "
          f"({', '.join(f'{k[7:]} {v:.3f} s' for k, v in sec.items() if k.startswith('single '))})")
if "w3_parts" in r:
    d = r["w3_parts"]
    print(f"W3 split, medians of {d['reps']}, {d['threads']} threads: whole command "
          f"{d['whole_seconds']:.3f} s = start {d['start_seconds']:.3f} s (dca --version) + in "
          f"process {d['in_process_seconds']:.3f} s (setup {d['setup_seconds']:.3f}, stepping "
          f"{d['stepping_seconds']:.3f}, recording {d['recording_seconds']:.3f}, closing "
          f"{d['closing_seconds']:.3f}: flush, compression, fsync); whole / (stepping + "
          f"recording + closing) = {d['whole_over_work']:.2f}x (goal <= 2x); in process "
          f"{d['in_process_cell_updates_per_second']:.3g} cu/s")
if "w7" in r:
    d = r["w7"]
    print(f"W7 {d['workload']}, {d['threads']} threads: dca {d['dca_rate']:.3g} "
          f"network-iterations/s (whole command {d['dca_rate_whole_command']:.3g})"
          + (f", batched PyTorch peer {d['peer_rate']:.3g}: {d['ratio']:.1f}x; verified: initial "
             f"losses agree to {d['verified_initial_loss_max_diff']:.2g}, mean final loss dca "
             f"{d['mean_final_loss_dca']:.3g} / peer {d['mean_final_loss_peer']:.3g} (own noise)"
             if "peer_rate" in d else ""))
if "w8" in r:
    d = r["w8"]
    print(f"W8 {d['workload']}, forward + STE adjoint, {d['threads']} threads: dca "
          f"{d['dca_rate']:.3g} lattice-steps/s (1 thread {d['dca_rate_1thread']:.3g}: "
          f"{d['dca_scaling']:.2f}x scaling)"
          + "".join(f"; PyTorch dense peer {t} at {d[f'peer_{t}_lattices']} lattices "
                    f"{d[f'peer_{t}_rate']:.3g}: {d[f'ratio_{t}']:.0f}x (verified: MSD and STE "
                    f"within {max(d[f'peer_{t}_z']):.1f} standard errors of dca's)"
                    for t in ("float64", "float32") if f"peer_{t}_rate" in d))
if "w9" in r:
    d = r["w9"]
    print(f"W9 {d['workload']}, {d['threads']} threads: dca {d['dca_rate']:.3g} cell-steps/s "
          f"({d['dca_seconds_per_iteration']:.3f} s an iteration; 1 thread {d['dca_rate_1thread']:.3g}: "
          f"{d['dca_scaling']:.2f}x scaling)"
          + "".join(f"; PyTorch STE peer {t} {d[f'peer_{t}_rate']:.3g} "
                    f"({d[f'peer_{t}_seconds']:.1f} s): {d[f'ratio_{t}']:.0f}x"
                    for t in ("float64", "float32") if f"peer_{t}_rate" in d)
          + ("; verified: the peers' first losses within 25 % of dca's and their large gradient "
             "entries of the same sign" if "peer_float64_rate" in d else ""))
if "w9_parts" in r:
    d = r["w9_parts"]
    print(f"W9 library calls (bench_mk, [min, median] ms of {d['reps']} alternating reps): forward "
          f"1 thread {d['forward_ms_1']}, {d['threads']} {d['forward_ms_k']}; adjoint 1 thread "
          f"{d['adjoint_ms_1']}, {d['threads']} {d['adjoint_ms_k']}; iteration scaling "
          f"{d['scaling_min']['iteration']:.2f}x (min), {d['scaling_median']['iteration']:.2f}x "
          f"(median); idle {d['threads']}-thread barrier {d['idle_barrier_us'][0]:.2f} / "
          f"{d['idle_barrier_us'][1]:.2f} us, compute scaling {d['compute_scaling'][0]:.2f} / "
          f"{d['compute_scaling'][1]:.2f}x before / after")
for w in ("w1", "w2", "w4", "w5"):
    if w not in r or w + "_1thread" not in r:
        continue
    print(f"thread scaling {w.upper()}: {r[w]['cell_updates_per_second'] / r[w + '_1thread']['cell_updates_per_second']:.2f}x"
          f" from 1 to {r[w]['threads']} threads")
for w in ("w1", "w2", "w4", "w5"):
    if w + "_f32" in r:
        f = r[w + "_f32"]
        print(f"float32 {w.upper()}: {f['cell_updates_per_second'] / r[w]['cell_updates_per_second']:.2f}x "
              f"float64; deviation from float64 at full length {f['f64_max_diff']:.2g} "
              + ("(max |state| difference after T steps)" if w == "w1" else
                 "(gradient, relative to its largest entry)"))
if "w2_peer" in r:
    print(f"W2 peak memory: peer {r['w2_peer']['peak_rss_mib']:.0f} MiB / dca "
          f"{r['w2']['peak_rss_mib']:.0f} MiB = {r['w2_peer']['peak_rss_mib'] / r['w2']['peak_rss_mib']:.0f}x "
          f"(dca's figure is the whole benchmark process, reference checks included)")
for w in ("w1_tuned", "w2_tuned"):
    if w in r:
        print(f"{w[:2].upper()} autotuner (dca_sim_tune, {r[w]['tune_seconds'] * 1e3:.0f} ms): "
              f"{r[w]['tuned']}")
print("reverse-mode memory (W2 sizes; dca's stored states + plan; every state kept up to "
      "[run] reverse-memory = 256 MiB, checkpoints every ceil(sqrt(T)) steps beyond):", ", ".join(
    f"T={r[k]['steps']}: {r[k]['state_bytes'] / 2**20:.1f} MiB (peak RSS {r[k]['peak_rss_mib']:.0f} MiB)"
    for k in ("w2", "w2_T256", "w2_T1024") if k in r),
    f"; every state stored would be {64 * 1024 * 8 * 1024 / 2**20:.0f} MiB at T=1024")
print("verified before timing: "
      f"W1 kernel vs reference {r['w1']['verify_max_diff']:.2g}; "
      f"W2 reverse gradient vs reference twins {r['w2']['verify_max_diff']:.2g} (relative)"
      + (f"; W1 peer vs dca {r['w1_peer']['verify_step1_max_diff']:.2g}" if "w1_peer" in r else "")
      + (f"; W2 peer loss/gradient vs dca {r['w2_peer']['verify_loss_diff']:.2g}/"
         f"{r['w2_peer']['verify_grad_rel_diff']:.2g}" if "w2_peer" in r else "")
      + (f"; W3 peer diagrams vs dca {r['w3_peer']['verify_gradients_rel_diff']:.2g}" if "w3_peer" in r else "")
      + (f"; W4 reverse gradient vs reference twins (64x64) {r['w4']['verify_max_diff']:.2g}" if "w4" in r else "")
      + (f"; W4 peer loss/gradient vs dca {r['w4_peer']['verify_loss_diff']:.2g}/"
         f"{r['w4_peer']['verify_grad_rel_diff']:.2g}" if "w4_peer" in r else "")
      + (f"; W5 totalistic vs full-table gradient {r['w5']['verify_max_diff']:.2g}" if "w5" in r else "")
      + (f"; W5 peer loss/gradient vs dca {r['w5_peer']['verify_loss_diff']:.2g}/"
         f"{r['w5_peer']['verify_grad_rel_diff']:.2g}" if "w5_peer" in r else ""))
if "w1_peer" in r:
    print(f"peers: W1/W2 PyTorch {r['w1_peer']['torch']} float64 (W2 with autograd); "
          "W3 the paper's numpy algorithm with its gradient bugs fixed; W4 the W2 peer on the torus; "
          "W5 PyTorch autograd, "
          "Poisson-binomial recurrence on stacked tensors")
