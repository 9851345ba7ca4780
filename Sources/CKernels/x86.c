// x86-64 SIMD paths, compiled per function for their ISA (no global flags) and chosen at run time.
//   AVX-512 VNNI: convolution as im2col + GEMM: input planes padded once (u8 x + 128, border
//                 zx + 128), im2col rows copied from them ([K/4][pixels][4] after byte/word
//                 unpacks; pointwise convs interleave straight from the input), vpdpbusd against
//                 packed s8 weights broadcast per output channel, 3x16 pixels x 8 channels per
//                 micro-kernel; zero points by precomputed corrections (exact mod 2^32).
//                 Depthwise (one input channel per group): a direct kernel on int32 planes.
//                 Fully connected: dot products of 64 bytes. Add (FMA) and pooling too.
//   AVX2:         im2col to int16 (x - zx) in [K/2][pixels][2], vpmaddwd against (w - zw) int16 pairs
//                 (exact: |products| <= 255 * 255, pair sums fit int32; NOT vpmaddubsw, which saturates).
//                 Fully connected with vpmaddwd; Add (FMA).
// Requantization everywhere is the reference's, in SIMD: saturating + bias, cvtdq2ps, mulps,
// clamp to +-65536 (integers: commutes with rounding), cvtps2dq with explicit nearest-even.
#if defined(__x86_64__)
#include "x86_common.h"
#include <string.h>

#define scratch vk_scratch

// MARK: AVX-512 VNNI

/// The input planes of group g as u8 (x + 128) inside a border of zx + 128 (the value that
/// contributes 0 after the zero-point corrections), so im2col rows are plain strided copies.
typedef struct padded_u8 { uint8_t *data; int PH, PW; } padded_u8;

VNNI __attribute__((noinline)) static void pad_planes_u8(const vk_conv *c, const int8_t *input, int g, padded_u8 *pp) {
    const vk_conv_shape *s = &c->s;
    uint8_t zxu = (uint8_t)(s->input_zero_point + 128);
    memset(pp->data, zxu, (size_t)c->cin_pg * pp->PH * pp->PW);
    const int inH = s->in_h, inW = s->in_w, PH = pp->PH, PW = pp->PW, cin = c->cin_pg;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int ic = 0; ic < cin; ic++) {
        const int8_t *src = input + (size_t)(g * cin + ic) * inH * inW;
        uint8_t *dst = pp->data + (size_t)ic * PH * PW + (size_t)s->pad_top * PW + s->pad_left;
        for (int y = 0; y < inH; y++) {
            const int8_t *sr = src + (size_t)y * inW;
            uint8_t *dr = dst + (size_t)y * PW;
            for (int x = 0; x < inW; x += 64) {
                int n = inW - x;
                __mmask64 m = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
                _mm512_mask_storeu_epi8(dr + x, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, sr + x), flip));
            }
        }
    }
}

/// One im2col row for k = (ic, ky, kx): 32-byte copies (stride 2: 64 bytes narrowed to their
/// even bytes with vpmovwb), which may read up to 64 bytes past the padded row (the next row, or
/// the planes' 256 bytes of slack) and write up to 31 bytes past the output row; rows are written
/// in order, so the next row overwrites them (the row buffer has 64 bytes of slack).
/// `plane`: the padded plane of the row's input channel, offset by its kernel tap (ky, kx).
VNNI INLINE void fill_row_u8(const vk_conv *c, const padded_u8 *pp, const uint8_t *plane, uint8_t *d) {
    const vk_conv_shape *s = &c->s;
    const int outH = s->out_h, outW = s->out_w, sw = s->stride_w, sh = s->stride_h, PW = pp->PW;
    for (int oy = 0; oy < outH; oy++) {
        const uint8_t *src = plane + (size_t)oy * sh * PW;
        uint8_t *r = d + (size_t)oy * outW;
        if (sw == 1) {
            for (int ox = 0; ox < outW; ox += 32) _mm256_storeu_si256((__m256i *)(r + ox), _mm256_loadu_si256((const __m256i *)(src + ox)));
        } else if (sw == 2) {
            for (int ox = 0; ox < outW; ox += 32) _mm256_storeu_si256((__m256i *)(r + ox), _mm512_cvtepi16_epi8(_mm512_loadu_si512(src + 2 * ox)));
        } else {
            for (int ox = 0; ox < outW; ox++) r[ox] = src[ox * sw];
        }
    }
}

/// col[k/4][p][k%4] for group g: rows of four k at a time, interleaved with byte/word unpacks.
/// rows: 4 rows of P16 bytes; zero: P16 zero bytes (the K padding).
VNNI __attribute__((noinline)) static void im2col_u8(const vk_conv *c, const padded_u8 *pp, uint8_t *col, int P16, uint8_t *rows, const uint8_t *zero) {
    int K = c->K, K4 = (K + 3) / 4;
    const vk_conv_shape *s = &c->s;
    int ic = 0, ky = 0, kx = 0;  // k = (ic, ky, kx), advanced without divisions
    for (int k4 = 0; k4 < K4; k4++) {
        const uint8_t *r[4];
        for (int j = 0; j < 4; j++) {
            int k = k4 * 4 + j;
            if (k < K) {
                const uint8_t *plane = pp->data + (size_t)ic * pp->PH * pp->PW + (size_t)ky * s->dil_h * pp->PW + (size_t)kx * s->dil_w;
                fill_row_u8(c, pp, plane, rows + (size_t)j * (P16 + 64));
                r[j] = rows + (size_t)j * (P16 + 64);
                if (++kx == s->k_w) { kx = 0; if (++ky == s->k_h) { ky = 0; ic++; } }
            } else r[j] = zero;
        }
        uint8_t *dst = col + (size_t)k4 * P16 * 4;
        for (int p = 0; p < P16; p += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(r[0] + p)), b = _mm_loadu_si128((const __m128i *)(r[1] + p));
            __m128i cc = _mm_loadu_si128((const __m128i *)(r[2] + p)), d = _mm_loadu_si128((const __m128i *)(r[3] + p));
            __m128i ablo = _mm_unpacklo_epi8(a, b), abhi = _mm_unpackhi_epi8(a, b);
            __m128i cdlo = _mm_unpacklo_epi8(cc, d), cdhi = _mm_unpackhi_epi8(cc, d);
            _mm_storeu_si128((__m128i *)(dst + p * 4), _mm_unpacklo_epi16(ablo, cdlo));
            _mm_storeu_si128((__m128i *)(dst + p * 4 + 16), _mm_unpackhi_epi16(ablo, cdlo));
            _mm_storeu_si128((__m128i *)(dst + p * 4 + 32), _mm_unpacklo_epi16(abhi, cdhi));
            _mm_storeu_si128((__m128i *)(dst + p * 4 + 48), _mm_unpackhi_epi16(abhi, cdhi));
        }
    }
}

