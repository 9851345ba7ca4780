// Shared pieces of the x86-64 SIMD files (x86.c, x86_small.c): target attributes, scratch
// memory and the AVX-512 requantization. Internal (not under include/), x86-64 only.
#ifndef VIGIL_CKERNELS_X86_COMMON_H
#define VIGIL_CKERNELS_X86_COMMON_H
#if defined(__x86_64__)
#include "internal.h"
#include <immintrin.h>
#include <stdlib.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))

/// 64-byte aligned scratch (size rounded up), freed with free().
static inline void *vk_scratch(size_t n) { return aligned_alloc(64, (n + 63) & ~(size_t)63); }

/// int32 a + b saturated, as the reference adds the bias.
VNNI INLINE __m512i sat_add512(__m512i a, __m512i b) {
    __m512i s = _mm512_add_epi32(a, b);
    __m512i ovf = _mm512_andnot_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(a, s));
    __mmask16 m = _mm512_cmplt_epi32_mask(ovf, _mm512_setzero_si512());
    __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(a, 31), _mm512_set1_epi32(0x7fffffff));
    return _mm512_mask_blend_epi32(m, s, sat);
}

/// The reference's requantization of 16 accumulators (per-lane bias and ratio): saturating
/// + bias, float32 product, clamp to +-65536 (integers: commutes with rounding), round half to
/// even, + zy, clamp to [lo, hi], narrow to int8.
VNNI INLINE __m128i requant512v(__m512i acc, __m512i bias, __m512 ratio, __m512i zy, __m512i lo, __m512i hi) {
    __m512i a = sat_add512(acc, bias);
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), ratio);
    f = _mm512_min_ps(_mm512_max_ps(f, _mm512_set1_ps(-65536.0f)), _mm512_set1_ps(65536.0f));
    __m512i q = _mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_add_epi32(q, zy);
    q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
    return _mm512_cvtepi32_epi8(q);
}

/// requant512v with one bias and ratio for all lanes.
VNNI INLINE __m128i requant512(__m512i acc, int32_t bias, float ratio, int32_t zy, int32_t lo, int32_t hi) {
    return requant512v(acc, _mm512_set1_epi32(bias), _mm512_set1_ps(ratio), _mm512_set1_epi32(zy),
                       _mm512_set1_epi32(lo), _mm512_set1_epi32(hi));
}

/// requant512 for kernels whose acc + bias cannot overflow (vk_conv.nosat), with the bias
/// already in `acc`: the float product is clamped straight to the output range minus zy (integer
/// bounds, so clamping commutes with rounding; it also keeps cvtps2dq in range), rounded, + zy.
VNNI INLINE __m128i requant512_nosat(__m512i acc, __m512 ratio, __m512 flo, __m512 fhi, __m512i zy) {
    __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), ratio);
    f = _mm512_min_ps(_mm512_max_ps(f, flo), fhi);
    __m512i q = _mm512_cvt_roundps_epi32(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvtepi32_epi8(_mm512_add_epi32(q, zy));
}

/// The dword-GEMM tile of the implicit and first-conv kernels: NV vectors of 16 pixels x NO
/// output channels, acc[o][v] = sum over KS k-steps of vpdpbusd(planes at base + koff[k] + 16 v,
/// broadcast weight dword w[k * 8 + o]). Starts from 0 (clang keeps the 24 accumulators in
/// registers only that way; corrections are added after the loop).
VNNI INLINE void vk_tile_dot(const uint32_t *base, const int32_t *koff, int KS, const int32_t *w,
                             const int NV, const int NO, __m512i acc[8][3]) {
    for (int o = 0; o < NO; o++) for (int v = 0; v < NV; v++) acc[o][v] = _mm512_setzero_si512();
    for (int k = 0; k < KS; k++) {
        const uint32_t *x0 = base + koff[k];
        __m512i x[3];
        for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_si512(x0 + v * 16);
        for (int o = 0; o < NO; o++) {
            __m512i wb = _mm512_set1_epi32(w[(size_t)k * 8 + o]);
            for (int v = 0; v < NV; v++) acc[o][v] = _mm512_dpbusd_epi32(acc[o][v], x[v], wb);
        }
    }
}

/// Requantizes a tile (output channels oc0..oc0+NO): + cb (the zero-point correction, with the
/// bias folded in when c->nosat), then requant512_nosat or requant512 — in constant-trip loops,
/// fully unrolled on purpose: left to itself clang kept these loops rolled, stored the 24
/// accumulators to the stack and reloaded them one by one (embedder: first conv 155 -> 142 us,
/// 35x35 convs 61 -> 57 us, 17x17 54.5 -> 52.2 us once unrolled).
VNNI INLINE void vk_tile_requant(const vk_conv *c, __m512i acc[8][3], const int32_t *cb, const int32_t *bias,
                                 const float *ratio, int oc0, const int NV, const int NO, __m128i q[8][3]) {
    const vk_conv_shape *s = &c->s;
    const __m512 flo = _mm512_set1_ps((float)(s->out_min - s->output_zero_point));
    const __m512 fhi = _mm512_set1_ps((float)(s->out_max - s->output_zero_point));
    const __m512i vzy = _mm512_set1_epi32(s->output_zero_point);
    _Pragma("clang loop unroll(full)")
    for (int o = 0; o < NO; o++) {
        int oc = oc0 + o;
        _Pragma("clang loop unroll(full)")
        for (int v = 0; v < NV; v++)
            q[o][v] = c->nosat ? requant512_nosat(_mm512_add_epi32(acc[o][v], _mm512_set1_epi32(cb[oc])), _mm512_set1_ps(ratio[oc]), flo, fhi, vzy)
                               : requant512(_mm512_add_epi32(acc[o][v], _mm512_set1_epi32(cb[oc])), bias[oc], ratio[oc],
                                            s->output_zero_point, s->out_min, s->out_max);
    }
}

#endif
#endif
