// The watchlist index (issue 5): exact int8 top-k search — the object, packing, the scalar
// path (the specification) and the dispatch to the SIMD paths (search_x86.c, search_arm64.c).
//
// Why this shape: one query over 1M x 128 int8 rows is memory-bound (128 MB at ~20-26 GB/s is
// >= 5 ms; the arithmetic is ~0.5 ms), so the matrix is packed once into a layout a path streams
// front to back with one load per 64 bytes and no second pass: the top-k is kept inside the scan
// (search.h), most blocks cost only a compare against the current k-th score. A batch (all faces
// of a frame) is compute-bound instead: each 16-row block is loaded once, stays in L1, and is
// used for every query of the batch, so the matrix is read from memory once per batch.
#include "search.h"
#include "internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define VK_SEARCH_MAX_DIM 65536   /* 65536 * 128 * 128 = 2^30: every dot fits int32 exactly */

static int scale_ok(float s) { return isfinite(s) && fabsf(s) <= 1e18f; }

/// Lane bytes of a path's layout: 4 for VNNI and sdot, 2 for AVX2 and NEON smull, 0 for scalar.
static int lane_bytes(int isa) {
    switch (isa) {
    case vk_isa_avx512vnni: case vk_isa_neon_dot: return 4;
    case vk_isa_avx2: case vk_isa_neon: return 2;
    default: return 0;
    }
}

/// 2 MB aligned (when large) so transparent huge pages can back it: a 128 MB scan then walks 64
/// TLB entries instead of 32768.
static void *big_alloc(size_t n) {
    size_t align = n >= ((size_t)4 << 20) ? ((size_t)2 << 20) : 64;
    size_t sz = (n + align - 1) / align * align;
    void *p = aligned_alloc(align, sz ? sz : align);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && align > 64) madvise(p, sz, MADV_HUGEPAGE);
#endif
    return p;
}

vk_index *vk_index_create(int rows, int dim, const int8_t *matrix, const float *row_scale, int isa) {
    if (rows < 0 || rows > INT32_MAX - 64 || dim < 1 || dim > VK_SEARCH_MAX_DIM) return NULL;
    if (rows > 0 && (!matrix || !row_scale)) return NULL;
    for (int r = 0; r < rows; r++) if (!scale_ok(row_scale[r])) return NULL;
    vk_index *ix = calloc(1, sizeof *ix);
    if (!ix) return NULL;
    ix->rows = rows; ix->dim = dim; ix->isa = vk_resolve_isa(isa);
    ix->blocks = (rows + VK_SEARCH_BLOCK - 1) / VK_SEARCH_BLOCK;
    ix->L = lane_bytes(ix->isa);
    ix->rs = calloc((size_t)ix->blocks * VK_SEARCH_BLOCK + 1, sizeof(float));
    if (!ix->rs) goto fail;
    if (rows) memcpy(ix->rs, row_scale, sizeof(float) * (size_t)rows);
    if (ix->L == 0) {
        ix->m = malloc((size_t)rows * dim + 1);
        if (!ix->m) goto fail;
        if (rows) memcpy(ix->m, matrix, (size_t)rows * dim);
        return ix;
    }
    int L = ix->L, G = ix->G = (dim + L - 1) / L;
    size_t bb = (size_t)G * VK_SEARCH_BLOCK * L;            /* bytes per block */
    ix->packed_bytes = bb * ix->blocks;
    ix->packed = big_alloc(ix->packed_bytes);
    if (!ix->packed) goto fail;
    uint8_t bias = ix->isa == vk_isa_avx512vnni ? 0x80 : 0;  /* VNNI: m + 128 as u8 (x ^ 0x80) */
    for (int b = 0; b < ix->blocks; b++) {
        uint8_t *blk = ix->packed + bb * b;
        for (int g = 0; g < G; g++)
            for (int r = 0; r < VK_SEARCH_BLOCK; r++) {
                int row = b * VK_SEARCH_BLOCK + r;
                for (int l = 0; l < L; l++) {
                    int d = g * L + l;
                    int8_t v = row < rows && d < dim ? matrix[(size_t)row * dim + d] : 0;
                    blk[((size_t)g * VK_SEARCH_BLOCK + r) * L + l] = (uint8_t)v ^ bias;
                }
            }
    }
    return ix;
fail:
    vk_index_destroy(ix);
    return NULL;
}

void vk_index_destroy(vk_index *ix) {
    if (!ix) return;
    free(ix->m); free(ix->packed); free(ix->rs); free(ix);
}
int vk_index_isa(const vk_index *ix) { return ix ? ix->isa : 0; }
int vk_index_rows(const vk_index *ix) { return ix ? ix->rows : 0; }
int vk_index_dim(const vk_index *ix) { return ix ? ix->dim : 0; }

/// The specification: rows in order, every query, exact int32 dot, the score in the defined order.
static void search_scalar(const vk_index *ix, const int8_t *queries, const float *qs, int nq, vk_topk *tops) {
    int dim = ix->dim;
    for (int r = 0; r < ix->rows; r++) {
        const int8_t *m = ix->m + (size_t)r * dim;
        for (int q = 0; q < nq; q++) {
            const int8_t *x = queries + (size_t)q * dim;
            int32_t dot = 0;
            for (int d = 0; d < dim; d++) dot += (int32_t)x[d] * m[d];
            float s = (float)dot * (qs[q] * ix->rs[r]);
            vk_topk_offer(&tops[q], s, r);
        }
    }
}