/// Pointwise (1x1, stride 1, no padding): the input planes are the im2col rows already; interleave
/// four channels at a time straight from the input, flipping the sign bit (x + 128). The tail of
/// each plane (P % 16 pixels) goes through a small buffer so no read passes the input's end.
VNNI __attribute__((noinline)) static void im2col_pointwise(const vk_conv *c, const int8_t *input, int g, uint8_t *col, int P16) {
    int K = c->K, K4 = (K + 3) / 4, P = c->P, Pmain = P & ~15;
    const __m128i flip = _mm_set1_epi8((char)0x80);
    static const int8_t pad80[16] = {-128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128};
    for (int k4 = 0; k4 < K4; k4++) {
        const int8_t *r[4];
        for (int j = 0; j < 4; j++) {
            int k = k4 * 4 + j;
            r[j] = k < K ? input + (size_t)(g * c->cin_pg + k) * P : NULL;
        }
        uint8_t *dst = col + (size_t)k4 * P16 * 4;
        for (int p = 0; p < P16; p += 16) {
            __m128i v[4];
            for (int j = 0; j < 4; j++) {
                if (!r[j]) v[j] = _mm_loadu_si128((const __m128i *)pad80);
                else if (p < Pmain) v[j] = _mm_loadu_si128((const __m128i *)(r[j] + p));
                else { int8_t t[16]; memcpy(t, pad80, 16); memcpy(t, r[j] + p, (size_t)(P - p)); v[j] = _mm_loadu_si128((const __m128i *)t); }
                v[j] = _mm_xor_si128(v[j], flip);
            }
            __m128i ablo = _mm_unpacklo_epi8(v[0], v[1]), abhi = _mm_unpackhi_epi8(v[0], v[1]);
            __m128i cdlo = _mm_unpacklo_epi8(v[2], v[3]), cdhi = _mm_unpackhi_epi8(v[2], v[3]);
            _mm_storeu_si128((__m128i *)(dst + p * 4), _mm_unpacklo_epi16(ablo, cdlo));
            _mm_storeu_si128((__m128i *)(dst + p * 4 + 16), _mm_unpackhi_epi16(ablo, cdlo));
            _mm_storeu_si128((__m128i *)(dst + p * 4 + 32), _mm_unpacklo_epi16(abhi, cdhi));
            _mm_storeu_si128((__m128i *)(dst + p * 4 + 48), _mm_unpackhi_epi16(abhi, cdhi));
        }
    }
}



VNNI INLINE void mk_vnni(const vk_conv *c, const uint8_t *col, const int32_t *xs, int P16, int oc0, int p0,
                         const int NV, const int NO, int8_t *output) {
    __m512i acc[8][3];
    for (int o = 0; o < NO; o++) for (int v = 0; v < NV; v++) acc[o][v] = _mm512_setzero_si512();
    const int K4 = c->K4;
    const int32_t *w = c->wq4 + (size_t)oc0 * K4;
    const uint8_t *b = col + (size_t)p0 * 4;
    for (int k = 0; k < K4; k++) {
        __m512i x[3];
        for (int v = 0; v < NV; v++) x[v] = _mm512_loadu_si512(b + (size_t)k * P16 * 4 + v * 64);
        for (int o = 0; o < NO; o++) {
            __m512i wb = _mm512_set1_epi32(w[o * K4 + k]);
            for (int v = 0; v < NV; v++) acc[o][v] = _mm512_dpbusd_epi32(acc[o][v], x[v], wb);
        }
    }
    const vk_conv_shape *s = &c->s;
    int P = c->P;
    const __m512 flo = _mm512_set1_ps((float)(s->out_min - s->output_zero_point));
    const __m512 fhi = _mm512_set1_ps((float)(s->out_max - s->output_zero_point));
    const __m512i vzy = _mm512_set1_epi32(s->output_zero_point);
    for (int o = 0; o < NO; o++) {
        int oc = oc0 + o;
        for (int v = 0; v < NV; v++) {
            __m512i a = _mm512_add_epi32(acc[o][v], _mm512_set1_epi32(c->nosat ? (int32_t)((uint32_t)c->corr[oc] + (uint32_t)c->bias[oc]) : c->corr[oc]));
            if (xs) a = _mm512_sub_epi32(a, _mm512_mullo_epi32(_mm512_loadu_si512(xs + p0 + v * 16), _mm512_set1_epi32(c->wzp[oc])));
            __m128i q = c->nosat ? requant512_nosat(a, _mm512_set1_ps(c->ratio[oc]), flo, fhi, vzy)
                                 : requant512(a, c->bias[oc], c->ratio[oc], s->output_zero_point, s->out_min, s->out_max);
            int p = p0 + v * 16, n = P - p;
            int8_t *dst = output + (size_t)oc * P + p;
            if (n >= 16) _mm_storeu_si128((__m128i *)dst, q);
            else if (n > 0) _mm_mask_storeu_epi8(dst, (__mmask16)((1u << n) - 1), q);
        }
    }
}

/// Depthwise (one input channel per group, any channel multiplier), AVX-512F: each input plane
/// is copied once as int32 x - zx into a zero-bordered plane; 16 outputs of a row per vector,
/// one multiply-add per kernel tap (stride 1: plain loads; 2: two loads and a permute; else a
/// gather). Products and sums wrap mod 2^32 like the reference's.
VNNI __attribute__((noinline)) static void dw_run_avx512(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    int inH = s->in_h, inW = s->in_w, outH = s->out_h, outW = s->out_w, kH = s->k_h, kW = s->k_w;
    int sh = s->stride_h, sw = s->stride_w, dh = s->dil_h, dw = s->dil_w, pt = s->pad_top, pl = s->pad_left;
    int outW16 = (outW + 15) & ~15;
    int PW = outW16 * sw + (kW - 1) * dw + 32 + pl + inW;
    int PH = (outH - 1) * sh + (kH - 1) * dh + 1;
    if (PH < pt + inH) PH = pt + inH;
    int32_t *plane = scratch(sizeof(int32_t) * (size_t)PH * PW);
    if (!plane) { vk_conv_run_scalar(c, input, output); return; }
    memset(plane, 0, sizeof(int32_t) * (size_t)PH * PW);  // the borders stay 0 (= zx - zx)
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(sw));
    int32_t zx = s->input_zero_point;
    int in_done = -1;
    for (int oc = 0; oc < s->out_c; oc++) {
        int ic = oc / c->cout_pg;
        if (ic != in_done) {
            const int8_t *src = input + (size_t)ic * inH * inW;
            const __m512i vzx = _mm512_set1_epi32(zx);
            for (int y = 0; y < inH; y++) {
                int32_t *d = plane + (size_t)(y + pt) * PW + pl;
                const int8_t *sr = src + (size_t)y * inW;
                for (int x = 0; x < inW; x += 16) {
                    int n = inW - x;
                    __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
                    _mm512_mask_storeu_epi32(d + x, m, _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, sr + x)), vzx));
                }
            }
            in_done = ic;
        }
        const int32_t *w = c->wdw + (size_t)oc * kH * kW;
        for (int oy = 0; oy < outH; oy++) {
            for (int ox0 = 0; ox0 < outW; ox0 += 16) {
                __m512i acc = _mm512_setzero_si512();
                for (int ky = 0; ky < kH; ky++) {
                    const int32_t *row = plane + (size_t)(oy * sh + ky * dh) * PW + (size_t)ox0 * sw;
                    for (int kx = 0; kx < kW; kx++) {
                        const int32_t *b = row + kx * dw;
                        __m512i v;
                        if (sw == 1) v = _mm512_loadu_si512(b);
                        else if (sw == 2) v = _mm512_permutex2var_epi32(_mm512_loadu_si512(b), even, _mm512_loadu_si512(b + 16));
                        else v = _mm512_i32gather_epi32(gidx, b, 4);
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(v, _mm512_set1_epi32(w[ky * kW + kx])));
                    }
                }
                __m128i q = requant512(acc, c->bias[oc], c->ratio[oc], s->output_zero_point, s->out_min, s->out_max);
                int n = outW - ox0;
                int8_t *dst = output + ((size_t)oc * outH + oy) * outW + ox0;
                if (n >= 16) _mm_storeu_si128((__m128i *)dst, q);
                else _mm_mask_storeu_epi8(dst, (__mmask16)((1u << n) - 1), q);
            }
        }
    }
    free(plane);
}

int vk_dw_vbmi_applies(const vk_conv *c) {
    const vk_conv_shape *s = &c->s;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vbmi") || c->need_zw || c->cin_pg != 1) return 0;
    return s->k_w <= 16 && 15 * s->stride_w + (s->k_w - 1) * s->dil_w + 1 <= 64;
}

#define VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

