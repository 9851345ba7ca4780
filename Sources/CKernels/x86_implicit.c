// Implicit-GEMM AVX-512 VNNI convolution (groups == 1, zero weight zero points, P > VK_SMALL_MAX_P).
// The im2col kernel in x86.c copies K x P bytes (9x the input for 3x3) twice per run; this one
// reads the input in place:
//   input, converted once per run: u8 (x + 128) NC4HW4 padded planes, 4 input channels per dword
//     (channels past in_c: weight 0, any byte), borders zx + 128 (the value the correction
//     cancels); with stride s > 1 each padded plane is split into s_h x s_w phase planes
//     (row % s_h, col % s_w), so for any tap the inputs of consecutive outputs are consecutive.
//   wide pixel grid: outputs are computed at p = oy * W + ox for ox in [0, W), W = the phase
//     planes' row width (>= out_w); columns ox >= out_w are garbage, never stored. For k =
//     (ic4, ky, kx) the 16 dwords of pixels p..p+15 are ONE 64-byte load at
//     plane(ic4, phase(ky, kx)) + (qy * W + qx + p) * 4.
//   weights, packed once: [oc / 8][ic4][ky][kx][8 oc] dwords of 4 s8 (input channels 4*ic4..+3,
//     0 past in_c), broadcast per output channel; micro-kernel NV (<= 3) pixel vectors x NO
//     (<= 8) output channels of vpdpbusd accumulators, as mk_vnni.
// Correction: weight zero points are all 0 here (if some is not, prepare declines: the per-pixel
// zw * sum(x) term would need the input sums, which the im2col path computes), so
//   acc = sum xu * w - zxu * sum(w)  (wrapping, exact mod 2^32 like the reference).
// Requantisation: mk_vnni's (requant512_nosat with the bias folded when c->nosat, else requant512).
#include "internal.h"
#if defined(__x86_64__)
#include "x86_common.h"
#include <string.h>
#ifndef VK_SMALL_MAX_P
#define VK_SMALL_MAX_P 144
#endif

int vk_implicit_allow_all = 0;
int vk_implicit_tail_runs = 0;  // test hook: runs that took im_pixel for the last vector (atomic)
int vk_implicit_oc_outer = 0;  // test hook: 1 = oc blocks outer (measured: same speed as pixel blocks outer)  // test hook: 1 = ignore the measured rule (not the hard limits)

