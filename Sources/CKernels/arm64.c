// arm64 NEON conv paths: smlal (vmull_s8 + vpadal, every ARMv8 core) and sdot (vdotq_s32, the
// dot-product extension, chosen at run time by vk_isa_best from AT_HWCAP).
//
// Exactness: the scalar path computes, wrapping mod 2^32, acc = sum over the valid taps of
// (x - zx)(w - zw). Here each output pixel's patch is gathered into an int8 column of K16 bytes
// (taps outside the image hold zx itself, so they contribute (zx - zx)(w - zw) = 0; the tail K..K16
// holds 0 against 0 weights), and with c = column, over all K taps:
//   acc = sum c*w - zw * sum c - zx * sum w + K*zx*zw           (an identity in Z, so also mod 2^32)
// sum c*w: int8 x int8 products (|p| <= 16384, exact in int16) widened into int32 lanes (smlal) or
// sdot; both wrap mod 2^32 like the scalar uint32 accumulator. ncorr[oc] = K*zx*zw - zx*sum w is
// packed at create time; sum c per pixel at gather time. Needs zx in int8 range (else the scalar
// path runs); zw may be any int32. Requantization is vk_finish itself, so bit-identical.
#if defined(__aarch64__)
#include "internal.h"
#include <arm_neon.h>
#include <stdlib.h>
#include <string.h>

#define VK_NEON_TILE 32   /* output pixels gathered per column tile */

/* Gathers pixels [p0, p0+n) of group g into col[n][K16] (tail already 0) and their sums. */
static void gather(const vk_conv *c, const int8_t *input, int g, int p0, int n, int8_t *col, uint32_t *sumc) {
    const vk_conv_shape *s = &c->s;
    int inH = s->in_h, inW = s->in_w, outW = s->out_w, kH = s->k_h, kW = s->k_w;
    int8_t zx = (int8_t)s->input_zero_point;
    for (int p = 0; p < n; p++) {
        int oy = (p0 + p) / outW, ox = (p0 + p) % outW;
        int y0 = oy * s->stride_h - s->pad_top, x0 = ox * s->stride_w - s->pad_left;
        int xfull = x0 >= 0 && x0 + (kW - 1) * s->dil_w < inW;
        int8_t *dst = col + (size_t)p * c->K16;
        for (int ic = 0; ic < c->cin_pg; ic++) {
            const int8_t *plane = input + (size_t)(g * c->cin_pg + ic) * inH * inW;
            for (int ky = 0; ky < kH; ky++, dst += kW) {
                int iy = y0 + ky * s->dil_h;
                if (iy < 0 || iy >= inH) { memset(dst, zx, (size_t)kW); continue; }
                const int8_t *row = plane + (size_t)iy * inW;
                if (xfull && s->dil_w == 1) { memcpy(dst, row + x0, (size_t)kW); continue; }
                for (int kx = 0; kx < kW; kx++) {
                    int ix = x0 + kx * s->dil_w;
                    dst[kx] = (ix < 0 || ix >= inW) ? zx : row[ix];
                }
            }
        }
        /* sum of the column (tail is 0) */
        const int8_t *cp = col + (size_t)p * c->K16;
        int32x4_t acc = vdupq_n_s32(0);
        for (int k = 0; k < c->K16; k += 16) acc = vpadalq_s16(acc, vpaddlq_s8(vld1q_s8(cp + k)));
        sumc[p] = (uint32_t)vaddvq_s32(acc);
    }
}

/* Four output channels (weight rows w, w+K16, ...) against one column: [d0, d1, d2, d3]. */
static inline int32x4_t dot4_smlal(const int8_t *x, const int8_t *w, int K16) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    const int8_t *w1 = w + K16, *w2 = w1 + K16, *w3 = w2 + K16;
    for (int k = 0; k < K16; k += 16) {
        int8x16_t xv = vld1q_s8(x + k);
        int8x8_t xl = vget_low_s8(xv);
        int8x16_t v0 = vld1q_s8(w + k), v1 = vld1q_s8(w1 + k), v2 = vld1q_s8(w2 + k), v3 = vld1q_s8(w3 + k);
        a0 = vpadalq_s16(a0, vmull_s8(xl, vget_low_s8(v0))); a0 = vpadalq_s16(a0, vmull_high_s8(xv, v0));
        a1 = vpadalq_s16(a1, vmull_s8(xl, vget_low_s8(v1))); a1 = vpadalq_s16(a1, vmull_high_s8(xv, v1));
        a2 = vpadalq_s16(a2, vmull_s8(xl, vget_low_s8(v2))); a2 = vpadalq_s16(a2, vmull_high_s8(xv, v2));
        a3 = vpadalq_s16(a3, vmull_s8(xl, vget_low_s8(v3))); a3 = vpadalq_s16(a3, vmull_high_s8(xv, v3));
    }
    return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
}