/// NCH chunks of 16 outputs of one row from ox0 (dw_run_vbmi), requantized and stored.
VBMI INLINE void dw_row_chunks(const padded_u8 *pp, const uint8_t *rowp, const __m512i *idx, int ox0, const int NCH,
                               const vk_conv *c, int oc, __m512i corr, __m512 vratio, __m512 flo, __m512 fhi,
                               __m512i vzy, int nosat, int8_t *dst) {
    const vk_conv_shape *s = &c->s;
    const int J = c->dwj, sw = s->stride_w, dh = s->dil_h, outW = s->out_w;
    const int32_t *w = c->wdw4 + (size_t)oc * s->k_h * J;
    __m512i acc[6];
    for (int u = 0; u < NCH; u++) acc[u] = corr;
    for (int ky = 0; ky < s->k_h; ky++) {
        const uint8_t *r = rowp + (size_t)ky * dh * pp->PW + (size_t)ox0 * sw;
        __m512i data[6];
        for (int u = 0; u < NCH; u++) data[u] = _mm512_loadu_si512(r + (size_t)u * 16 * sw);
        for (int j = 0; j < J; j++) {
            __m512i wv = _mm512_set1_epi32(w[ky * J + j]);
            for (int u = 0; u < NCH; u++) acc[u] = _mm512_dpbusd_epi32(acc[u], _mm512_permutexvar_epi8(idx[j], data[u]), wv);
        }
    }
    for (int u = 0; u < NCH; u++) {
        int n = outW - ox0 - 16 * u;
        __m128i q = nosat ? requant512_nosat(acc[u], vratio, flo, fhi, vzy)
                          : requant512(acc[u], c->bias[oc], c->ratio[oc], s->output_zero_point, s->out_min, s->out_max);
        if (n >= 16) _mm_storeu_si128((__m128i *)(dst + ox0 + 16 * u), q);
        else _mm_mask_storeu_epi8(dst + ox0 + 16 * u, (__mmask16)((1u << n) - 1), q);
    }
}

/// NCH chunks of 16 consecutive outputs of the flattened plane from q0 (narrow planes, where 16
/// outputs span several rows): each chunk's window starts at its first output's input position;
/// `ptab` holds the vpermb indices for each starting column (the rows it crosses are in them).
VBMI INLINE void dw_flat_chunks(const padded_u8 *pp, const __m512i *ptab, int q0, const int NCH,
                                const vk_conv *c, int oc, __m512i corr, __m512 vratio, __m512 flo, __m512 fhi,
                                __m512i vzy, int nosat, int8_t *dst) {
    const vk_conv_shape *s = &c->s;
    const int J = c->dwj, sw = s->stride_w, sh = s->stride_h, dh = s->dil_h, outW = s->out_w, P = s->out_h * outW;
    const int32_t *w = c->wdw4 + (size_t)oc * s->k_h * J;
    __m512i acc[6];
    const uint8_t *base[6];
    const __m512i *ix[6];
    for (int u = 0; u < NCH; u++) {
        int q = q0 + 16 * u, oy = q / outW, ox = q % outW;
        acc[u] = corr;
        base[u] = pp->data + (size_t)oy * sh * pp->PW + (size_t)ox * sw;
        ix[u] = ptab + (size_t)ox * J;
    }
    for (int ky = 0; ky < s->k_h; ky++) {
        __m512i data[6];
        for (int u = 0; u < NCH; u++) data[u] = _mm512_loadu_si512(base[u] + (size_t)ky * dh * pp->PW);
        for (int j = 0; j < J; j++) {
            __m512i wv = _mm512_set1_epi32(w[ky * J + j]);
            for (int u = 0; u < NCH; u++) acc[u] = _mm512_dpbusd_epi32(acc[u], _mm512_permutexvar_epi8(ix[u][j], data[u]), wv);
        }
    }
    for (int u = 0; u < NCH; u++) {
        int n = P - q0 - 16 * u;
        __m128i q = nosat ? requant512_nosat(acc[u], vratio, flo, fhi, vzy)
                          : requant512(acc[u], c->bias[oc], c->ratio[oc], s->output_zero_point, s->out_min, s->out_max);
        if (n >= 16) _mm_storeu_si128((__m128i *)(dst + q0 + 16 * u), q);
        else _mm_mask_storeu_epi8(dst + q0 + 16 * u, (__mmask16)((1u << n) - 1), q);
    }
}

/// vpermb indices for flattened chunks (dw_flat_chunks), one set per starting column ox0 in
/// [0, out_w): lane i is output ox0 + i of the flattened plane, dr rows below, at column x; its
/// tap t of dword j sits at dr * sh * PW + (x - ox0) * sw + t * dw from the chunk's window start.
/// NULL (use whole-row chunks) when the plane is wide, its width a multiple of 16 (no waste to
/// recover), or some window would exceed 64 bytes.
static __m512i *dw_flat_table(const vk_conv *c, int PW) {
    const vk_conv_shape *s = &c->s;
    int outW = s->out_w, J = c->dwj;
    if (outW > 64 || outW % 16 == 0) return NULL;
    __m512i *t = vk_scratch(sizeof(__m512i) * (size_t)outW * J);
    if (!t) return NULL;
    for (int ox0 = 0; ox0 < outW; ox0++)
        for (int j = 0; j < J; j++) {
            uint8_t b[64];
            for (int i = 0; i < 16; i++) {
                int dr = (ox0 + i) / outW, x = (ox0 + i) % outW;
                for (int k = 0; k < 4; k++) {
                    int tap = 4 * j + k;
                    int off = dr * s->stride_h * PW + (x - ox0) * s->stride_w + (tap < s->k_w ? tap * s->dil_w : 0);
                    if (off < 0 || off > 63) { free(t); return NULL; }
                    b[4 * i + k] = (uint8_t)off;
                }
            }
            memcpy(&t[(size_t)ox0 * J + j], b, 64);
        }
    return t;
}

