// Small-output AVX-512 VNNI convolution (groups == 1, P = out_h * out_w small, <= VK_SMALL_MAX_P).
// The im2col kernel in x86.c vectorises over 16 output pixels and wastes lanes when P is 1, 4, 9...
// This one vectorises over 16 OUTPUT CHANNELS instead:
//   weights, packed once: [oc/16][kept tap][ic/4][16 oc][4 ic] s8 (pad 0), loaded as vectors;
//   input, gathered once per run: [pixel][kept tap][ic/4][4] u8 (x + 128; positions outside the
//     input hold zx + 128, the value the correction cancels), 4 channels broadcast per vpdpbusd;
//   micro-kernel: up to 4 oc blocks x 6 pixels (8 x 2 for 1-2 pixels) of zmm accumulators.
// Tap skipping: a tap (ky, kx) outside the input for EVERY output pixel contributes exactly 0 to
// sum (x - zx)(w - zw), so it is dropped; the correction is computed over the kept taps only:
//   acc = sum_kept xu*w - zw*sum_kept xu - zxu*sum_kept w + Kk*zxu*zw   (Kk = kept taps * in_c)
// with the first term from vpdpbusd, the per-pixel zw term only when some zw != 0, the rest a
// per-oc constant (wrapping uint32 arithmetic, exact mod 2^32 like the reference's accumulator).
// Requantisation is requant512's arithmetic with per-lane (per-oc) bias / ratio vectors.
#include "internal.h"
#if defined(__x86_64__)
#include "x86_common.h"
#include <string.h>
#ifndef VK_SMALL_MAX_P
#define VK_SMALL_MAX_P 144
#endif


int vk_conv_small_prepare(struct vk_conv *c) {
    const vk_conv_shape *s = &c->s;
    if (c->sm_mem) return 1;
    if (c->isa != vk_isa_avx512vnni || s->groups != 1 || c->nsub || c->P < 1 || c->P > VK_SMALL_MAX_P) return 0;
    if (s->in_c < 1 || s->out_c < 1) return 0;
    int kH = s->k_h, kW = s->k_w;
    // Kept rows / columns: some output position reads inside the input (separable per axis).
    int ntap = 0;
    int *tmp = malloc(sizeof(int) * (size_t)kH * kW);
    if (!tmp) return 0;
    for (int ky = 0; ky < kH; ky++) {
        int rowok = 0;
        for (int oy = 0; oy < s->out_h && !rowok; oy++) { int iy = oy * s->stride_h - s->pad_top + ky * s->dil_h; rowok = iy >= 0 && iy < s->in_h; }
        if (!rowok) continue;
        for (int kx = 0; kx < kW; kx++) {
            int colok = 0;
            for (int ox = 0; ox < s->out_w && !colok; ox++) { int ix = ox * s->stride_w - s->pad_left + kx * s->dil_w; colok = ix >= 0 && ix < s->in_w; }
            if (colok) tmp[ntap++] = ky * kW + kx;
        }
    }
    int IC4 = (s->in_c + 3) / 4, KK = ntap * IC4, OCB = (s->out_c + 15) / 16, OC16 = OCB * 16;
    if ((double)s->in_h * s->in_w * IC4 * 4 > (double)INT32_MAX) { free(tmp); return 0; }  // sm_src offsets are int32
    size_t wbytes = (size_t)OCB * KK * 64, vbytes = sizeof(int32_t) * (size_t)OC16;
    size_t tbytes = (sizeof(int) * (size_t)(ntap ? ntap : 1) + 63) & ~(size_t)63;
    size_t sbytes = (sizeof(int32_t) * (size_t)c->P * (size_t)(ntap ? ntap : 1) + 63) & ~(size_t)63;
    size_t zbytes = ((size_t)IC4 * 4 + 63) & ~(size_t)63;
    size_t total = wbytes + 4 * vbytes + tbytes + sbytes + zbytes;
    uint8_t *mem = vk_scratch(total);
    if (!mem) { free(tmp); return 0; }
    memset(mem, 0, total);
    c->sm_w = (int32_t *)mem;
    c->sm_corr = (int32_t *)(mem + wbytes);
    c->sm_bias = (int32_t *)(mem + wbytes + vbytes);
    c->sm_zw = (int32_t *)(mem + wbytes + 2 * vbytes);
    c->sm_ratio = (float *)(mem + wbytes + 3 * vbytes);
    c->sm_tap = (int *)(mem + wbytes + 4 * vbytes);
    memcpy(c->sm_tap, tmp, sizeof(int) * (size_t)ntap);
    free(tmp);
    c->sm_src = (int32_t *)(mem + wbytes + 4 * vbytes + tbytes);
    c->sm_zrow = mem + wbytes + 4 * vbytes + tbytes + sbytes;
    uint32_t zxu = (uint32_t)(s->input_zero_point + 128);
    // The gather's source of every (pixel, kept tap), worked out once: the per-run gather is then
    // plain 64-byte copies (it was a memcpy call and two divisions per pair, ~5 % of a layer).
    for (int oy = 0, p = 0; oy < s->out_h; oy++)
        for (int ox = 0; ox < s->out_w; ox++, p++)
            for (int ti = 0; ti < ntap; ti++) {
                int t = c->sm_tap[ti], ky = t / kW, kx = t % kW;
                int iy = oy * s->stride_h - s->pad_top + ky * s->dil_h, ix = ox * s->stride_w - s->pad_left + kx * s->dil_w;
                c->sm_src[(size_t)p * ntap + ti] = iy >= 0 && iy < s->in_h && ix >= 0 && ix < s->in_w
                    ? (int32_t)(((size_t)iy * s->in_w + ix) * (size_t)IC4 * 4) : -1;
            }
    for (int i = 0; i < IC4 * 4; i++) c->sm_zrow[i] = i < s->in_c ? (uint8_t)zxu : 0;
    uint32_t Kk = (uint32_t)ntap * (uint32_t)s->in_c;
    int8_t *wb = (int8_t *)c->sm_w;
    for (int o = 0; o < s->out_c; o++) {
        int b = o / 16, l = o % 16;
        uint32_t sum = 0;
        const int8_t *wo = c->w + (size_t)o * c->K;
        for (int ti = 0; ti < ntap; ti++) {
            int t = c->sm_tap[ti];
            for (int ic = 0; ic < s->in_c; ic++) {
                int8_t v = wo[(size_t)ic * kH * kW + t];
                wb[(((size_t)b * KK + (size_t)ti * IC4 + ic / 4) * 16 + l) * 4 + ic % 4] = v;
                sum += (uint32_t)(int32_t)v;
            }
        }
        c->sm_corr[o] = (int32_t)(Kk * zxu * (uint32_t)c->wzp[o] - zxu * sum);
        c->sm_bias[o] = c->bias[o];
        c->sm_zw[o] = c->wzp[o];
        c->sm_ratio[o] = c->ratio[o];
    }
    c->sm_ocb = OCB; c->sm_ic4 = IC4; c->sm_ntap = ntap; c->sm_kk = KK;
    c->sm_mem = mem;
    return 1;
}


