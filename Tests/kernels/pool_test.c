// Bit-exactness test of the 2x2 stride-2 average-pooling path (x86.c pool_avg2) against the
// generic AVX-512 pooling path (itself checked against the Swift reference by the Swift tests).
//   clang -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/kernels/pool_test.c \
//         Sources/CKernels/*.c -lpthread -lm -o /tmp/pt && /tmp/pt [shapes] [seed]
// Each input ends right before a PROT_NONE page, so a read past its end (the gathers read 4
// bytes per cell pair) faults instead of passing unnoticed.
#include "harness.h"
#include <sys/mman.h>
#include <unistd.h>

extern int vk_pool_avg2_disable;

int main(int argc, char **argv) {
    if (vk_isa_best() < vk_isa_avx512vnni) { printf("no AVX-512 VNNI on this CPU: nothing to test\n"); return 0; }
    int n = argc > 1 ? atoi(argv[1]) : 3000;
    if (argc > 2) rng = strtoull(argv[2], NULL, 0) | 1;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    int fast = 0, declined = 0;
    for (int it = 0; it < n; it++) {
        vk_pool_params p; memset(&p, 0, sizeof p);
        p.is_max = rnd() % 10 == 0;
        p.channels = rr(1, 300);
        static const int ows[] = {1, 2, 4, 8, 16, 17, 3, 5, 24, 35, 33};
        p.out_w = rnd() % 3 ? ows[rnd() % 11] : rr(1, 40);
        p.out_h = rr(1, 20);
        p.in_w = 2 * p.out_w + rr(0, 1); p.in_h = 2 * p.out_h + rr(0, 1);
        p.k_h = p.k_w = 2; p.stride_h = p.stride_w = 2;
        if (rnd() % 8 == 0) { p.k_h = p.k_w = 3; p.in_w = 2 * p.out_w + 1; p.in_h = 2 * p.out_h + 1; }   // not 2x2: declined
        if (rnd() % 8 == 0) { p.out_h = rnd() % 2 ? 1 : p.out_h; p.out_w = 1; p.in_w = 2; p.in_h = p.out_h == 1 ? 2 : p.in_h;
                              p.stride_w = rr(1, 3); if (p.out_h == 1) p.stride_h = rr(1, 3); }   // global pool over 2x2: any stride
        p.count_include_pad = rnd() % 2;
        p.input_zero_point = pick_zp(); p.output_zero_point = pick_zp();
        p.out_min = -128; p.out_max = 127;
        if (rnd() % 3 == 0) { p.out_min = rr(-128, 0); p.out_max = rr(p.out_min, 127); }
        p.output_offset = rnd() % 4 == 0 ? rr(-3, 3) : 0;
        p.input_scale = rratio() * 10; p.output_scale = rnd() % 2 ? p.input_scale : rratio() * 10;
        if ((size_t)p.channels * p.in_h * p.in_w > 400000) { it--; continue; }
        size_t nin = (size_t)p.channels * p.in_h * p.in_w, nout = (size_t)p.channels * p.out_h * p.out_w;
        size_t span = (nin + pg - 1) / pg * pg;
        uint8_t *m = mmap(NULL, span + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) { printf("mmap failed\n"); return 1; }
        mprotect(m + span, pg, PROT_NONE);
        int8_t *in = (int8_t *)(m + span - nin);
        int mode = rnd() % 4;
        for (size_t i = 0; i < nin; i++) in[i] = mode == 3 ? (rnd() % 2 ? 127 : -128) : (int8_t)rnd();
        int8_t *o1 = malloc(nout), *o2 = malloc(nout);
        memset(o1, 0x55, nout); memset(o2, 0x66, nout);
        vk_pool_avg2_disable = 1;
        int r1 = vk_pool(&p, in, o1, vk_isa_avx512vnni);
        vk_pool_avg2_disable = 0;
        int r2 = vk_pool(&p, in, o2, vk_isa_avx512vnni);
        int applies = !p.is_max && p.k_h == 2 && (p.out_w >= 16 || 16 % p.out_w == 0) &&
                      (p.stride_h == 2 || p.out_h == 1) && (p.stride_w == 2 || p.out_w == 1);
        if (applies) fast++; else declined++;
        if (r1 != r2 || (r1 && memcmp(o1, o2, nout))) {
            size_t i = 0; while (i < nout && o1[i] == o2[i]) i++;
            printf("MISMATCH shape %d: ch %d in %dx%d out %dx%d k%d max %d, element %zu: generic %d, 2x2 path %d\n",
                   it, p.channels, p.in_h, p.in_w, p.out_h, p.out_w, p.k_h, p.is_max, i, i < nout ? o1[i] : 0, i < nout ? o2[i] : 0);
            return 1;
        }
        free(o1); free(o2); munmap(m, span + pg);
    }
    printf("OK: %d pooling shapes identical (2x2 stride-2 average path vs the generic path); %d took the 2x2 path, %d other\n", n, fast, declined);
    return 0;
}
