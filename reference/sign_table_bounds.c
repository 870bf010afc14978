// How close mbc's sign lookup-table product (Sources/MBSignGEMM) runs to what this CPU allows,
// and two changes to it that were measured and not taken. Not part of the build:
//
//   gcc -O2 -march=skylake-avx512 reference/sign_table_bounds.c -o /tmp/sign_table_bounds
//   /tmp/sign_table_bounds
//
// (AVX-512 F only; one thread; run nothing else meanwhile.) It prints:
//  1. the rate of independent 512-bit load+add pairs from L1 (the CPU's streaming-add bound), and
//     of 512-bit adds on registers;
//  2. the rate of table lookups as the kernel makes them (a 32-bit offset per row and group, then a
//     64-byte load added into one of four row sums), with tables of 4-96 KB: the lookup bound;
//  3. the whole product (table build + lookups) on the layer shapes of `mbc-bench gemm`, in
//     GEMM-equivalent GFLOP/s (2 FLOPs per multiply-add a GEMM would do);
//  4. the product preceded by BN-ReLU of its input (y = max((x - mean)·scale + shift, 0)) in two
//     ways, over 64 images: into a scratch matrix first (what mbc does, `PreActivation.normalize`),
//     or fused into the table build, which reads the rows of x directly.
// The kernel here is a C transcription of the arithmetic of SignMatrix.product, written for this
// measurement; BENCHMARKS.md ("What the speed targets are up against") quotes its output.
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *floats(size_t count) {
    float *p = aligned_alloc(64, (count * 4 + 63) / 64 * 64);
    for (size_t i = 0; i < count; i++) p[i] = (float)rand() / RAND_MAX - 0.5f;
    return p;
}

// 1. Eight independent sums of 64-byte loads from a 4 KB block, and of a register.
__attribute__((noinline)) static float loads_and_adds(const float *block, long count) {
    __m512 acc[8];
    for (int i = 0; i < 8; i++) acc[i] = _mm512_setzero_ps();
    for (long k = 0; k < count; k += 8) {
        const float *p = block + ((k * 16) & 1023);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) acc[i] = _mm512_add_ps(acc[i], _mm512_load_ps(p + 16 * i));
    }
    for (int i = 1; i < 8; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((noinline)) static float register_adds(long count) {
    __m512 acc[8], c = _mm512_set1_ps(0.5f);
    for (int i = 0; i < 8; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < count; k += 8) {
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) acc[i] = _mm512_add_ps(acc[i], c);
    }
    for (int i = 1; i < 8; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

// The table of one 16-column tile: for each group of four rows of x, the 16 signed sums.
static inline __m512 bn_relu(__m512 v, float mean, float scale, float shift) {
    __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(mean)), _mm512_set1_ps(scale)), _mm512_set1_ps(shift));
    return _mm512_max_ps(y, _mm512_setzero_ps());
}

// rows[r] + column: row r of x; with `affine`, BN-ReLU is applied to each row as it is read.
static void build_table(const float *const *rows, int column, int groups, float *table, const float *affine) {
    for (int g = 0; g < groups; g++) {
        __m512 x[4];
        for (int j = 0; j < 4; j++) {
            int r = 4 * g + j;
            x[j] = _mm512_loadu_ps(rows[r] + column);
            if (affine) x[j] = bn_relu(x[j], affine[3 * r], affine[3 * r + 1], affine[3 * r + 2]);
        }
        __m512 p01 = _mm512_add_ps(x[0], x[1]), m01 = _mm512_sub_ps(x[0], x[1]);
        __m512 p23 = _mm512_add_ps(x[2], x[3]), m23 = _mm512_sub_ps(x[2], x[3]), z = _mm512_setzero_ps();
        __m512 a[4] = {_mm512_sub_ps(z, p01), m01, _mm512_sub_ps(z, m01), p01};
        __m512 b[4] = {_mm512_sub_ps(z, p23), m23, _mm512_sub_ps(z, m23), p23};
        float *t = table + g * 256;
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < 4; i++) _mm512_store_ps(t + (4 * j + i) * 16, _mm512_add_ps(a[i], b[j]));
    }
}

// Every row of y over one tile, four rows at a time: offsets[r·groups + g] = (g·16 + code)·16.
__attribute__((noinline)) static void sum_rows(const float *table, const int32_t *offsets, int rows, int groups,
                                               float *y, int ldy) {
    for (int r = 0; r < rows; r += 4) {
        __m512 a = _mm512_setzero_ps(), b = a, c = a, d = a;
        const int32_t *o0 = offsets + r * groups, *o1 = o0 + groups, *o2 = o1 + groups, *o3 = o2 + groups;
        for (int g = 0; g < groups; g++) {
            a = _mm512_add_ps(a, _mm512_load_ps(table + o0[g]));
            b = _mm512_add_ps(b, _mm512_load_ps(table + o1[g]));
            c = _mm512_add_ps(c, _mm512_load_ps(table + o2[g]));
            d = _mm512_add_ps(d, _mm512_load_ps(table + o3[g]));
        }
        _mm512_storeu_ps(y + r * ldy, a);
        _mm512_storeu_ps(y + (r + 1) * ldy, b);
        _mm512_storeu_ps(y + (r + 2) * ldy, c);
        _mm512_storeu_ps(y + (r + 3) * ldy, d);
    }
}

