// Watchlist search (search.c, search_x86.c): every x86 path the CPU has (AVX2, AVX-512 VNNI)
// against the scalar path (the specification) — identical rows and bit-identical float scores —
// on thousands of random indexes: 0..300 rows, dims 1..300 (not multiples of the lane width),
// k beyond rows, duplicate rows (ties), extreme values (-128 / 127), batches of 1..40 queries,
// and each batch query against the same query searched alone.
//   search_test            the tests (last line "OK: ...")
//   search_test --bench    1M x 128, top-10: one query and batches of 16, per path; read bandwidth
#include "harness.h"
#include <math.h>

static int same(const int32_t *r0, const float *s0, const int32_t *r1, const float *s1, size_t n) {
    return !memcmp(r0, r1, n * sizeof(int32_t)) && !memcmp(s0, s1, n * sizeof(float));
}

static float rscale(void) { return (float)(rnd() % 100000 + 1) / 1e6f * (rnd() % 8 == 0 ? -1.0f : 1.0f); }

static int bench(void) {
    const int N = 1000000, D = 128, K = 10;
    int8_t *m = malloc((size_t)N * D);
    float *rs = malloc(sizeof(float) * N);
    for (size_t i = 0; i < (size_t)N * D; i++) m[i] = (int8_t)(rnd() % 255 - 127);
    for (int r = 0; r < N; r++) rs[r] = 1.0f / 127;
    int8_t q[32 * 128];
    float qs[32];
    for (int i = 0; i < 32 * D; i++) q[i] = (int8_t)(rnd() % 255 - 127);
    for (int i = 0; i < 32; i++) qs[i] = 1.0f / 127;
    int32_t rows[32 * 10];
    float sc[32 * 10];
    printf("read bandwidth: %.1f GB/s\n", vk_read_bandwidth((int64_t)512 << 20, 3) / 1e9);
    const int isas[3] = {vk_isa_avx512vnni, vk_isa_avx2, vk_isa_scalar};
    for (int a = 0; a < 3; a++) {
        vk_index *ix = vk_index_create(N, D, m, rs, isas[a]);
        if (vk_index_isa(ix) != isas[a]) { vk_index_destroy(ix); continue; }
        for (int nq = 1; nq <= 32; nq *= (nq == 1 ? 16 : 2)) {
            double t[15];
            int runs = isas[a] == vk_isa_scalar ? 3 : 15;
            for (int i = 0; i < runs; i++) { double t0 = now(); vk_index_search(ix, q, qs, nq, K, rows, sc); t[i] = now() - t0; }
            qsort(t, runs, sizeof(double), cmpd);
            printf("isa %d nq %2d: %.3f ms per query (%.3f ms per call)\n", isas[a], nq, t[runs / 2] * 1e3 / nq, t[runs / 2] * 1e3);
        }
        vk_index_destroy(ix);
    }
    free(m); free(rs);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench();
    const int isas[2] = {vk_isa_avx2, vk_isa_avx512vnni};
    static const int dims[] = {1, 2, 3, 4, 5, 7, 8, 31, 64, 127, 128, 129, 200, 300};
    int cases = 0, fails = 0, paths_run[2] = {0, 0};
    for (int t = 0; t < 3000 && fails < 5; t++) {
        int rows = rnd() % 6 == 0 ? rr(0, 2) : rr(0, 300);
        int dim = dims[rnd() % (sizeof dims / sizeof dims[0])];
        if (rnd() % 4 == 0) dim = rr(1, 300);
        int nq = rnd() % 3 == 0 ? 1 : rr(1, 40);
        int k = rnd() % 4 == 0 ? rr(rows, rows + 5) + (rows == 0) : rr(1, 20);
        int mode = rnd() % 4;   /* 0 random, 1 extremes only, 2 duplicate rows, 3 few distinct values */
        int8_t *m = malloc((size_t)rows * dim + 1), *q = malloc((size_t)nq * dim);
        float *rs = malloc(sizeof(float) * (rows + 1)), *qs = malloc(sizeof(float) * nq);
        float same_scale = rscale();
        for (int r = 0; r < rows; r++) {
            rs[r] = mode >= 2 ? same_scale : rscale();
            if (mode == 2 && r > 0 && rnd() % 2) { memcpy(m + (size_t)r * dim, m + (size_t)rr(0, r - 1) * dim, (size_t)dim); continue; }
            for (int d = 0; d < dim; d++)
                m[(size_t)r * dim + d] = mode == 1 ? (rnd() % 2 ? 127 : -128) : mode == 3 ? (int8_t)rr(-1, 1) : (int8_t)rnd();
        }
        for (int i = 0; i < nq * dim; i++) q[i] = mode == 1 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
        for (int i = 0; i < nq; i++) qs[i] = mode >= 2 ? 1.0f / 127 : rscale();
        size_t nout = (size_t)nq * k;
        int32_t *r0 = malloc(4 * nout), *r1 = malloc(4 * nout), *r2 = malloc(4 * (size_t)k);
        float *s0 = malloc(4 * nout), *s1 = malloc(4 * nout), *s2 = malloc(4 * (size_t)k);
        vk_index *ref = vk_index_create(rows, dim, m, rs, vk_isa_scalar);
        int c0 = vk_index_search(ref, q, qs, nq, k, r0, s0);
        int expect = k < rows ? k : rows;
        if (!ref || c0 != expect) { printf("FAIL scalar: rows %d dim %d k %d: count %d\n", rows, dim, k, c0); fails++; }
        /* The specification itself, spot-checked: the best row of query 0 by brute force. */
        if (rows > 0 && c0 > 0) {
            float best = -INFINITY; int br = -1;
            for (int r = 0; r < rows; r++) {
                int32_t dot = 0;
                for (int d = 0; d < dim; d++) dot += q[d] * m[(size_t)r * dim + d];
                float s = (float)dot * (qs[0] * rs[r]);
                if (s > best) { best = s; br = r; }
            }
            if (r0[0] != br || s0[0] != best) { printf("FAIL scalar best: rows %d dim %d: %d %g vs %d %g\n", rows, dim, r0[0], s0[0], br, best); fails++; }
        }
        for (int a = 0; a < 2; a++) {
            vk_index *ix = vk_index_create(rows, dim, m, rs, isas[a]);
            if (!ix) { printf("FAIL create isa %d\n", isas[a]); fails++; continue; }
            if (vk_index_isa(ix) != isas[a]) { vk_index_destroy(ix); continue; }   /* CPU lacks it */
            paths_run[a]++;
            memset(r1, 0x55, 4 * nout); memset(s1, 0x55, 4 * nout);
            int c1 = vk_index_search(ix, q, qs, nq, k, r1, s1);
            if (c1 != c0 || !same(r0, s0, r1, s1, nout)) {
                printf("FAIL isa %d: rows %d dim %d nq %d k %d mode %d\n", isas[a], rows, dim, nq, k, mode); fails++;
            }
            for (int i = 0; i < nq && fails < 5; i += 1 + nq / 4) {   /* batch == single */
                int c2 = vk_index_search(ix, q + (size_t)i * dim, qs + i, 1, k, r2, s2);
                if (c2 != c0 || !same(r0 + (size_t)i * k, s0 + (size_t)i * k, r2, s2, (size_t)k)) {
                    printf("FAIL isa %d single query %d: rows %d dim %d k %d\n", isas[a], i, rows, dim, k); fails++;
                }
            }
            vk_index_destroy(ix);
            cases++;
        }
        vk_index_destroy(ref);
        free(m); free(q); free(rs); free(qs); free(r0); free(r1); free(r2); free(s0); free(s1); free(s2);
    }
    /* Invalid arguments. */
    int8_t one = 1; float bad = NAN, good = 1;
    if (vk_index_create(1, 0, &one, &good, 0) || vk_index_create(1, 1, &one, &bad, 0) || vk_index_create(-1, 1, &one, &good, 0)) {
        printf("FAIL invalid arguments accepted by create\n"); fails++;
    }
    vk_index *ix = vk_index_create(1, 1, &one, &good, 0);
    int32_t r; float s;
    if (vk_index_search(ix, &one, &bad, 1, 1, &r, &s) != -1 || vk_index_search(ix, &one, &good, 1, 1, &r, &s) != 1 || r != 0 || s != 1.0f) {
        printf("FAIL search on a 1 x 1 index\n"); fails++;
    }
    vk_index_destroy(ix);
    if (fails) return 1;
    printf("OK: %d random search cases (AVX2 %d, AVX-512 VNNI %d) identical to the scalar path (rows and float scores), batch == single\n",
           cases, paths_run[0], paths_run[1]);
    return 0;
}
