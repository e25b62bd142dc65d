/*
 * The C/OpenMP reference for the EMA update e[i] = fmaf(a, w[i] - e[i], e[i]) (that is, e += a * (w - e)), the
 * practical memory-speed limit the Java rows are compared with. No non-finite check.
 *
 *   c-contiguous: one array of all the set's parameters, split statically over the threads.
 *   c-tensors:    the set's separate tensors (161 for ResNet-50), the concatenated range split into equal runs.
 *
 * Sets are built as in ema4j.bench.ParameterSets: resnet50 (torchvision ResNet-50, 25,557,032 floats) and 100m
 * (resnet50 four times). Prints one line per variant: "variant set params threads median_ms".
 *
 * Build: gcc -O3 -march=native -fopenmp -o ema_update ema_update.c -lm
 * Run:   ./ema_update SET THREADS [REPETITIONS]     (default 20 repetitions after 3 warm-up updates)
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TENSORS 1024

static long sizes[MAX_TENSORS];
static int count;

static void add(long n) { sizes[count++] = n; }

static void resnet50(void) {
    int blocks[4] = {3, 4, 6, 3};
    long in = 64;
    add(64L * 3 * 7 * 7); add(64); add(64);
    for (int layer = 0; layer < 4; layer++) {
        long width = 64L << layer, out = width * 4;
        for (int b = 0; b < blocks[layer]; b++) {
            add(width * in); add(width); add(width);
            add(width * width * 9); add(width); add(width);
            add(out * width); add(out); add(out);
            if (b == 0) { add(out * in); add(out); add(out); }
            in = out;
        }
    }
    add(1000L * 2048); add(1000);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int by_value(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static float uniform(unsigned long long *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*state >> 40) * 0x1p-24 * 2.0 - 1.0);
}

static void update_contiguous(float *restrict e, const float *restrict w, float a, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) e[i] = fmaf(a, w[i] - e[i], e[i]);
}

static void average(float *restrict e, const float *restrict w, float a, long from, long to) {
    for (long i = from; i < to; i++) e[i] = fmaf(a, w[i] - e[i], e[i]);
}

/* each thread takes an equal run of the concatenated range and walks the tensors that overlap it */
static void update_tensors(float **e, float **w, float a, long total) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        long share = (total + n - 1) / n;
        long start = share * t, end = start + share < total ? start + share : total;
        long base = 0;
        for (int k = 0; k < count && base < end; base += sizes[k], k++) {
            long from = start > base ? start - base : 0;
            long to = end - base < sizes[k] ? end - base : sizes[k];
            if (from < to) average(e[k], w[k], a, from, to);
        }
    }
}

static double median(double *ms, int n) {
    qsort(ms, n, sizeof(double), by_value);
    return n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s resnet50|100m THREADS [REPETITIONS]\n", argv[0]);
        return 2;
    }
    const char *set = argv[1];
    int threads = atoi(argv[2]);
    int reps = argc > 3 ? atoi(argv[3]) : 20;
    int copies = strcmp(set, "resnet50") == 0 ? 1 : strcmp(set, "100m") == 0 ? 4 : 0;
    if (copies == 0 || threads < 1 || reps < 1) {
        fprintf(stderr, "set must be resnet50 or 100m, threads and repetitions >= 1\n");
        return 2;
    }
    for (int c = 0; c < copies; c++) resnet50();
    long total = 0;
    for (int k = 0; k < count; k++) total += sizes[k];
    omp_set_num_threads(threads);
    const float a = 1.0f - 0.999f;
    double *ms = malloc(sizeof(double) * reps);
    unsigned long long seed = 42;

    {   /* one contiguous array */
        float *e = aligned_alloc(64, ((total * 4 + 63) / 64) * 64), *w = aligned_alloc(64, ((total * 4 + 63) / 64) * 64);
        for (long i = 0; i < total; i++) { w[i] = uniform(&seed); e[i] = w[i] + 0.01f * uniform(&seed); }
        for (int r = 0; r < 3; r++) update_contiguous(e, w, a, total);
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            update_contiguous(e, w, a, total);
            ms[r] = now_ms() - t0;
        }
        printf("c-contiguous %s %ld %d %.3f\n", set, total, threads, median(ms, reps));
        fflush(stdout);
        free(e); free(w);
    }
    {   /* the separate tensors */
        float **e = malloc(sizeof(float *) * count), **w = malloc(sizeof(float *) * count);
        for (int k = 0; k < count; k++) {
            e[k] = malloc(sizes[k] * 4); w[k] = malloc(sizes[k] * 4);
            for (long i = 0; i < sizes[k]; i++) { w[k][i] = uniform(&seed); e[k][i] = w[k][i] + 0.01f * uniform(&seed); }
        }
        for (int r = 0; r < 3; r++) update_tensors(e, w, a, total);
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            update_tensors(e, w, a, total);
            ms[r] = now_ms() - t0;
        }
        printf("c-tensors %s %ld %d %.3f\n", set, total, threads, median(ms, reps));
        for (int k = 0; k < count; k++) { free(e[k]); free(w[k]); }
        free(e); free(w);
    }
    free(ms);
    return 0;
}
