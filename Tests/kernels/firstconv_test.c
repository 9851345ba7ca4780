// Bit-exactness test and benchmark of the first-conv AVX-512 VNNI + VBMI convolution (x86_firstconv.c).
//   clang -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/kernels/firstconv_test.c \
//         Sources/CKernels/*.c -lpthread -lm -o /tmp/fct && /tmp/fct && /tmp/fct --bench
//   /tmp/fct [shapes] [seed]   test: vk_conv_run (VNNI dispatch) vs vk_conv_run_scalar (default 1000)
//   /tmp/fct --bench [all]     dlib conv_1 / BlazeFace conv2d: im2col path vs first-conv kernel
//                              (all: also a grid of few-channel shapes, ignoring the speed rule)
#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern int vk_firstconv_allow_all;


static int test(int n) {
    int covered = 0, tried = 0, zwc = 0, strided = 0, dilated = 0, nosatc = 0, k7 = 0, k3 = 0, byrule = 0;
    while (tried < n) {
        problem pr; vk_conv_shape *s = &pr.s; memset(s, 0, sizeof *s);
        s->in_c = rr(1, 8); s->out_c = rr(1, 70);
        switch (rnd() % 4) { case 0: s->k_h = s->k_w = 7; break; case 1: s->k_h = s->k_w = 3; break;
                             default: s->k_h = rr(1, 7); s->k_w = rnd() % 3 == 0 ? rr(1, 7) : s->k_h; }
        s->stride_h = rr(1, 3); s->stride_w = rnd() % 4 == 0 ? rr(1, 3) : s->stride_h;
        s->pad_top = rr(0, 3); s->pad_left = rr(0, 3);
        s->dil_h = rr(1, 2); s->dil_w = rr(1, 2);
        s->groups = 1;
        s->in_h = rr(1, 160); s->in_w = rnd() % 3 ? rr(1, 160) : s->in_h;
        int eh = s->dil_h * (s->k_h - 1) + 1, ew = s->dil_w * (s->k_w - 1) + 1;
        int ph = s->in_h + s->pad_top + rr(0, 3) - eh, pw = s->in_w + s->pad_left + rr(0, 3) - ew;  // bottom/right pad 0..3
        if (ph < 0 || pw < 0) continue;
        s->out_h = ph / s->stride_h + 1; s->out_w = pw / s->stride_w + 1;
        int P = s->out_h * s->out_w;
        if (P <= 144) continue;
        if ((double)s->in_c * s->out_c * s->k_h * s->k_w * P > 1.5e7) continue;
        s->input_zero_point = pick_zp(); s->output_zero_point = pick_zp();
        s->out_min = -128; s->out_max = 127;
        if (rnd() % 4 == 0) { s->out_min = rr(-128, 0); s->out_max = rr(s->out_min, 127); }
        fill(&pr, rnd() % 5 == 0, rnd() % 5 == 0);
        int force = tried % 2;   // odd shapes: ignore the speed rule, and take shapes the implicit kernel took
        vk_firstconv_allow_all = force;
        vk_conv *c = vk_conv_create(s, pr.w, pr.wzp, pr.bias, pr.ratio, vk_isa_avx512vnni);
        if (!c) { printf("create failed\n"); return 1; }
        if (c->f1_mem && !force) byrule++;
        if (force && c->im_mem) { free(c->im_mem); c->im_mem = NULL; vk_conv_firstconv_prepare(c); }
        int8_t *o1 = malloc((size_t)s->out_c * P), *o2 = malloc((size_t)s->out_c * P);
        vk_conv_run_scalar(c, pr.in, o1);
        memset(o2, 0x55, (size_t)s->out_c * P);
        vk_conv_run(c, pr.in, o2);
        for (size_t i = 0; i < (size_t)s->out_c * P; i++) if (o1[i] != o2[i]) {
            printf("MISMATCH at shape %d, element %zu (oc %zu, p %zu): scalar %d fast %d (firstconv %s)\n  ", tried, i, i / P, i % P,
                   o1[i], o2[i], c->f1_mem ? "yes" : "no");
            print_shape(s, c->need_zw);
            return 1;
        }
        if (c->f1_mem) {
            covered++;
            if (s->stride_h > 1 || s->stride_w > 1) strided++;
            if (s->dil_h > 1 || s->dil_w > 1) dilated++;
            if (c->nosat) nosatc++;
            if (s->k_h == 7 && s->k_w == 7) k7++;
            if (s->k_h == 3 && s->k_w == 3) k3++;
        }
        if (c->need_zw) zwc++;
        free(o1); free(o2); vk_conv_destroy(c); unfill(&pr);
        tried++;
    }
    printf("OK: %d shapes bit-exact (vk_conv_run VNNI vs vk_conv_run_scalar); first-conv kernel used by %d "
           "(%d by the speed rule, %d strided, %d dilated, %d nosat, %d 7x7, %d 3x3; odd shapes ignore the rule); "
           "%d with nonzero weight zero points (declined)\n", tried, covered, byrule, strided, dilated, nosatc, k7, k3, zwc);
    return 0;
}


