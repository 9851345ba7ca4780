// Shared internals of CKernels (not exported).
#ifndef VIGIL_CKERNELS_INTERNAL_H
#define VIGIL_CKERNELS_INTERNAL_H
#include "ckernels.h"
#include <stddef.h>
#include <stdint.h>

struct vk_conv {
    vk_conv_shape s;
    int isa;
    int cin_pg, cout_pg, K, P;
    int need_zw;          // some weight zero point is not 0
    int nosat;            // acc + bias can never overflow int32 (|acc| <= K * 255 * 255): the
                          // saturating add is a plain add, which SIMD paths may fold into acc's start
    int8_t *w;            // [out_c][K] as given (scalar path)
    int32_t *wzp, *bias;
    float *ratio;
    int K4;               // VNNI: K rounded up to 4
    int32_t *wq4;         // VNNI: [out_c][K4] words of 4 int8 weights (pad 0)
    int32_t *corr;        // VNNI: [out_c] -(zx+128)*sum(w) + K*(zx+128)*zw, wrapping
    int32_t *wdw;         // VNNI path, depthwise (in_c/groups == 1): [out_c][k_h*k_w] w - zw
    int dwj;              // VBMI depthwise: dwords of 4 taps per kernel row, ceil(k_w / 4)
    int32_t *wdw4;        // VBMI depthwise: [out_c][k_h][dwj] 4 raw int8 weights (pad 0), or NULL
    int32_t *dwcorr;      // VBMI depthwise: [out_c] -(zx+128) * sum(w), wrapping
    int K2;               // AVX2: K rounded up to 2
    int32_t *wq2;         // AVX2: [out_c][K2] words of 2 int16 (w - zw) (pad 0)
#if defined(__aarch64__)
    int K16;              // NEON: K rounded up to 16
    int cout_pg4;         // NEON: cout_pg rounded up to 4
    int8_t *wn;           // NEON: [groups][cout_pg4][K16] raw int8 weights (pad 0, pad rows 0)
    int32_t *ncorr;       // NEON: [out_c] K*zx*zw - zx*sum(w), wrapping
#endif
    int nsub;             // threads: > 0 when the work is split over sub-kernels (nothing above packed)
    struct vk_conv **sub; // [nsub] kernels of contiguous output-channel (or group) ranges
    size_t *in_off, *out_off;  // [nsub] input / output byte offsets of each range
    // small-P VNNI (x86_small.c): vectorised over 16 output channels, taps never in bounds skipped
    void *sm_mem;         // one allocation holding everything below (NULL: kernel not prepared)
    int sm_ocb, sm_ic4, sm_ntap, sm_kk;  // oc blocks of 16, ceil(in_c/4), kept taps, sm_ntap*sm_ic4
    int *sm_tap;          // [sm_ntap] ky * k_w + kx of the kept taps
    int32_t *sm_w;        // [sm_ocb][sm_kk][16] words of 4 s8 weights (ic%4), pad 0
    int32_t *sm_corr, *sm_bias, *sm_zw;  // [sm_ocb * 16] (corr over kept taps only)
    float *sm_ratio;      // [sm_ocb * 16]
    int32_t *sm_src;      // [P][sm_ntap] byte offset of the tap's pixel in the per-run pixel-major input, -1 outside
    uint8_t *sm_zrow;     // [sm_ic4 * 4] what an outside tap reads: zx + 128 for the in_c channels, 0 after
    // implicit GEMM VNNI (x86_implicit.c): reads NC4HW4 (phase-split) padded planes in place, no im2col
    void *im_mem;         // one allocation holding everything below (NULL: kernel not prepared)
    int im_T, im_ic4, im_kk, im_hq, im_wq;  // taps, ceil(in_c/4), im_ic4*im_T, phase-plane height / width
    int32_t *im_w;        // [ceil(out_c/8)][im_kk][8] words of 4 s8 weights (ic%4), pad 0
    int32_t *im_cb;       // [out_c] -(zx+128)*sum(w) (+ bias when nosat), wrapping
    int32_t *im_bias;     // [out_c]
    float *im_ratio;      // [out_c]
    int32_t *im_koff;     // [im_kk] dword offset of k = (ic4, ky, kx) in the planes: ic4 block, phase plane, qy * W + qx
    // first-conv VNNI (x86_firstconv.c): planes of 4 kernel columns of one channel per dword, no im2col
    void *f1_mem;         // one allocation holding everything below (NULL: kernel not prepared)
    int f1_J, f1_ks, f1_hq;  // ceil(k_w/4), K-steps in_c*k_h*f1_J, phase-plane height
    int32_t *f1_w;        // [ceil(out_c/8)][f1_ks][8] words of 4 s8 weights (kx%4), pad 0
    int32_t *f1_cb;       // [out_c] -(zx+128)*sum(w) (+ bias when nosat), wrapping
    int32_t *f1_bias;     // [out_c]
    float *f1_ratio;      // [out_c]
    int32_t *f1_koff;     // [f1_ks] dword offset of k = (ch, ky, j): plane (ch, j, phase) + row offset
};

struct vk_fc {
    int rows, K, N, isa, need_zw;
    int32_t zi, zy, lo, hi;
    int8_t *w;            // [N][K]
    int32_t *wzp, *bias;
    float *ratio;
    int Kp;               // K rounded up to 64
    int8_t *w8;           // VNNI: [N][Kp] (pad 0)
    int32_t *corr;        // VNNI: [N]
    int16_t *w16;         // AVX2: [N][Kp] w - zw (pad 0)
    int nsub;             // threads: > 0 when split over sub-kernels of output-feature ranges
    struct vk_fc **sub;
    int *n0;              // [nsub + 1] feature range starts (sub-kernels are single-row, run per row)
};