/// NB oc blocks (from block ob0) x NP pixels (from p0). xg: [P][KK] words; xs: [P] or NULL.
VNNI INLINE void sm_mk(const vk_conv *c, const int32_t *xg, const int32_t *xs, int ob0, int p0,
                       const int NB, const int NP, int8_t *output) {
    __m512i acc[8][6];
    for (int b = 0; b < NB; b++) for (int j = 0; j < NP; j++) acc[b][j] = _mm512_setzero_si512();
    const int KK = c->sm_kk;
    const int32_t *w = c->sm_w + (size_t)ob0 * KK * 16;
    const int32_t *x = xg + (size_t)p0 * KK;
    for (int k = 0; k < KK; k++) {
        __m512i wv[8];
        for (int b = 0; b < NB; b++) wv[b] = _mm512_load_si512(w + ((size_t)b * KK + k) * 16);
        for (int j = 0; j < NP; j++) {
            __m512i xb = _mm512_set1_epi32(x[(size_t)j * KK + k]);
            for (int b = 0; b < NB; b++) acc[b][j] = _mm512_dpbusd_epi32(acc[b][j], xb, wv[b]);
        }
    }
    const vk_conv_shape *s = &c->s;
    const int P = c->P;
    const __m512i zy = _mm512_set1_epi32(s->output_zero_point), lo = _mm512_set1_epi32(s->out_min), hi = _mm512_set1_epi32(s->out_max);
    for (int b = 0; b < NB; b++) {
        int oc0 = (ob0 + b) * 16, n = s->out_c - oc0; if (n > 16) n = 16;
        __m512i corr = _mm512_load_si512(c->sm_corr + oc0), bias = _mm512_load_si512(c->sm_bias + oc0);
        __m512 ratio = _mm512_load_ps(c->sm_ratio + oc0);
        __m512i zw = xs ? _mm512_load_si512(c->sm_zw + oc0) : _mm512_setzero_si512();
        int8_t *dst = output + (size_t)oc0 * P + p0;
        __m128i t[8];   // t[j]: pixel j's 16 output channels (bytes)
        for (int j = 0; j < 8; j++) t[j] = _mm_setzero_si128();
        for (int j = 0; j < NP; j++) {
            __m512i a = _mm512_add_epi32(acc[b][j], corr);
            if (xs) a = _mm512_sub_epi32(a, _mm512_mullo_epi32(_mm512_set1_epi32(xs[p0 + j]), zw));
            t[j] = requant512v(a, bias, ratio, zy, lo, hi);
        }
        if (NP < 3) {   // 1-2 pixels (1x1 outputs): the transpose below costs more than it saves
            for (int j = 0; j < NP; j++) {
                int8_t q[16];
                _mm_storeu_si128((__m128i *)q, t[j]);
                for (int l = 0; l < n; l++) dst[(size_t)l * P + j] = q[l];
            }
            continue;
        }
        // Transpose 16 channels x 8 pixels (bytes -> words -> dwords) so each channel's NP pixels
        // go out in one masked store (was one byte store per output: ~3 % of the kernel).
        __m128i e[4], f[4], g[8];
        for (int h = 0; h < 2; h++) {
            __m128i a0 = _mm_unpacklo_epi8(t[4 * h], t[4 * h + 1]), a1 = _mm_unpackhi_epi8(t[4 * h], t[4 * h + 1]);
            __m128i b0 = _mm_unpacklo_epi8(t[4 * h + 2], t[4 * h + 3]), b1 = _mm_unpackhi_epi8(t[4 * h + 2], t[4 * h + 3]);
            __m128i *d = h ? f : e;   // channels 0-3, 4-7, 8-11, 12-15 x pixels 4h..4h+3 (dwords)
            d[0] = _mm_unpacklo_epi16(a0, b0); d[1] = _mm_unpackhi_epi16(a0, b0);
            d[2] = _mm_unpacklo_epi16(a1, b1); d[3] = _mm_unpackhi_epi16(a1, b1);
        }
        for (int i = 0; i < 4; i++) { g[2 * i] = _mm_unpacklo_epi32(e[i], f[i]); g[2 * i + 1] = _mm_unpackhi_epi32(e[i], f[i]); }
        const __mmask16 pm = (__mmask16)((1u << NP) - 1);
        _Pragma("clang loop unroll(full)")
        for (int l = 0; l < 16; l++) {   // g[l / 2] holds channels l & ~1 (low qword) and l | 1 (high)
            if (l >= n) break;
            __m128i r = (l & 1) ? _mm_unpackhi_epi64(g[l >> 1], g[l >> 1]) : g[l >> 1];
            _mm_mask_storeu_epi8(dst + (size_t)l * P, pm, r);
        }
    }
}