typedef struct { const char *m; int in_c, in_h, out_c, out_h, k, stride, pad; } bshape;

static int bench_one(const bshape *b, int runs) {
    problem pr; vk_conv_shape *s = &pr.s; memset(s, 0, sizeof *s);
    s->in_c = b->in_c; s->in_h = s->in_w = b->in_h; s->out_c = b->out_c; s->out_h = s->out_w = b->out_h;
    s->k_h = s->k_w = b->k; s->stride_h = s->stride_w = b->stride; s->pad_top = s->pad_left = b->pad;
    s->dil_h = s->dil_w = 1; s->groups = 1;
    s->input_zero_point = -3; s->output_zero_point = 5; s->out_min = -128; s->out_max = 127;
    fill(&pr, 0, 0);
    vk_conv *c = vk_conv_create(s, pr.w, pr.wzp, pr.bias, pr.ratio, vk_isa_avx512vnni);
    int P = s->out_h * s->out_w;
    int8_t *o1 = malloc((size_t)s->out_c * P), *o2 = malloc((size_t)s->out_c * P);
    double macs = (double)s->out_c * P * s->in_c * s->k_h * s->k_w;
    vk_conv old = *c; old.f1_mem = NULL; old.im_mem = NULL;   // the im2col path
    double t_old = median_time(vk_conv_run_vnni, &old, pr.in, o1, runs);
    char name[80];
    snprintf(name, sizeof name, "%d->%d %dx%d->%dx%d k%d s%d p%d", s->in_c, s->out_c, s->in_h, s->in_w, s->out_h, s->out_w, b->k, b->stride, b->pad);
    if (c->f1_mem) {
        double t_new = median_time(vk_conv_run_firstconv_vnni, c, pr.in, o2, runs);
        if (memcmp(o1, o2, (size_t)s->out_c * P)) { printf("MISMATCH old vs new on %s\n", name); return 1; }
        printf("%-6s %-34s %5d %6.2f %9.2f %9.2f %9.1f %9.1f %6.2fx\n", b->m, name, P, (double)(s->in_c * b->k * ((b->k + 3) / 4)) / c->K4,
               t_old * 1e6, t_new * 1e6, macs / t_old * 1e-9, macs / t_new * 1e-9, t_old / t_new);
    } else {
        printf("%-6s %-34s %5d %6s %9.2f %9s %9.1f %9s (declined)\n", b->m, name, P, "", t_old * 1e6, "-", macs / t_old * 1e-9, "-");
    }
    fflush(stdout);
    free(o1); free(o2); vk_conv_destroy(c); unfill(&pr);
    return 0;
}

static int bench(int all) {
    // Exact geometry from the models (onnx): dlib conv_1 pads 0; BlazeFace conv2d pads [0, 0, 1, 1]
    // (top/left 0, bottom/right 1: out = (192 + 1 - 3) / 2 + 1 = 96).
    static const bshape B[] = {
        {"dlib", 3, 150, 32, 72, 7, 2, 0},
        {"blaze", 3, 192, 32, 96, 3, 2, 0},
    };
    int runs = 200;
    printf("%-6s %-34s %5s %6s %9s %9s %9s %9s %7s\n", "model", "shape", "P", "KSrat", "old us", "new us", "old GMAC", "new GMAC", "speedup");
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) if (bench_one(&B[i], runs)) return 1;
    if (all) {
        vk_firstconv_allow_all = 1;
        static const int ks[] = {3, 5, 7}, cs[] = {1, 2, 3, 4, 6, 8};
        for (int a = 0; a < 6; a++)
            for (int k = 0; k < 3; k++)
                for (int st = 1; st <= 2; st++) {
                    bshape b = {"grid", cs[a], 128, 32, 0, ks[k], st, ks[k] / 2};
                    b.out_h = (128 + 2 * b.pad - b.k) / st + 1;
                    if (bench_one(&b, 100)) return 1;
                }
        vk_firstconv_allow_all = 0;
    }
    return 0;
}

int main(int argc, char **argv) {
    rng = 0x2545F4914F6CDD1Dull;
    if (vk_isa_best() < vk_isa_avx512vnni) { printf("no AVX-512 VNNI on this CPU: nothing to test\n"); return 0; }
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench(argc > 2 && !strcmp(argv[2], "all"));
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    if (argc > 2) rng = strtoull(argv[2], NULL, 0) | 1;
    return test(n);
}