/// Depthwise with AVX-512 VBMI + VNNI: per input channel one u8 padded plane (x + 128, border
/// zx + 128, as the GEMM path); for 16 outputs of a row and each kernel row, one 64-byte load,
/// one vpermb per 4 taps gathering each output's taps into a dword, one vpdpbusd against the
/// 4 raw weights — 3 instructions per kernel row instead of 3 int32 multiply-adds per tap. Taps
/// past k_w in the last dword have weight 0, so whatever byte vpermb puts there adds nothing.
/// The zero point comes back as one constant per channel, -(zx + 128) * sum(w) (weight zero
/// points are 0 on this path): exact, like the reference's wrapping int32 sum.
VBMI __attribute__((noinline)) static void dw_run_vbmi(const vk_conv *c, const int8_t *input, int8_t *output) {
    const vk_conv_shape *s = &c->s;
    int inH = s->in_h, inW = s->in_w, outH = s->out_h, outW = s->out_w, kH = s->k_h, kW = s->k_w, J = c->dwj;
    int sh = s->stride_h, sw = s->stride_w, dh = s->dil_h, dw = s->dil_w, pt = s->pad_top, pl = s->pad_left;
    padded_u8 pp;
    pp.PH = (outH - 1) * sh + (kH - 1) * dh + 1;
    if (pp.PH < pt + inH) pp.PH = pt + inH;
    pp.PW = (outW - 1) * sw + (kW - 1) * dw + 1;
    if (pp.PW < pl + inW) pp.PW = pl + inW;
    size_t slack = 192 * (size_t)sw + 128;  // vector reads past the last row (6 chunks of 16 outputs)
    pp.data = scratch((size_t)pp.PH * pp.PW + slack);
    if (!pp.data) { dw_run_avx512(c, input, output); return; }
    memset(pp.data + (size_t)pp.PH * pp.PW, 0, slack);
    __m512i idx[4];
    for (int j = 0; j < J && j < 4; j++) {
        uint8_t b[64];
        for (int i = 0; i < 16; i++)
            for (int t = 0; t < 4; t++) {
                int tap = 4 * j + t;
                b[4 * i + t] = (uint8_t)(tap < kW ? i * sw + tap * dw : 0);
            }
        idx[j] = _mm512_loadu_si512(b);
    }
    __m512i *ptab = dw_flat_table(c, pp.PW);
    const int m = c->cout_pg;
    for (int oc = 0; oc < s->out_c; oc++) {
        if (oc % m == 0) {
            // pad_planes_u8 pads the cin_pg (= 1) planes of "group" oc / m: exactly input channel ic.
            pad_planes_u8(c, input, oc / m, &pp);
        }
        const int nosat = c->nosat;
        const __m512i corr = _mm512_set1_epi32((int32_t)((uint32_t)c->dwcorr[oc] + (nosat ? (uint32_t)c->bias[oc] : 0u)));
        const __m512 vratio = _mm512_set1_ps(c->ratio[oc]);
        const __m512 flo = _mm512_set1_ps((float)(s->out_min - s->output_zero_point));
        const __m512 fhi = _mm512_set1_ps((float)(s->out_max - s->output_zero_point));
        const __m512i vzy = _mm512_set1_epi32(s->output_zero_point);
        if (ptab) {
            // Flattened: chunks of 16 consecutive outputs of the plane, across row ends.
            const int P = outH * outW;
            int8_t *dst = output + (size_t)oc * P;
            for (int q0 = 0; q0 < P; q0 += 96) {
                int nch = (P - q0 + 15) / 16;
                if (nch > 6) nch = 6;
                switch (nch) {
                case 6: dw_flat_chunks(&pp, ptab, q0, 6, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 5: dw_flat_chunks(&pp, ptab, q0, 5, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 4: dw_flat_chunks(&pp, ptab, q0, 4, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 3: dw_flat_chunks(&pp, ptab, q0, 3, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 2: dw_flat_chunks(&pp, ptab, q0, 2, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                default: dw_flat_chunks(&pp, ptab, q0, 1, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                }
            }
            continue;
        }
        for (int oy = 0; oy < outH; oy++) {
            const uint8_t *rowp = pp.data + (size_t)oy * sh * pp.PW;
            int8_t *dst = output + ((size_t)oc * outH + oy) * outW;
            // Up to six independent chunks of 16 outputs per step (one accumulator alone would
            // wait on each vpdpbusd's latency; 4 measured 15 % slower on 96-wide rows), never
            // more chunks than the row has.
            for (int ox0 = 0; ox0 < outW; ox0 += 96) {
                int nch = (outW - ox0 + 15) / 16;
                if (nch > 6) nch = 6;
                switch (nch) {
                case 6: dw_row_chunks(&pp, rowp, idx, ox0, 6, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 5: dw_row_chunks(&pp, rowp, idx, ox0, 5, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 4: dw_row_chunks(&pp, rowp, idx, ox0, 4, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 3: dw_row_chunks(&pp, rowp, idx, ox0, 3, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                case 2: dw_row_chunks(&pp, rowp, idx, ox0, 2, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                default: dw_row_chunks(&pp, rowp, idx, ox0, 1, c, oc, corr, vratio, flo, fhi, vzy, nosat, dst); break;
                }
            }
        }
    }
    free(ptab);
    free(pp.data);
}

VNNI void vk_conv_run_vnni(const vk_conv *c, const int8_t *input, int8_t *output) {
    if (c->sm_mem) { vk_conv_run_small_vnni(c, input, output); return; }
    if (c->im_mem) { vk_conv_run_implicit_vnni(c, input, output); return; }
    if (c->f1_mem) { vk_conv_run_firstconv_vnni(c, input, output); return; }
    if (c->wdw4) { dw_run_vbmi(c, input, output); return; }
    if (c->wdw) { dw_run_avx512(c, input, output); return; }
    int P16 = (c->P + 15) & ~15, K4 = c->K4;
    uint8_t *col = scratch((size_t)K4 * P16 * 4);
    uint8_t *rows = scratch((size_t)5 * (P16 + 64)), *zero = rows ? rows + (size_t)4 * (P16 + 64) : NULL;
    if (rows) memset(rows, 0, (size_t)5 * (P16 + 64));  // pixels P..P16: computed, never stored
    const vk_conv_shape *s = &c->s;
    padded_u8 pp;
    pp.PH = (s->out_h - 1) * s->stride_h + (s->k_h - 1) * s->dil_h + 1;
    if (pp.PH < s->pad_top + s->in_h) pp.PH = s->pad_top + s->in_h;
    // Rows are as wide as the reads need; fill_row_u8's vector over-reads run into the next row
    // (their bytes land past the output row and are overwritten) or into the buffer's slack.
    pp.PW = (s->out_w - 1) * s->stride_w + (s->k_w - 1) * s->dil_w + 1;
    if (pp.PW < s->pad_left + s->in_w) pp.PW = s->pad_left + s->in_w;
    int pointwise = s->k_h == 1 && s->k_w == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_top == 0 &&
        s->pad_left == 0 && s->out_h == s->in_h && s->out_w == s->in_w;
    pp.data = pointwise ? NULL : scratch((size_t)c->cin_pg * pp.PH * pp.PW + 256);
    int32_t *xs = c->need_zw ? scratch(sizeof(int32_t) * P16) : NULL;
    if (!col || !rows || (!pointwise && !pp.data) || (c->need_zw && !xs)) {
        free(col); free(rows); free(pp.data); free(xs);
        vk_conv_run_scalar(c, input, output);
        return;
    }
    for (int g = 0; g < c->s.groups; g++) {
        if (pointwise) im2col_pointwise(c, input, g, col, P16);
        else { pad_planes_u8(c, input, g, &pp); im2col_u8(c, &pp, col, P16, rows, zero); }
        if (xs) {
            __m512i ones = _mm512_set1_epi8(1);
            for (int p = 0; p < P16; p += 16) {
                __m512i a = _mm512_setzero_si512();
                for (int k = 0; k < K4; k++) a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(col + ((size_t)k * P16 + p) * 4), ones);
                _mm512_storeu_si512(xs + p, a);
            }
        }
        int end = (g + 1) * c->cout_pg;
        for (int oc0 = g * c->cout_pg; oc0 < end; oc0 += 8) {
            int no = end - oc0 < 8 ? end - oc0 : 8;
            for (int p0 = 0; p0 < P16; p0 += 48) {
                int nv = (P16 - p0) / 16; if (nv > 3) nv = 3;
                // Constant shapes so the compiler keeps the accumulators in registers.
                #define CASE(NV, NO) case (NV) * 16 + (NO): mk_vnni(c, col, xs, P16, oc0, p0, NV, NO, output); break;
                switch (nv * 16 + no) {
                    CASE(3, 8) CASE(3, 7) CASE(3, 6) CASE(3, 5) CASE(3, 4) CASE(3, 3) CASE(3, 2) CASE(3, 1)
                    CASE(2, 8) CASE(2, 7) CASE(2, 6) CASE(2, 5) CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1)
                    CASE(1, 8) CASE(1, 7) CASE(1, 6) CASE(1, 5) CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1)
                }
                #undef CASE
            }
        }
    }
    free(col);
    free(rows);
    free(pp.data);
    free(xs);
}

VNNI void vk_fc_run_vnni(const vk_fc *f, const int8_t *input, int8_t *output) {
    int K = f->K, Kp = f->Kp;
    uint8_t *xu = scratch(Kp);
    if (!xu) { vk_fc_run_scalar(f, input, output); return; }
    for (int r = 0; r < f->rows; r++) {
        const int8_t *x = input + (size_t)r * K;
        uint32_t xsum = 0;
        for (int k = 0; k < K; k++) { xu[k] = (uint8_t)(x[k] ^ 0x80); xsum += xu[k]; }
        for (int k = K; k < Kp; k++) xu[k] = 0;
        for (int n = 0; n < f->N; n++) {
            const int8_t *w = f->w8 + (size_t)n * Kp;
            __m512i a = _mm512_setzero_si512();
            for (int k = 0; k < Kp; k += 64) a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(xu + k), _mm512_loadu_si512(w + k));
            uint32_t acc = (uint32_t)_mm512_reduce_add_epi32(a) + (uint32_t)f->corr[n] - (uint32_t)f->wzp[n] * xsum;
            output[(size_t)r * f->N + n] = vk_finish((int32_t)acc, f->bias[n], f->ratio[n], f->zy, f->lo, f->hi);
        }
    }
    free(xu);
}

/// Add: 16 lanes per step, four steps per iteration (independent chains keep the FMA and
/// conversion latencies overlapped); the tail with masked loads and stores.
VNNI INLINE __m128i add16_avx512(__m128i xa, __m128i xb, __m512i ao, __m512i bo, __m512i oo, __m512 ra, __m512 rb,
                                 __m512 fixed, __m512 lo, __m512 hi) {
    __m512i x = _mm512_cvtepi8_epi32(xa), y = _mm512_cvtepi8_epi32(xb);
    __m512 t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(y, bo)), rb, fixed);
    t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(x, ao)), ra, t);
    t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);  // integer bounds: clamping commutes with rounding
    return _mm512_cvtepi32_epi8(_mm512_sub_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), oo));
}