__attribute__((target("dotprod")))
static inline int32x4_t dot4_sdot(const int8_t *x, const int8_t *w, int K16) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    const int8_t *w1 = w + K16, *w2 = w1 + K16, *w3 = w2 + K16;
    for (int k = 0; k < K16; k += 16) {
        int8x16_t xv = vld1q_s8(x + k);
        a0 = vdotq_s32(a0, xv, vld1q_s8(w + k));
        a1 = vdotq_s32(a1, xv, vld1q_s8(w1 + k));
        a2 = vdotq_s32(a2, xv, vld1q_s8(w2 + k));
        a3 = vdotq_s32(a3, xv, vld1q_s8(w3 + k));
    }
    return vpaddq_s32(vpaddq_s32(a0, a1), vpaddq_s32(a2, a3));
}

/* Depthwise (in_c/groups == 1): vectorised across output pixels of a row. The input channel is
 * copied once into a zero-bordered int16 plane of x - zx (|x - zx| <= 255), each tap's w - zw is an
 * int16 (checked; otherwise returns 0 and the generic path runs), and vmlal_n_s16 forms the exact
 * int16 x int16 -> int32 products, accumulated wrapping like the scalar path. Returns 1 if it ran. */
static int conv_dw_neon(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    if (c->cin_pg != 1) return 0;
    int kH = s->k_h, kW = s->k_w, KK = kH * kW, sh = s->stride_h, sw = s->stride_w;
    int inH = s->in_h, inW = s->in_w, outH = s->out_h, outW = s->out_w, cpg = c->cout_pg;
    int32_t zx = s->input_zero_point;
    if (KK <= 0 || KK > 1024 || outH <= 0 || outW <= 0) return 0;
    for (int o = 0; o < s->out_c; o++)
        for (int k = 0; k < KK; k++) {
            int64_t d = (int64_t)c->w[(size_t)o * KK + k] - c->wzp[o];
            if (d < -32768 || d > 32767) return 0;
        }
    int Hp = (outH - 1) * sh + (kH - 1) * s->dil_h + 1, Wp = (outW - 1) * sw + (kW - 1) * s->dil_w + 1;
    size_t np = (size_t)Hp * Wp + 32;  /* slack: vld2q_s16 reads one element past the last used */
    int16_t *pp = calloc(np, sizeof(int16_t));
    if (!pp) return 0;
    int16_t wd[1024], gat[8];
    int32_t tmp[8];
    for (int ch = 0; ch < s->in_c; ch++) {
        const int8_t *plane = input + (size_t)ch * inH * inW;
        for (int yy = 0; yy < Hp; yy++) {
            int iy = yy - s->pad_top;
            int16_t *dst = pp + (size_t)yy * Wp;
            for (int xx = 0; xx < Wp; xx++) {
                int ix = xx - s->pad_left;
                dst[xx] = (iy < 0 || iy >= inH || ix < 0 || ix >= inW) ? 0 : (int16_t)(plane[(size_t)iy * inW + ix] - zx);
            }
        }
        for (int j = 0; j < cpg; j++) {
            int oc = ch * cpg + j;
            for (int k = 0; k < KK; k++) wd[k] = (int16_t)(c->w[(size_t)oc * KK + k] - c->wzp[oc]);
            int32_t bias = c->bias[oc]; float ratio = c->ratio[oc];
            int8_t *out = output + (size_t)oc * outH * outW;
            for (int oy = 0; oy < outH; oy++) {
                int ox = 0;
                for (; ox + 8 <= outW; ox += 8) {
                    int32x4_t lo = vdupq_n_s32(0), hi = lo;
                    for (int ky = 0; ky < kH; ky++) {
                        const int16_t *row = pp + (size_t)(oy * sh + ky * s->dil_h) * Wp + (size_t)ox * sw;
                        for (int kx = 0; kx < kW; kx++) {
                            const int16_t *src = row + kx * s->dil_w;
                            int16x8_t v;
                            if (sw == 1) v = vld1q_s16(src);
                            else if (sw == 2) v = vld2q_s16(src).val[0];
                            else { for (int i = 0; i < 8; i++) gat[i] = src[i * sw]; v = vld1q_s16(gat); }
                            int16_t wv = wd[ky * kW + kx];
                            lo = vmlal_n_s16(lo, vget_low_s16(v), wv);
                            hi = vmlal_high_n_s16(hi, v, wv);
                        }
                    }
                    vst1q_s32(tmp, lo); vst1q_s32(tmp + 4, hi);
                    for (int i = 0; i < 8; i++)
                        out[(size_t)oy * outW + ox + i] = vk_finish(tmp[i], bias, ratio, s->output_zero_point, s->out_min, s->out_max);
                }
                for (; ox < outW; ox++) {
                    uint32_t acc = 0;
                    for (int ky = 0; ky < kH; ky++)
                        for (int kx = 0; kx < kW; kx++)
                            acc += (uint32_t)((int32_t)pp[(size_t)(oy * sh + ky * s->dil_h) * Wp + (size_t)ox * sw + kx * s->dil_w] * wd[ky * kW + kx]);
                    out[(size_t)oy * outW + ox] = vk_finish((int32_t)acc, bias, ratio, s->output_zero_point, s->out_min, s->out_max);
                }
            }
        }
    }
    free(pp);
    return 1;
}

