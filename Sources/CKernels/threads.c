// Threads for conv and fully connected: a shared persistent pool (plain pthreads) and the split of
// a kernel into sub-kernels of contiguous output ranges. Each output element is computed by exactly
// one sub-kernel, with the same arithmetic as the single kernel (each path's per-element arithmetic
// does not depend on which other channels it runs with), so results are identical for any thread
// count. Each sub-kernel allocates its own scratch per run, so scratch is per thread.
#include "internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VK_MAX_THREADS 64

// MARK: the pool. One job at a time (run_lock); workers wait on `work` for a new generation,
// take task indices under `mu`, and the caller takes tasks too, then waits until none is pending.
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int nworkers;
static unsigned long gen;
static void (*job_fn)(void *, int);
static void *job_ctx;
static int job_n, job_next, job_pending;
// Mirrors of gen and job_pending (written under mu) that waiters spin on, briefly, before sleeping
// on the condition variables: a layer's kernel lasts tens of microseconds, about a futex wake-up.
static atomic_ulong gen_seen_by_spinners;
static atomic_int pending_for_spinners;
#define VK_SPIN 1000
#define VK_WORKER_SPIN 300


static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker(void *arg) {
    unsigned long seen = (unsigned long)(uintptr_t)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        if (gen == seen) {  // spin a little (unlocked) for the next job, then sleep
            pthread_mutex_unlock(&mu);
            for (int k = 0; k < VK_WORKER_SPIN && atomic_load_explicit(&gen_seen_by_spinners, memory_order_acquire) == seen; k++) cpu_relax();
            pthread_mutex_lock(&mu);
        }
        while (gen == seen) pthread_cond_wait(&work, &mu);
        seen = gen;
        while (job_next < job_n) {
            int i = job_next++;
            pthread_mutex_unlock(&mu);
            job_fn(job_ctx, i);
            pthread_mutex_lock(&mu);
            atomic_store_explicit(&pending_for_spinners, --job_pending, memory_order_release);
            if (job_pending == 0) pthread_cond_broadcast(&done);
        }
    }
    return NULL;
}

void vk_pool_parallel(void (*fn)(void *ctx, int i), void *ctx, int n, int threads) {
    if (threads > VK_MAX_THREADS) threads = VK_MAX_THREADS;
    if (n <= 1 || threads <= 1) { for (int i = 0; i < n; i++) fn(ctx, i); return; }
    pthread_mutex_lock(&run_lock);
    pthread_mutex_lock(&mu);
    while (nworkers < threads - 1) {  // grow the pool; on failure run with what there is
        pthread_attr_t attr;
        pthread_t t;
        if (pthread_attr_init(&attr) != 0) break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, worker, (void *)(uintptr_t)gen);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        nworkers++;
    }
    job_fn = fn; job_ctx = ctx; job_n = n; job_next = 0; job_pending = n;
    atomic_store_explicit(&pending_for_spinners, n, memory_order_release);
    gen++;
    atomic_store_explicit(&gen_seen_by_spinners, gen, memory_order_release);
    if (nworkers > 0) pthread_cond_broadcast(&work);
    while (job_next < job_n) {
        int i = job_next++;
        pthread_mutex_unlock(&mu);
        fn(ctx, i);
        pthread_mutex_lock(&mu);
        atomic_store_explicit(&pending_for_spinners, --job_pending, memory_order_release);
    }
    if (job_pending > 0) {  // spin a little (unlocked) for the workers' tasks, then sleep
        pthread_mutex_unlock(&mu);
        for (int k = 0; k < VK_SPIN && atomic_load_explicit(&pending_for_spinners, memory_order_acquire) > 0; k++) cpu_relax();
        pthread_mutex_lock(&mu);
    }
    while (job_pending > 0) pthread_cond_wait(&done, &mu);
    job_fn = NULL; job_ctx = NULL; job_n = 0; job_next = 0;
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&run_lock);
}

/// Splits `units` into `parts` contiguous ranges as even as possible, starts rounded to `align`
/// units where that keeps every range non-empty: starts[0..parts].
static void split(int units, int parts, int align, int *starts) {
    for (int i = 0; i <= parts; i++) {
        long long a = (long long)units * i / parts;
        if (align > 1 && i > 0 && i < parts) a = (a + align / 2) / align * align;
        starts[i] = (int)a;
    }
    for (int i = 1; i <= parts; i++) if (starts[i] <= starts[i - 1]) { // fall back to the plain split
        for (int j = 0; j <= parts; j++) starts[j] = (int)((long long)units * j / parts);
        return;
    }
}

// MARK: conv