VNNI void vk_add_avx512(const vk_add_params *p, int64_t count, const int8_t *a, const int8_t *b, int8_t *out) {
    const __m512i ao = _mm512_set1_epi32(p->a_offset), bo = _mm512_set1_epi32(p->b_offset), oo = _mm512_set1_epi32(p->out_offset);
    const __m512 ra = _mm512_set1_ps(p->a_ratio), rb = _mm512_set1_ps(p->b_ratio), fixed = _mm512_set1_ps(p->fixed);
    const __m512 lo = _mm512_set1_ps((float)(p->out_min + p->out_offset)), hi = _mm512_set1_ps((float)(p->out_max + p->out_offset));
    int64_t i = 0;
    for (; i + 64 <= count; i += 64) {
        __m512i va = _mm512_loadu_si512(a + i), vb = _mm512_loadu_si512(b + i);
        __m128i q0 = add16_avx512(_mm512_extracti32x4_epi32(va, 0), _mm512_extracti32x4_epi32(vb, 0), ao, bo, oo, ra, rb, fixed, lo, hi);
        __m128i q1 = add16_avx512(_mm512_extracti32x4_epi32(va, 1), _mm512_extracti32x4_epi32(vb, 1), ao, bo, oo, ra, rb, fixed, lo, hi);
        __m128i q2 = add16_avx512(_mm512_extracti32x4_epi32(va, 2), _mm512_extracti32x4_epi32(vb, 2), ao, bo, oo, ra, rb, fixed, lo, hi);
        __m128i q3 = add16_avx512(_mm512_extracti32x4_epi32(va, 3), _mm512_extracti32x4_epi32(vb, 3), ao, bo, oo, ra, rb, fixed, lo, hi);
        __m512i r = _mm512_inserti32x4(_mm512_castsi128_si512(q0), q1, 1);
        r = _mm512_inserti32x4(_mm512_inserti32x4(r, q2, 2), q3, 3);
        _mm512_storeu_si512(out + i, r);
    }
    for (; i < count; i += 16) {
        int64_t n = count - i;
        __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
        __m128i q = add16_avx512(_mm_maskz_loadu_epi8(m, a + i), _mm_maskz_loadu_epi8(m, b + i), ao, bo, oo, ra, rb, fixed, lo, hi);
        _mm_mask_storeu_epi8(out + i, m, q);
    }
}

/// Max pooling on int8 bytes with AVX-512 VBMI: each plane copied once into a plane with -128
/// borders (never beats the reference's initial -128); per output row, chunks of N outputs (as
/// many as a 128-byte window holds), one vpermt2b + vpmaxsb per tap — 64 outputs per vector
/// instead of 16 int32 lanes. Returns 0 when it does not apply (the caller runs the int32 path).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static int pool_max_vbmi(const vk_pool_params *p, const int8_t *input, int8_t *output) {
    int inH = p->in_h, inW = p->in_w, outH = p->out_h, outW = p->out_w, kH = p->k_h, kW = p->k_w;
    int sh = p->stride_h, sw = p->stride_w, pt = p->pad_top, pl = p->pad_left;
    if (kW > 64 || sw > 32) return 0;
    int N = (128 - kW) / sw + 1;  // outputs per chunk: lane N - 1 reads byte (N - 1) * sw + kW - 1 <= 127
    if (N > 64) N = 64;
    if (N < 8) return 0;
    int PW = (outW - 1) * sw + kW;
    if (PW < pl + inW) PW = pl + inW;
    int PH = (outH - 1) * sh + kH;
    if (PH < pt + inH) PH = pt + inH;
    size_t slack = 128 + (size_t)N * sw;
    int8_t *plane = vk_scratch((size_t)PH * PW + slack);
    if (!plane) return 0;
    __m512i idx[64];
    for (int kx = 0; kx < kW; kx++) {
        uint8_t b[64];
        for (int i = 0; i < 64; i++) b[i] = (uint8_t)(i < N ? i * sw + kx : 0);
        idx[kx] = _mm512_loadu_si512(b);
    }
    const __m512i lo = _mm512_set1_epi8((char)p->out_min), hi = _mm512_set1_epi8((char)p->out_max);
    memset(plane, -128, (size_t)PH * PW + slack);
    for (int ch = 0; ch < p->channels; ch++) {
        const int8_t *src = input + (size_t)ch * inH * inW;
        for (int y = 0; y < inH; y++) memcpy(plane + (size_t)(y + pt) * PW + pl, src + (size_t)y * inW, (size_t)inW);
        for (int oy = 0; oy < outH; oy++) {
            int8_t *dst = output + ((size_t)ch * outH + oy) * outW;
            for (int ox0 = 0; ox0 < outW; ox0 += N) {
                __m512i best = _mm512_set1_epi8(-128);
                for (int ky = 0; ky < kH; ky++) {
                    const int8_t *r = plane + (size_t)(oy * sh + ky) * PW + (size_t)ox0 * sw;
                    __m512i a = _mm512_loadu_si512(r), b = _mm512_loadu_si512(r + 64);
                    for (int kx = 0; kx < kW; kx++) best = _mm512_max_epi8(best, _mm512_permutex2var_epi8(a, idx[kx], b));
                }
                best = _mm512_min_epi8(_mm512_max_epi8(best, lo), hi);
                int n = outW - ox0 < N ? outW - ox0 : N;
                _mm512_mask_storeu_epi8(dst + ox0, n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1), best);
            }
        }
        // Only the interior was overwritten: the borders stay -128 for the next channel.
    }
    free(plane);
    return 1;
}

/// Pooling: each plane copied once into a bordered plane (max: int32 with -128 borders, which
/// never beat the reference's initial -128; average: float32 si * (x - zi) with +0 borders, which
/// leave a float sum unchanged), 16 outputs of a row per vector, taps in the reference's order.
int vk_pool_avg2_disable = 0;  // test hook: 1 = the generic path for 2x2 stride-2 averages too

/// One output of pool_avg2 (the generic path's arithmetic, in scalar: the same float operations
/// in the same order — +0, then the four cells row by row, / 4, / output scale, + zero point —
/// so the same bytes).
static int8_t avg2_one(const vk_pool_params *p, const int8_t *a0, const int8_t *a1) {
    #pragma clang fp contract(off)   // sum + si * x must stay two roundings, as in the vector path (no FMA)
    const float si = p->input_scale;
    const int32_t zi = p->input_zero_point;
    float sum = 0.0f;
    sum = sum + si * (float)(a0[0] - zi);
    sum = sum + si * (float)(a0[1] - zi);
    sum = sum + si * (float)(a1[0] - zi);
    sum = sum + si * (float)(a1[1] - zi);
    float t = sum / 4.0f / p->output_scale + (float)(p->output_zero_point + p->output_offset);
    float lo = (float)(p->out_min + p->output_offset), hi = (float)(p->out_max + p->output_offset);
    t = t > lo ? t : lo;      // _mm512_max_ps(t, lo)
    t = t < hi ? t : hi;      // _mm512_min_ps(t, hi)
    return (int8_t)((int32_t)__builtin_rintf(t) - p->output_offset);
}