#define VK_DEFINE_NEON_RUN(NAME, ATTR, DOT4)                                                        \
ATTR void NAME(const vk_conv *c, const int8_t *input, int8_t *output) {                             \
    const vk_conv_shape *s = &c->s;                                                                 \
    int32_t zi = s->input_zero_point;                                                               \
    if (zi < -128 || zi > 127 || c->K <= 0 || !c->wn) { vk_conv_run_scalar(c, input, output); return; } \
    if (conv_dw_neon(c, input, output)) return;                                                     \
    int K16 = c->K16, P = c->P, cpg = c->cout_pg, T = VK_NEON_TILE;                                 \
    int8_t *col = calloc((size_t)T * K16, 1);                                                       \
    if (!col) { vk_conv_run_scalar(c, input, output); return; }                                     \
    uint32_t sumc[VK_NEON_TILE];                                                                    \
    int32_t tmp[4];                                                                                 \
    for (int g = 0; g < s->groups; g++) {                                                           \
        for (int p0 = 0; p0 < P; p0 += T) {                                                         \
            int n = P - p0 < T ? P - p0 : T;                                                        \
            gather(c, input, g, p0, n, col, sumc);                                                  \
            for (int ob = 0; ob < cpg; ob += 4) {                                                   \
                int nb = cpg - ob < 4 ? cpg - ob : 4, oc0 = g * cpg + ob;                           \
                const int8_t *w = c->wn + ((size_t)g * c->cout_pg4 + ob) * K16;                     \
                int32_t zwa[4] = {0, 0, 0, 0}, cra[4] = {0, 0, 0, 0};                               \
                for (int j = 0; j < nb; j++) { zwa[j] = c->wzp[oc0 + j]; cra[j] = c->ncorr[oc0 + j]; } \
                int32x4_t zwv = vld1q_s32(zwa), crv = vld1q_s32(cra);                               \
                for (int p = 0; p < n; p++) {                                                       \
                    int32x4_t d = DOT4(col + (size_t)p * K16, w, K16);                              \
                    d = vmlsq_s32(d, zwv, vdupq_n_s32((int32_t)sumc[p]));                           \
                    vst1q_s32(tmp, vaddq_s32(d, crv));                                              \
                    for (int j = 0; j < nb; j++)                                                    \
                        output[(size_t)(oc0 + j) * P + p0 + p] =                                    \
                            vk_finish(tmp[j], c->bias[oc0 + j], c->ratio[oc0 + j],                  \
                                      s->output_zero_point, s->out_min, s->out_max);                \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
    free(col);                                                                                      \
}

VK_DEFINE_NEON_RUN(vk_conv_run_neon, , dot4_smlal)
VK_DEFINE_NEON_RUN(vk_conv_run_neon_dot, __attribute__((target("dotprod"))), dot4_sdot)

// MARK: QuantizeLinear / DequantizeLinear

/// vdivq_f32 (IEEE), vrndnq_f32 (nearest, ties to even), clamp (NaN kept by vmax/vmin, then
/// zeroed by the x == x mask), + zp: the reference's bytes.
void vk_quantize_neon(const float *x, int8_t *y, int64_t n, float scale, int32_t zp) {
    const float32x4_t vs = vdupq_n_f32(scale), lo = vdupq_n_f32((float)(-128 - zp)), hi = vdupq_n_f32((float)(127 - zp));
    const int32x4_t vz = vdupq_n_s32(zp);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vdivq_f32(vld1q_f32(x + i), vs);
        uint32x4_t ok = vceqq_f32(v, v);
        v = vminq_f32(vmaxq_f32(vrndnq_f32(v), lo), hi);
        v = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), ok));
        int32x4_t q = vaddq_s32(vcvtq_s32_f32(v), vz);
        int32_t t[4];
        vst1q_s32(t, q);
        for (int j = 0; j < 4; j++) y[i + j] = (int8_t)t[j];
    }
    for (; i < n; i++) y[i] = vk_quantize1(x[i], scale, zp);
}

void vk_dequantize_neon(const int8_t *q, float *y, int64_t n, float scale, int32_t zp) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)q[i] - zp) * scale;
}
#else
typedef int vk_arm64_paths_absent; /* keeps the translation unit non-empty off arm64 (-pedantic) */
#endif
