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
 * With "serve" first, it is a peer of bench/turns.py instead: it sets up both variants, prints
 * "ready c-contiguous c-tensors" and answers each line "VARIANT N" of standard input with the fastest of N updates
 * in milliseconds, until "quit" or the end of input.
 *
 * Build: gcc -O3 -march=native -fopenmp -o ema_update ema_update.c -lm
 * Run:   ./ema_update SET THREADS [REPETITIONS]     (default 20 repetitions after 3 warm-up updates)
 *        ./ema_update serve SET THREADS
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

/* both variants' memory, filled with the same kind of values */
static float *ce, *cw, **te, **tw;
static long total;

static void set_up(void) {
    unsigned long long seed = 42;
    long bytes = ((total * 4 + 63) / 64) * 64;
    ce = aligned_alloc(64, bytes);
    cw = aligned_alloc(64, bytes);
    for (long i = 0; i < total; i++) { cw[i] = uniform(&seed); ce[i] = cw[i] + 0.01f * uniform(&seed); }
    te = malloc(sizeof(float *) * count);
    tw = malloc(sizeof(float *) * count);
    for (int k = 0; k < count; k++) {
        te[k] = malloc(sizes[k] * 4); tw[k] = malloc(sizes[k] * 4);
        for (long i = 0; i < sizes[k]; i++) { tw[k][i] = uniform(&seed); te[k][i] = tw[k][i] + 0.01f * uniform(&seed); }
    }
}

static const float A = 1.0f - 0.999f;

/* one update of the named variant; 0 when the name is unknown */
static int run(const char *variant) {
    if (strcmp(variant, "c-contiguous") == 0) update_contiguous(ce, cw, A, total);
    else if (strcmp(variant, "c-tensors") == 0) update_tensors(te, tw, A, total);
    else return 0;
    return 1;
}

static double timed(const char *variant) {
    double t0 = now_ms();
    run(variant);
    return now_ms() - t0;
}

static int serve(void) {
    static const char *variants[] = {"c-contiguous", "c-tensors"};
    for (int v = 0; v < 2; v++)
        for (int r = 0; r < 20; r++) run(variants[v]);
    printf("ready c-contiguous c-tensors\n");
    fflush(stdout);
    char line[256], variant[64];
    int n;
    while (fgets(line, sizeof line, stdin) && strncmp(line, "quit", 4) != 0) {
        if (sscanf(line, "%63s %d", variant, &n) != 2 || n < 1 || !run(variant)) {
            fprintf(stderr, "a turn must be 'c-contiguous N' or 'c-tensors N' with N >= 1, was: %s", line);
            return 1;
        }
        double best = timed(variant);
        for (int r = 1; r < n; r++) {
            double ms = timed(variant);
            if (ms < best) best = ms;
        }
        printf("%.4f\n", best);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv) {
    int serving = argc > 1 && strcmp(argv[1], "serve") == 0;
    if (argc < 3 + serving) {
        fprintf(stderr, "usage: %s resnet50|100m THREADS [REPETITIONS]\n       %s serve resnet50|100m THREADS\n",
                argv[0], argv[0]);
        return 2;
    }
    const char *set = argv[1 + serving];
    int threads = atoi(argv[2 + serving]);
    int reps = !serving && argc > 3 ? atoi(argv[3]) : 20;
    int copies = strcmp(set, "resnet50") == 0 ? 1 : strcmp(set, "100m") == 0 ? 4 : 0;
    if (copies == 0 || threads < 1 || reps < 1) {
        fprintf(stderr, "set must be resnet50 or 100m, threads and repetitions >= 1\n");
        return 2;
    }
    for (int c = 0; c < copies; c++) resnet50();
    for (int k = 0; k < count; k++) total += sizes[k];
    omp_set_num_threads(threads);
    set_up();
    if (serving) return serve();
    static const char *variants[] = {"c-contiguous", "c-tensors"};
    double *ms = malloc(sizeof(double) * reps);
    for (int v = 0; v < 2; v++) {
        for (int r = 0; r < 3; r++) run(variants[v]);
        for (int r = 0; r < reps; r++) ms[r] = timed(variants[v]);
        printf("%s %s %ld %d %.3f\n", variants[v], set, total, threads, median(ms, reps));
        fflush(stdout);
    }
    free(ms);
    return 0;
}