/// Average pooling 2x2, stride 2, no padding (ResNet shortcuts: 35x35 -> 17x17 ... 4x4 -> 2x2).
/// The generic path below vectorises over 16 output COLUMNS of one channel and first converts the
/// whole input to a float plane: at 2x2 outputs 14 of 16 lanes idle (dlib: 39 us for its four
/// shortcut pools). Here 16 consecutive outputs of the flattened [channel * out_h][out_w] output —
/// several rows and channels when out_w divides 16 — each lane's two cells of an input row read as
/// one word: contiguous loads for out_w >= 8 (gathers were slower there: 35x35 -> 17x17 took 23 us
/// vs the generic 13.5), gathers for out_w 1, 2, 4. A gather reads 4 bytes, so a lane whose read
/// would pass the input's end (only the very last output can) is redone by avg2_one. Returns 0 if
/// it does not apply.
VNNI static int pool_avg2(const vk_pool_params *p, const int8_t *input, int8_t *output) {
    // A stride along an axis with one output never moves the window (the embedder's global average
    // pool over 2x2 has stride 1): as good as 2.
    if (p->is_max || vk_pool_avg2_disable || p->k_h != 2 || p->k_w != 2 ||
        (p->stride_h != 2 && p->out_h != 1) || (p->stride_w != 2 && p->out_w != 1) ||
        p->pad_top != 0 || p->pad_left != 0 || p->out_h < 1 || p->out_w < 1 ||
        2 * p->out_h > p->in_h || 2 * p->out_w > p->in_w) return 0;
    const int outW = p->out_w, inW = p->in_w, R = p->channels * p->out_h;
    if (outW < 16 && 16 % outW) return 0;
    const int64_t total = (int64_t)p->channels * p->in_h * inW;
    if (total > INT32_MAX - 64) return 0;
    int32_t *tbl = scratch(sizeof(int32_t) * ((size_t)R + 16));   // byte offset of each output row's first input row
    if (!tbl) return 0;
    for (int ch = 0, r = 0; ch < p->channels; ch++)
        for (int oy = 0; oy < p->out_h; oy++, r++) tbl[r] = (int32_t)(((int64_t)ch * p->in_h + 2 * oy) * inW);
    memset(tbl + R, 0, sizeof(int32_t) * 16);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i zi = _mm512_set1_epi32(p->input_zero_point), vinW = _mm512_set1_epi32(inW);
    const __m512i lim = _mm512_set1_epi32((int32_t)(total - 3));   // a gather at offset a reads a..a+3
    const __m512 si = _mm512_set1_ps(p->input_scale), so = _mm512_set1_ps(p->output_scale), four = _mm512_set1_ps(4.0f);
    const int off = p->output_offset;
    const __m512 zo = _mm512_set1_ps((float)(p->output_zero_point + off));
    const __m512 flo = _mm512_set1_ps((float)(p->out_min + off)), fhi = _mm512_set1_ps((float)(p->out_max + off));
    const int G = outW < 16 ? 16 / outW : 1;          // output rows per vector
    const __m512i lrow = outW < 16 ? _mm512_srli_epi32(lane, __builtin_ctz((unsigned)outW)) : _mm512_setzero_si512();
    const __m512i lcol2 = outW < 16 ? _mm512_slli_epi32(_mm512_and_si512(lane, _mm512_set1_epi32(outW - 1)), 1) : _mm512_setzero_si512();
    for (int r0 = 0; r0 < R; r0 += G) {
        for (int ox0 = 0; ox0 < outW; ox0 += 16) {
            // w0 / w1: per lane the word of its two cells in the first / second input row.
            __m512i a0 = _mm512_setzero_si512(), w0, w1;
            int n;
            __mmask16 valid, safe;
            if (outW >= 16) {   // one output row: two contiguous (masked) loads
                n = outW - ox0 < 16 ? outW - ox0 : 16;
                valid = safe = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
                const int8_t *s0 = input + tbl[r0] + 2 * ox0;
                w0 = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, s0));
                w1 = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, s0 + inW));
            } else if (outW == 8) {   // two output rows: 16 bytes of each input row, exactly the cells
                n = (R - r0 < 2 ? R - r0 : 2) * 8;
                valid = safe = (__mmask16)(n >= 16 ? 0xffff : 0xff);
                const int8_t *s0 = input + tbl[r0], *s1 = input + tbl[r0 + (n > 8)];
                w0 = _mm512_cvtepu16_epi32(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)s0)),
                                                                   _mm_loadu_si128((const __m128i *)s1), 1));
                w1 = _mm512_cvtepu16_epi32(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(s0 + inW))),
                                                                   _mm_loadu_si128((const __m128i *)(s1 + inW)), 1));
            } else {            // 2-8 output rows (out_w 1, 2, 4): gathers
                a0 = _mm512_add_epi32(_mm512_permutexvar_epi32(lrow, _mm512_loadu_si512(tbl + r0)), lcol2);
                n = (R - r0 < G ? R - r0 : G) * outW;
                __m512i a1 = _mm512_add_epi32(a0, vinW);
                valid = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
                safe = valid & _mm512_cmplt_epi32_mask(a1, lim);
                w0 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), safe, a0, input, 1);
                w1 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), safe, a1, input, 1);
            }
            __m512i x[4] = {_mm512_srai_epi32(_mm512_slli_epi32(w0, 24), 24), _mm512_srai_epi32(_mm512_slli_epi32(w0, 16), 24),
                            _mm512_srai_epi32(_mm512_slli_epi32(w1, 24), 24), _mm512_srai_epi32(_mm512_slli_epi32(w1, 16), 24)};
            __m512 sum = _mm512_setzero_ps();
            for (int j = 0; j < 4; j++) sum = _mm512_add_ps(sum, _mm512_mul_ps(si, _mm512_cvtepi32_ps(_mm512_sub_epi32(x[j], zi))));
            __m512 t = _mm512_add_ps(_mm512_div_ps(_mm512_div_ps(sum, four), so), zo);
            t = _mm512_min_ps(_mm512_max_ps(t, flo), fhi);
            __m512i q = _mm512_sub_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm512_set1_epi32(off));
            int8_t *dst = output + (size_t)r0 * outW + ox0;
            _mm_mask_storeu_epi8(dst, valid, _mm512_cvtepi32_epi8(q));
            for (__mmask16 u = valid & (__mmask16)~safe; u; u &= (__mmask16)(u - 1)) {
                int l = __builtin_ctz(u);
                int32_t o0;
                _mm512_mask_compressstoreu_epi32(&o0, (__mmask16)(1u << l), a0);
                dst[l] = avg2_one(p, input + o0, input + o0 + inW);
            }
        }
    }
    free(tbl);
    return 1;
}