static int32_t *random_offsets(int rows, int groups) {
    int32_t *o = malloc(sizeof(int32_t) * rows * groups);
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < groups; g++) o[r * groups + g] = (g * 16 + (rand() & 15)) * 16;
    return o;
}

int main(void) {
    // 1.
    float *block = floats(1024);
    long count = 400000000;
    volatile float sink;
    double t = now();
    sink = loads_and_adds(block, count);
    printf("64-byte load+add from L1, 8 sums:    %.3f ns each\n", (now() - t) / count * 1e9);
    t = now();
    sink = register_adds(count);
    printf("512-bit add on registers, 8 sums:    %.3f ns each\n", (now() - t) / count * 1e9);

    // 2.
    int table_groups[] = {4, 16, 48, 96};
    for (int s = 0; s < 4; s++) {
        int groups = table_groups[s], rows = 256;
        float *table = floats(groups * 256), *y = floats(rows * 16);
        int32_t *offsets = random_offsets(rows, groups);
        int repeats = 20000000 / (rows * groups) + 1;
        double best = 1e9;
        for (int k = 0; k < 7; k++) {
            t = now();
            for (int q = 0; q < repeats; q++) sum_rows(table, offsets, rows, groups, y, 16);
            double dt = (now() - t) / repeats;
            if (dt < best) best = dt;
        }
        printf("table lookups, %2d KB table:          %.3f ns each\n", groups, best / (rows * groups) * 1e9);
        free(table); free(y); free(offsets);
    }

    // 3. and 4. Shapes (rows of the sign matrix, its columns, columns of x per image).
    int shapes[][3] = {{64, 192, 1024}, {256, 256, 1024}, {64, 192, 256}, {128, 384, 64}, {144, 64, 1024}, {288, 128, 64}};
    printf("\n%-24s %14s %18s %18s\n", "shape M x K x N", "GFLOP/s-equiv", "normalize, 64 img", "fused, 64 img");
    for (int s = 0; s < 6; s++) {
        int m = shapes[s][0], kk = shapes[s][1], n = shapes[s][2], groups = kk / 4, images = 64;
        float *x = floats((size_t)kk * n * images), *y = floats((size_t)m * n * images), *scratch = floats((size_t)kk * n);
        float *table = floats(groups * 256), *affine = floats(3 * kk);
        for (int r = 0; r < kk; r++) affine[3 * r + 1] = 1.0f + affine[3 * r + 1];
        int32_t *offsets = random_offsets(m, groups);
        const float **rows = malloc(sizeof(float *) * kk);
        double product = 1e9, normalized = 1e9, fused = 1e9;
        for (int k = 0; k < 3; k++) {
            // 3: one image's product on an input already in cache.
            for (int r = 0; r < kk; r++) rows[r] = x + (size_t)r * n;
            int repeats = (int)(2e9 / (2.0 * m * kk * n)) + 1;
            t = now();
            for (int q = 0; q < repeats; q++)
                for (int col = 0; col < n; col += 16) {
                    build_table(rows, col, groups, table, NULL);
                    sum_rows(table, offsets, m, groups, y + col, n);
                }
            double dt = (now() - t) / repeats;
            if (dt < product) product = dt;
            // 4: 64 images, BN-ReLU into the scratch then the product, or fused into the build.
            for (int fuse = 0; fuse < 2; fuse++) {
                t = now();
                for (int img = 0; img < images; img++) {
                    const float *xi = x + (size_t)img * kk * n;
                    float *yi = y + (size_t)img * m * n;
                    for (int r = 0; r < kk; r++) {
                        if (fuse) {
                            rows[r] = xi + (size_t)r * n;
                        } else {
                            for (int col = 0; col < n; col += 16)
                                _mm512_store_ps(scratch + (size_t)r * n + col,
                                                bn_relu(_mm512_load_ps(xi + (size_t)r * n + col), affine[3 * r], affine[3 * r + 1], affine[3 * r + 2]));
                            rows[r] = scratch + (size_t)r * n;
                        }
                    }
                    for (int col = 0; col < n; col += 16) {
                        build_table(rows, col, groups, table, fuse ? affine : NULL);
                        sum_rows(table, offsets, m, groups, yi + col, n);
                    }
                }
                dt = now() - t;
                if (fuse && dt < fused) fused = dt;
                if (!fuse && dt < normalized) normalized = dt;
            }
        }
        char name[32];
        snprintf(name, sizeof name, "%d x %d x %d", m, kk, n);
        printf("%-24s %14.0f %15.1f ms %15.1f ms\n", name, 2.0 * m * kk * n / product / 1e9, normalized * 1e3, fused * 1e3);
        free(x); free(y); free(scratch); free(table); free(affine); free(offsets); free(rows);
    }
    (void)sink;
    return 0;
}
