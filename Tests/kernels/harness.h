// Shared pieces of the kernel harnesses (Tests/kernels/*_test.c): a small PRNG, random
// quantization parameters, random problems (weights, input, zero points, biases, ratios) and a
// median timer for the --bench modes. Header-only: each harness is one translation unit.
#ifndef VIGIL_KERNEL_HARNESS_H
#define VIGIL_KERNEL_HARNESS_H
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;  // each test may reseed it
static __attribute__((unused)) uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 16); }
static __attribute__((unused)) int rr(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static __attribute__((unused)) float rratio(void) {  // [1e-4, 1e-1), roughly log-uniform
    static const float dec[3] = {1e-4f, 1e-3f, 1e-2f};
    return dec[rnd() % 3] * (1.0f + (float)(rnd() % 9000) / 1000.0f);
}
static __attribute__((unused)) int pick_zp(void) {
    switch (rnd() % 5) { case 0: return -128; case 1: return 127; case 2: return 0; default: return rr(-128, 127); }
}
static __attribute__((unused)) void print_shape(const vk_conv_shape *s, int need_zw) {
    printf("in_c=%d in=%dx%d out_c=%d out=%dx%d k=%dx%d stride=%dx%d pad=%d,%d dil=%dx%d zx=%d zy=%d lo=%d hi=%d need_zw=%d\n",
           s->in_c, s->in_h, s->in_w, s->out_c, s->out_h, s->out_w, s->k_h, s->k_w, s->stride_h, s->stride_w,
           s->pad_top, s->pad_left, s->dil_h, s->dil_w, s->input_zero_point, s->output_zero_point, s->out_min, s->out_max, need_zw);
}

typedef struct { vk_conv_shape s; int8_t *w, *in; int32_t *wzp, *bias; float *ratio; } problem;

static __attribute__((unused)) void fill(problem *pr, int zw_nonzero, int big_bias) {
    const vk_conv_shape *s = &pr->s;
    size_t K = (size_t)s->in_c * s->k_h * s->k_w, nin = (size_t)s->in_c * s->in_h * s->in_w;
    pr->w = malloc((size_t)s->out_c * K); pr->in = malloc(nin);
    pr->wzp = malloc(4 * (size_t)s->out_c); pr->bias = malloc(4 * (size_t)s->out_c); pr->ratio = malloc(4 * (size_t)s->out_c);
    int wmode = rnd() % 4, imode = rnd() % 4;  // 3: extremes only
    for (size_t i = 0; i < (size_t)s->out_c * K; i++) pr->w[i] = wmode == 3 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
    for (size_t i = 0; i < nin; i++) pr->in[i] = imode == 3 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
    for (int o = 0; o < s->out_c; o++) {
        pr->wzp[o] = zw_nonzero && rnd() % 2 ? pick_zp() : 0;
        pr->bias[o] = big_bias ? (rnd() % 2 ? INT32_MAX - rr(0, 100000) : INT32_MIN + rr(0, 100000)) : rr(-300000, 300000);
        pr->ratio[o] = rratio();
    }
}
static __attribute__((unused)) void unfill(problem *pr) { free(pr->w); free(pr->in); free(pr->wzp); free(pr->bias); free(pr->ratio); }

static __attribute__((unused)) double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static __attribute__((unused)) int cmpd(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
static __attribute__((unused)) double median_time(void (*fn)(const vk_conv *, const int8_t *, int8_t *), const vk_conv *c, const int8_t *in, int8_t *out, int runs) {
    double t[1000];
    for (int i = 0; i < 10; i++) fn(c, in, out);
    for (int i = 0; i < runs; i++) { double a = now(); fn(c, in, out); t[i] = now() - a; }
    qsort(t, runs, sizeof(double), cmpd);
    return t[runs / 2];
}

#endif