VNNI int vk_pool_avx512(const vk_pool_params *p, const int8_t *input, int8_t *output) {
    if (p->is_max && __builtin_cpu_supports("avx512vbmi") && pool_max_vbmi(p, input, output)) return 1;
    if (pool_avg2(p, input, output)) return 1;
    int inH = p->in_h, inW = p->in_w, outH = p->out_h, outW = p->out_w, kH = p->k_h, kW = p->k_w;
    int sh = p->stride_h, sw = p->stride_w, pt = p->pad_top, pl = p->pad_left;
    int outW16 = (outW + 15) & ~15;
    int PW = outW16 * sw + kW + 32 + pl + inW;
    int PH = (outH - 1) * sh + kH;
    if (PH < pt + inH) PH = pt + inH;
    int32_t *plane = scratch(sizeof(int32_t) * (size_t)PH * PW);
    int32_t *cols = scratch(sizeof(int32_t) * (size_t)outW16);
    if (!plane || !cols) { free(plane); free(cols); return 0; }
    float *fplane = (float *)plane;
    int32_t border = p->is_max ? -128 : 0;  // 0 is also the bit pattern of +0.0f
    for (size_t i = 0; i < (size_t)PH * PW; i++) plane[i] = border;
    // Cells inside the input per output column (average without count_include_pad).
    for (int ox = 0; ox < outW16; ox++) {
        int n = 0;
        for (int kx = 0; kx < kW; kx++) { int ix = ox * sw - pl + kx; if (ix >= 0 && ix < inW) n++; }
        cols[ox] = n;
    }
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(sw));
    int32_t zi = p->input_zero_point, off = p->output_offset;
    float si = p->input_scale;
    const __m512 so = _mm512_set1_ps(p->output_scale), zo = _mm512_set1_ps((float)(p->output_zero_point + off));
    const __m512 flo = _mm512_set1_ps((float)(p->out_min + off)), fhi = _mm512_set1_ps((float)(p->out_max + off));
    for (int ch = 0; ch < p->channels; ch++) {
        const int8_t *src = input + (size_t)ch * inH * inW;
        for (int y = 0; y < inH; y++) {
            int32_t *d = plane + (size_t)(y + pt) * PW + pl;
            float *fd = fplane + (size_t)(y + pt) * PW + pl;
            const int8_t *sr = src + (size_t)y * inW;
            for (int x = 0; x < inW; x += 16) {  // 16 at a time; the tail masked
                int n = inW - x;
                __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
                __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, sr + x));
                if (p->is_max) _mm512_mask_storeu_epi32(d + x, m, v);
                else _mm512_mask_storeu_ps(fd + x, m, _mm512_mul_ps(_mm512_set1_ps(si), _mm512_cvtepi32_ps(_mm512_sub_epi32(v, _mm512_set1_epi32(zi)))));
            }
        }
        for (int oy = 0; oy < outH; oy++) {
            int rows = 0;
            for (int ky = 0; ky < kH; ky++) { int iy = oy * sh - pt + ky; if (iy >= 0 && iy < inH) rows++; }
            for (int ox0 = 0; ox0 < outW; ox0 += 16) {
                __m512i best = _mm512_set1_epi32(-128);
                __m512 sum = _mm512_setzero_ps();
                for (int ky = 0; ky < kH; ky++) {
                    const int32_t *row = plane + (size_t)(oy * sh + ky) * PW + (size_t)ox0 * sw;
                    for (int kx = 0; kx < kW; kx++) {
                        const int32_t *b = row + kx;
                        __m512i v;
                        if (sw == 1) v = _mm512_loadu_si512(b);
                        else if (sw == 2) v = _mm512_permutex2var_epi32(_mm512_loadu_si512(b), even, _mm512_loadu_si512(b + 16));
                        else v = _mm512_i32gather_epi32(gidx, b, 4);
                        if (p->is_max) best = _mm512_max_epi32(best, v);
                        else sum = _mm512_add_ps(sum, _mm512_castsi512_ps(v));
                    }
                }
                __m512i q;
                if (p->is_max) {
                    q = _mm512_min_epi32(_mm512_max_epi32(best, _mm512_set1_epi32(p->out_min)), _mm512_set1_epi32(p->out_max));
                } else {
                    __m512i n = p->count_include_pad ? _mm512_set1_epi32(kH * kW)
                        : _mm512_max_epi32(_mm512_mullo_epi32(_mm512_loadu_si512(cols + ox0), _mm512_set1_epi32(rows)), _mm512_set1_epi32(1));
                    __m512 t = _mm512_add_ps(_mm512_div_ps(_mm512_div_ps(sum, _mm512_cvtepi32_ps(n)), so), zo);
                    t = _mm512_min_ps(_mm512_max_ps(t, flo), fhi);
                    q = _mm512_sub_epi32(_mm512_cvt_roundps_epi32(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm512_set1_epi32(off));
                }
                int n = outW - ox0;
                int8_t *dst = output + ((size_t)ch * outH + oy) * outW + ox0;
                __m128i bytes = _mm512_cvtepi32_epi8(q);
                if (n >= 16) _mm_storeu_si128((__m128i *)dst, bytes);
                else _mm_mask_storeu_epi8(dst, (__mmask16)((1u << n) - 1), bytes);
            }
        }
    }
    free(cols);
    free(plane);
    return 1;
}

// MARK: AVX2

/// Add: 8 lanes; the tail through a small buffer.
AVX2 void vk_add_avx2(const vk_add_params *p, int64_t count, const int8_t *a, const int8_t *b, int8_t *out) {
    const __m256i ao = _mm256_set1_epi32(p->a_offset), bo = _mm256_set1_epi32(p->b_offset), oo = _mm256_set1_epi32(p->out_offset);
    const __m256 ra = _mm256_set1_ps(p->a_ratio), rb = _mm256_set1_ps(p->b_ratio), fixed = _mm256_set1_ps(p->fixed);
    const __m256 lo = _mm256_set1_ps((float)(p->out_min + p->out_offset)), hi = _mm256_set1_ps((float)(p->out_max + p->out_offset));
    for (int64_t i = 0; i < count; i += 8) {
        int64_t n = count - i < 8 ? count - i : 8;
        int8_t ta[8] = {0}, tb[8] = {0}, to[8];
        memcpy(ta, a + i, (size_t)n); memcpy(tb, b + i, (size_t)n);
        __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)ta));
        __m256i y = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)tb));
        __m256 t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(y, bo)), rb, fixed);
        t = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(x, ao)), ra, t);
        t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
        __m256i q = _mm256_sub_epi32(_mm256_cvtps_epi32(_mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), oo);
        __m256i p16 = _mm256_packs_epi32(q, q), p8 = _mm256_packs_epi16(p16, p16);
        uint32_t l4 = (uint32_t)_mm256_cvtsi256_si32(p8), h4 = (uint32_t)_mm256_extract_epi32(p8, 4);
        memcpy(to, &l4, 4); memcpy(to + 4, &h4, 4);
        memcpy(out + i, to, (size_t)n);
    }
}

/// Fills col[k/2][p][k%2] with x - zx as int16 (out-of-image cells and padding: 0) for group g.
AVX2 static void im2col_i16(const vk_conv *c, const int8_t *input, int g, int16_t *col, int P8) {
    const vk_conv_shape *s = &c->s;
    const int inH = s->in_h, inW = s->in_w, outH = s->out_h, outW = s->out_w, kH = s->k_h, kW = s->k_w;
    const int sh = s->stride_h, sw = s->stride_w, dh = s->dil_h, dw = s->dil_w, pt = s->pad_top, pl = s->pad_left;
    const int cin = c->cin_pg;
    const int16_t zx = (int16_t)s->input_zero_point;
    memset(col, 0, sizeof(int16_t) * (size_t)c->K2 * P8 * 2);
    int k = 0;
    for (int ic = 0; ic < cin; ic++) {
        const int8_t *plane = input + (size_t)(g * cin + ic) * inH * inW;
        for (int ky = 0; ky < kH; ky++) {
            for (int kx = 0; kx < kW; kx++, k++) {
                int16_t *dst = col + (size_t)(k >> 1) * P8 * 2 + (k & 1);
                // Output columns whose input column is inside the image: [lo, hi).
                int x0 = kx * dw - pl;
                int lo = x0 >= 0 ? 0 : (-x0 + sw - 1) / sw;
                int hi = inW - 1 - x0 < 0 ? 0 : (inW - 1 - x0) / sw + 1;
                if (hi > outW) hi = outW;
                if (lo > hi) lo = hi;
                for (int oy = 0; oy < outH; oy++) {
                    int iy = oy * sh - pt + ky * dh;
                    if (iy < 0 || iy >= inH) continue;
                    int16_t *d = dst + (size_t)oy * outW * 2;
                    const int8_t *row = plane + (size_t)iy * inW;
                    for (int ox = lo; ox < hi; ox++) d[ox * 2] = (int16_t)(row[ox * sw + x0] - zx);
                }
            }
        }
    }
}