vk_conv *vk_conv_create_mt(const vk_conv_shape *shape, const int8_t *weights, const int32_t *wzp,
                           const int32_t *bias, const float *ratio, int isa, int threads) {
    if (threads > VK_MAX_THREADS) threads = VK_MAX_THREADS;
    int G = shape->groups;
    if (threads <= 1 || G <= 0 || shape->out_c <= 0 || shape->in_c % G || shape->out_c % G)
        return vk_conv_create(shape, weights, wzp, bias, ratio, isa);
    // Units: output channels (groups == 1) or whole groups.
    int units = G == 1 ? shape->out_c : G;
    int parts = threads < units ? threads : units;
    if (parts <= 1) return vk_conv_create(shape, weights, wzp, bias, ratio, isa);
    vk_conv *c = calloc(1, sizeof *c);
    if (!c) return vk_conv_create(shape, weights, wzp, bias, ratio, isa);
    c->s = *shape;
    c->cin_pg = shape->in_c / G; c->cout_pg = shape->out_c / G;
    c->K = c->cin_pg * shape->k_h * shape->k_w;
    c->P = shape->out_h * shape->out_w;
    c->sub = calloc((size_t)parts, sizeof *c->sub);
    c->in_off = calloc((size_t)parts, sizeof *c->in_off);
    c->out_off = calloc((size_t)parts, sizeof *c->out_off);
    int starts[VK_MAX_THREADS + 1];
    if (!c->sub || !c->in_off || !c->out_off) goto fallback;
    split(units, parts, G == 1 ? 4 : 1, starts);  // channel blocks of 4 (the AVX2 / NEON micro-kernels)
    for (int i = 0; i < parts; i++) {
        int u0 = starts[i], nu = starts[i + 1] - starts[i];
        vk_conv_shape ss = *shape;
        int oc0;
        if (G == 1) { ss.out_c = nu; oc0 = u0; c->in_off[i] = 0; }
        else {
            ss.groups = nu; ss.in_c = nu * c->cin_pg; ss.out_c = nu * c->cout_pg; oc0 = u0 * c->cout_pg;
            c->in_off[i] = (size_t)u0 * c->cin_pg * shape->in_h * shape->in_w;
        }
        c->out_off[i] = (size_t)oc0 * c->P;
        c->sub[i] = vk_conv_create(&ss, weights + (size_t)oc0 * c->K, wzp + oc0, bias + oc0, ratio + oc0, isa);
        if (!c->sub[i]) goto fallback;
        c->nsub = i + 1;
    }
    c->isa = c->sub[0]->isa;
    return c;
fallback: /* out of memory: the single-threaded kernel */
    vk_conv_destroy(c);
    return vk_conv_create(shape, weights, wzp, bias, ratio, isa);
}

int vk_conv_threads(const vk_conv *c) { return c->nsub > 0 ? c->nsub : 1; }

typedef struct conv_job { const vk_conv *c; const int8_t *input; int8_t *output; } conv_job;

static void conv_task(void *ctx, int i) {
    const conv_job *j = ctx;
    vk_conv_run(j->c->sub[i], j->input + j->c->in_off[i], j->output + j->c->out_off[i]);
}

void vk_conv_run_mt(const vk_conv *c, const int8_t *input, int8_t *output) {
    conv_job j = {c, input, output};
    vk_pool_parallel(conv_task, &j, c->nsub, c->nsub);
}

void vk_conv_destroy_subs(vk_conv *c) {
    if (c->sub) for (int i = 0; i < c->nsub; i++) vk_conv_destroy(c->sub[i]);
    free(c->sub); free(c->in_off); free(c->out_off);
}

// MARK: fully connected

vk_fc *vk_fc_create_mt(int rows, int in_features, int out_features, int32_t input_zero_point,
                       int32_t output_zero_point, int32_t out_min, int32_t out_max,
                       const int8_t *weights, const int32_t *wzp, const int32_t *bias,
                       const float *ratio, int isa, int threads) {
    if (threads > VK_MAX_THREADS) threads = VK_MAX_THREADS;
    int parts = threads < out_features ? threads : out_features;
    if (parts <= 1 || rows <= 0)
        return vk_fc_create(rows, in_features, out_features, input_zero_point, output_zero_point, out_min, out_max,
                            weights, wzp, bias, ratio, isa);
    vk_fc *f = calloc(1, sizeof *f);
    if (!f) goto single;
    f->rows = rows; f->K = in_features; f->N = out_features;
    f->sub = calloc((size_t)parts, sizeof *f->sub);
    f->n0 = calloc((size_t)parts + 1, sizeof *f->n0);
    if (!f->sub || !f->n0) goto fallback;
    split(out_features, parts, 1, f->n0);
    for (int i = 0; i < parts; i++) {
        int a = f->n0[i], n = f->n0[i + 1] - a;
        f->sub[i] = vk_fc_create(1, in_features, n, input_zero_point, output_zero_point, out_min, out_max,
                                 weights + (size_t)a * in_features, wzp + a, bias + a, ratio + a, isa);
        if (!f->sub[i]) goto fallback;
        f->nsub = i + 1;
    }
    f->isa = f->sub[0]->isa;
    return f;
fallback:
    vk_fc_destroy(f);
single:
    return vk_fc_create(rows, in_features, out_features, input_zero_point, output_zero_point, out_min, out_max,
                        weights, wzp, bias, ratio, isa);
}

int vk_fc_threads(const vk_fc *f) { return f->nsub > 0 ? f->nsub : 1; }

typedef struct fc_job { const vk_fc *f; const int8_t *input; int8_t *output; } fc_job;

static void fc_task(void *ctx, int i) {
    const fc_job *j = ctx;
    const vk_fc *f = j->f;
    int a = f->n0[i];
    // The sub-kernels are single-row: one call per row writes that row's range of features in place.
    for (int r = 0; r < f->rows; r++)
        vk_fc_run(f->sub[i], j->input + (size_t)r * f->K, j->output + (size_t)r * f->N + a);
}

void vk_fc_run_mt(const vk_fc *f, const int8_t *input, int8_t *output) {
    fc_job j = {f, input, output};
    vk_pool_parallel(fc_task, &j, f->nsub, f->nsub);
}

void vk_fc_destroy_subs(vk_fc *f) {
    if (f->sub) for (int i = 0; i < f->nsub; i++) vk_fc_destroy(f->sub[i]);
    free(f->sub); free(f->n0);
}
