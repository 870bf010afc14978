// OpenBLAS is not linked: MBCore loads it with dlopen after choosing its kernels
// (OPENBLAS_CORETYPE, read once when the library loads), so the few functions mbc calls are
// declared here as pointer types, and every call goes through MBCore's `gemm` and `BLASThreads`.

// CBLAS argument values, as fixed by the CBLAS interface (and OpenBLAS's cblas.h).
enum { MBC_CBLAS_ROW_MAJOR = 101, MBC_CBLAS_NO_TRANS = 111, MBC_CBLAS_TRANS = 112 };

// cblas_sgemm with 32-bit integers (libopenblas.so.0; the 64-bit-integer build is libopenblas64).
typedef void (*mbc_sgemm_fn)(int order, int transpose_a, int transpose_b, int m, int n, int k,
                             float alpha, const float *a, int lda, const float *b, int ldb,
                             float beta, float *c, int ldc);
typedef void (*mbc_set_threads_fn)(int threads);      // openblas_set_num_threads
typedef int (*mbc_get_threads_fn)(void);              // openblas_get_num_threads
typedef char *(*mbc_get_corename_fn)(void);           // openblas_get_corename