int vk_conv_implicit_prepare(struct vk_conv *c) {
    const vk_conv_shape *s = &c->s;
    if (c->im_mem) return 1;
    if (c->isa != vk_isa_avx512vnni || s->groups != 1 || c->nsub || c->need_zw || c->wdw || c->sm_mem) return 0;
    if (c->P <= VK_SMALL_MAX_P || s->in_c < 1 || s->out_c < 1) return 0;
    int pointwise = s->k_h == 1 && s->k_w == 1 && s->stride_h == 1 && s->stride_w == 1;
    if (!vk_implicit_allow_all && pointwise) return 0;  // measured: see the harness's --bench
    int kH = s->k_h, kW = s->k_w, sh = s->stride_h, sw = s->stride_w, T = kH * kW;
    int PH = (s->out_h - 1) * sh + (kH - 1) * s->dil_h + 1;
    if (PH < s->pad_top + s->in_h) PH = s->pad_top + s->in_h;
    int PW = (s->out_w - 1) * sw + (kW - 1) * s->dil_w + 1;
    if (PW < s->pad_left + s->in_w) PW = s->pad_left + s->in_w;
    int Hq = (PH + sh - 1) / sh, W = (PW + sw - 1) / sw;
    // Shared padding columns (stride 1 across): the right padding of row y is the left padding of
    // row y + 1 (the same cells, zx + 128), so W = pad_left + in_w. A valid output reads columns
    // up to PW - 1 < W + pad_left: past W it lands in the next row's (or, after the last row, the
    // next phase plane's / ic4 block's first row's, or the slack's) first pad_left columns, all
    // borders. Needs W >= out_w so the rows of the wide grid do not overlap.
    if (sw == 1 && PW - (s->pad_left + s->in_w) <= s->pad_left && s->pad_left + s->in_w >= s->out_w) W = s->pad_left + s->in_w;
    int IC4 = (s->in_c + 3) / 4, KK = IC4 * T, OCB = (s->out_c + 7) / 8;
    // Measured rule (Tests/kernels/implicit_conv_test.c --bench, Zen 4): the work here is KK dword
    // steps x out_h * W wide pixels, im2col's K4 x P (plus its copies). Channel padding (in_c % 4)
    // and the wide grid's garbage columns cost lanes: wins at ratios 1.06-1.12 (1.17-1.34x), losses
    // at 1.30-1.38 (3-channel first convs, 0.82-0.98x). Pointwise 1x1 stride 1 (read in place by
    // im2col_pointwise already) lost 0.56-0.93x: declined.
    double ratio = (double)KK * s->out_h * W / ((double)c->K4 * c->P);
    if (!vk_implicit_allow_all && ratio > 1.2) return 0;
    size_t wbytes = (size_t)OCB * KK * 32, vbytes = ((sizeof(int32_t) * (size_t)OCB * 8) + 63) & ~(size_t)63;
    size_t tbytes = ((sizeof(int32_t) * (size_t)KK) + 63) & ~(size_t)63;
    size_t total = wbytes + 3 * vbytes + tbytes;
    uint8_t *mem = vk_scratch(total);
    if (!mem) return 0;
    memset(mem, 0, total);
    c->im_w = (int32_t *)mem;
    c->im_cb = (int32_t *)(mem + wbytes);
    c->im_bias = (int32_t *)(mem + wbytes + vbytes);
    c->im_ratio = (float *)(mem + wbytes + 2 * vbytes);
    c->im_koff = (int32_t *)(mem + wbytes + 3 * vbytes);
    size_t blk = (size_t)Hq * W * sh * sw;
    if ((size_t)IC4 * blk > (size_t)INT32_MAX / 2) { free(mem); return 0; }
    for (int b = 0; b < IC4; b++)
        for (int ky = 0; ky < kH; ky++)
            for (int kx = 0; kx < kW; kx++) {
                int dy = ky * s->dil_h, dx = kx * s->dil_w;
                c->im_koff[b * T + ky * kW + kx] = (int32_t)(b * blk + (size_t)(((dy % sh) * sw + dx % sw) * Hq + dy / sh) * W + dx / sw);
            }
    uint32_t zxu = (uint32_t)(s->input_zero_point + 128);
    int8_t *wb = (int8_t *)c->im_w;
    for (int o = 0; o < s->out_c; o++) {
        uint32_t sum = 0;
        const int8_t *wo = c->w + (size_t)o * c->K;
        for (int ic = 0; ic < s->in_c; ic++)
            for (int t = 0; t < T; t++) {
                int8_t v = wo[(size_t)ic * T + t];
                wb[(((size_t)(o / 8) * KK + (size_t)(ic / 4) * T + t) * 8 + o % 8) * 4 + ic % 4] = v;
                sum += (uint32_t)(int32_t)v;
            }
        uint32_t corr = 0u - zxu * sum;
        c->im_cb[o] = (int32_t)(c->nosat ? corr + (uint32_t)c->bias[o] : corr);
        c->im_bias[o] = c->bias[o];
        c->im_ratio[o] = c->ratio[o];
    }
    c->im_T = T; c->im_ic4 = IC4; c->im_kk = KK; c->im_hq = Hq; c->im_wq = W;
    c->im_mem = mem;
    return 1;
}

