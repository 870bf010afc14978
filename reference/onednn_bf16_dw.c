// The weight-gradient product dW (O x C) += dY (O x HW) . Y^T on oneDNN 2.6 (Debian's libdnnl-dev),
// fp32 and bf16, on the layer shapes of `mbc-bench gemm`, one image per call as that benchmark
// runs it: the measurement behind the choice of mbc's own AVX512-BF16 kernel over oneDNN for
// optim.grad_precision (see BENCHMARKS.md, "bf16 weight gradients"). Not part of the build:
//   clang -O2 reference/onednn_bf16_dw.c -ldnnl -o /tmp/onednn_bf16_dw && OMP_NUM_THREADS=1 /tmp/onednn_bf16_dw
// bf16 includes the two f32 -> bf16 reorders of dY and Y per call, as mbc's kernel rounds its
// inputs itself; both accumulate into dW (oneDNN: a sum post-op).
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(call) do { dnnl_status_t status_ = (call); if (status_ != dnnl_success) { fprintf(stderr, "%s: status %d\n", #call, (int)status_); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static int compare(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

typedef struct { dnnl_primitive_t prim; int nargs; dnnl_exec_arg_t args[3]; } Step;

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static Step matmul(dnnl_data_type_t type, long o, long c, long hw, dnnl_memory_t a, dnnl_memory_t b, dnnl_memory_t dst) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t a_dims = {o, hw}, b_dims = {hw, c}, c_dims = {o, c};
    CHECK(dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, type, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, type, dnnl_ba));   // Y (C x HW) read as Y^T
    CHECK(dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md));
    dnnl_post_ops_t post;
    CHECK(dnnl_post_ops_create(&post));
    CHECK(dnnl_post_ops_append_sum(post, 1.0f));
    dnnl_primitive_attr_t attr;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_primitive_attr_set_post_ops(attr, post));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL));
    const char *impl;
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    fprintf(stderr, "matmul %s O=%ld C=%ld HW=%ld: %s\n", type == dnnl_bf16 ? "bf16" : "f32", o, c, hw, impl);
    Step s = {0};
    CHECK(dnnl_primitive_create(&s.prim, pd));
    s.nargs = 3;
    s.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, a};
    s.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, b};
    s.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst};
    return s;
}

static Step reorder(dnnl_memory_t from, dnnl_memory_t to) {
    const dnnl_memory_desc_t *f, *t;
    CHECK(dnnl_memory_get_memory_desc(from, &f));
    CHECK(dnnl_memory_get_memory_desc(to, &t));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, f, engine, t, engine, NULL));
    Step s = {0};
    CHECK(dnnl_primitive_create(&s.prim, pd));
    s.nargs = 2;
    s.args[0] = (dnnl_exec_arg_t){DNNL_ARG_FROM, from};
    s.args[1] = (dnnl_exec_arg_t){DNNL_ARG_TO, to};
    return s;
}

static dnnl_memory_t memory(dnnl_data_type_t type, long rows, long cols, dnnl_format_tag_t tag, void *data) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {rows, cols};
    CHECK(dnnl_memory_desc_init_by_tag(&md, 2, dims, type, tag));
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, &md, engine, data ? data : DNNL_MEMORY_ALLOCATE));
    return m;
}

static void run(Step *steps, int n) {
    for (int i = 0; i < n; i++) CHECK(dnnl_primitive_execute(steps[i].prim, stream, steps[i].nargs, steps[i].args));
    CHECK(dnnl_stream_wait(stream));
}

// GFLOP/s, median of 5 timings of about 20 ms each.
static double rate(Step *steps, int n, long o, long c, long hw) {
    long reps = 2000000000L / (2 * o * c * hw);
    if (reps < 1) reps = 1;
    double times[5];
    for (long r = 0; r < reps; r++) run(steps, n);
    for (int t = 0; t < 5; t++) {
        double start = now();
        for (long r = 0; r < reps; r++) run(steps, n);
        times[t] = now() - start;
    }
    qsort(times, 5, sizeof(double), compare);
    return 2.0 * o * c * hw * reps / times[2] / 1e9;
}

int main(void) {
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    long shapes[][3] = {{64, 192, 1024}, {256, 256, 1024}, {64, 192, 256}, {128, 384, 64}, {144, 64, 1024}, {288, 128, 64}};
    const char *names[] = {"block 1 Stage-II 1x1", "block 1 transition", "block 2 Stage-II 1x1", "block 3 Stage-II 1x1",
                           "block 1 modulated", "block 3 modulated"};
    printf("== oneDNN %d.%d.%d dW = dY . Y^T, one image, OMP_NUM_THREADS=%s (GFLOP/s, median of 5) ==\n",
           dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch, getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "unset");
    for (int i = 0; i < 6; i++) {
        long o = shapes[i][0], c = shapes[i][1], hw = shapes[i][2];
        float *dy = malloc(sizeof(float) * o * hw), *y = malloc(sizeof(float) * c * hw), *dw = calloc(o * c, sizeof(float));
        for (long j = 0; j < o * hw; j++) dy[j] = (float)(j % 7) * 0.1f;
        for (long j = 0; j < c * hw; j++) y[j] = (float)(j % 5) * 0.1f;
        dnnl_memory_t dy32 = memory(dnnl_f32, o, hw, dnnl_ab, dy), y32 = memory(dnnl_f32, hw, c, dnnl_ba, y);
        dnnl_memory_t dw32 = memory(dnnl_f32, o, c, dnnl_ab, dw);
        dnnl_memory_t dy16 = memory(dnnl_bf16, o, hw, dnnl_ab, NULL), y16 = memory(dnnl_bf16, hw, c, dnnl_ba, NULL);
        Step f32[1] = {matmul(dnnl_f32, o, c, hw, dy32, y32, dw32)};
        Step bf16[3] = {reorder(dy32, dy16), reorder(y32, y16), matmul(dnnl_bf16, o, c, hw, dy16, y16, dw32)};
        double r32 = rate(f32, 1, o, c, hw), r16 = rate(bf16, 3, o, c, hw), r16mm = rate(bf16 + 2, 1, o, c, hw);
        printf("%-22s O=%3ld ΣC=%3ld HW=%4ld  dW f32 %.1f  bf16 %.1f (matmul alone %.1f)\n", names[i], o, c, hw, r32, r16, r16mm);
        free(dy); free(y); free(dw);
    }
    return 0;
}