AVX2 INLINE __m256i sat_add256(__m256i a, __m256i b) {
    __m256i s = _mm256_add_epi32(a, b);
    __m256i ovf = _mm256_andnot_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, s));
    __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(a, 31), _mm256_set1_epi32(0x7fffffff));
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(s), _mm256_castsi256_ps(sat), _mm256_castsi256_ps(ovf)));
}

AVX2 INLINE void mk_avx2(const vk_conv *c, const int16_t *col, int P8, int oc0, int p0, const int NV, const int NO, int8_t *output) {
    __m256i acc[4][2];
    for (int o = 0; o < NO; o++) for (int v = 0; v < NV; v++) acc[o][v] = _mm256_setzero_si256();
    const int K2 = c->K2;
    const int32_t *w = c->wq2 + (size_t)oc0 * K2;
    const int16_t *b = col + (size_t)p0 * 2;
    for (int k = 0; k < K2; k++) {
        __m256i x[2];
        for (int v = 0; v < NV; v++) x[v] = _mm256_loadu_si256((const __m256i *)(b + (size_t)k * P8 * 2 + v * 16));
        for (int o = 0; o < NO; o++) {
            __m256i wb = _mm256_set1_epi32(w[o * K2 + k]);
            for (int v = 0; v < NV; v++) acc[o][v] = _mm256_add_epi32(acc[o][v], _mm256_madd_epi16(x[v], wb));
        }
    }
    const vk_conv_shape *s = &c->s;
    int P = c->P;
    for (int o = 0; o < NO; o++) {
        int oc = oc0 + o;
        for (int v = 0; v < NV; v++) {
            __m256i a = sat_add256(acc[o][v], _mm256_set1_epi32(c->bias[oc]));
            __m256 fl = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(c->ratio[oc]));
            fl = _mm256_min_ps(_mm256_max_ps(fl, _mm256_set1_ps(-65536.0f)), _mm256_set1_ps(65536.0f));
            __m256i q = _mm256_cvtps_epi32(_mm256_round_ps(fl, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            q = _mm256_add_epi32(q, _mm256_set1_epi32(s->output_zero_point));
            q = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(s->out_min)), _mm256_set1_epi32(s->out_max));
            __m256i p16 = _mm256_packs_epi32(q, q);
            __m256i p8 = _mm256_packs_epi16(p16, p16);
            uint32_t lo4 = (uint32_t)_mm256_cvtsi256_si32(p8), hi4 = (uint32_t)_mm256_extract_epi32(p8, 4);
            uint64_t bytes = (uint64_t)lo4 | ((uint64_t)hi4 << 32);
            int p = p0 + v * 8, n = P - p;
            int8_t *dst = output + (size_t)oc * P + p;
            if (n >= 8) memcpy(dst, &bytes, 8);
            else if (n > 0) memcpy(dst, &bytes, (size_t)n);
        }
    }
}

AVX2 void vk_conv_run_avx2(const vk_conv *c, const int8_t *input, int8_t *output) {
    int P8 = (c->P + 7) & ~7;
    int16_t *col = scratch(sizeof(int16_t) * (size_t)c->K2 * P8 * 2);
    if (!col) { vk_conv_run_scalar(c, input, output); return; }
    for (int g = 0; g < c->s.groups; g++) {
        im2col_i16(c, input, g, col, P8);
        int end = (g + 1) * c->cout_pg;
        for (int oc0 = g * c->cout_pg; oc0 < end; oc0 += 4) {
            int no = end - oc0 < 4 ? end - oc0 : 4;
            for (int p0 = 0; p0 < P8; p0 += 16) {
                int nv = (P8 - p0) / 8; if (nv > 2) nv = 2;
                #define CASE(NV, NO) case (NV) * 8 + (NO): mk_avx2(c, col, P8, oc0, p0, NV, NO, output); break;
                switch (nv * 8 + no) {
                    CASE(2, 4) CASE(2, 3) CASE(2, 2) CASE(2, 1)
                    CASE(1, 4) CASE(1, 3) CASE(1, 2) CASE(1, 1)
                }
                #undef CASE
            }
        }
    }
    free(col);
}

AVX2 void vk_fc_run_avx2(const vk_fc *f, const int8_t *input, int8_t *output) {
    int K = f->K, Kp = f->Kp;
    int16_t *x16 = scratch(sizeof(int16_t) * Kp);
    if (!x16) { vk_fc_run_scalar(f, input, output); return; }
    for (int r = 0; r < f->rows; r++) {
        const int8_t *x = input + (size_t)r * K;
        for (int k = 0; k < K; k++) x16[k] = (int16_t)(x[k] - f->zi);
        for (int k = K; k < Kp; k++) x16[k] = 0;
        for (int n = 0; n < f->N; n++) {
            const int16_t *w = f->w16 + (size_t)n * Kp;
            __m256i a = _mm256_setzero_si256();
            for (int k = 0; k < Kp; k += 16)
                a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(x16 + k)), _mm256_loadu_si256((const __m256i *)(w + k))));
            __m128i h = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
            h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
            output[(size_t)r * f->N + n] = vk_finish(_mm_cvtsi128_si32(h), f->bias[n], f->ratio[n], f->zy, f->lo, f->hi);
        }
    }
    free(x16);
}
// MARK: QuantizeLinear / DequantizeLinear

/// x / scale (IEEE division, as the reference), rounded to nearest even, clamped to the int8
/// range minus zp (max/min put NaN at the bound; the unordered mask then makes it 0), + zp.
VNNI void vk_quantize_avx512(const float *x, int8_t *y, int64_t n, float scale, int32_t zp) {
    const __m512 vs = _mm512_set1_ps(scale), lo = _mm512_set1_ps((float)(-128 - zp)), hi = _mm512_set1_ps((float)(127 - zp));
    const __m512i vz = _mm512_set1_epi32(zp);
    for (int64_t i = 0; i < n; i += 16) {
        int64_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
        __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        v = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
        v = _mm512_mask_blend_ps(nan, v, _mm512_setzero_ps());
        __m512i q = _mm512_add_epi32(_mm512_cvttps_epi32(v), vz);
        _mm_mask_storeu_epi8(y + i, m, _mm512_cvtepi32_epi8(q));
    }
}

VNNI void vk_dequantize_avx512(const int8_t *q, float *y, int64_t n, float scale, int32_t zp) {
    const __m512 vs = _mm512_set1_ps(scale);
    const __m512i vz = _mm512_set1_epi32(zp);
    for (int64_t i = 0; i < n; i += 16) {
        int64_t left = n - i;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512i v = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, q + i)), vz);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(v), vs));
    }
}

AVX2 void vk_quantize_avx2(const float *x, int8_t *y, int64_t n, float scale, int32_t zp) {
    const __m256 vs = _mm256_set1_ps(scale), lo = _mm256_set1_ps((float)(-128 - zp)), hi = _mm256_set1_ps((float)(127 - zp));
    const __m256i vz = _mm256_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
        v = _mm256_andnot_ps(nan, v);
        int32_t t[8];
        _mm256_storeu_si256((__m256i *)t, _mm256_add_epi32(_mm256_cvttps_epi32(v), vz));
        for (int j = 0; j < 8; j++) y[i + j] = (int8_t)t[j];
    }
    for (; i < n; i++) y[i] = vk_quantize1(x[i], scale, zp);
}

AVX2 void vk_dequantize_avx2(const int8_t *q, float *y, int64_t n, float scale, int32_t zp) {
    const __m256 vs = _mm256_set1_ps(scale);
    const __m256i vz = _mm256_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + i))), vz);
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), vs));
    }
    for (; i < n; i++) y[i] = (float)((int32_t)q[i] - zp) * scale;
}
#endif
