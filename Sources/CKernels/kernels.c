// Kernel objects, packing, ISA choice and the portable scalar C path (the reference's loops).
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

int vk_isa_best(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni"))
        return vk_isa_avx512vnni;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return vk_isa_avx2;
#endif
#if defined(__aarch64__)
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) return vk_isa_neon_dot;
    return vk_isa_neon;   /* Advanced SIMD is mandatory in ARMv8-A */
#endif
    return vk_isa_scalar;
}

int vk_resolve_isa(int isa) {
    int best = vk_isa_best();
#if defined(__aarch64__)
    /* x86 paths (2, 3) do not exist here: the best arm64 path below them is scalar. */
    if (isa == vk_isa_avx2 || isa == vk_isa_avx512vnni) return vk_isa_scalar;
#endif
    return (isa <= 0 || isa > best) ? best : isa;
}

static void *dup(const void *p, size_t n) {
    void *q = malloc(n ? n : 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

vk_conv *vk_conv_create(const vk_conv_shape *shape, const int8_t *weights, const int32_t *wzp,
                        const int32_t *bias, const float *ratio, int isa) {
    vk_conv *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->s = *shape;
    c->isa = vk_resolve_isa(isa);
    c->cin_pg = shape->in_c / shape->groups;
    c->cout_pg = shape->out_c / shape->groups;
    c->K = c->cin_pg * shape->k_h * shape->k_w;
    c->P = shape->out_h * shape->out_w;
    int oc_n = shape->out_c, K = c->K;
    c->w = dup(weights, (size_t)oc_n * K);
    c->wzp = dup(wzp, sizeof(int32_t) * oc_n);
    c->bias = dup(bias, sizeof(int32_t) * oc_n);
    c->ratio = dup(ratio, sizeof(float) * oc_n);
    if (!c->w || !c->wzp || !c->bias || !c->ratio) goto fail;
    for (int o = 0; o < oc_n; o++) if (wzp[o] != 0) c->need_zw = 1;
    {
        // The accumulator is a sum of K products of (x - zx) and (w - zw), each in [-255, 255].
        int64_t bound = (int64_t)K * 255 * 255;
        c->nosat = bound < INT32_MAX;
        for (int o = 0; o < oc_n && c->nosat; o++)
            if (bound + (bias[o] < 0 ? -(int64_t)bias[o] : (int64_t)bias[o]) > INT32_MAX) c->nosat = 0;
    }
    uint32_t zxu = (uint32_t)(shape->input_zero_point + 128);
    if (c->isa == vk_isa_avx512vnni && c->cin_pg == 1) {
        c->wdw = malloc(sizeof(int32_t) * (size_t)oc_n * K);
        if (!c->wdw) goto fail;
        for (int o = 0; o < oc_n; o++)
            for (int k = 0; k < K; k++) c->wdw[(size_t)o * K + k] = weights[(size_t)o * K + k] - wzp[o];
#if defined(__x86_64__)
        if (vk_dw_vbmi_applies(c)) {
            int kH = shape->k_h, kW = shape->k_w, J = (kW + 3) / 4;
            c->dwj = J;
            c->wdw4 = calloc((size_t)oc_n * kH * J, sizeof(int32_t));
            c->dwcorr = malloc(sizeof(int32_t) * oc_n);
            if (!c->wdw4 || !c->dwcorr) goto fail;
            for (int o = 0; o < oc_n; o++) {
                uint32_t sum = 0;
                for (int ky = 0; ky < kH; ky++)
                    for (int kx = 0; kx < kW; kx++) {
                        int8_t w = weights[(size_t)o * K + ky * kW + kx];
                        ((int8_t *)(c->wdw4 + ((size_t)o * kH + ky) * J))[kx] = w;
                        sum += (uint32_t)(int32_t)w;
                    }
                c->dwcorr[o] = (int32_t)(0u - zxu * sum);
            }
        }
#endif
    } else if (c->isa == vk_isa_avx512vnni) {
        c->K4 = (K + 3) / 4;
        c->wq4 = calloc((size_t)oc_n * c->K4, sizeof(int32_t));
        c->corr = malloc(sizeof(int32_t) * oc_n);
        if (!c->wq4 || !c->corr) goto fail;
        for (int o = 0; o < oc_n; o++) {
            uint8_t *dst = (uint8_t *)(c->wq4 + (size_t)o * c->K4);
            uint32_t sum = 0;
            for (int k = 0; k < K; k++) { dst[k] = (uint8_t)weights[(size_t)o * K + k]; sum += (uint32_t)(int32_t)weights[(size_t)o * K + k]; }
            c->corr[o] = (int32_t)((uint32_t)K * zxu * (uint32_t)wzp[o] - zxu * sum);
        }
#if defined(__x86_64__)
        vk_conv_small_prepare(c);  /* small outputs: vectorised over output channels (x86_small.c) */
        if (!c->sm_mem && !vk_conv_implicit_prepare(c))  /* implicit GEMM, no im2col (x86_implicit.c) */
            vk_conv_firstconv_prepare(c);                   /* few input channels (x86_firstconv.c) */
#endif
    } else if (c->isa == vk_isa_avx2) {
        c->K2 = (K + 1) / 2;
        c->wq2 = calloc((size_t)oc_n * c->K2, sizeof(int32_t));
        if (!c->wq2) goto fail;
        for (int o = 0; o < oc_n; o++) {
            int16_t *dst = (int16_t *)(c->wq2 + (size_t)o * c->K2);
            for (int k = 0; k < K; k++) dst[k] = (int16_t)(weights[(size_t)o * K + k] - wzp[o]);
        }
    }
#if defined(__aarch64__)
    else if (c->isa == vk_isa_neon || c->isa == vk_isa_neon_dot) {
        int G = shape->groups, cpg = c->cout_pg;
        c->K16 = (K + 15) / 16 * 16;
        c->cout_pg4 = (cpg + 3) / 4 * 4;
        c->wn = calloc((size_t)G * c->cout_pg4 * c->K16, 1);
        c->ncorr = malloc(sizeof(int32_t) * (oc_n ? oc_n : 1));
        if (!c->wn || !c->ncorr) goto fail;
        uint32_t zx = (uint32_t)shape->input_zero_point;
        for (int o = 0; o < oc_n; o++) {
            int g = o / cpg, j = o % cpg;
            int8_t *dst = c->wn + ((size_t)g * c->cout_pg4 + j) * c->K16;
            uint32_t sum = 0;
            for (int k = 0; k < K; k++) { dst[k] = weights[(size_t)o * K + k]; sum += (uint32_t)(int32_t)weights[(size_t)o * K + k]; }
            c->ncorr[o] = (int32_t)((uint32_t)K * zx * (uint32_t)wzp[o] - zx * sum);
        }
    }
#endif
    return c;
fail: /* out of memory while packing: the caller falls back to the reference kernel */
    vk_conv_destroy(c);
    return NULL;
}

int vk_conv_isa(const vk_conv *c) { return c->isa; }

void vk_conv_destroy(vk_conv *c) {
    if (!c) return;
    vk_conv_destroy_subs(c);
    free(c->w); free(c->wzp); free(c->bias); free(c->ratio);
    free(c->wq4); free(c->corr); free(c->wq2); free(c->wdw); free(c->wdw4); free(c->dwcorr);
    free(c->sm_mem);
    free(c->im_mem);
    free(c->f1_mem);
#if defined(__aarch64__)
    free(c->wn); free(c->ncorr);
#endif
    free(c);
}

void vk_conv_run_scalar(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    int inH = s->in_h, inW = s->in_w, outH = s->out_h, outW = s->out_w, kH = s->k_h, kW = s->k_w;
    int32_t zi = s->input_zero_point;
    for (int oc = 0; oc < s->out_c; oc++) {
        int g = oc / c->cout_pg;
        int32_t zw = c->wzp[oc];
        const int8_t *wo = c->w + (size_t)oc * c->K;
        for (int oy = 0; oy < outH; oy++) {
            int y0 = oy * s->stride_h - s->pad_top;
            for (int ox = 0; ox < outW; ox++) {
                int x0 = ox * s->stride_w - s->pad_left;
                uint32_t acc = 0;
                for (int ic = 0; ic < c->cin_pg; ic++) {
                    const int8_t *plane = input + (size_t)(g * c->cin_pg + ic) * inH * inW;
                    const int8_t *wk = wo + ic * kH * kW;
                    for (int ky = 0; ky < kH; ky++) {
                        int iy = y0 + ky * s->dil_h;
                        if (iy < 0 || iy >= inH) continue;
                        for (int kx = 0; kx < kW; kx++) {
                            int ix = x0 + kx * s->dil_w;
                            if (ix < 0 || ix >= inW) continue;
                            acc += (uint32_t)(plane[iy * inW + ix] - zi) * (uint32_t)(wk[ky * kW + kx] - zw);
                        }
                    }
                }
                output[((size_t)oc * outH + oy) * outW + ox] =
                    vk_finish((int32_t)acc, c->bias[oc], c->ratio[oc], s->output_zero_point, s->out_min, s->out_max);
            }
        }
    }
}

void vk_conv_run(const vk_conv *c, const int8_t *input, int8_t *output) {
    if (c->nsub) { vk_conv_run_mt(c, input, output); return; }
#if defined(__x86_64__)
    if (c->isa == vk_isa_avx512vnni) { vk_conv_run_vnni(c, input, output); return; }
    if (c->isa == vk_isa_avx2) { vk_conv_run_avx2(c, input, output); return; }
#endif
#if defined(__aarch64__)
    if (c->isa == vk_isa_neon_dot) { vk_conv_run_neon_dot(c, input, output); return; }
    if (c->isa == vk_isa_neon) { vk_conv_run_neon(c, input, output); return; }
#endif
    vk_conv_run_scalar(c, input, output);
}

vk_fc *vk_fc_create(int rows, int in_features, int out_features, int32_t input_zero_point,
                    int32_t output_zero_point, int32_t out_min, int32_t out_max,
                    const int8_t *weights, const int32_t *wzp, const int32_t *bias,
                    const float *ratio, int isa) {
    vk_fc *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    int K = in_features, N = out_features;
    f->rows = rows; f->K = K; f->N = N; f->isa = vk_resolve_isa(isa);
    f->zi = input_zero_point; f->zy = output_zero_point; f->lo = out_min; f->hi = out_max;
    f->w = dup(weights, (size_t)N * K);
    f->wzp = dup(wzp, sizeof(int32_t) * N);
    f->bias = dup(bias, sizeof(int32_t) * N);
    f->ratio = dup(ratio, sizeof(float) * N);
    if (!f->w || !f->wzp || !f->bias || !f->ratio) goto fail;
    for (int n = 0; n < N; n++) if (wzp[n] != 0) f->need_zw = 1;
    f->Kp = (K + 63) / 64 * 64;
    uint32_t zxu = (uint32_t)(input_zero_point + 128);
    if (f->isa == vk_isa_avx512vnni) {
        f->w8 = calloc((size_t)N * f->Kp, 1);
        f->corr = malloc(sizeof(int32_t) * N);
        if (!f->w8 || !f->corr) goto fail;
        for (int n = 0; n < N; n++) {
            uint32_t sum = 0;
            for (int k = 0; k < K; k++) { f->w8[(size_t)n * f->Kp + k] = weights[(size_t)n * K + k]; sum += (uint32_t)(int32_t)weights[(size_t)n * K + k]; }
            f->corr[n] = (int32_t)((uint32_t)K * zxu * (uint32_t)wzp[n] - zxu * sum);
        }
    } else if (f->isa == vk_isa_avx2) {
        f->w16 = calloc((size_t)N * f->Kp, sizeof(int16_t));
        if (!f->w16) goto fail;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) f->w16[(size_t)n * f->Kp + k] = (int16_t)(weights[(size_t)n * K + k] - wzp[n]);
    }
    return f;
fail: /* out of memory while packing: the caller falls back to the reference kernel */
    vk_fc_destroy(f);
    return NULL;
}

int vk_fc_isa(const vk_fc *f) { return f->isa; }

void vk_fc_destroy(vk_fc *f) {
    if (!f) return;
    vk_fc_destroy_subs(f);
    free(f->w); free(f->wzp); free(f->bias); free(f->ratio); free(f->w8); free(f->corr); free(f->w16);
    free(f);
}

void vk_fc_run_scalar(const vk_fc *f, const int8_t *input, int8_t *output) {
    for (int r = 0; r < f->rows; r++) {
        const int8_t *x = input + (size_t)r * f->K;
        for (int n = 0; n < f->N; n++) {
            uint32_t acc = 0;
            const int8_t *w = f->w + (size_t)n * f->K;
            for (int k = 0; k < f->K; k++) acc += (uint32_t)(x[k] - f->zi) * (uint32_t)(w[k] - f->wzp[n]);
            output[(size_t)r * f->N + n] = vk_finish((int32_t)acc, f->bias[n], f->ratio[n], f->zy, f->lo, f->hi);
        }
    }
}

void vk_fc_run(const vk_fc *f, const int8_t *input, int8_t *output) {
    if (f->nsub) { vk_fc_run_mt(f, input, output); return; }
#if defined(__x86_64__)
    if (f->isa == vk_isa_avx512vnni) { vk_fc_run_vnni(f, input, output); return; }
    if (f->isa == vk_isa_avx2) { vk_fc_run_avx2(f, input, output); return; }
#endif
    vk_fc_run_scalar(f, input, output);
}

int vk_add(const vk_add_params *p, int64_t count, const int8_t *a, const int8_t *b, int8_t *out, int isa) {
    isa = vk_resolve_isa(isa);
#if defined(__x86_64__)
    if (isa == vk_isa_avx512vnni) { vk_add_avx512(p, count, a, b, out); return 1; }
    if (isa == vk_isa_avx2) { vk_add_avx2(p, count, a, b, out); return 1; }
#endif
    (void)p; (void)count; (void)a; (void)b; (void)out;
    return 0;
}

int vk_pool(const vk_pool_params *p, const int8_t *input, int8_t *output, int isa) {
#if defined(__x86_64__)
    if (vk_resolve_isa(isa) == vk_isa_avx512vnni) return vk_pool_avx512(p, input, output);
#endif
    (void)p; (void)input; (void)output; (void)isa;
    return 0;
}


void vk_quantize(const float *x, int8_t *y, int64_t count, float scale, int32_t zero_point, int isa) {
    isa = vk_resolve_isa(isa);
#if defined(__x86_64__)
    if (isa == vk_isa_avx512vnni) { vk_quantize_avx512(x, y, count, scale, zero_point); return; }
    if (isa == vk_isa_avx2) { vk_quantize_avx2(x, y, count, scale, zero_point); return; }
#endif
#if defined(__aarch64__)
    if (isa == vk_isa_neon || isa == vk_isa_neon_dot) { vk_quantize_neon(x, y, count, scale, zero_point); return; }
#endif
    for (int64_t i = 0; i < count; i++) y[i] = vk_quantize1(x[i], scale, zero_point);
}

void vk_dequantize(const int8_t *q, float *y, int64_t count, float scale, int32_t zero_point, int isa) {
    isa = vk_resolve_isa(isa);
#if defined(__x86_64__)
    if (isa == vk_isa_avx512vnni) { vk_dequantize_avx512(q, y, count, scale, zero_point); return; }
    if (isa == vk_isa_avx2) { vk_dequantize_avx2(q, y, count, scale, zero_point); return; }
#endif
#if defined(__aarch64__)
    if (isa == vk_isa_neon || isa == vk_isa_neon_dot) { vk_dequantize_neon(q, y, count, scale, zero_point); return; }
#endif
    for (int64_t i = 0; i < count; i++) y[i] = (float)((int32_t)q[i] - zero_point) * scale;
}
