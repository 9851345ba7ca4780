// First-convolution AVX-512 VNNI + VBMI kernel ("column-window planes"; groups == 1, few input
// channels, zero weight zero points, P > VK_SMALL_MAX_P). Sibling of x86_implicit.c, which packs
// 4 input CHANNELS per dword and so wastes lanes when in_c is 3; here a dword holds 4 consecutive
// KERNEL COLUMNS of one channel:
//   input, converted once per run: for channel ch, tap group j (kx = 4j..4j+3) and row phase
//     py = padded row % stride_h, a plane of Hq rows x out_w dwords; the dword of (row r, ox) is
//     the u8 (x + 128) bytes at padded row r * sh + py, columns ox * sw + (4j + t) * dw, t = 0..3
//     (borders zx + 128, the value the correction cancels; taps t with 4j + t >= k_w have weight
//     0, any byte). Built row by row: one 64-byte load and one vpermb per 16 output columns.
//   K-step k = (ch, ky, j); for pixel p = oy * out_w + ox its dword sits at
//     plane(ch, j, (ky * dh) % sh) + ((oy + (ky * dh) / sh) * out_w + ox): contiguous in p (plane
//     width = out_w exactly, no garbage columns), so 16 pixels are one 64-byte load.
//   weights, packed once: [oc / 8][k][8 oc] dwords of 4 s8 (0 past k_w); micro-kernel NV (<= 3)
//     pixel vectors x NO (<= 8) output channels of vpdpbusd accumulators, as im_mk / mk_vnni.
// Correction: acc = sum xu * w - zxu * sum(w) (wrapping, exact mod 2^32 like the reference); the
// bias folded into it when c->nosat (requant512_nosat), else requant512.
#include "internal.h"
#if defined(__x86_64__)
#include "x86_common.h"
#include <string.h>
#ifndef VK_SMALL_MAX_P
#define VK_SMALL_MAX_P 144
#endif

#define VBMI_F1 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

int vk_firstconv_allow_all = 0;  // test hook: 1 = ignore the measured rule (not the hard limits)

int vk_conv_firstconv_prepare(struct vk_conv *c) {
    const vk_conv_shape *s = &c->s;
    if (c->f1_mem) return 1;
    if (c->isa != vk_isa_avx512vnni || s->groups != 1 || c->nsub || c->need_zw || c->wdw || c->sm_mem || c->im_mem) return 0;
    if (c->P <= VK_SMALL_MAX_P || s->in_c < 1 || s->in_c > 8 || s->out_c < 1) return 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vbmi")) return 0;
    int kH = s->k_h, kW = s->k_w, sh = s->stride_h, sw = s->stride_w, dh = s->dil_h, dw = s->dil_w;
    if (15 * sw + 3 * dw > 63) return 0;   // 16 outputs' 4-tap windows within one 64-byte load
    int J = (kW + 3) / 4, KS = s->in_c * kH * J, OCB = (s->out_c + 7) / 8;
    // Measured rule (Tests/kernels/firstconv_test.c --bench all, Zen 4, in_c 2..8, 32 oc, 128x128):
    // the work is KS dword steps per pixel vs im2col's K4 (plus its copies). Wins at ratios
    // 1.12-1.14 (7x7: 1.07-1.18x, dlib conv_1 1.18x); losses at 1.20-1.29 (3x3: 0.87-0.91x,
    // BlazeFace conv2d 0.88x) and 1.54-1.58 (5x5: 0.80-0.84x). Called only where the implicit
    // kernel declined (it wins where in_c % 4 == 0).
    double ratio = (double)KS / c->K4;
    if (!vk_firstconv_allow_all && ratio > 1.16) return 0;
    int PH = (s->out_h - 1) * sh + (kH - 1) * dh + 1;
    if (PH < s->pad_top + s->in_h) PH = s->pad_top + s->in_h;
    int Hq = (PH + sh - 1) / sh;
    if ((double)s->in_c * J * sh * Hq * s->out_w > (double)INT32_MAX / 8) return 0;
    size_t wbytes = (size_t)OCB * KS * 32, vbytes = ((sizeof(int32_t) * (size_t)OCB * 8) + 63) & ~(size_t)63;
    size_t tbytes = ((sizeof(int32_t) * (size_t)KS) + 63) & ~(size_t)63;
    size_t total = wbytes + 3 * vbytes + tbytes;
    uint8_t *mem = vk_scratch(total);
    if (!mem) return 0;
    memset(mem, 0, total);
    c->f1_w = (int32_t *)mem;
    c->f1_cb = (int32_t *)(mem + wbytes);
    c->f1_bias = (int32_t *)(mem + wbytes + vbytes);
    c->f1_ratio = (float *)(mem + wbytes + 2 * vbytes);
    c->f1_koff = (int32_t *)(mem + wbytes + 3 * vbytes);
    size_t phsz = (size_t)Hq * s->out_w;
    for (int ch = 0; ch < s->in_c; ch++)
        for (int ky = 0; ky < kH; ky++)
            for (int j = 0; j < J; j++) {
                int dy = ky * dh;
                c->f1_koff[(ch * kH + ky) * J + j] = (int32_t)((((size_t)ch * J + j) * sh + dy % sh) * phsz + (size_t)(dy / sh) * s->out_w);
            }
    uint32_t zxu = (uint32_t)(s->input_zero_point + 128);
    int8_t *wb = (int8_t *)c->f1_w;
    for (int o = 0; o < s->out_c; o++) {
        uint32_t sum = 0;
        const int8_t *wo = c->w + (size_t)o * c->K;
        for (int ch = 0; ch < s->in_c; ch++)
            for (int ky = 0; ky < kH; ky++)
                for (int kx = 0; kx < kW; kx++) {
                    int8_t v = wo[((size_t)ch * kH + ky) * kW + kx];
                    size_t k = ((size_t)ch * kH + ky) * J + kx / 4;
                    wb[(((size_t)(o / 8) * KS + k) * 8 + o % 8) * 4 + kx % 4] = v;
                    sum += (uint32_t)(int32_t)v;
                }
        uint32_t corr = 0u - zxu * sum;
        c->f1_cb[o] = (int32_t)(c->nosat ? corr + (uint32_t)c->bias[o] : corr);
        c->f1_bias[o] = c->bias[o];
        c->f1_ratio[o] = c->ratio[o];
    }
    c->f1_J = J; c->f1_ks = KS; c->f1_hq = Hq;
    c->f1_mem = mem;
    return 1;
}

