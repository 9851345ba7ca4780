// arm64 paths of the watchlist search (search.c has the object and the specification): sdot
// (vdotq_s32, the dot-product extension; target("dotprod") on the function, chosen at run time by
// vk_isa_best from AT_HWCAP) and, on cores without it (Cortex-A72, Raspberry Pi 4), smull + sadalp.
//
// Exactness: sdot multiplies the packed int8 rows (16 rows x 4 bytes = 4 vectors per lane group)
// by the int8 query word and adds 4 exact products per int32 lane. The other path multiplies
// int8 x int8 into int16 (vmull_s8: |p| <= 16384, exact — unlike two smlal products, which can
// overflow int16 at -128 * -128 twice) and adds pairs into int32 lanes (vpadalq_s16), over the
// 16 rows x 2 bytes layout. Both give the exact int32 dot; the score is vcvtq_f32_s32(dot) *
// (qs * rs), the scalar path's operations in its order, so the floats are bit-identical.
#if defined(__aarch64__)
#include "search.h"
#include <arm_neon.h>

/// Scores of one block (4 vectors of 4 rows) → offers in row order: all valid rows while the
/// keeper fills, then only those above its threshold (what vk_topk_offer would keep anyway).
static inline void offer_block(vk_topk *t, const int32x4_t acc[4], float qs, const float *rs, int nvalid, int row0) {
    float sc[16];
    float32x4_t p = vdupq_n_f32(qs);
    for (int i = 0; i < 4; i++)
        vst1q_f32(sc + 4 * i, vmulq_f32(vcvtq_f32_s32(acc[i]), vmulq_f32(p, vld1q_f32(rs + 4 * i))));
    for (int i = 0; i < nvalid; i++)
        if (!vk_topk_full(t) || sc[i] > vk_topk_thr(t)) vk_topk_offer(t, sc[i], row0 + i);
}

__attribute__((target("dotprod")))
void vk_search_sdot(const struct vk_index *ix, const int32_t *qd, const int32_t *corr, const float *qs,
                    int nq, vk_topk *tops) {
    (void)corr;
    int G = ix->G, B = ix->blocks;
    size_t bb = (size_t)G * 64;
    for (int b = 0; b < B; b++) {
        const int8_t *blk = (const int8_t *)ix->packed + bb * b;
        int nvalid = b == B - 1 ? ix->rows - b * VK_SEARCH_BLOCK : VK_SEARCH_BLOCK;
        for (int q = 0; q < nq; q++) {   /* the block (G * 64 bytes) stays in L1 across queries */
            const int32_t *x = qd + (size_t)q * G;
            int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            for (int g = 0; g < G; g++) {
                int8x16_t w = vreinterpretq_s8_s32(vdupq_n_s32(x[g]));
                const int8_t *p = blk + (size_t)g * 64;
                for (int i = 0; i < 4; i++) acc[i] = vdotq_s32(acc[i], vld1q_s8(p + 16 * i), w);
            }
            offer_block(&tops[q], acc, qs[q], ix->rs + (size_t)b * VK_SEARCH_BLOCK, nvalid, b * VK_SEARCH_BLOCK);
        }
    }
}

void vk_search_smull(const struct vk_index *ix, const int32_t *qd, const int32_t *corr, const float *qs,
                     int nq, vk_topk *tops) {
    (void)corr;
    int G = ix->G, B = ix->blocks;
    size_t bb = (size_t)G * 32;
    for (int b = 0; b < B; b++) {
        const int8_t *blk = (const int8_t *)ix->packed + bb * b;
        int nvalid = b == B - 1 ? ix->rows - b * VK_SEARCH_BLOCK : VK_SEARCH_BLOCK;
        for (int q = 0; q < nq; q++) {
            const int32_t *x = qd + (size_t)q * G;
            int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
            for (int g = 0; g < G; g++) {
                /* the query's 2 bytes repeated: q0 q1 q0 q1 ... against rows r (2 bytes each) */
                int8x8_t w = vreinterpret_s8_u16(vdup_n_u16((uint16_t)(uint32_t)x[g]));
                const int8_t *p = blk + (size_t)g * 32;
                int8x16_t m0 = vld1q_s8(p), m1 = vld1q_s8(p + 16);
                acc[0] = vpadalq_s16(acc[0], vmull_s8(vget_low_s8(m0), w));
                acc[1] = vpadalq_s16(acc[1], vmull_s8(vget_high_s8(m0), w));
                acc[2] = vpadalq_s16(acc[2], vmull_s8(vget_low_s8(m1), w));
                acc[3] = vpadalq_s16(acc[3], vmull_s8(vget_high_s8(m1), w));
            }
            offer_block(&tops[q], acc, qs[q], ix->rs + (size_t)b * VK_SEARCH_BLOCK, nvalid, b * VK_SEARCH_BLOCK);
        }
    }
}
#endif
