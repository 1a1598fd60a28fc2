/* Foreground-background segmentation by state fitting (seed 001, thesis
 * 7.4; dca/slm.h), and synthetic fluorescent-cell images.
 *
 * Gradient of L, with N(c) the Moore neighbours of c inside the image (a
 * symmetric relation: u in N(c) iff c in N(u)):
 *   d la/dx_c = -1,
 *   d lb/dx_c = sum_{u in N(c)} (1 - x_u) - sum_{u in N(c)} x_u,
 *   d lc/dx_c = -sum_{u in N(c)} x_u + sum_{u in N(c)} (1 - x_u),
 *   d ld/dx_c = -2 (g_c - x_c).
 * lb and lc are the same function: both equal sum_c n_c x_c - sum_c sum_u
 * x_c x_u, because u in N(c) iff c in N(u), borders included. Only
 * lambda_b + lambda_c matters. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dca/slm.h"
#include "rng.h"

double dca_segment_loss(int64_t H, int64_t W, const double *g, const double *x,
                        const dca_segment_weights *lam, double *grad, double parts[4])
{
    double la = 0, lb = 0, lc = 0, ld = 0;
#pragma omp parallel for schedule(static) reduction(+ : la, lb, lc, ld)
    for (int64_t i = 0; i < H; i++) {
        for (int64_t j = 0; j < W; j++) {
            const double xc = x[i * W + j];
            double sx = 0, n = 0; /* sum of neighbour x, neighbour count */
            for (int64_t di = -1; di <= 1; di++)
                for (int64_t dj = -1; dj <= 1; dj++) {
                    const int64_t a = i + di, b = j + dj;
                    if ((di || dj) && a >= 0 && a < H && b >= 0 && b < W) {
                        sx += x[a * W + b];
                        n += 1;
                    }
                }
            const double e = g[i * W + j] - xc;
            la += 1 - xc;
            lb += xc * (n - sx);
            lc += (1 - xc) * sx;
            ld += e * e;
            if (grad)
                grad[i * W + j] = -lam->a + (lam->b + lam->c) * (n - 2 * sx) - 2 * lam->d * e;
        }
    }
    if (parts)
        parts[0] = la, parts[1] = lb, parts[2] = lc, parts[3] = ld;
    return lam->a * la + lam->b * lb + lam->c * lc + lam->d * ld;
}

dca_status dca_segment_normalise(int64_t n, const double *grey, double *g, dca_error *err)
{
    double mean = 0, span = 0;
    for (int64_t i = 0; i < n; i++)
        mean += grey[i];
    mean /= (double)(n > 0 ? n : 1);
    for (int64_t i = 0; i < n; i++)
        span = fmax(span, fabs(grey[i] - mean));
    if (!(span > 0) || !isfinite(span))
        return dca_error_set(err, DCA_ERR_ARG,
                             "the image is constant (or not finite): nothing to segment");
    for (int64_t i = 0; i < n; i++)
        g[i] = (grey[i] - mean) / span;
    return DCA_OK;
}

double dca_dice(int64_t n, const double *x, const uint8_t *mask)
{
    double both = 0, p = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        const int a = x[i] > 0, b = mask[i] != 0;
        both += a && b;
        p += a;
        m += b;
    }
    return p + m > 0 ? 2 * both / (p + m) : 1.0;
}

/* One pass of a 1D kernel k (radius r) along lines: line a of `lines`
 * starts at a * la, its element b of `len` sits at b * lb (borders
 * clamped). */
static void blur_pass(const double *k, int r, int64_t lines, int64_t len, int64_t la, int64_t lb,
                      const double *in, double *out)
{
    for (int64_t a = 0; a < lines; a++)
        for (int64_t b = 0; b < len; b++) {
            double v = 0;
            for (int t = -r; t <= r; t++) {
                int64_t q = b + t;
                q = q < 0 ? 0 : q >= len ? len - 1 : q;
                v += k[t + r] * in[a * la + q * lb];
            }
            out[a * la + b * lb] = v;
        }
}

/* A separable Gaussian blur of standard deviation s. */
static void blur2d(int64_t H, int64_t W, double s, double *img, double *tmp)
{
    const int r = (int)ceil(3 * s);
    double *k = malloc((size_t)(2 * r + 1) * sizeof *k), sum = 0;
    for (int t = -r; t <= r; t++)
        sum += k[t + r] = exp(-0.5 * t * t / (s * s));
    for (int t = 0; t <= 2 * r; t++)
        k[t] /= sum;
    blur_pass(k, r, H, W, W, 1, img, tmp); /* rows */
    blur_pass(k, r, W, H, 1, W, tmp, img); /* columns */
    free(k);
}

dca_status dca_cells_synthesize(int64_t H, int64_t W, int64_t cells, double rmin, double rmax,
                                double blur, double noise, uint64_t seed, double *image,
                                uint8_t *mask, dca_error *err)
{
    if (H < 8 || W < 8 || cells < 0 || !(rmin > 0) || rmax < rmin || blur < 0 || noise < 0)
        return dca_error_set(err, DCA_ERR_ARG,
                             "synthetic cells: need an image of at least 8x8, 0 < rmin <= rmax, "
                             "blur >= 0 and noise >= 0");
    double *tmp = malloc((size_t)(H * W) * sizeof *tmp);
    if (!tmp)
        return dca_error_set(err, DCA_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < H * W; i++)
        image[i] = 0.05, mask[i] = 0;
    for (int64_t c = 0; c < cells; c++) {
        double u[2], v[2], w[2];
        dca_rng_uniform2(seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 41 | (uint64_t)c, 0, u);
        dca_rng_uniform2(seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 41 | (uint64_t)c, 1, v);
        dca_rng_uniform2(seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 41 | (uint64_t)c, 2, w);
        const double ci = u[0] * (double)H, cj = u[1] * (double)W;
        const double ra = rmin + (rmax - rmin) * v[0], rb = rmin + (rmax - rmin) * v[1];
        const double th = 3.141592653589793 * w[0], bright = 0.6 + 0.4 * w[1];
        const double ct = cos(th), st = sin(th), rr = fmax(ra, rb) + 1;
        for (int64_t i = (int64_t)floor(ci - rr); i <= (int64_t)ceil(ci + rr); i++)
            for (int64_t j = (int64_t)floor(cj - rr); j <= (int64_t)ceil(cj + rr); j++) {
                if (i < 0 || i >= H || j < 0 || j >= W)
                    continue;
                const double di = (double)i - ci, dj = (double)j - cj;
                const double p = (di * ct + dj * st) / ra, q = (-di * st + dj * ct) / rb;
                if (p * p + q * q <= 1) {
                    image[i * W + j] = fmax(image[i * W + j], bright);
                    mask[i * W + j] = 1;
                }
            }
    }
    if (blur > 0)
        blur2d(H, W, blur, image, tmp);
    for (int64_t i = 0; i < H * W; i++) {
        const double z = noise > 0 ? noise * dca_rng_normal(seed, DCA_RNG_SLM_DATA, (uint64_t)1 << 42, (uint64_t)i) : 0;
        image[i] = fmin(1, fmax(0, image[i] + z));
    }
    free(tmp);
    return DCA_OK;
}