/// planes[ch][j][py][Hq][out_w] dwords (see the top of the file).
VBMI_F1 __attribute__((noinline)) static void f1_pack(const vk_conv *c, const int8_t *input, uint32_t *planes, uint8_t *rb, int RB) {
    const vk_conv_shape *s = &c->s;
    const int inH = s->in_h, inW = s->in_w, OW = s->out_w, sh = s->stride_h, sw = s->stride_w, dw = s->dil_w;
    const int J = c->f1_J, Hq = c->f1_hq, pt = s->pad_top, pl = s->pad_left;
    const size_t phsz = (size_t)Hq * OW;
    const uint8_t zb = (uint8_t)(s->input_zero_point + 128);
    const __m512i zv = _mm512_set1_epi8((char)zb), flip = _mm512_set1_epi8((char)0x80);
    __m512i idx;   // lane i, tap t: byte i * sw + t * dw of the window (the same for every j: j shifts the load)
    {
        uint8_t b[64];
        for (int i = 0; i < 16; i++)
            for (int t = 0; t < 4; t++) b[4 * i + t] = (uint8_t)(i * sw + t * dw);
        idx = _mm512_loadu_si512(b);
    }
    for (int ch = 0; ch < s->in_c; ch++) {
        const int8_t *src = input + (size_t)ch * inH * inW;
        for (int y = 0; y < Hq * sh; y++) {
            int iy = y - pt;
            int inside = iy >= 0 && iy < inH;
            size_t roff = (size_t)(y % sh) * phsz + (size_t)(y / sh) * OW;
            if (!inside) {
                for (int j = 0; j < J; j++) {
                    uint32_t *d = planes + ((size_t)ch * J + j) * sh * phsz + roff;
                    int ox = 0;
                    for (; ox + 16 <= OW; ox += 16) _mm512_storeu_si512(d + ox, zv);
                    if (ox < OW) _mm512_mask_storeu_epi32(d + ox, (__mmask16)((1u << (OW - ox)) - 1), zv);
                }
                continue;
            }
            // The padded row: borders zx + 128, interior x + 128.
            for (int x = 0; x < RB; x += 64) _mm512_storeu_si512(rb + x, zv);
            const int8_t *sr = src + (size_t)iy * inW;
            for (int x = 0; x < inW; x += 64) {
                int n = inW - x;
                __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
                _mm512_mask_storeu_epi8(rb + pl + x, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, sr + x), flip));
            }
            for (int j = 0; j < J; j++) {
                uint32_t *d = planes + ((size_t)ch * J + j) * sh * phsz + roff;
                const uint8_t *r = rb + (size_t)4 * j * dw;
                int ox = 0;
                for (; ox + 16 <= OW; ox += 16)
                    _mm512_storeu_si512(d + ox, _mm512_permutexvar_epi8(idx, _mm512_loadu_si512(r + (size_t)ox * sw)));
                if (ox < OW)
                    _mm512_mask_storeu_epi32(d + ox, (__mmask16)((1u << (OW - ox)) - 1),
                                             _mm512_permutexvar_epi8(idx, _mm512_loadu_si512(r + (size_t)ox * sw)));
            }
        }
    }
}