/// xg[p][ti][ic] (u8, ic padded to IC4*4 with 0) and, when needed, xs[p] = its byte sum.
VNNI __attribute__((noinline)) static void sm_gather(const vk_conv *c, const int8_t *input, uint8_t *nhwc, uint8_t *xg, int32_t *xs) {
    const vk_conv_shape *s = &c->s;
    const int HW = s->in_h * s->in_w, IC = s->in_c, IC4B = c->sm_ic4 * 4;
    // Input to pixel-major u8 (only where some kept tap reads; simplest: all of it).
    // Four channels at a time: 16 pixels of each, byte/word unpacks into 16 words of 4 channels,
    // scattered with stride IC4B (channels past IC read as 0x80 ^ 0x80 = 0: the K padding).
    const __m128i flip = _mm_set1_epi8((char)0x80);
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(IC4B));  // byte offsets (scale 1)
    for (int ic = 0; ic < IC4B; ic += 4) {
        for (int i = 0; i < HW; i += 16) {
            int n = HW - i;
            __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
            __m128i v[4];
            for (int j = 0; j < 4; j++)
                v[j] = ic + j < IC ? _mm_xor_si128(_mm_maskz_loadu_epi8(m, input + (size_t)(ic + j) * HW + i), flip) : _mm_setzero_si128();
            __m128i ablo = _mm_unpacklo_epi8(v[0], v[1]), abhi = _mm_unpackhi_epi8(v[0], v[1]);
            __m128i cdlo = _mm_unpacklo_epi8(v[2], v[3]), cdhi = _mm_unpackhi_epi8(v[2], v[3]);
            __m512i w = _mm512_inserti32x4(_mm512_castsi128_si512(_mm_unpacklo_epi16(ablo, cdlo)), _mm_unpackhi_epi16(ablo, cdlo), 1);
            w = _mm512_inserti32x4(w, _mm_unpacklo_epi16(abhi, cdhi), 2);
            w = _mm512_inserti32x4(w, _mm_unpackhi_epi16(abhi, cdhi), 3);
            _mm512_mask_i32scatter_epi32(nhwc + (size_t)i * IC4B + ic, m, idx, w, 1);
        }
    }
    uint8_t *d = xg;
    const size_t npairs = (size_t)c->P * c->sm_ntap;
    const int full = IC4B & ~63, rest = IC4B - full;
    const __mmask64 rm = rest ? (((__mmask64)1 << rest) - 1) : 0;
    for (size_t i = 0; i < npairs; i++, d += IC4B) {
        int32_t off = c->sm_src[i];
        const uint8_t *src = off >= 0 ? nhwc + off : c->sm_zrow;
        for (int j = 0; j < full; j += 64) _mm512_storeu_si512(d + j, _mm512_loadu_si512(src + j));
        if (rest) _mm512_mask_storeu_epi8(d + full, rm, _mm512_maskz_loadu_epi8(rm, src + full));
    }
    if (xs) {
        size_t per = (size_t)c->sm_kk * 4;
        for (int p = 0; p < c->P; p++) {
            uint32_t sum = 0;
            const uint8_t *r = xg + (size_t)p * per;
            for (size_t i = 0; i < per; i++) sum += r[i];
            xs[p] = (int32_t)sum;
        }
    }
}

