/*
 * arm64 exactness test for vk_conv's NEON paths (smlal: every ARMv8 core; sdot: the dot-product
 * extension, chosen at run time): random shapes — odd sizes, strides 1-2, pads, dilation, groups
 * incl. depthwise, channel counts not multiples of 16 — both zero-point regimes (0 and int8 ones,
 * plus weight zero points far outside int8 so the int32 products wrap), biases that saturate;
 * every available arm64 path against the scalar path through the public vk_ API, bit for bit.
 * Built with the kernels in Sources/CKernels (run.sh does this for conv_ programs).
 */
#include "ckernels.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static uint32_t rng = 12345;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static int ri(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* The accumulator at output (oc, oy, ox) as the scalar path defines it (wrapping int32). */
static int32_t acc_at(const vk_conv_shape *s, const int8_t *x, const int8_t *w, const int32_t *wzp, int oc, int oy, int ox) {
    int cin_pg = s->in_c / s->groups, g = oc / (s->out_c / s->groups), K = cin_pg * s->k_h * s->k_w;
    uint32_t acc = 0;
    for (int ic = 0; ic < cin_pg; ic++)
        for (int ky = 0; ky < s->k_h; ky++)
            for (int kx = 0; kx < s->k_w; kx++) {
                int iy = oy * s->stride_h - s->pad_top + ky * s->dil_h, ix = ox * s->stride_w - s->pad_left + kx * s->dil_w;
                if (iy < 0 || iy >= s->in_h || ix < 0 || ix >= s->in_w) continue;
                acc += (uint32_t)(x[((size_t)(g * cin_pg + ic) * s->in_h + iy) * s->in_w + ix] - s->input_zero_point) *
                       (uint32_t)(w[(size_t)oc * K + (ic * s->k_h + ky) * s->k_w + kx] - wzp[oc]);
            }
    return (int32_t)acc;
}

