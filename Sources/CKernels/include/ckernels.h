// CKernels: Vigil's fast int8 kernels (x86-64: scalar C, AVX2, AVX-512 VNNI chosen at run time).
// Every kernel is bit-exact with the Swift reference backend (Sources/Inference/ReferenceBackend.swift,
// Quantization.swift): int32 wrapping accumulation of (x - zx)(w - zw), saturating + bias,
// round_half_even(float32(acc) * ratio) + zy, clamp. Weights are packed once, at create time.
#ifndef VIGIL_CKERNELS_H
#define VIGIL_CKERNELS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set paths. `vk_isa_auto` picks the best one the CPU has; asking for a path the
/// CPU lacks falls back to the best available one below it.
/// x86-64: avx2, avx512vnni. arm64: neon (smlal, every ARMv8 core), neon_dot (sdot, the
/// dot-product extension, chosen at run time from AT_HWCAP); asking for an x86 path on arm64
/// (or the reverse) gives the best path of the running CPU's own family at or below the request.
enum { vk_isa_auto = 0, vk_isa_scalar = 1, vk_isa_avx2 = 2, vk_isa_avx512vnni = 3,
       vk_isa_neon = 4, vk_isa_neon_dot = 5 };

/// The best path this CPU supports.
int vk_isa_best(void);

/// Convolution, NCHW, batch 1 (as Inference.ConvDescriptor).
typedef struct vk_conv_shape {
    int in_c, in_h, in_w, out_c, out_h, out_w;
    int k_h, k_w, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w, groups;
    int32_t input_zero_point, output_zero_point, out_min, out_max;
} vk_conv_shape;

typedef struct vk_conv vk_conv;

/// weights: [out_c][in_c/groups][k_h][k_w]; wzp, bias, ratio: [out_c]. Copies what it needs.
vk_conv *vk_conv_create(const vk_conv_shape *shape, const int8_t *weights, const int32_t *wzp,
                        const int32_t *bias, const float *ratio, int isa);
/// As vk_conv_create, run by up to `threads` threads (threads <= 1: exactly vk_conv_create). The
/// output channels (groups, for grouped and depthwise convolutions) are split into contiguous
/// ranges, one per thread, each packed as its own kernel: every output element is computed by one
/// thread with the same arithmetic, so results are bit-identical for any thread count. Threads come
/// from a shared persistent pool; if they cannot be created, the calling thread runs every range.
vk_conv *vk_conv_create_mt(const vk_conv_shape *shape, const int8_t *weights, const int32_t *wzp,
                           const int32_t *bias, const float *ratio, int isa, int threads);
void vk_conv_run(const vk_conv *c, const int8_t *input, int8_t *output);
/// The path the kernel runs.
int vk_conv_isa(const vk_conv *c);
void vk_conv_destroy(vk_conv *c);

/// Fully connected: out[r][n] = requant(sum_k (in[r][k] - zi)(w[n][k] - zw[n]) + bias[n]).
typedef struct vk_fc vk_fc;
vk_fc *vk_fc_create(int rows, int in_features, int out_features, int32_t input_zero_point,
                    int32_t output_zero_point, int32_t out_min, int32_t out_max,
                    const int8_t *weights, const int32_t *wzp, const int32_t *bias,
                    const float *ratio, int isa);
/// As vk_fc_create, split over output features across up to `threads` threads (as vk_conv_create_mt).
vk_fc *vk_fc_create_mt(int rows, int in_features, int out_features, int32_t input_zero_point,
                       int32_t output_zero_point, int32_t out_min, int32_t out_max,
                       const int8_t *weights, const int32_t *wzp, const int32_t *bias,
                       const float *ratio, int isa, int threads);
/// The number of threads the kernel splits its work over (1: the single-threaded path).
int vk_conv_threads(const vk_conv *c);
int vk_fc_threads(const vk_fc *f);
void vk_fc_run(const vk_fc *f, const int8_t *input, int8_t *output);
int vk_fc_isa(const vk_fc *f);
void vk_fc_destroy(vk_fc *f);

