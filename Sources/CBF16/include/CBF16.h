// Weight-gradient products in bfloat16 with float32 sums, on AVX512-BF16 (VCVTNE2PS2BF16 and
// VDPBF16PS). Both functions are compiled for that instruction set alone: call them only on a CPU
// that has it (MBCore.GradientPrecision checks CPUID first).
#include <stdint.h>

// Rounds `count` floats of each of `rows` rows (row r at src + r * ld) to bfloat16 and stores them
// at dst + r * dst_ld. Rounding is VCVTNE2PS2BF16's: to nearest even, denormal inputs to zero.
void mbc_bf16_pack(const float *src, long ld, long rows, long count, uint16_t *dst, long dst_ld);

// C (m x n, row stride ldc) += A * B^T, with A (m x k) and B (n x k) bfloat16 rows of stride lda
// and ldb, k a multiple of 32. Each product pair is summed in float32 (VDPBF16PS).
void mbc_bf16_gemm_nt(long m, long n, long k, const uint16_t *a, long lda, const uint16_t *b, long ldb,
                      float *c, long ldc);