/// Best first (the keeper's order reversed); no NaN, so this is a total order.
static int cmp_hit(const void *a, const void *b) {
    const float *x = a, *y = b;   /* {score, row as float bits} pairs */
    int32_t rx, ry;
    memcpy(&rx, x + 1, 4); memcpy(&ry, y + 1, 4);
    if (x[0] != y[0]) return x[0] > y[0] ? -1 : 1;
    return rx < ry ? -1 : rx > ry;
}

int vk_index_search(const vk_index *ix, const int8_t *queries, const float *query_scale, int nq, int k,
                    int32_t *out_rows, float *out_scores) {
    if (!ix || nq < 0 || k < 0) return -1;
    if (nq == 0 || k == 0) return 0;
    if (!queries || !query_scale || !out_rows || !out_scores) return -1;
    for (int q = 0; q < nq; q++) if (!scale_ok(query_scale[q])) return -1;
    int kk = k < ix->rows ? k : ix->rows;
    int G = ix->G, L = ix->L, dim = ix->dim;
    size_t nqk = (size_t)nq * (kk ? kk : 1);
    vk_topk *tops = malloc(sizeof(vk_topk) * (size_t)nq);
    float *hs = malloc(sizeof(float) * nqk);
    int32_t *hr = malloc(sizeof(int32_t) * nqk);
    int32_t *qd = malloc(sizeof(int32_t) * ((size_t)nq * G + 1));
    int32_t *corr = malloc(sizeof(int32_t) * (size_t)nq);
    float *pairs = malloc(sizeof(float) * 2 * (kk ? kk : 1));
    int ret = -1;
    if (!tops || !hs || !hr || !qd || !corr || !pairs) goto done;
    for (int q = 0; q < nq; q++) { tops[q].k = kk; tops[q].n = 0; tops[q].s = hs + (size_t)q * kk; tops[q].r = hr + (size_t)q * kk; }
    if (kk > 0) {
        if (L == 0) {
            search_scalar(ix, queries, query_scale, nq, tops);
        } else {
            /* Lane words of each query (pad 0): 4 bytes, or 2 bytes (AVX2: as two int16). */
            for (int q = 0; q < nq; q++) {
                const int8_t *x = queries + (size_t)q * dim;
                int32_t sum = 0;
                for (int d = 0; d < dim; d++) sum += x[d];
                corr[q] = ix->isa == vk_isa_avx512vnni ? -128 * sum : 0;
                for (int g = 0; g < G; g++) {
                    uint32_t w = 0;
                    for (int l = 0; l < L; l++) {
                        int d = g * L + l;
                        int8_t v = d < dim ? x[d] : 0;
                        if (ix->isa == vk_isa_avx2) w |= (uint32_t)(uint16_t)(int16_t)v << (16 * l);
                        else w |= (uint32_t)(uint8_t)v << (8 * l);
                    }
                    qd[(size_t)q * G + g] = (int32_t)w;
                }
            }
            switch (ix->isa) {
#if defined(__x86_64__)
            case vk_isa_avx512vnni: vk_search_vnni(ix, qd, corr, query_scale, nq, tops); break;
            case vk_isa_avx2: vk_search_avx2(ix, qd, corr, query_scale, nq, tops); break;
#endif
#if defined(__aarch64__)
            case vk_isa_neon_dot: vk_search_sdot(ix, qd, corr, query_scale, nq, tops); break;
            case vk_isa_neon: vk_search_smull(ix, qd, corr, query_scale, nq, tops); break;
#endif
            default: goto done;
            }
        }
    }
    for (int q = 0; q < nq; q++) {
        vk_topk *t = &tops[q];
        for (int i = 0; i < t->n; i++) { pairs[2 * i] = t->s[i]; memcpy(&pairs[2 * i + 1], &t->r[i], 4); }
        qsort(pairs, (size_t)t->n, 2 * sizeof(float), cmp_hit);
        for (int i = 0; i < k; i++) {
            size_t o = (size_t)q * k + i;
            if (i < t->n) { out_scores[o] = pairs[2 * i]; memcpy(&out_rows[o], &pairs[2 * i + 1], 4); }
            else { out_scores[o] = -INFINITY; out_rows[o] = -1; }
        }
    }
    ret = kk;
done:
    free(tops); free(hs); free(hr); free(qd); free(corr); free(pairs);
    return ret;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/// Plain C reader (arm64 and CPUs without AVX2): 8 independent 64-bit sums per 64 bytes.
static uint64_t read_c(const uint8_t *p, size_t n) {
    uint64_t a[8] = {0};
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i + 8 <= n / 8; i += 8)
        for (int j = 0; j < 8; j++) a[j] += w[i + j];
    uint64_t s = 0;
    for (int j = 0; j < 8; j++) s += a[j];
    return s;
}

double vk_read_bandwidth(int64_t bytes, int passes) {
    if (bytes < 4096 || passes < 1) return 0;
    size_t n = (size_t)bytes & ~(size_t)4095;
    uint8_t *p = big_alloc(n);
    if (!p) return 0;
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 131u);   /* touch: fault every page in */
    int best_isa = vk_isa_best();
    double best = 0;
    volatile double sink = 0;
    for (int pass = 0; pass < passes; pass++) {
        double t0 = now_s();
#if defined(__x86_64__)
        if (best_isa == vk_isa_avx512vnni) sink += vk_read_bw_avx512(p, n);
        else if (best_isa == vk_isa_avx2) sink += vk_read_bw_avx2(p, n);
        else
#endif
        sink += (double)read_c(p, n);
        double t = now_s() - t0;
        if (t > 0 && (double)n / t > best) best = (double)n / t;
    }
    (void)best_isa;
    free(p);
    return best;
}