/// Elementwise add as Inference.AddDescriptor / ReferenceAdd (onnxruntime's float32 formula):
/// t = fma(a + a_offset, a_ratio, fma(b + b_offset, b_ratio, fixed)), rounded half to even,
/// clamped to [out_min, out_max] + out_offset, minus out_offset. SIMD paths only (they need FMA):
/// returns 0 without writing when the path is scalar (the caller runs the reference instead).
typedef struct vk_add_params {
    int32_t a_offset, b_offset, out_offset, out_min, out_max;
    float a_ratio, b_ratio, fixed;
} vk_add_params;
int vk_add(const vk_add_params *p, int64_t count, const int8_t *a, const int8_t *b, int8_t *out, int isa);

/// Max / average pooling as Inference.PoolDescriptor / ReferencePool (average: onnxruntime's
/// float32 formula, summed in the same row-major window order). AVX-512 path only: returns 0
/// without writing on the other paths, or if out of memory (the caller runs the reference instead).
typedef struct vk_pool_params {
    int is_max, channels, in_h, in_w, out_h, out_w, k_h, k_w, stride_h, stride_w, pad_top, pad_left;
    int count_include_pad;
    int32_t input_zero_point, output_zero_point, out_min, out_max, output_offset;
    float input_scale, output_scale;
} vk_pool_params;
int vk_pool(const vk_pool_params *p, const int8_t *input, int8_t *output, int isa);

/// QuantizeLinear as Inference.QuantParams.quantize (onnxruntime's): y = clamp(round_half_even(x / scale),
/// -128 - zp, 127 - zp) + zp, NaN -> zp. IEEE division and round-to-nearest-even in every path, so
/// all paths (scalar C, AVX2, AVX-512, NEON) give the Swift reference's bytes.
void vk_quantize(const float *x, int8_t *y, int64_t count, float scale, int32_t zero_point, int isa);
/// DequantizeLinear as Inference.QuantParams.dequantize: y = float(q - zp) * scale.
void vk_dequantize(const int8_t *q, float *y, int64_t count, float scale, int32_t zero_point, int isa);

/// The int8 multiply-accumulate peak of one core on path `isa` (MACs per second), measured for
/// about `seconds` (best of repeated short runs): VNNI vpdpbusd, AVX2 vpmaddwd, NEON sdot or
/// smlal. 0 for the scalar path.
double vk_int8_peak_macs(int isa, double seconds);

// MARK: watchlist search (search.c)

/// An exact int8 top-k index over `rows` vectors of `dim` int8 values (the watchlist), packed once
/// at create time into blocks of 16 rows for the path `isa` (vk_isa_*; auto: the CPU's best).
///
/// Specification (the scalar path; every path returns bit-identical rows and scores):
///   dot(q, r)   = sum over d of q[d] * m[r][d], exact in int32 (dim <= 65536)
///   score(q, r) = (float)dot(q, r) * (query_scale[q] * row_scale[r])   (float32, this order)
///   result      = the min(k, rows) best rows, by score descending, ties by lower row index.
/// Scales must be finite with |scale| <= 1e18 (then no score is NaN).
typedef struct vk_index vk_index;
/// Copies/packs `matrix` ([rows][dim], row-major) and `row_scale` ([rows]). rows >= 0, 1 <= dim
/// <= 65536. NULL on invalid arguments or out of memory.
vk_index *vk_index_create(int rows, int dim, const int8_t *matrix, const float *row_scale, int isa);
/// Searches nq >= 0 queries ([nq][dim] int8, scales [nq]) at once — the matrix is read once for
/// the whole batch. Writes the results of query i to out_rows[i * k ..] and out_scores[i * k ..]
/// (best first); slots past the count get row -1 and score -infinity. Returns the count per query,
/// min(k, rows), or -1 on invalid arguments / out of memory. Single-threaded.
int vk_index_search(const vk_index *ix, const int8_t *queries, const float *query_scale, int nq, int k,
                    int32_t *out_rows, float *out_scores);
int vk_index_isa(const vk_index *ix);
int vk_index_rows(const vk_index *ix);
int vk_index_dim(const vk_index *ix);
void vk_index_destroy(vk_index *ix);
/// Single-core memory read bandwidth in bytes per second: streams a `bytes` buffer (make it much
/// larger than the last-level cache) `passes` times with the widest loads the CPU has; the best
/// pass. 0 if out of memory. The floor of a memory-bound search is its bytes / this.
double vk_read_bandwidth(int64_t bytes, int passes);

#ifdef __cplusplus
}
#endif
#endif
