// x86-64 paths of the watchlist search (search.c has the object and the specification):
// AVX-512 VNNI (vpdpbusd on 16 rows x 4 bytes per zmm) and AVX2 (vpmovsxbw + vpmaddwd on 16 rows
// x 2 bytes per 32 bytes). Per-function target attributes; search.c only calls a path the CPU has.
//
// Exactness: VNNI reads the matrix as u8 (m + 128, packed) against the s8 query, so each lane sums
// (m + 128) q = m q + 128 q; the accumulator starts at -128 * sum(q) (corr), which leaves the exact
// int32 dot (products and sums wrap mod 2^32, the true dot fits int32). AVX2 sign-extends the
// int8 values to int16 and vpmaddwd adds two exact products into int32: no saturation anywhere.
// The score is cvtdq2ps(dot) * (qs * rs), the scalar path's operations and order (round to nearest).
#if defined(__x86_64__)
#include "search.h"
#include "x86_common.h"
#include <math.h>

/// Offers the masked lanes (rows row0 + i) of one query's 16 scores, in row order.
static inline void offer_mask(vk_topk *t, const float *sc, unsigned mask, int row0) {
    while (mask) {
        int i = __builtin_ctz(mask);
        vk_topk_offer(t, sc[i], row0 + i);
        mask &= mask - 1;
    }
}

/// Lanes worth offering: all valid ones while the keeper fills, then those above its threshold.
VNNI INLINE __mmask16 want512(const vk_topk *t, __m512 f, __mmask16 valid) {
    if (!vk_topk_full(t)) return valid;
    return _mm512_mask_cmp_ps_mask(valid, f, _mm512_set1_ps(vk_topk_thr(t)), _CMP_GT_OQ);
}

/// One 16-row block against Q queries: acc[q][s] over lane groups g = s (mod S) (S > 1 splits one
/// query's chain so vpdpbusd's latency is hidden when Q is small), then the scores and the offers.
/// The block's bytes are loaded once per group for all Q queries.
#define VNNI_TILE(Q, S)                                                                                   \
VNNI static void vnni_tile_##Q(const uint8_t *blk, int G, const int32_t *qd, const int32_t *corr,         \
                               const float *qs, __m512 rs, __mmask16 valid, vk_topk *tops, int row0) {    \
    __m512i acc[Q][S];                                                                                    \
    for (int q = 0; q < Q; q++) {                                                                         \
        acc[q][0] = _mm512_set1_epi32(corr[q]);                                                           \
        for (int s = 1; s < S; s++) acc[q][s] = _mm512_setzero_si512();                                   \
    }                                                                                                     \
    int g = 0;                                                                                            \
    for (; g + S <= G; g += S)                                                                            \
        for (int s = 0; s < S; s++) {                                                                     \
            __m512i m = _mm512_load_si512((const void *)(blk + (size_t)(g + s) * 64));                    \
            for (int q = 0; q < Q; q++)                                                                   \
                acc[q][s] = _mm512_dpbusd_epi32(acc[q][s], m, _mm512_set1_epi32(qd[(size_t)q * G + g + s])); \
        }                                                                                                 \
    for (; g < G; g++) {                                                                                  \
        __m512i m = _mm512_load_si512((const void *)(blk + (size_t)g * 64));                              \
        for (int q = 0; q < Q; q++)                                                                       \
            acc[q][0] = _mm512_dpbusd_epi32(acc[q][0], m, _mm512_set1_epi32(qd[(size_t)q * G + g]));      \
    }                                                                                                     \
    for (int q = 0; q < Q; q++) {                                                                         \
        __m512i a = acc[q][0];                                                                            \
        for (int s = 1; s < S; s++) a = _mm512_add_epi32(a, acc[q][s]);                                   \
        __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(_mm512_set1_ps(qs[q]), rs));        \
        __mmask16 w = want512(&tops[q], f, valid);                                                        \
        if (w) {                                                                                          \
            float sc[16];                                                                                 \
            _mm512_storeu_ps(sc, f);                                                                      \
            offer_mask(&tops[q], sc, w, row0);                                                            \
        }                                                                                                 \
    }                                                                                                     \
}
VNNI_TILE(1, 4) VNNI_TILE(2, 2) VNNI_TILE(3, 2) VNNI_TILE(4, 2) VNNI_TILE(5, 1) VNNI_TILE(6, 1)
VNNI_TILE(7, 1) VNNI_TILE(8, 1) VNNI_TILE(9, 1) VNNI_TILE(10, 1) VNNI_TILE(11, 1) VNNI_TILE(12, 1)
VNNI_TILE(13, 1) VNNI_TILE(14, 1) VNNI_TILE(15, 1) VNNI_TILE(16, 1)

