/*
 * arm64 exactness test for vk_quantize / vk_dequantize (the model's float edges): the NEON path
 * (vdivq_f32, vrndnq_f32) against the scalar path, bit for bit, on random scales and zero
 * points, exact ties (k + 0.5) * scale, NaN, infinities, huge values and vector tails. Also checks
 * the measured int8 peak is positive on the NEON paths. Built with Sources/CKernels (conv_ prefix).
 */
#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint32_t rng = 777;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; return rng; }
static int ri(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

int main(void) {
    int fails = 0, cases = 0;
    const int isas[2] = {vk_isa_neon, vk_isa_neon_dot};
    float x[301], yf[2][301];
    int8_t q[301], y[2][301];
    for (int t = 0; t < 2000; t++) {
        float scale = (float)ri(1, 100000) / 1e6f;
        int32_t zp = ri(-128, 127);
        int n = ri(0, 300);
        for (int i = 0; i < n; i++) {
            switch (ri(0, 9)) {
            case 0: x[i] = ((float)ri(-300, 300) + 0.5f) * scale; break;
            case 1: { const float sp[7] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.0f, -0.0f}; x[i] = sp[ri(0, 6)]; break; }
            default: x[i] = (float)(int32_t)rnd() / 2147483648.0f * 200 * scale;
            }
            q[i] = (int8_t)rnd();
        }
        vk_quantize(x, y[0], n, scale, zp, vk_isa_scalar);
        vk_dequantize(q, yf[0], n, scale, zp, vk_isa_scalar);
        for (int k = 0; k < 2; k++) {
            memset(y[1], 0x55, sizeof y[1]);
            vk_quantize(x, y[1], n, scale, zp, isas[k]);
            vk_dequantize(q, yf[1], n, scale, zp, isas[k]);
            if (memcmp(y[0], y[1], (size_t)n) || memcmp(yf[0], yf[1], sizeof(float) * (size_t)n)) {
                if (fails++ < 5) printf("FAIL quantize/dequantize isa %d trial %d: scale %g zp %d n %d\n", isas[k], t, scale, zp, n);
            }
            cases++;
        }
    }
    if (!fails) printf("PASS quantize/dequantize: %d random cases (ties, NaN, inf, tails) bit-exact with the scalar path\n", cases);
    double peak = vk_int8_peak_macs(vk_isa_auto, 0.05);
    if (peak > 0) printf("PASS int8 peak measured: %.2f G MAC/s (under emulation: not a real figure)\n", peak / 1e9);
    else { printf("FAIL int8 peak not measured\n"); fails++; }
    return fails ? 1 : 0;
}