/// NV pixel vectors (pixels p0..) x NO output channels (oc block ob).
VNNI INLINE void f1_mk(const vk_conv *c, const uint32_t *planes, int ob, int p0, const int NV, const int NO, int8_t *output) {
    __m512i acc[8][3];
    vk_tile_dot(planes + p0, c->f1_koff, c->f1_ks, c->f1_w + (size_t)ob * c->f1_ks * 8, NV, NO, acc);
    const int P = c->P;
    __m128i q[8][3];
    vk_tile_requant(c, acc, c->f1_cb, c->f1_bias, c->f1_ratio, ob * 8, NV, NO, q);
    for (int v = 0; v < NV; v++) {
        int p = p0 + v * 16, n = P - p;
        int8_t *dst = output + (size_t)ob * 8 * P + p;
        if (n >= 16) for (int o = 0; o < NO; o++) _mm_storeu_si128((__m128i *)(dst + (size_t)o * P), q[o][v]);
        else for (int o = 0; o < NO; o++) _mm_mask_storeu_epi8(dst + (size_t)o * P, (__mmask16)((1u << n) - 1), q[o][v]);
    }
}

VNNI void vk_conv_run_firstconv_vnni(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    if (!c->f1_mem) { vk_conv_run_scalar(c, input, output); return; }
    const int OW = s->out_w, J = c->f1_J, P = c->P;
    const size_t planes_n = (size_t)s->in_c * J * s->stride_h * c->f1_hq * OW;
    const size_t total = planes_n + 64;   // slack: the last vector's over-read (pixels P..P16)
    // The padded row buffer: every vpermb load (start ox * sw + 4j * dw, 64 bytes) and the input row.
    int RB = ((OW + 15) / 16 - 1) * 16 * s->stride_w + 4 * (J - 1) * s->dil_w + 64;
    if (RB < s->pad_left + s->in_w + 64) RB = s->pad_left + s->in_w + 64;
    RB = (RB + 63) & ~63;
    uint32_t *planes = vk_scratch(total * 4 + (size_t)RB);
    if (!planes) { vk_conv_run_scalar(c, input, output); return; }
    memset(planes + planes_n, 0, 64 * 4);
    f1_pack(c, input, planes, (uint8_t *)(planes + total), RB);
    const int NVT = (P + 15) / 16, OCB = (s->out_c + 7) / 8;
    #define CASE(NV, NO) case (NV) * 16 + (NO): f1_mk(c, planes, ob, p0v * 16, NV, NO, output); break;
    for (int p0v = 0; p0v < NVT; p0v += 3)
        for (int ob = 0; ob < OCB; ob++) {
            int nv = NVT - p0v < 3 ? NVT - p0v : 3, no = s->out_c - ob * 8 < 8 ? s->out_c - ob * 8 : 8;
            switch (nv * 16 + no) {
                CASE(3, 8) CASE(3, 7) CASE(3, 6) CASE(3, 5) CASE(3, 4) CASE(3, 3) CASE(3, 2) CASE(3, 1)
                CASE(2, 8) CASE(2, 7) CASE(2, 6) CASE(2, 5) CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1)
                CASE(1, 8) CASE(1, 7) CASE(1, 6) CASE(1, 5) CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1)
            }
        }
    #undef CASE
    free(planes);
}

#else
int vk_conv_firstconv_prepare(struct vk_conv *c) { (void)c; return 0; }
void vk_conv_run_firstconv_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output) { vk_conv_run_scalar(c, input, output); }
#endif
