// The machine's int8 multiply-accumulate peak per core, measured: the benchmark reports how
// close the embedder gets to it. Each loop keeps enough independent accumulators in flight to
// hide the instruction's latency, so only its throughput limits the rate.
#include "internal.h"
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
/// 12 independent vpdpbusd zmm chains: 64 MACs each.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double peak_vnni(long iters) {
    __m512i a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_epi32(i);
    __m512i x = _mm512_set1_epi8(3), w = _mm512_set1_epi8(5);
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbusd_epi32(a[i], x, w);
        __asm__ volatile("" : "+v"(x));
    }
    double t = now_seconds() - t0;
    __m512i s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_epi32(s, a[i]);
    volatile int sink = _mm512_reduce_add_epi32(s);
    (void)sink;
    return (double)iters * 12 * 64 / t;
}

/// 6 chains of vpmaddwd + vpaddd on ymm (16 MACs each); the asm barrier makes every product
/// a fresh computation (it would otherwise be hoisted out of the loop).
__attribute__((target("avx2"))) static double peak_avx2(long iters) {
    __m256i a[6], x[6];
    for (int i = 0; i < 6; i++) { a[i] = _mm256_set1_epi32(i); x[i] = _mm256_set1_epi16((short)(i + 1)); }
    __m256i w = _mm256_set1_epi16(5);
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 6; i++) a[i] = _mm256_add_epi32(a[i], _mm256_madd_epi16(x[i], w));
        __asm__ volatile("" : "+x"(x[0]), "+x"(x[1]), "+x"(x[2]), "+x"(x[3]), "+x"(x[4]), "+x"(x[5]));
    }
    double t = now_seconds() - t0;
    __m256i s = a[0];
    for (int i = 1; i < 6; i++) s = _mm256_add_epi32(s, a[i]);
    volatile int sink = _mm256_extract_epi32(s, 0);
    (void)sink;
    return (double)iters * 6 * 16 / t;
}
#endif

#if defined(__aarch64__)
/// 8 independent sdot chains (16 MACs each).
__attribute__((target("dotprod"))) static double peak_sdot(long iters) {
    int32x4_t a[8];
    for (int i = 0; i < 8; i++) a[i] = vdupq_n_s32(i);
    int8x16_t x = vdupq_n_s8(3), w = vdupq_n_s8(5);
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 8; i++) a[i] = vdotq_s32(a[i], x, w);
        __asm__ volatile("" : "+w"(x));
    }
    double t = now_seconds() - t0;
    int32x4_t s = a[0];
    for (int i = 1; i < 8; i++) s = vaddq_s32(s, a[i]);
    volatile int sink = vaddvq_s32(s);
    (void)sink;
    return (double)iters * 8 * 16 / t;
}

/// 8 independent smlal chains (8 MACs each, int16 accumulators: the NEON path's inner step).
static double peak_smlal(long iters) {
    int16x8_t a[8];
    for (int i = 0; i < 8; i++) a[i] = vdupq_n_s16((short)i);
    int8x8_t x = vdup_n_s8(3), w = vdup_n_s8(5);
    double t0 = now_seconds();
    for (long n = 0; n < iters; n++) {
        for (int i = 0; i < 8; i++) a[i] = vmlal_s8(a[i], x, w);
        __asm__ volatile("" : "+w"(x));
    }
    double t = now_seconds() - t0;
    int16x8_t s = a[0];
    for (int i = 1; i < 8; i++) s = vaddq_s16(s, a[i]);
    volatile int sink = vaddvq_s16(s);
    (void)sink;
    return (double)iters * 8 * 8 / t;
}
#endif

double vk_int8_peak_macs(int isa, double seconds) {
    isa = vk_resolve_isa(isa);
    long iters = 1 << 16;
    double best = 0;
    double end = now_seconds() + (seconds > 0 ? seconds : 0.2);
    while (now_seconds() < end) {
        double r = 0;
#if defined(__x86_64__)
        if (isa == vk_isa_avx512vnni) r = peak_vnni(iters);
        else if (isa == vk_isa_avx2) r = peak_avx2(iters);
#endif
#if defined(__aarch64__)
        if (isa == vk_isa_neon_dot) r = peak_sdot(iters);
        else if (isa == vk_isa_neon) r = peak_smlal(iters);
#endif
        if (r == 0) return 0;  /* no SIMD path: no meaningful peak */
        if (r > best) best = r;
    }
    return best;
}