/// The path that runs for a requested one (auto or beyond the CPU: the best the CPU has).
int vk_resolve_isa(int isa);

/// The shared thread pool: runs fn(ctx, i) for i in [0, n) on up to `threads` threads (the caller
/// is one of them) and returns when all are done. Without worker threads the caller runs them all.
void vk_pool_parallel(void (*fn)(void *ctx, int i), void *ctx, int n, int threads);
void vk_conv_run_mt(const struct vk_conv *c, const int8_t *input, int8_t *output);
void vk_fc_run_mt(const struct vk_fc *f, const int8_t *input, int8_t *output);
void vk_conv_destroy_subs(struct vk_conv *c);
void vk_fc_destroy_subs(struct vk_fc *f);

/// The reference's requantization: saturate(acc + bias) to int32, float32, * ratio, round half
/// to even, + zy, clamp. The float product is clamped to +-65536 first (integers, so rounding
/// commutes with the clamp; any value beyond ends at the int8 clamp anyway).
static inline int8_t vk_finish(int32_t acc, int32_t bias, float ratio, int32_t zy, int32_t lo, int32_t hi) {
    int64_t s = (int64_t)acc + bias;
    if (s > INT32_MAX) s = INT32_MAX;
    if (s < INT32_MIN) s = INT32_MIN;
    float f = (float)(int32_t)s;
    float v = f * ratio;
    if (v > 65536.0f) v = 65536.0f;
    if (v < -65536.0f) v = -65536.0f;
    float t = v + 12582912.0f;     // 1.5 * 2^23: rounds to an integer, half to even
    float r = t - 12582912.0f;
    int32_t q = (int32_t)r + zy;
    if (q < lo) q = lo;
    if (q > hi) q = hi;
    return (int8_t)q;
}

/// The scalar specification of QuantizeLinear (Quantization.swift): IEEE division, rint in the
/// default rounding mode (nearest, ties to even), NaN to 0 before the zero point.
static inline int8_t vk_quantize1(float x, float scale, int32_t zp) {
    float v = __builtin_rintf(x / scale);
    float lo = (float)(-128 - zp), hi = (float)(127 - zp);
    float c = v != v ? 0.0f : (v < lo ? lo : (v > hi ? hi : v));
    return (int8_t)((int32_t)c + zp);
}

/// The reference loops in C (also the fallback when a SIMD path cannot get its scratch memory).
void vk_conv_run_scalar(const struct vk_conv *c, const int8_t *input, int8_t *output);
void vk_conv_run_avx2(const struct vk_conv *c, const int8_t *input, int8_t *output);
void vk_conv_run_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output);
void vk_fc_run_avx2(const struct vk_fc *f, const int8_t *input, int8_t *output);
void vk_add_avx2(const vk_add_params *p, int64_t count, const int8_t *a, const int8_t *b, int8_t *out);
void vk_add_avx512(const vk_add_params *p, int64_t count, const int8_t *a, const int8_t *b, int8_t *out);
/// Returns 0 (nothing written) when it cannot get its scratch memory.
int vk_pool_avx512(const vk_pool_params *p, const int8_t *input, int8_t *output);
void vk_fc_run_scalar(const struct vk_fc *f, const int8_t *input, int8_t *output);
void vk_fc_run_vnni(const struct vk_fc *f, const int8_t *input, int8_t *output);
/// Small-P AVX-512 VNNI convolution (x86_small.c): 1 if it applies (groups 1, VNNI, P small) and
/// was packed; 0 with nothing allocated otherwise.
int vk_conv_small_prepare(struct vk_conv *c);
void vk_conv_run_small_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output);
/// Implicit-GEMM AVX-512 VNNI convolution (x86_implicit.c): 1 if it applies (groups 1, VNNI, all
/// weight zero points 0, P > VK_SMALL_MAX_P, not pointwise) and was packed; 0 with nothing allocated.
int vk_conv_implicit_prepare(struct vk_conv *c);
void vk_conv_run_implicit_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output);
/// First-conv AVX-512 VNNI + VBMI convolution (x86_firstconv.c): 1 if it applies (groups 1, VNNI + VBMI,
/// weight zero points 0, few input channels, P > VK_SMALL_MAX_P, measured rule) and was packed; 0 otherwise.
int vk_conv_firstconv_prepare(struct vk_conv *c);
void vk_conv_run_firstconv_vnni(const struct vk_conv *c, const int8_t *input, int8_t *output);
/// The VBMI depthwise kernel applies (CPU has AVX-512 VBMI, weight zero points 0, a row of 16
/// outputs spans at most 64 input bytes).
int vk_dw_vbmi_applies(const struct vk_conv *c);
void vk_quantize_avx512(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
void vk_quantize_avx2(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
void vk_dequantize_avx512(const int8_t *q, float *y, int64_t n, float scale, int32_t zp);
void vk_dequantize_avx2(const int8_t *q, float *y, int64_t n, float scale, int32_t zp);
#if defined(__aarch64__)
void vk_quantize_neon(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
void vk_dequantize_neon(const int8_t *q, float *y, int64_t n, float scale, int32_t zp);
void vk_conv_run_neon(const struct vk_conv *c, const int8_t *input, int8_t *output);
void vk_conv_run_neon_dot(const struct vk_conv *c, const int8_t *input, int8_t *output);
#endif

#endif