VNNI void vk_conv_run_small_vnni(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    if (!c->sm_mem) { vk_conv_run_scalar(c, input, output); return; }
    const int P = c->P, KK = c->sm_kk, OCB = c->sm_ocb;
    size_t IC4B = (size_t)c->sm_ic4 * 4;
    uint8_t *nhwc = vk_scratch((size_t)s->in_h * s->in_w * IC4B + 64);
    uint8_t *xg = vk_scratch((size_t)P * KK * 4 + 64);
    int32_t *xs = c->need_zw ? vk_scratch(sizeof(int32_t) * (size_t)P) : NULL;
    if (!nhwc || !xg || (c->need_zw && !xs)) {
        free(nhwc); free(xg); free(xs);
        vk_conv_run_scalar(c, input, output);
        return;
    }
    sm_gather(c, input, nhwc, xg, xs);
    const int32_t *x = (const int32_t *)xg;
    // Pixel tiles: at most 6 (2 with 8 oc blocks), balanced.
    int NPmax = P <= 2 ? 2 : 6, NBmax = P <= 2 ? 8 : 4;
    int ntiles = (P + NPmax - 1) / NPmax;
    for (int ob0 = 0; ob0 < OCB; ob0 += NBmax) {
        int nb = OCB - ob0 < NBmax ? OCB - ob0 : NBmax;
        int p0 = 0;
        for (int t = 0; t < ntiles; t++) {
            int np = P / ntiles + (t < P % ntiles ? 1 : 0);
            // Constant shapes so the compiler keeps the accumulators in registers.
            #define CASE(NB, NP) case (NB) * 8 + (NP): sm_mk(c, x, xs, ob0, p0, NB, NP, output); break;
            switch (nb * 8 + np) {
                CASE(1, 1) CASE(2, 1) CASE(3, 1) CASE(4, 1) CASE(5, 1) CASE(6, 1) CASE(7, 1) CASE(8, 1)
                CASE(1, 2) CASE(2, 2) CASE(3, 2) CASE(4, 2) CASE(5, 2) CASE(6, 2) CASE(7, 2) CASE(8, 2)
                CASE(1, 3) CASE(2, 3) CASE(3, 3) CASE(4, 3)
                CASE(1, 4) CASE(2, 4) CASE(3, 4) CASE(4, 4)
                CASE(1, 5) CASE(2, 5) CASE(3, 5) CASE(4, 5)
                CASE(1, 6) CASE(2, 6) CASE(3, 6) CASE(4, 6)
            }
            #undef CASE
            p0 += np;
        }
    }
    free(nhwc); free(xg); free(xs);
}

#else
// Not x86-64: the kernel never applies.
int vk_conv_small_prepare(struct vk_conv *c) { (void)c; return 0; }
void vk_conv_run_small_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output) { vk_conv_run_scalar(c, input, output); }
#endif
