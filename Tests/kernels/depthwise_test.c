// Bit-exactness test of the depthwise kernels (x86.c): the VBMI one (whole-row chunks and the
// flattened chunks of narrow planes) and the AVX-512 int32 one, through vk_conv_run with the
// VNNI path, against vk_conv_run_scalar: random channel counts and multipliers, kernels 1..7,
// strides 1..3, dilations, paddings, widths from 1 to 100 (incl. the models' 6, 12, 24, 48, 96),
// zero points at the extremes, weight zero points 0 (VBMI path) and not (int32 path), biases
// near the int32 limits (saturating requantization).
//   clang -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/kernels/depthwise_test.c \
//         Sources/CKernels/*.c -lpthread -lm -o /tmp/dwt && /tmp/dwt [shapes] [seed]
#include "harness.h"


int main(int argc, char **argv) {
    rng = 0x2545F4914F6CDD1Dull;
    int shapes = argc > 1 ? atoi(argv[1]) : 1500;
    if (argc > 2) rng ^= (uint64_t)strtoull(argv[2], NULL, 10) * 0x9E3779B97F4A7C15ull;
    static const int widths[] = {6, 12, 24, 48, 96, 35, 1, 2, 17};
    int vbmi = 0, flat = 0, int32path = 0;
    for (int t = 0; t < shapes; t++) {
        vk_conv_shape s;
        memset(&s, 0, sizeof s);
        int ch = rr(1, 40), mult = rr(0, 3) == 0 ? 2 : 1;
        s.groups = ch; s.in_c = ch; s.out_c = ch * mult;
        s.k_h = rr(1, 7); s.k_w = rr(1, 7);
        if (t % 3 == 0) s.k_h = s.k_w = 3;
        s.stride_h = rr(1, 3); s.stride_w = rr(1, 3);
        s.dil_h = rr(0, 4) == 0 ? 2 : 1; s.dil_w = rr(0, 4) == 0 ? 2 : 1;
        s.pad_top = rr(0, 3); s.pad_left = rr(0, 3);
        int ow = t % 2 ? widths[rnd() % 9] : rr(1, 100), oh = rr(1, 30);
        s.out_w = ow; s.out_h = oh;
        // An input the output fits: (out - 1) * stride + dilated kernel - pad, at least 1.
        s.in_w = (ow - 1) * s.stride_w + (s.k_w - 1) * s.dil_w + 1 - s.pad_left - rr(0, s.pad_left);
        s.in_h = (oh - 1) * s.stride_h + (s.k_h - 1) * s.dil_h + 1 - s.pad_top - rr(0, s.pad_top);
        if (s.in_w < 1) s.in_w = 1;
        if (s.in_h < 1) s.in_h = 1;
        s.input_zero_point = pick_zp(); s.output_zero_point = pick_zp();
        s.out_min = -128; s.out_max = 127;
        if (rnd() % 3 == 0) s.out_min = s.output_zero_point;  // a fused Relu
        int K = s.k_h * s.k_w, nin = s.in_c * s.in_h * s.in_w, nout = s.out_c * oh * ow;
        int8_t *w = malloc((size_t)s.out_c * K), *in = malloc((size_t)nin), *a = malloc((size_t)nout), *b = malloc((size_t)nout);
        int32_t *wzp = malloc(4 * (size_t)s.out_c), *bias = malloc(4 * (size_t)s.out_c);
        float *ratio = malloc(4 * (size_t)s.out_c);
        int zw = t % 4 == 3, big = t % 7 == 5;
        for (int i = 0; i < s.out_c * K; i++) w[i] = (int8_t)rnd();
        for (int i = 0; i < nin; i++) in[i] = t % 11 == 0 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
        for (int o = 0; o < s.out_c; o++) {
            wzp[o] = zw ? pick_zp() : 0;
            bias[o] = big ? (rnd() % 2 ? INT32_MAX - rr(0, 1000) : INT32_MIN + rr(0, 1000)) : rr(-300000, 300000);
            ratio[o] = (float)rr(1, 100000) / 1e6f;
        }
        vk_conv *c = vk_conv_create(&s, w, wzp, bias, ratio, vk_isa_avx512vnni);
        if (!c) { printf("FAIL create\n"); return 1; }
        if (c->wdw4) {
            vbmi++;
            if (ow <= 64 && ow % 16 != 0) flat++;  // dw_flat_table's rule (it may still decline)
        } else if (c->wdw) int32path++;
        vk_conv_run_scalar(c, in, a);
        memset(b, 0x5A, (size_t)nout);
        vk_conv_run(c, in, b);
        if (memcmp(a, b, (size_t)nout)) {
            int n = 0;
            for (int i = 0; i < nout; i++) n += a[i] != b[i];
            printf("FAIL shape %d: %d/%d differ: ch %d mult %d in %dx%d out %dx%d k %dx%d s %d,%d d %d,%d pad %d,%d zx %d zy %d zw %d big %d\n",
                   t, n, nout, ch, mult, s.in_h, s.in_w, oh, ow, s.k_h, s.k_w, s.stride_h, s.stride_w, s.dil_h, s.dil_w,
                   s.pad_top, s.pad_left, s.input_zero_point, s.output_zero_point, zw, big);
            return 1;
        }
        vk_conv_destroy(c);
        free(w); free(in); free(a); free(b); free(wzp); free(bias); free(ratio);
    }
    if (vk_isa_best() < vk_isa_avx512vnni) printf("NOTE: no AVX-512 VNNI on this CPU: only the fallback paths ran\n");
    printf("OK: %d depthwise shapes bit-exact (vk_conv_run VNNI vs scalar); VBMI kernel %d (narrow planes %d), int32 kernel %d\n",
           shapes, vbmi, flat, int32path);
    return 0;
}
