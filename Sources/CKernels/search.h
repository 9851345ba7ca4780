// Private pieces of the watchlist search (search.c, search_x86.c, search_arm64.c): the index
// object, the packed layout and the top-k keeper every path shares.
//
// Why one shared top-k keeper: bit-identical results across paths need more than identical
// scores — ties and the order candidates are offered matter too. Every path offers the candidates
// of one query in increasing row order to the same vk_topk_offer; a SIMD path may skip a row only
// when vk_topk_offer would reject it anyway (keeper full and score <= the worst kept score: a later
// row never beats an equal earlier one), so every path keeps exactly the same k entries.
#ifndef VIGIL_CKERNELS_SEARCH_H
#define VIGIL_CKERNELS_SEARCH_H
#include "ckernels.h"
#include <stddef.h>
#include <stdint.h>

#define VK_SEARCH_BLOCK 16   /* rows per block: one zmm of 16 int32 dot products */

/// The index. Packed layout (SIMD paths), chosen at create time by the path:
///   packed[((b * G) + g) * 16 * L + r * L + l] = m[16 b + r][g L + l]   (0 beyond dim or rows)
/// L = 4 bytes per int32 lane (VNNI vpdpbusd, NEON sdot) or 2 (AVX2 vpmaddwd, NEON smull+sadalp).
/// VNNI stores m + 128 as u8 (vpdpbusd multiplies u8 by s8: the matrix is the u8 operand, the query
/// the s8 one; the +128 adds 128 * sum(q) to every dot of a query, one constant subtracted up front).
/// A block of 16 rows is G * 16 * L contiguous bytes, so a scan streams the matrix once, in order.
struct vk_index {
    int rows, dim, isa;
    int L, G, blocks;        /* bytes per lane, lane groups ceil(dim / L), ceil(rows / 16) */
    int8_t *m;               /* scalar path: [rows][dim] as given; NULL otherwise */
    uint8_t *packed;         /* SIMD paths: the layout above (64-byte aligned); NULL for scalar */
    size_t packed_bytes;
    float *rs;               /* [blocks * 16] row scales (0 in the padding rows) */
};

/// Top-k of one query: a binary heap with the WORST kept entry at the root. Order: higher score
/// first, then lower row. Scores are never NaN (scales are validated: finite, |s| <= 1e18).
typedef struct vk_topk {
    int k, n;
    float *s;
    int32_t *r;
} vk_topk;

/// a is worse than b.
static inline int vk_worse(float sa, int32_t ra, float sb, int32_t rb) {
    return sa < sb || (sa == sb && ra > rb);
}

/// The keeper is full and a score must beat `vk_topk_thr` to enter (rows come in increasing order).
static inline int vk_topk_full(const vk_topk *t) { return t->n == t->k; }
static inline float vk_topk_thr(const vk_topk *t) { return t->s[0]; }

/// Offers (score, row); keeps it if the keeper is not full or it is better than the worst kept.
static inline void vk_topk_offer(vk_topk *t, float s, int32_t r) {
    float *hs = t->s;
    int32_t *hr = t->r;
    if (t->n < t->k) {                       /* sift up */
        int i = t->n++;
        while (i > 0) {
            int p = (i - 1) / 2;
            if (!vk_worse(s, r, hs[p], hr[p])) break;
            hs[i] = hs[p]; hr[i] = hr[p]; i = p;
        }
        hs[i] = s; hr[i] = r;
        return;
    }
    if (!vk_worse(hs[0], hr[0], s, r)) return;
    int i = 0, n = t->n;                     /* replace the root, sift down */
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && vk_worse(hs[c + 1], hr[c + 1], hs[c], hr[c])) c++;
        if (!vk_worse(hs[c], hr[c], s, r)) break;
        hs[i] = hs[c]; hr[i] = hr[c]; i = c;
    }
    hs[i] = s; hr[i] = r;
}

/// A path's scan: every row of the index against nq prepared queries, offering candidates to
/// tops[q]. qd: [nq][G] lane words of the query (L = 4: 4 int8 bytes; L = 2: 2 int8 bytes, as two
/// int16 for AVX2, as two bytes for NEON), corr: [nq] the VNNI constant -128 * sum(q) (0 elsewhere),
/// qs: [nq] query scales. score = (float)dot * (qs * rs) — the specification's order.
typedef void vk_search_fn(const struct vk_index *ix, const int32_t *qd, const int32_t *corr, const float *qs,
                          int nq, vk_topk *tops);
#if defined(__x86_64__)
vk_search_fn vk_search_vnni, vk_search_avx2;
double vk_read_bw_avx512(const uint8_t *p, size_t n);
double vk_read_bw_avx2(const uint8_t *p, size_t n);
#endif
#if defined(__aarch64__)
vk_search_fn vk_search_sdot, vk_search_smull;
#endif

#endif
