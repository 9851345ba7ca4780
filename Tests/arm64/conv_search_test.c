/*
 * arm64 exactness test for the watchlist search (search.c, search_arm64.c): the NEON paths —
 * sdot where the CPU has the dot-product extension, smull + sadalp everywhere — against the
 * scalar path, identical rows and bit-identical float scores, on random indexes (0..200 rows,
 * dims not multiples of the lane width, k beyond rows, duplicate rows, -128 / 127 extremes,
 * batches vs single queries). Built with Sources/CKernels (conv_ prefix).
 */
#include "ckernels.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 4242;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static int ri(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

int main(void) {
    static const int dims[] = {1, 2, 3, 5, 31, 127, 128, 129, 200};
    const int isas[2] = {vk_isa_neon, vk_isa_neon_dot};
    const char *names[2] = {"smull", "sdot"};
    int fails = 0, cases[2] = {0, 0}, got_isa[2] = {0, 0};
    for (int t = 0; t < 400; t++) {
        int rows = t % 7 == 0 ? ri(0, 1) : ri(0, 200);
        int dim = t % 2 ? dims[rnd() % 9] : ri(1, 200);
        int nq = t % 3 ? ri(1, 20) : 1;
        int k = t % 4 ? ri(1, 12) : rows + ri(1, 3);
        int mode = rnd() % 3;   /* 0 random, 1 extremes, 2 duplicate rows with one scale */
        int8_t *m = malloc((size_t)rows * dim + 1), *q = malloc((size_t)nq * dim);
        float *rs = malloc(sizeof(float) * (rows + 1)), *qs = malloc(sizeof(float) * nq);
        for (int r = 0; r < rows; r++) {
            rs[r] = mode == 2 ? 0.0078125f : (float)ri(1, 100000) / 1e6f;
            if (mode == 2 && r > 0 && rnd() % 2) { memcpy(m + (size_t)r * dim, m + (size_t)ri(0, r - 1) * dim, (size_t)dim); continue; }
            for (int d = 0; d < dim; d++) m[(size_t)r * dim + d] = mode == 1 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
        }
        for (int i = 0; i < nq * dim; i++) q[i] = mode == 1 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
        for (int i = 0; i < nq; i++) qs[i] = (float)ri(1, 100000) / 1e6f;
        size_t n = (size_t)nq * k;
        int32_t *r0 = malloc(4 * n), *r1 = malloc(4 * n), *r2 = malloc(4 * (size_t)k);
        float *s0 = malloc(4 * n), *s1 = malloc(4 * n), *s2 = malloc(4 * (size_t)k);
        vk_index *ref = vk_index_create(rows, dim, m, rs, vk_isa_scalar);
        int c0 = vk_index_search(ref, q, qs, nq, k, r0, s0);
        if (c0 != (k < rows ? k : rows)) { if (fails++ < 5) printf("FAIL scalar count %d rows %d k %d\n", c0, rows, k); }
        for (int a = 0; a < 2; a++) {
            vk_index *ix = vk_index_create(rows, dim, m, rs, isas[a]);
            if (!ix || vk_index_isa(ix) != isas[a]) { vk_index_destroy(ix); continue; }
            got_isa[a] = 1;
            int c1 = vk_index_search(ix, q, qs, nq, k, r1, s1);
            int bad = c1 != c0 || memcmp(r0, r1, 4 * n) || memcmp(s0, s1, 4 * n);
            for (int i = 0; i < nq && !bad; i++) {
                int c2 = vk_index_search(ix, q + (size_t)i * dim, qs + i, 1, k, r2, s2);
                bad = c2 != c0 || memcmp(r0 + (size_t)i * k, r2, 4 * (size_t)k) || memcmp(s0 + (size_t)i * k, s2, 4 * (size_t)k);
            }
            if (bad && fails++ < 5) printf("FAIL search %s: rows %d dim %d nq %d k %d mode %d\n", names[a], rows, dim, nq, k, mode);
            cases[a]++;
            vk_index_destroy(ix);
        }
        vk_index_destroy(ref);
        free(m); free(q); free(rs); free(qs); free(r0); free(r1); free(r2); free(s0); free(s1); free(s2);
    }
    for (int a = 0; a < 2; a++)
        if (got_isa[a] && !fails)
            printf("PASS search %s: %d random indexes (batches and single queries) bit-exact with the scalar path\n", names[a], cases[a]);
    if (!got_isa[0]) { printf("FAIL search: the smull path is not available\n"); fails++; }
    return fails ? 1 : 0;
}