int main(void) {
    int has_dot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    printf("cpu: dot-product extension %s, vk_isa_best = %d\n", has_dot ? "present" : "absent", vk_isa_best());
    int fails = 0;
    /* dispatch */
    int want_best = has_dot ? vk_isa_neon_dot : vk_isa_neon;
    if (vk_isa_best() == want_best) printf("PASS vk_isa_best is %d (%s)\n", want_best, has_dot ? "sdot" : "smlal");
    else { printf("FAIL vk_isa_best is %d, expected %d\n", vk_isa_best(), want_best); fails++; }

    const int isas[2] = {vk_isa_neon, vk_isa_neon_dot};
    int cases = 0, bad[2] = {0, 0}, wrong_isa[2] = {0, 0}, create_fail = 0, bad_mt = 0, mt_runs = 0, mt_split = 0;
    long outputs = 0, sat_hi = 0, sat_lo = 0, mid = 0;
    for (int t = 0; t < 600; t++) {
        vk_conv_shape s;
        memset(&s, 0, sizeof s);
        int kind = t % 5; /* 0 normal grouped, 1 depthwise, 2 pointwise big K, 3 groups=1 3x3, 4 tiny */
        int groups = kind == 1 ? ri(1, 37) : kind == 0 ? ri(1, 4) : 1;
        int cin_pg = kind == 1 ? 1 : kind == 2 ? ri(17, 300) : ri(1, 21);
        int cout_pg = kind == 1 ? ri(1, 2) : ri(1, 23);
        s.groups = groups; s.in_c = groups * cin_pg; s.out_c = groups * cout_pg;
        s.k_h = kind == 2 ? 1 : ri(1, 5); s.k_w = kind == 2 ? 1 : ri(1, 5);
        if (kind == 4) { s.k_h = ri(1, 7); s.k_w = ri(1, 7); }
        s.stride_h = ri(1, 2); s.stride_w = ri(1, 2);
        if (t % 13 == 6 || t % 9 == 4) { s.stride_h = ri(1, 3); s.stride_w = 3; }   /* beyond 2: the gather branch */
        s.dil_h = ri(0, 3) == 0 ? 2 : 1; s.dil_w = ri(0, 3) == 0 ? ri(2, 3) : 1;
        s.in_h = ri(1, kind == 2 ? 9 : 17); s.in_w = ri(1, kind == 2 ? 11 : kind == 1 ? 40 : 19);
        int pb, pr;
        s.pad_top = ri(0, 2); s.pad_left = ri(0, 2); pb = ri(0, 2); pr = ri(0, 2);
        int eh = s.dil_h * (s.k_h - 1) + 1, ew = s.dil_w * (s.k_w - 1) + 1;
        if (s.in_h + s.pad_top + pb < eh) pb = eh - s.in_h - s.pad_top;
        if (s.in_w + s.pad_left + pr < ew) pr = ew - s.in_w - s.pad_left;
        s.out_h = (s.in_h + s.pad_top + pb - eh) / s.stride_h + 1;
        s.out_w = (s.in_w + s.pad_left + pr - ew) / s.stride_w + 1;
        int regime = t % 4; /* 0: all zero points 0; 1, 2: int8 zero points; 3: wide weight zp */
        int extreme = t % 7 == 3;  /* constant extreme inputs and weights (-128 / 127) */
        int probe = t % 3 == 1;    /* ratio 1 and bias centred on one output: every unit of acc shows */
        int8_t xe = ri(0, 2) ? -128 : 127, we = ri(0, 2) ? -128 : 127;
        s.input_zero_point = regime == 0 ? 0 : (t % 11 == 0 ? (ri(0, 1) ? 127 : -128) : ri(-128, 127));
        if (regime == 3 && t % 8 == 7) s.input_zero_point = ri(0, 1) ? 128 : -129; /* scalar fallback */
        s.output_zero_point = regime == 0 ? 0 : ri(-128, 127);
        s.out_min = -128; s.out_max = 127;
        if (t % 6 == 5) { s.out_min = ri(-128, 0); s.out_max = ri(0, 127); }
        int K = cin_pg * s.k_h * s.k_w;
        size_t nin = (size_t)s.in_c * s.in_h * s.in_w, nw = (size_t)s.out_c * K, nout = (size_t)s.out_c * s.out_h * s.out_w;
        int8_t *x = malloc(nin), *w = malloc(nw), *ref = malloc(nout), *got = malloc(nout);
        int32_t *wzp = malloc(sizeof(int32_t) * s.out_c), *bias = malloc(sizeof(int32_t) * s.out_c);
        float *ratio = malloc(sizeof(float) * s.out_c);
        for (size_t i = 0; i < nin; i++) x[i] = extreme ? xe : (int8_t)rnd();
        for (size_t i = 0; i < nw; i++) w[i] = extreme ? we : (int8_t)rnd();
        for (int o = 0; o < s.out_c; o++) {
            wzp[o] = regime == 0 ? 0 : regime == 3 ? (int32_t)(rnd() % 2000001) - 1000000
                   : (o % 5 == 0 ? (ri(0, 1) ? 127 : -128) : ri(-128, 127));
            if (regime == 3 && o % 3 == 0) wzp[o] = ri(-128, 127);
            int b = ri(0, 9);
            bias[o] = b == 0 ? INT32_MAX - ri(0, 1000) : b == 1 ? INT32_MIN + ri(0, 1000) : b == 2 ? 0 : (int32_t)(rnd() % 400001) - 200000;
            /* scales giving outputs across and beyond the int8 range */
            float sc = 1.0f / (float)(K * 2000 + 1);
            ratio[o] = sc * (float)ri(1, 20000) / 100.0f;
            if (regime == 3) ratio[o] = 1e-9f * (float)ri(1, 1000);
            if (o % 9 == 4) ratio[o] = 0.5f; /* ties: half to even */
            if (probe) {
                ratio[o] = o % 2 ? 1.0f : 0.5f;
                bias[o] = (int32_t)(0u - (uint32_t)acc_at(&s, x, w, wzp, o, s.out_h / 2, s.out_w / 2)) + ri(-20, 20);
            }
        }
        vk_conv *rc = vk_conv_create(&s, w, wzp, bias, ratio, vk_isa_scalar);
        if (!rc) { create_fail++; goto next; }
        vk_conv_run(rc, x, ref);
        for (size_t i = 0; i < nout; i++) { sat_hi += ref[i] == s.out_max; sat_lo += ref[i] == s.out_min; mid += ref[i] > -100 && ref[i] < 100; }
        outputs += (long)nout;
        for (int a = 0; a < 2; a++) {
            vk_conv *c = vk_conv_create(&s, w, wzp, bias, ratio, isas[a]);
            if (!c) { create_fail++; continue; }
            int expect = (isas[a] == vk_isa_neon_dot && !has_dot) ? vk_isa_neon : isas[a];
            if (vk_conv_isa(c) != expect) wrong_isa[a]++;
            memset(got, 0x5A, nout);
            vk_conv_run(c, x, got);
            if (memcmp(got, ref, nout) != 0) {
                if (bad[a] < 5) {
                    size_t i = 0; while (got[i] == ref[i]) i++;
                    printf("  mismatch isa %d case %d: in %dx%dx%d out %dx%dx%d k %dx%d s %d,%d pad %d,%d dil %d,%d g %d zx %d at %zu: %d vs %d\n",
                           isas[a], t, s.in_c, s.in_h, s.in_w, s.out_c, s.out_h, s.out_w, s.k_h, s.k_w, s.stride_h, s.stride_w,
                           s.pad_top, s.pad_left, s.dil_h, s.dil_w, s.groups, s.input_zero_point, i, got[i], ref[i]);
                }
                bad[a]++;
            }
            vk_conv_destroy(c);
            /* threads: the same path split over 2..4 threads must give the same bytes */
            for (int th = 2; th <= 4; th++) {
                vk_conv *cm = vk_conv_create_mt(&s, w, wzp, bias, ratio, isas[a], th);
                if (!cm) { create_fail++; continue; }
                mt_split += vk_conv_threads(cm) > 1;
                memset(got, 0x5A, nout);
                vk_conv_run(cm, x, got);
                mt_runs++;
                if (memcmp(got, ref, nout) != 0) bad_mt++;
                vk_conv_destroy(cm);
            }
        }
        cases++;
        vk_conv_destroy(rc);
    next:
        free(x); free(w); free(ref); free(got); free(wzp); free(bias); free(ratio);
    }
    printf("  %d cases, %ld outputs (%ld at out_max, %ld at out_min, %ld in (-100, 100))\n", cases, outputs, sat_hi, sat_lo, mid);
    if (create_fail) { printf("FAIL vk_conv_create returned NULL %d times\n", create_fail); fails++; }
    if (sat_hi == 0 || sat_lo == 0) { printf("FAIL test does not reach the clamps\n"); fails++; }
    printf("%s smlal conv (isa %d) equals the scalar path bit for bit (%d cases, %d differ, %d wrong isa)\n",
           bad[0] || wrong_isa[0] ? "FAIL" : "PASS", vk_isa_neon, cases, bad[0], wrong_isa[0]);
    fails += bad[0] + wrong_isa[0];
    if (has_dot)
        printf("%s sdot conv (isa %d) equals the scalar path bit for bit (%d cases, %d differ, %d wrong isa)\n",
               bad[1] || wrong_isa[1] ? "FAIL" : "PASS", vk_isa_neon_dot, cases, bad[1], wrong_isa[1]);
    else
        printf("%s sdot conv not selected without the extension: isa %d requests ran smlal (%d cases, %d differ, %d wrong isa)\n",
               bad[1] || wrong_isa[1] ? "FAIL" : "PASS", vk_isa_neon_dot, cases, bad[1], wrong_isa[1]);
    fails += bad[1] + wrong_isa[1];
    printf("%s threaded conv (2-4 threads, both paths) equals the scalar path bit for bit (%d runs, %d split, %d differ)\n",
           bad_mt || mt_split == 0 ? "FAIL" : "PASS", mt_runs, mt_split, bad_mt);
    fails += bad_mt + (mt_split == 0);
    /* x86 requests on arm64 resolve to scalar */
    {
        vk_conv_shape s = {3, 5, 5, 2, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0, -128, 127};
        int8_t w[54] = {0}; int32_t z[2] = {0, 0}, b[2] = {0, 0}; float r[2] = {1, 1};
        vk_conv *c = vk_conv_create(&s, w, z, b, r, vk_isa_avx512vnni);
        int ok = c && vk_conv_isa(c) == vk_isa_scalar;
        vk_conv_destroy(c);
        c = vk_conv_create(&s, w, z, b, r, vk_isa_auto);
        ok = ok && c && vk_conv_isa(c) == want_best;
        vk_conv_destroy(c);
        printf("%s isa resolution on arm64 (avx512vnni request -> scalar, auto -> %d)\n", ok ? "PASS" : "FAIL", want_best);
        fails += !ok;
    }
    return fails != 0;
}
