// Bit-exactness test and benchmark of the small-P AVX-512 VNNI convolution (x86_small.c).
//   clang -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/kernels/small_conv_test.c \
//         Sources/CKernels/*.c -lpthread -o /tmp/sct && /tmp/sct && /tmp/sct --bench
//   /tmp/sct [shapes] [seed]      test (default 2000 shapes)
//   /tmp/sct --bench              dlib ResNet embedder shapes: vk_conv_run_vnni vs vk_conv_run_small_vnni
#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The kernel takes P <= 144 (x86_small.c VK_SMALL_MAX_P): random outputs cover all of it.
#define VK_SMALL_MAX_P_TEST 144


static int test(int n) {
    int covered = 0, tried = 0, hist[VK_SMALL_MAX_P_TEST + 1] = {0}, skipped_taps = 0, zwc = 0;
    while (tried < n) {
        problem pr; vk_conv_shape *s = &pr.s; memset(s, 0, sizeof *s);
        static const int ics[] = {1, 3, 4, 5, 15, 16, 17, 31, 64, 128, 256};
        static const int ocs[] = {1, 7, 16, 17, 33, 64, 65, 128, 256, 257};
        s->in_c = rnd() % 3 == 0 ? rr(1, 300) : ics[rnd() % 11];
        s->out_c = rnd() % 3 == 0 ? rr(1, 300) : ocs[rnd() % 10];
        s->k_h = rnd() % 3 == 0 ? 3 : rr(1, 5); s->k_w = rnd() % 4 == 0 ? rr(1, 5) : s->k_h;
        s->stride_h = rr(1, 3); s->stride_w = rnd() % 4 == 0 ? rr(1, 3) : s->stride_h;
        s->pad_top = rr(0, 2); s->pad_left = rr(0, 2);
        s->dil_h = rr(1, 2); s->dil_w = rr(1, 2);
        s->groups = 1;
        s->in_h = rnd() % 2 ? rr(1, 6) : rr(1, 30); s->in_w = rnd() % 2 ? rr(1, 6) : rr(1, 30);
        int eh = s->dil_h * (s->k_h - 1) + 1, ew = s->dil_w * (s->k_w - 1) + 1;
        int ph = s->in_h + s->pad_top + rr(0, 2) - eh, pw = s->in_w + s->pad_left + rr(0, 2) - ew;  // bottom/right pad 0..2
        if (ph < 0 || pw < 0) continue;
        s->out_h = ph / s->stride_h + 1; s->out_w = pw / s->stride_w + 1;
        int P = s->out_h * s->out_w;
        if (P > VK_SMALL_MAX_P_TEST) continue;
        if ((size_t)s->in_c * s->out_c * s->k_h * s->k_w * P > 30000000) continue;
        s->input_zero_point = pick_zp(); s->output_zero_point = pick_zp();
        s->out_min = -128; s->out_max = 127;
        if (rnd() % 4 == 0) { s->out_min = rr(-128, 0); s->out_max = rr(s->out_min, 127); }
        fill(&pr, rnd() % 3 == 0, rnd() % 5 == 0);
        vk_conv *c = vk_conv_create(s, pr.w, pr.wzp, pr.bias, pr.ratio, vk_isa_avx512vnni);
        if (!c) { printf("create failed\n"); return 1; }
        int8_t *o1 = malloc((size_t)s->out_c * P), *o2 = malloc((size_t)s->out_c * P);
        vk_conv_run_scalar(c, pr.in, o1);
        if (vk_conv_small_prepare(c)) {
            memset(o2, 0x55, (size_t)s->out_c * P);
            vk_conv_run_small_vnni(c, pr.in, o2);
            for (size_t i = 0; i < (size_t)s->out_c * P; i++) if (o1[i] != o2[i]) {
                printf("MISMATCH at shape %d, element %zu (oc %zu, p %zu): scalar %d small %d\n  ", tried, i, i / P, i % P, o1[i], o2[i]);
                print_shape(s, c->need_zw);
                return 1;
            }
            covered++; hist[P]++;
            if (c->sm_ntap < s->k_h * s->k_w) skipped_taps++;
            if (c->need_zw) zwc++;
        }
        free(o1); free(o2); vk_conv_destroy(c); unfill(&pr);
        tried++;
    }
    int distinctP = 0; for (int p = 1; p <= VK_SMALL_MAX_P_TEST; p++) distinctP += hist[p] > 0;
    printf("OK: %d shapes, small kernel covered %d (bit-exact with vk_conv_run_scalar); %d distinct P in 1..%d, "
           "%d with skipped taps, %d with nonzero weight zero points\n", tried, covered, distinctP, VK_SMALL_MAX_P_TEST, skipped_taps, zwc);
    return 0;
}


