// Bit-exactness test and benchmark of the implicit-GEMM AVX-512 VNNI convolution (x86_implicit.c).
//   clang -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/kernels/implicit_conv_test.c \
//         Sources/CKernels/*.c -lpthread -lm -o /tmp/ict && /tmp/ict && /tmp/ict --bench
//   /tmp/ict [shapes] [seed]      test: vk_conv_run (VNNI dispatch) vs vk_conv_run_scalar (default 1000)
//   /tmp/ict --bench [all]        dlib / BlazeFace convs: im2col path vs implicit (all: pointwise too)
#include "harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern int vk_implicit_allow_all, vk_implicit_oc_outer, vk_implicit_tail_runs;


static int test(int n) {
    int covered = 0, tried = 0, zwc = 0, strided = 0, dilated = 0, nosatc = 0, Pmin = 1 << 30, Pmax = 0;
    while (tried < n) {
        problem pr; vk_conv_shape *s = &pr.s; memset(s, 0, sizeof *s);
        s->in_c = rr(1, 70); s->out_c = rr(1, 70);
        s->k_h = rr(1, 7); s->k_w = rnd() % 4 == 0 ? rr(1, 7) : s->k_h;
        s->stride_h = rr(1, 3); s->stride_w = rnd() % 4 == 0 ? rr(1, 3) : s->stride_h;
        s->pad_top = rr(0, 3); s->pad_left = rr(0, 3);
        s->dil_h = rr(1, 2); s->dil_w = rr(1, 2);
        s->groups = 1;
        s->in_h = rr(1, 80); s->in_w = rnd() % 3 ? rr(1, 80) : s->in_h;
        int eh = s->dil_h * (s->k_h - 1) + 1, ew = s->dil_w * (s->k_w - 1) + 1;
        int ph = s->in_h + s->pad_top + rr(0, 3) - eh, pw = s->in_w + s->pad_left + rr(0, 3) - ew;  // bottom/right pad 0..3
        if (ph < 0 || pw < 0) continue;
        s->out_h = ph / s->stride_h + 1; s->out_w = pw / s->stride_w + 1;
        int P = s->out_h * s->out_w;
        if (P <= 144 || P > 6400) continue;
        if ((double)s->in_c * s->out_c * s->k_h * s->k_w * P > 3e7) continue;
        s->input_zero_point = pick_zp(); s->output_zero_point = pick_zp();
        s->out_min = -128; s->out_max = 127;
        if (rnd() % 4 == 0) { s->out_min = rr(-128, 0); s->out_max = rr(s->out_min, 127); }
        fill(&pr, rnd() % 4 == 0, rnd() % 5 == 0);
        vk_implicit_allow_all = tried % 2;   // odd shapes: also the classes the measured rule declines
        vk_conv *c = vk_conv_create(s, pr.w, pr.wzp, pr.bias, pr.ratio, vk_isa_avx512vnni);
        if (!c) { printf("create failed\n"); return 1; }
        int8_t *o1 = malloc((size_t)s->out_c * P), *o2 = malloc((size_t)s->out_c * P);
        vk_conv_run_scalar(c, pr.in, o1);
        memset(o2, 0x55, (size_t)s->out_c * P);
        vk_conv_run(c, pr.in, o2);
        for (size_t i = 0; i < (size_t)s->out_c * P; i++) if (o1[i] != o2[i]) {
            printf("MISMATCH at shape %d, element %zu (oc %zu, p %zu): scalar %d fast %d (implicit %s)\n  ", tried, i, i / P, i % P,
                   o1[i], o2[i], c->im_mem ? "yes" : "no");
            print_shape(s, c->need_zw);
            return 1;
        }
        if (c->im_mem) {
            covered++;
            if (s->stride_h > 1 || s->stride_w > 1) strided++;
            if (s->dil_h > 1 || s->dil_w > 1) dilated++;
            if (c->nosat) nosatc++;
            if (P < Pmin) Pmin = P;
            if (P > Pmax) Pmax = P;
        }
        if (c->need_zw) zwc++;
        free(o1); free(o2); vk_conv_destroy(c); unfill(&pr);
        tried++;
    }
    printf("OK: %d shapes bit-exact (vk_conv_run VNNI vs vk_conv_run_scalar); implicit kernel used by %d "
           "(%d strided, %d dilated, %d nosat, %d with a 1-2 pixel last vector done per pixel, P %d..%d; odd shapes ignore the speed rule); "
           "%d with nonzero weight zero points (declined)\n",
           tried, covered, strided, dilated, nosatc, vk_implicit_tail_runs, Pmin, Pmax, zwc);
    if (!vk_implicit_tail_runs) { printf("FAIL: no shape took the per-pixel last vector\n"); return 1; }
    return 0;
}