typedef void vnni_tile_fn(const uint8_t *, int, const int32_t *, const int32_t *, const float *, __m512,
                          __mmask16, vk_topk *, int);
static vnni_tile_fn *const vnni_tiles[17] = {
    0, vnni_tile_1, vnni_tile_2, vnni_tile_3, vnni_tile_4, vnni_tile_5, vnni_tile_6, vnni_tile_7, vnni_tile_8,
    vnni_tile_9, vnni_tile_10, vnni_tile_11, vnni_tile_12, vnni_tile_13, vnni_tile_14, vnni_tile_15, vnni_tile_16,
};

/// Blocks ahead that are prefetched: the scan is a pure stream, this keeps enough lines in flight
/// for one core to reach the memory bandwidth.
#ifndef VK_PF_BYTES
#define VK_PF_BYTES 4096
#endif

VNNI void vk_search_vnni(const struct vk_index *ix, const int32_t *qd, const int32_t *corr, const float *qs,
                         int nq, vk_topk *tops) {
    int G = ix->G, B = ix->blocks;
    size_t bb = (size_t)G * 64;
    size_t total = ix->packed_bytes;
    int tail = ix->rows - (B - 1) * VK_SEARCH_BLOCK;
    for (int b = 0; b < B; b++) {
        const uint8_t *blk = ix->packed + bb * b;
        for (size_t o = 0; o < bb; o += 64)
            if (bb * b + VK_PF_BYTES + o < total) _mm_prefetch((const char *)(blk + VK_PF_BYTES + o), _MM_HINT_T0);
        __mmask16 valid = b == B - 1 ? (__mmask16)((1u << tail) - 1) : (__mmask16)0xFFFF;
        __m512 rs = _mm512_loadu_ps(ix->rs + (size_t)b * VK_SEARCH_BLOCK);
        for (int j = 0; j < nq; j += 16) {
            int Q = nq - j < 16 ? nq - j : 16;
            vnni_tiles[Q](blk, G, qd + (size_t)j * G, corr + j, qs + j, rs, valid, tops + j, b * VK_SEARCH_BLOCK);
        }
    }
}

/// AVX2: the 16 rows as two ymm of 8 int32 (rows 0-7, 8-15); scores compared per half.
AVX2 INLINE unsigned want256(const vk_topk *t, __m256 lo, __m256 hi, unsigned valid) {
    if (!vk_topk_full(t)) return valid;
    __m256 thr = _mm256_set1_ps(vk_topk_thr(t));
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(lo, thr, _CMP_GT_OQ)) |
                 (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(hi, thr, _CMP_GT_OQ)) << 8;
    return m & valid;
}