/// planes[ic4][phase][Hq][W] dwords: borders zx + 128, interior the input's 4 channels x + 128.
VNNI __attribute__((noinline)) static void im_pack(const vk_conv *c, const int8_t *input, uint32_t *planes, size_t total) {
    const vk_conv_shape *s = &c->s;
    const int inH = s->in_h, inW = s->in_w, HW = inH * inW, IC = s->in_c, IC4 = c->im_ic4;
    const int sh = s->stride_h, sw = s->stride_w, Hq = c->im_hq, W = c->im_wq;
    const size_t phsz = (size_t)Hq * W, blk = phsz * sh * sw;
    uint32_t zxu = (uint32_t)(uint8_t)(s->input_zero_point + 128) * 0x01010101u;
    {
        __m512i z = _mm512_set1_epi32((int)zxu);
        size_t i = 0;
        for (; i + 16 <= total; i += 16) _mm512_store_si512(planes + i, z);
        for (; i < total; i++) planes[i] = zxu;
    }
    const __m128i flip = _mm_set1_epi8((char)0x80);
    if (sw == 1) {
        // 64 pixels of the flattened input plane per step (4 zmm loads, in-lane byte / word
        // interleave, 4x4 transpose of 128-bit lanes), each 16-pixel vector stored in row pieces.
        const __m512i flip512 = _mm512_set1_epi8((char)0x80);
        // Row pieces of each 16-pixel vector (the same for every ic4 block): lanes [l, l + take)
        // go to block offset poff + l .. (poff = destination of lane 0, may be "negative").
        const int NV16 = (HW + 15) / 16, maxp = NV16 + inH;
        int *pst = malloc(sizeof(int) * ((size_t)NV16 + 1 + (size_t)maxp) + sizeof(__mmask16) * (size_t)maxp);
        if (!pst) goto generic;   // out of memory: the per-row path below
        int *poff = pst + NV16 + 1;
        __mmask16 *pm = (__mmask16 *)(poff + maxp);
        int np = 0;
        for (int v = 0; v < NV16; v++) {
            int ps = 16 * v, cnt = HW - ps < 16 ? HW - ps : 16;
            pst[v] = np;
            for (int l = 0; l < cnt;) {
                int i = ps + l, iy = i / inW, ix = i - iy * inW;
                int take = inW - ix < cnt - l ? inW - ix : cnt - l;
                int y = iy + s->pad_top;
                poff[np] = (int)((size_t)(y % sh) * phsz + (size_t)(y / sh) * W) + s->pad_left + ix - l;
                pm[np] = (__mmask16)(((1u << take) - 1) << l);
                np++;
                l += take;
            }
        }
        pst[NV16] = np;
        for (int b = 0; b < IC4; b++) {
            const int8_t *src[4];
            for (int j = 0; j < 4; j++) src[j] = 4 * b + j < IC ? input + (size_t)(4 * b + j) * HW : NULL;
            uint32_t *pb = planes + (size_t)b * blk;
            for (int i0 = 0; i0 < HW; i0 += 64) {
                int n = HW - i0;
                __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
                __m512i v[4];
                for (int j = 0; j < 4; j++)
                    v[j] = src[j] ? _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src[j] + i0), flip512) : _mm512_setzero_si512();
                __m512i ablo = _mm512_unpacklo_epi8(v[0], v[1]), abhi = _mm512_unpackhi_epi8(v[0], v[1]);
                __m512i cdlo = _mm512_unpacklo_epi8(v[2], v[3]), cdhi = _mm512_unpackhi_epi8(v[2], v[3]);
                __m512i r0 = _mm512_unpacklo_epi16(ablo, cdlo), r1 = _mm512_unpackhi_epi16(ablo, cdlo);
                __m512i r2 = _mm512_unpacklo_epi16(abhi, cdhi), r3 = _mm512_unpackhi_epi16(abhi, cdhi);
                // r_j lane l = pixels 16 l + 4 j .. + 3: out_q = (r0, r1, r2, r3) lane q.
                __m512i t0 = _mm512_shuffle_i32x4(r0, r1, 0x44), t1 = _mm512_shuffle_i32x4(r2, r3, 0x44);
                __m512i t2 = _mm512_shuffle_i32x4(r0, r1, 0xEE), t3 = _mm512_shuffle_i32x4(r2, r3, 0xEE);
                __m512i o[4] = {_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xDD),
                                _mm512_shuffle_i32x4(t2, t3, 0x88), _mm512_shuffle_i32x4(t2, t3, 0xDD)};
                int v0 = i0 / 16, vn = NV16 - v0 < 4 ? NV16 - v0 : 4;
                for (int q = 0; q < vn; q++)
                    for (int k = pst[v0 + q]; k < pst[v0 + q + 1]; k++)   // masked: lanes outside pm[k] not touched
                        _mm512_mask_storeu_epi32((void *)((uintptr_t)pb + (uintptr_t)(intptr_t)poff[k] * 4), pm[k], o[q]);
            }
        }
        free(pst);
        return;
    }