static int bench(int all) {
    vk_implicit_allow_all = all;
    if (getenv("OCOUTER")) vk_implicit_oc_outer = 1;
    // Non-depthwise convs with P > 144 (count = occurrences in the model); pads: top/left (the
    // models' bottom/right pads follow from out = (in + pads - k) / s + 1).
    static const struct { const char *m; int in_c, in_h, out_c, out_h, k, stride, pad, count; } B[] = {
        {"dlib", 3, 150, 32, 72, 7, 2, 0, 1},
        {"dlib", 32, 35, 32, 35, 3, 1, 1, 6},
        {"dlib", 32, 35, 64, 17, 3, 2, 0, 1},
        {"dlib", 64, 17, 64, 17, 3, 1, 1, 7},
        {"blaze", 3, 192, 32, 96, 3, 2, 0, 1},
        {"blaze", 32, 96, 8, 96, 1, 1, 0, 2},
        {"blaze", 8, 96, 32, 96, 1, 1, 0, 2},
        {"blaze", 32, 48, 12, 48, 1, 1, 0, 1},
        {"blaze", 12, 48, 48, 48, 1, 1, 0, 2},
        {"blaze", 48, 48, 12, 48, 1, 1, 0, 1},
        {"blaze", 48, 48, 16, 48, 1, 1, 0, 2},
        {"blaze", 16, 48, 64, 48, 1, 1, 0, 1},
        {"blaze", 64, 48, 48, 48, 1, 1, 0, 1},
        {"blaze", 48, 48, 24, 48, 1, 1, 0, 1},
        {"blaze", 24, 48, 48, 48, 1, 1, 0, 1},
        {"blaze", 48, 48, 1, 48, 1, 1, 0, 1},
        {"blaze", 64, 24, 24, 24, 1, 1, 0, 1},
        {"blaze", 24, 24, 96, 24, 1, 1, 0, 1},
        {"blaze", 96, 24, 32, 24, 1, 1, 0, 1},
        {"blaze", 32, 24, 128, 24, 1, 1, 0, 2},
        {"blaze", 128, 24, 32, 24, 1, 1, 0, 1},
        {"blaze", 128, 24, 64, 24, 1, 1, 0, 1},
        {"blaze", 64, 24, 32, 24, 1, 1, 0, 2},
        {"blaze", 32, 24, 64, 24, 1, 1, 0, 2},
        {"blaze", 64, 24, 48, 24, 1, 1, 0, 1},
    };
    int runs = 200;
    printf("%-6s %-36s %5s %9s %9s %9s %9s %7s\n", "model", "shape", "P", "old us", "new us", "old GMAC", "new GMAC", "speedup");
    const char *only = getenv("ONLY");   // profiling: ONLY=<row index> runs that row, implicit only, REPS times
    for (size_t i = 0; i < sizeof B / sizeof B[0]; i++) {
        if (only && (size_t)atoi(only) != i) continue;
        problem pr; vk_conv_shape *s = &pr.s; memset(s, 0, sizeof *s);
        s->in_c = B[i].in_c; s->in_h = s->in_w = B[i].in_h; s->out_c = B[i].out_c; s->out_h = s->out_w = B[i].out_h;
        s->k_h = s->k_w = B[i].k; s->stride_h = s->stride_w = B[i].stride; s->pad_top = s->pad_left = B[i].pad;
        s->dil_h = s->dil_w = 1; s->groups = 1;
        s->input_zero_point = -3; s->output_zero_point = 5; s->out_min = -128; s->out_max = 127;
        fill(&pr, 0, 0);
        vk_conv *c = vk_conv_create(s, pr.w, pr.wzp, pr.bias, pr.ratio, vk_isa_avx512vnni);
        int P = s->out_h * s->out_w;
        int8_t *o1 = malloc((size_t)s->out_c * P), *o2 = malloc((size_t)s->out_c * P);
        double macs = (double)s->out_c * P * s->in_c * s->k_h * s->k_w;
        if (only && c->im_mem) {
            int reps = getenv("REPS") ? atoi(getenv("REPS")) : 20000;
            for (int r = 0; r < reps; r++) vk_conv_run_implicit_vnni(c, pr.in, o2);
            return 0;
        }
        vk_conv old = *c; old.im_mem = NULL;    // the im2col path
        double t_old = median_time(vk_conv_run_vnni, &old, pr.in, o1, runs);
        char name[80];
        snprintf(name, sizeof name, "%d->%d %dx%d->%dx%d k%d s%d p%d x%d", s->in_c, s->out_c, s->in_h, s->in_w, s->out_h, s->out_w,
                 B[i].k, B[i].stride, B[i].pad, B[i].count);
        if (c->im_mem) {
            double t_new = median_time(vk_conv_run_implicit_vnni, c, pr.in, o2, runs);
            if (memcmp(o1, o2, (size_t)s->out_c * P)) { printf("MISMATCH old vs new on %s\n", name); return 1; }
            printf("%-6s %-36s %5d %9.2f %9.2f %9.1f %9.1f %6.2fx\n", B[i].m, name, P, t_old * 1e6, t_new * 1e6, macs / t_old * 1e-9, macs / t_new * 1e-9, t_old / t_new);
        } else {
            printf("%-6s %-36s %5d %9.2f %9s %9.1f %9s (declined)\n", B[i].m, name, P, t_old * 1e6, "-", macs / t_old * 1e-9, "-");
        }
        fflush(stdout);
        free(o1); free(o2); vk_conv_destroy(c); unfill(&pr);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (vk_isa_best() < vk_isa_avx512vnni) { printf("no AVX-512 VNNI on this CPU: nothing to test\n"); return 0; }
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench(argc > 2 && !strcmp(argv[2], "all"));
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    if (argc > 2) rng = strtoull(argv[2], NULL, 0) | 1;
    return test(n);
}
