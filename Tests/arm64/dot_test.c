/*
 * arm64 seed test for Vigil's int8 kernels: an int8 dot product with int32 accumulation in three
 * forms — portable C, NEON widening multiply-accumulate (smlal: every ARMv8 core, e.g. the
 * Raspberry Pi 4's Cortex-A72) and NEON SDOT (the dot-product extension: Cortex-A76 / Pi 5) chosen
 * at run time from AT_HWCAP — compared bit for bit on random lengths and values, including the
 * extremes (-128 × -128) where a 16-bit intermediate would overflow. The engine's conv kernels for
 * arm64 follow this pattern.
 */
#include <arm_neon.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif

static int32_t dot_scalar(const int8_t *a, const int8_t *b, int n) {
    int32_t s = 0;
    for (int i = 0; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

/* smlal: 8-bit × 8-bit → 16-bit products accumulated into 32-bit lanes (vmull + vpadal), exact. */
static int32_t dot_smlal(const int8_t *a, const int8_t *b, int n) {
    int32x4_t acc = vdupq_n_s32(0);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        int8x16_t x = vld1q_s8(a + i), y = vld1q_s8(b + i);
        int16x8_t lo = vmull_s8(vget_low_s8(x), vget_low_s8(y));
        int16x8_t hi = vmull_high_s8(x, y);
        acc = vpadalq_s16(acc, lo);
        acc = vpadalq_s16(acc, hi);
    }
    int32_t s = vaddvq_s32(acc);
    for (; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

__attribute__((target("dotprod")))
static int32_t dot_sdot(const int8_t *a, const int8_t *b, int n) {
    int32x4_t acc = vdupq_n_s32(0);
    int i = 0;
    for (; i + 16 <= n; i += 16) acc = vdotq_s32(acc, vld1q_s8(a + i), vld1q_s8(b + i));
    int32_t s = vaddvq_s32(acc);
    for (; i < n; i++) s += (int32_t)a[i] * (int32_t)b[i];
    return s;
}

int main(void) {
    int has_dot = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    printf("cpu: dot-product extension %s\n", has_dot ? "present" : "absent");
    srand(1234);
    int bad_smlal = 0, bad_sdot = 0, cases = 0;
    static int8_t a[4099], b[4099];
    for (int t = 0; t < 400; t++) {
        int n = 1 + rand() % 4099;
        for (int i = 0; i < n; i++) {
            a[i] = t % 7 == 0 ? -128 : (int8_t)(rand() & 0xFF);
            b[i] = t % 5 == 0 ? -128 : (int8_t)(rand() & 0xFF);
        }
        int32_t ref = dot_scalar(a, b, n);
        bad_smlal += dot_smlal(a, b, n) != ref;
        if (has_dot) bad_sdot += dot_sdot(a, b, n) != ref;
        cases++;
    }
    printf("%s smlal dot product equals the scalar reference (%d cases, %d differ)\n", bad_smlal ? "FAIL" : "PASS", cases, bad_smlal);
    if (has_dot) printf("%s sdot dot product equals the scalar reference (%d cases, %d differ)\n", bad_sdot ? "FAIL" : "PASS", cases, bad_sdot);
    else printf("PASS sdot path not taken on a CPU without the extension (run-time dispatch)\n");
    return bad_smlal || bad_sdot;
}