generic:
    for (int b = 0; b < IC4; b++) {
        const int8_t *src[4];
        for (int j = 0; j < 4; j++) src[j] = 4 * b + j < IC ? input + (size_t)(4 * b + j) * HW : NULL;
        uint32_t *pb = planes + (size_t)b * blk;
        for (int iy = 0; iy < inH; iy++) {
            int y = iy + s->pad_top;
            uint32_t *prow = pb + (size_t)(y % sh) * sw * phsz + (size_t)(y / sh) * W;
            for (int ix = 0; ix < inW; ix += 16) {
                int n = inW - ix;
                __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
                __m128i v[4];
                for (int j = 0; j < 4; j++)
                    v[j] = src[j] ? _mm_xor_si128(_mm_maskz_loadu_epi8(m, src[j] + (size_t)iy * inW + ix), flip) : _mm_setzero_si128();
                __m128i ablo = _mm_unpacklo_epi8(v[0], v[1]), abhi = _mm_unpackhi_epi8(v[0], v[1]);
                __m128i cdlo = _mm_unpacklo_epi8(v[2], v[3]), cdhi = _mm_unpackhi_epi8(v[2], v[3]);
                __m512i w = _mm512_inserti32x4(_mm512_castsi128_si512(_mm_unpacklo_epi16(ablo, cdlo)), _mm_unpackhi_epi16(ablo, cdlo), 1);
                w = _mm512_inserti32x4(w, _mm_unpacklo_epi16(abhi, cdhi), 2);
                w = _mm512_inserti32x4(w, _mm_unpackhi_epi16(abhi, cdhi), 3);
                int x0 = ix + s->pad_left;
                if (sw == 1) {
                    _mm512_mask_storeu_epi32(prow + x0, m, w);
                } else if (sw == 2) {
                    // Even lanes to the low half, odd lanes to the high half: column x0 + j goes to
                    // phase (x0 + j) % 2, column (x0 + j) / 2.
                    __m512i d = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), w);
                    int ne = (n + 1) / 2, no = n / 2;
                    if (ne > 8) ne = 8;
                    if (no > 8) no = 8;
                    int pe = x0 & 1, po = pe ^ 1;   // phases of the even / odd lanes
                    _mm256_mask_storeu_epi32(prow + (size_t)pe * phsz + x0 / 2, (__mmask8)((1u << ne) - 1), _mm512_castsi512_si256(d));
                    if (no > 0)
                        _mm256_mask_storeu_epi32(prow + (size_t)po * phsz + (x0 + 1) / 2, (__mmask8)((1u << no) - 1), _mm512_extracti64x4_epi64(d, 1));
                } else {
                    // Lane j is column x0 + j: phase (x0 + j) % sw, column (x0 + j) / sw.
                    int r0 = x0 % sw;
                    for (int px = 0; px < sw; px++) {
                        int d = (px - r0 + sw) % sw;   // first lane of this phase
                        if (d >= n || d >= 16) continue;
                        __mmask16 pm = 0;
                        for (int j = d; j < 16; j += sw) pm |= (__mmask16)(1u << j);
                        pm &= m;
                        int cnt = __builtin_popcount(pm);
                        __m512i cv = _mm512_maskz_compress_epi32(pm, w);
                        _mm512_mask_storeu_epi32(prow + (size_t)px * phsz + (x0 + d) / sw, (__mmask16)((1u << cnt) - 1), cv);
                    }
                }
            }
        }
    }
}