#define AVX2_TILE(Q, S)                                                                                   \
AVX2 static void avx2_tile_##Q(const uint8_t *blk, int G, const int32_t *qd, const float *qs,             \
                               __m256 rs0, __m256 rs1, unsigned valid, vk_topk *tops, int row0) {         \
    __m256i acc[Q][S][2];                                                                                 \
    for (int q = 0; q < Q; q++)                                                                           \
        for (int s = 0; s < S; s++) acc[q][s][0] = acc[q][s][1] = _mm256_setzero_si256();                 \
    int g = 0;                                                                                            \
    for (; g + S <= G; g += S)                                                                            \
        for (int s = 0; s < S; s++) {                                                                     \
            __m256i m = _mm256_load_si256((const __m256i *)(blk + (size_t)(g + s) * 32));                 \
            __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(m));                                 \
            __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(m, 1));                            \
            for (int q = 0; q < Q; q++) {                                                                 \
                __m256i x = _mm256_set1_epi32(qd[(size_t)q * G + g + s]);                                 \
                acc[q][s][0] = _mm256_add_epi32(acc[q][s][0], _mm256_madd_epi16(lo, x));                  \
                acc[q][s][1] = _mm256_add_epi32(acc[q][s][1], _mm256_madd_epi16(hi, x));                  \
            }                                                                                             \
        }                                                                                                 \
    for (; g < G; g++) {                                                                                  \
        __m256i m = _mm256_load_si256((const __m256i *)(blk + (size_t)g * 32));                           \
        __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(m));                                     \
        __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(m, 1));                                \
        for (int q = 0; q < Q; q++) {                                                                     \
            __m256i x = _mm256_set1_epi32(qd[(size_t)q * G + g]);                                         \
            acc[q][0][0] = _mm256_add_epi32(acc[q][0][0], _mm256_madd_epi16(lo, x));                      \
            acc[q][0][1] = _mm256_add_epi32(acc[q][0][1], _mm256_madd_epi16(hi, x));                      \
        }                                                                                                 \
    }                                                                                                     \
    for (int q = 0; q < Q; q++) {                                                                         \
        __m256i a0 = acc[q][0][0], a1 = acc[q][0][1];                                                     \
        for (int s = 1; s < S; s++) { a0 = _mm256_add_epi32(a0, acc[q][s][0]); a1 = _mm256_add_epi32(a1, acc[q][s][1]); } \
        __m256 p = _mm256_set1_ps(qs[q]);                                                                 \
        __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(a0), _mm256_mul_ps(p, rs0));                         \
        __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(a1), _mm256_mul_ps(p, rs1));                         \
        unsigned w = want256(&tops[q], f0, f1, valid);                                                    \
        if (w) {                                                                                          \
            float sc[16];                                                                                 \
            _mm256_storeu_ps(sc, f0); _mm256_storeu_ps(sc + 8, f1);                                       \
            offer_mask(&tops[q], sc, w, row0);                                                            \
        }                                                                                                 \
    }                                                                                                     \
}
AVX2_TILE(1, 2) AVX2_TILE(2, 1) AVX2_TILE(3, 1) AVX2_TILE(4, 1) AVX2_TILE(5, 1) AVX2_TILE(6, 1)

typedef void avx2_tile_fn(const uint8_t *, int, const int32_t *, const float *, __m256, __m256, unsigned,
                          vk_topk *, int);
static avx2_tile_fn *const avx2_tiles[7] = {0, avx2_tile_1, avx2_tile_2, avx2_tile_3, avx2_tile_4, avx2_tile_5, avx2_tile_6};

AVX2 void vk_search_avx2(const struct vk_index *ix, const int32_t *qd, const int32_t *corr, const float *qs,
                         int nq, vk_topk *tops) {
    (void)corr;
    int G = ix->G, B = ix->blocks;
    size_t bb = (size_t)G * 32;
    size_t total = ix->packed_bytes;
    int tail = ix->rows - (B - 1) * VK_SEARCH_BLOCK;
    for (int b = 0; b < B; b++) {
        const uint8_t *blk = ix->packed + bb * b;
        for (size_t o = 0; o < bb; o += 64)
            if (bb * b + VK_PF_BYTES + o < total) _mm_prefetch((const char *)(blk + VK_PF_BYTES + o), _MM_HINT_T0);
        unsigned valid = b == B - 1 ? (1u << tail) - 1 : 0xFFFFu;
        __m256 rs0 = _mm256_loadu_ps(ix->rs + (size_t)b * VK_SEARCH_BLOCK);
        __m256 rs1 = _mm256_loadu_ps(ix->rs + (size_t)b * VK_SEARCH_BLOCK + 8);
        for (int j = 0; j < nq; j += 6) {
            int Q = nq - j < 6 ? nq - j : 6;
            avx2_tiles[Q](blk, G, qd + (size_t)j * G, qs + j, rs0, rs1, valid, tops + j, b * VK_SEARCH_BLOCK);
        }
    }
}

/// Bandwidth readers: 4 independent accumulators, one 64-byte (or 2 x 32-byte) load per line, the
/// same software prefetch distance as the scans (so the floor they imply is the scans' own).
VNNI double vk_read_bw_avx512(const uint8_t *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        if (i + VK_PF_BYTES + 256 <= n)
            for (int o = 0; o < 256; o += 64) _mm_prefetch((const char *)(p + i + VK_PF_BYTES + o), _MM_HINT_T0);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512((const void *)(p + i)));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512((const void *)(p + i + 64)));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512((const void *)(p + i + 128)));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512((const void *)(p + i + 192)));
    }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (double)_mm512_reduce_add_epi64(a0);
}

AVX2 double vk_read_bw_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        if (i + VK_PF_BYTES + 128 <= n)
            for (int o = 0; o < 128; o += 64) _mm_prefetch((const char *)(p + i + VK_PF_BYTES + o), _MM_HINT_T0);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    return (double)(_mm256_extract_epi64(a0, 0) + _mm256_extract_epi64(a0, 1));
}
#endif
