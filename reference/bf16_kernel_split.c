// mbc's bf16 weight-gradient kernel (Sources/CBF16) in its two parts, on one full block of each
// (M, N) of `mbc-bench gemm`'s layer shapes: rounding and packing the rows of dY (M x K) and X (N x K), and
// the block product. K is the block length WeightGradientGEMM picks for the shape (1 MB of packed
// rows). Not part of the build:
//   clang -O2 -ISources/CBF16/include reference/bf16_kernel_split.c Sources/CBF16/bf16.c -o /tmp/bf16_split && /tmp/bf16_split
// Runs only on a CPU with AVX512-BF16.
#include "CBF16.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

int main(void) {
    long shapes[][2] = {{64, 192}, {256, 256}, {128, 384}, {144, 64}, {288, 128}};
    for (int s = 0; s < 5; s++) {
        long m = shapes[s][0], n = shapes[s][1];
        long k = 1024 * 1024 / (2 * (m + n)) / 32 * 32;
        if (k < 256) k = 256;
        float *dy = malloc(sizeof(float) * m * k), *x = malloc(sizeof(float) * n * k), *dw = calloc(m * n, sizeof(float));
        for (long i = 0; i < m * k; i++) dy[i] = (float)(i % 7) * 0.1f;
        for (long i = 0; i < n * k; i++) x[i] = (float)(i % 5) * 0.1f;
        uint16_t *packed = malloc(sizeof(uint16_t) * (m + n) * k);
        long reps = 2000000000L / (2 * m * n * k);
        if (reps < 1) reps = 1;
        double pack = 1e9, multiply = 1e9;   // the best of 5 timings of `reps` calls
        for (int t = 0; t < 5; t++) {
            double t0 = now();
            for (long r = 0; r < reps; r++) {
                mbc_bf16_pack(dy, k, m, k, packed, k);
                mbc_bf16_pack(x, k, n, k, packed + m * k, k);
            }
            double t1 = now();
            for (long r = 0; r < reps; r++) mbc_bf16_gemm_nt(m, n, k, packed, k, packed + m * k, k, dw, n);
            double t2 = now();
            if (t1 - t0 < pack) pack = t1 - t0;
            if (t2 - t1 < multiply) multiply = t2 - t1;
        }
        printf("M=%3ld N=%3ld K=%4ld  pack %6.1f us  multiply %6.1f us (%.1f GFLOP/s)  pack share %.0f%%\n", m, n, k,
               1e6 * pack / reps, 1e6 * multiply / reps, 2.0 * m * n * k * reps / multiply / 1e9, 100 * pack / (pack + multiply));
        free(dy); free(x); free(dw); free(packed);
    }
    return 0;
}