/// NV pixel vectors (wide pixels p0..) x NO output channels (oc block ob).
VNNI INLINE void im_mk(const vk_conv *c, const uint32_t *planes, int ob, int p0, const int NV, const int NO,
                       const int *segn, const int32_t (*sego)[17], const __mmask16 (*segm)[17], int8_t *output) {
    __m512i acc[8][3];
    vk_tile_dot(planes + p0, c->im_koff, c->im_kk, c->im_w + (size_t)ob * c->im_kk * 8, NV, NO, acc);
    const int P = c->P;
    __m128i q[8][3];
    vk_tile_requant(c, acc, c->im_cb, c->im_bias, c->im_ratio, ob * 8, NV, NO, q);
    for (int v = 0; v < NV; v++)
        for (int i = 0; i < segn[v]; i++) {
            int8_t *dst = output + (size_t)ob * 8 * P + sego[v][i];
            __mmask16 m = segm[v][i];
            for (int o = 0; o < NO; o++) _mm_mask_storeu_epi8(dst + (size_t)o * P, m, q[o][v]);
        }
}

/// One wide pixel p (output index `dst`) for all output channels, vectorised over 8 output
/// channels (ymm: the packed weights of one k for an oc block are 8 consecutive dwords) — for a
/// last pixel vector with only one or two real pixels (17x17: 1 of 16 lanes), whose full vector
/// would cost as much as 16 pixels. Same arithmetic as im_mk: the dword at planes + koff[k] + p.
VNNI __attribute__((noinline)) static void im_pixel(const vk_conv *c, const uint32_t *planes, int p, size_t dst, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    const int KK = c->im_kk, OCB = (s->out_c + 7) / 8, P = c->P;
    const uint32_t *x = planes + p;
    const __m512 flo = _mm512_set1_ps((float)(s->out_min - s->output_zero_point));
    const __m512 fhi = _mm512_set1_ps((float)(s->out_max - s->output_zero_point));
    const __m512i vzy = _mm512_set1_epi32(s->output_zero_point), lo = _mm512_set1_epi32(s->out_min), hi = _mm512_set1_epi32(s->out_max);
    for (int ob0 = 0; ob0 < OCB; ob0 += 8) {
        int nb = OCB - ob0 < 8 ? OCB - ob0 : 8;
        __m256i acc[8];
        for (int b = 0; b < 8; b++) acc[b] = _mm256_setzero_si256();
        const int32_t *w = c->im_w + (size_t)ob0 * KK * 8;
        for (int k = 0; k < KK; k++) {
            __m256i xb = _mm256_set1_epi32((int)x[c->im_koff[k]]);
            for (int b = 0; b < 8; b++)
                if (b < nb) acc[b] = _mm256_dpbusd_epi32(acc[b], xb, _mm256_loadu_si256((const __m256i *)(w + ((size_t)b * KK + k) * 8)));
        }
        for (int b = 0; b < nb; b++) {
            int oc0 = (ob0 + b) * 8, no = s->out_c - oc0 < 8 ? s->out_c - oc0 : 8;
            __m512i a = _mm512_add_epi32(_mm512_zextsi256_si512(acc[b]), _mm512_maskz_loadu_epi32(0xff, c->im_cb + oc0));
            __m512 ratio = _mm512_maskz_loadu_ps(0xff, c->im_ratio + oc0);
            __m128i q = c->nosat ? requant512_nosat(a, ratio, flo, fhi, vzy)
                                 : requant512v(a, _mm512_maskz_loadu_epi32(0xff, c->im_bias + oc0), ratio, vzy, lo, hi);
            int8_t t[16];
            _mm_storeu_si128((__m128i *)t, q);
            for (int o = 0; o < no; o++) output[(size_t)(oc0 + o) * P + dst] = t[o];
        }
    }
}