static int bench(void) {
    // dlib_resnet_int8.onnx small-output convolutions (3x3; count = occurrences in the model).
    static const struct { int in_c, in_h, out_c, out_h, stride, pad, count; } B[] = {
        {256, 1, 256, 1, 1, 1, 1},   // 1x1 -> 1x1: only the centre tap reads inside
        {256, 4, 256, 1, 2, 0, 1},   // 4x4 -> 1x1, stride 2
        {256, 3, 256, 3, 1, 1, 1},   // 3x3 -> 3x3
        {128, 8, 256, 3, 2, 0, 1},   // 8x8 -> 3x3, stride 2
        {256, 4, 256, 4, 1, 1, 4},   // 4x4 -> 4x4
        {128, 8, 128, 8, 1, 1, 5},   // 8x8 -> 8x8
        {64, 17, 128, 8, 2, 0, 1},   // 17x17 -> 8x8, stride 2
        {64, 17, 64, 17, 1, 1, 7},   // 17x17 (P = 289: old kernel only unless VK_SMALL_MAX_P is raised)
        {128, 10, 128, 10, 1, 1, 0}, // synthetic P = 100, 144 (threshold probes, with -DVK_SMALL_MAX_P=400)
        {128, 12, 128, 12, 1, 1, 0},
    };
    int runs = 200, first_loss = 1 << 30, nwin = 0, wins[32];
    printf("%-34s %5s %9s %9s %9s %9s %7s\n", "shape (3x3)", "P", "old us", "new us", "old GMAC", "new GMAC", "speedup");
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        problem pr; vk_conv_shape *s = &pr.s; memset(s, 0, sizeof *s);
        s->in_c = B[i].in_c; s->in_h = s->in_w = B[i].in_h; s->out_c = B[i].out_c; s->out_h = s->out_w = B[i].out_h;
        s->k_h = s->k_w = 3; s->stride_h = s->stride_w = B[i].stride; s->pad_top = s->pad_left = B[i].pad;
        s->dil_h = s->dil_w = 1; s->groups = 1;
        s->input_zero_point = -3; s->output_zero_point = 5; s->out_min = -128; s->out_max = 127;
        fill(&pr, 0, 0);
        vk_conv *c = vk_conv_create(s, pr.w, pr.wzp, pr.bias, pr.ratio, vk_isa_avx512vnni);
        int P = s->out_h * s->out_w;
        int8_t *o1 = malloc((size_t)s->out_c * P), *o2 = malloc((size_t)s->out_c * P);
        double macs = (double)s->out_c * P * s->in_c * 9;   // nominal MACs (all 9 taps)
        double t_old = median_time(vk_conv_run_vnni, c, pr.in, o1, runs);
        char name[64];
        snprintf(name, sizeof name, "%d->%d %dx%d->%dx%d s%d p%d x%d", s->in_c, s->out_c, s->in_h, s->in_w, s->out_h, s->out_w, B[i].stride, B[i].pad, B[i].count);
        if (vk_conv_small_prepare(c)) {
            double t_new = median_time(vk_conv_run_small_vnni, c, pr.in, o2, runs);
            if (memcmp(o1, o2, (size_t)s->out_c * P)) { printf("MISMATCH old vs new on %s\n", name); return 1; }
            printf("%-34s %5d %9.2f %9.2f %9.1f %9.1f %6.2fx\n", name, P, t_old * 1e6, t_new * 1e6, macs / t_old * 1e-9, macs / t_new * 1e-9, t_old / t_new);
            if (t_new >= t_old && P < first_loss) first_loss = P;
            else if (t_new < t_old) wins[nwin++] = P;
        } else {
            printf("%-34s %5d %9.2f %9s %9.1f %9s\n", name, P, t_old * 1e6, "-", macs / t_old * 1e-9, "-");
        }
        free(o1); free(o2); vk_conv_destroy(c); unfill(&pr);
    }
    printf("(G MAC/s counts all k_h*k_w*in_c MACs per output, also the taps the new kernel skips)\n");
    int threshold = 0;  // the largest winning P below the smallest losing P
    for (int i = 0; i < nwin; i++) if (wins[i] < first_loss && wins[i] > threshold) threshold = wins[i];
    printf("recommended: use vk_conv_run_small_vnni when groups == 1 and P = out_h*out_w <= %d%s\n", threshold,
           first_loss < (1 << 30) ? "" : " (the largest P measured; no loss seen up to VK_SMALL_MAX_P)");
    return 0;
}

int main(int argc, char **argv) {
    if (vk_isa_best() < vk_isa_avx512vnni) { printf("no AVX-512 VNNI on this CPU: nothing to test\n"); return 0; }
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench();
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    if (argc > 2) rng = strtoull(argv[2], NULL, 0) | 1;
    return test(n);
}