VNNI void vk_conv_run_implicit_vnni(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    if (!c->im_mem) { vk_conv_run_scalar(c, input, output); return; }
    const int W = c->im_wq, outW = s->out_w, outH = s->out_h;
    const size_t blk = (size_t)c->im_hq * W * s->stride_h * s->stride_w;
    const size_t total = (size_t)c->im_ic4 * blk + (size_t)W + 64;   // slack: the wide grid's over-reads
    uint32_t *planes = vk_scratch(total * 4);
    if (!planes) { vk_conv_run_scalar(c, input, output); return; }
    im_pack(c, input, planes, total);
    const int Pw = outH * W, NVT = (Pw + 15) / 16, OCB = (s->out_c + 7) / 8;
    // Store segments of each vector: lanes of one output row with ox < out_w.
    int *segn = malloc(sizeof(int) * (size_t)NVT + (sizeof(int32_t) + sizeof(__mmask16)) * 17 * (size_t)NVT);
    if (!segn) { free(planes); vk_conv_run_scalar(c, input, output); return; }
    int32_t (*sego)[17] = (int32_t (*)[17])(segn + NVT);
    __mmask16 (*segm)[17] = (__mmask16 (*)[17])(sego + NVT);
    for (int v = 0; v < NVT; v++) {
        int p = v * 16, k = 0;
        for (int l = 0; l < 16;) {
            int pp = p + l, oy = pp / W, ox = pp - oy * W;
            if (oy >= outH) break;
            int rowleft = W - ox, take = rowleft < 16 - l ? rowleft : 16 - l;
            int valid = outW - ox; if (valid > take) valid = take;
            if (valid > 0) {
                sego[v][k] = oy * outW + ox - l;   // lane l lands at output row oy, column ox
                segm[v][k] = (__mmask16)(((1u << valid) - 1) << l);
                k++;
            }
            l += take;
        }
        segn[v] = k;
    }
    // A last vector with at most 2 real pixels: those pixels one at a time (im_pixel), the
    // vector tiles stop before it.
    int NVV = NVT;
    if (NVT > 1) {
        int real = 0;
        for (int i = 0; i < segn[NVT - 1]; i++) real += __builtin_popcount(segm[NVT - 1][i]);
        if (real <= 2) {
            NVV = NVT - 1;
            __atomic_fetch_add(&vk_implicit_tail_runs, 1, __ATOMIC_RELAXED);
            for (int i = 0; i < segn[NVT - 1]; i++)
                for (int l = 0; l < 16; l++)
                    if (segm[NVT - 1][i] >> l & 1) im_pixel(c, planes, (NVT - 1) * 16 + l, (size_t)(sego[NVT - 1][i] + l), output);
        }
    }
    #define CASE(NV, NO) case (NV) * 16 + (NO): im_mk(c, planes, ob, p0v * 16, NV, NO, segn + p0v, sego + p0v, segm + p0v, output); break;
    #define TILE() do { \
        int nv = NVV - p0v < 3 ? NVV - p0v : 3, no = s->out_c - ob * 8 < 8 ? s->out_c - ob * 8 : 8; \
        switch (nv * 16 + no) { \
            CASE(3, 8) CASE(3, 7) CASE(3, 6) CASE(3, 5) CASE(3, 4) CASE(3, 3) CASE(3, 2) CASE(3, 1) \
            CASE(2, 8) CASE(2, 7) CASE(2, 6) CASE(2, 5) CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1) \
            CASE(1, 8) CASE(1, 7) CASE(1, 6) CASE(1, 5) CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1) \
        } } while (0)
    if (vk_implicit_oc_outer) {
        for (int ob = 0; ob < OCB; ob++)
            for (int p0v = 0; p0v < NVV; p0v += 3) TILE();
    } else {
        for (int p0v = 0; p0v < NVV; p0v += 3)
            for (int ob = 0; ob < OCB; ob++) TILE();
    }
    #undef TILE
    #undef CASE
    free(segn);
    free(planes);
}

#else
int vk_conv_implicit_prepare(struct vk_conv *c) { (void)c; return 0; }
void vk_conv_run_implicit_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output) { vk_conv_run_scalar(c, input, output); }
#endif
