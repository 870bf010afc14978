import Foundation
import MBCore

/// OpenBLAS alone on the GEMM shapes of the 64-64-128 model's layers (one image, hot caches, one
/// thread): the forward (O×ΣC · ΣC×HW), weight-gradient (dY · Yᵀ, and as dWᵀ = Y · dYᵀ) and
/// input-gradient (Wᵀ · dY) products of a fused BN-ReLU-1x1 layer, and the same three of a
/// modulated conv (O = 9·c/k). The rates bound how fast a GEMM-bound training step can be. Beside
/// the forward and input-gradient products, the same product of a binary weight on sign lookup
/// tables (`WeightMatrix`), as the GFLOP/s a GEMM would need to match it.
func runGemmBenchmark(repeats: Int) {
    BLASThreads.set(1)
    print("== GEMM rates on layer shapes, one image, 1 thread (GFLOP/s; median of \(repeats)), OpenBLAS \(OpenBLAS.summary) ==")
    let builds = SignTableKernels.runnable
    print("   (bf16: dW with GradientPrecision.bf16, "
          + (GradientPrecision.bf16.runsOnThisCPU ? "bfloat16 products summed in float32)" : "none: this CPU has no AVX512-BF16)"))
    print("   (tables: the binary weight's product on sign lookup tables, GEMM-equivalent GFLOP/s, "
          + (builds.isEmpty ? "none: this CPU has no AVX2)" : "for each build this CPU runs: \(builds.map(\.rawValue).joined(separator: " / ")))"))
    let shapes: [(String, o: Int, s: Int, hw: Int)] = [
        ("block 1 Stage-II 1x1", 64, 192, 1024), ("block 1 transition", 256, 256, 1024),
        ("block 2 Stage-II 1x1", 64, 192, 256), ("block 3 Stage-II 1x1", 128, 384, 64),
        ("block 1 modulated", 144, 64, 1024), ("block 3 modulated", 288, 128, 64),
    ]
    let a = Buffer(count: 1 << 20), b = Buffer(count: 1 << 20), c = Buffer(count: 1 << 20)
    for i in 0..<a.count { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
    for (name, o, s, hw) in shapes {
        // Enough repetitions for ~20 ms per timing.
        let reps = max(1, Int(2e9 / Double(2 * o * s * hw)))
        let flops = 2.0 * Double(o * s * hw * reps)
        func rate(_ body: () -> Void) -> Double { flops / medianSeconds(repeats: repeats) { for _ in 0..<reps { body() } } / 1e9 }
        let forward = rate { gemm(m: o, n: hw, k: s, a: a.pointer, lda: s, b: b.pointer, ldb: hw, c: c.pointer, ldc: hw) }
        let weightGradient = rate {
            gemm(transposeB: true, m: o, n: s, k: hw, a: a.pointer, lda: hw, b: b.pointer, ldb: hw, beta: 1, c: c.pointer, ldc: s)
        }
        // The same product the other way round, dWᵀ = Y · dYᵀ: WeightGradientGEMM takes it where O < ΣC.
        let transposedWeightGradient = rate {
            gemm(transposeB: true, m: s, n: o, k: hw, a: b.pointer, lda: hw, b: a.pointer, ldb: hw, beta: 1, c: c.pointer, ldc: o)
        }
        let inputGradient = rate {
            gemm(transposeA: true, m: s, n: hw, k: o, a: a.pointer, lda: s, b: b.pointer, ldb: hw, c: c.pointer, ldc: hw)
        }
        // The same weight gradient with bf16 products, as a backward runs it: image after image
        // into one accumulating product (rounding and packing included), finished at the end.
        var bf16WeightGradient = ""
        if GradientPrecision.bf16.runsOnThisCPU {
            let product = WeightGradientGEMM(precision: .bf16)
            bf16WeightGradient = String(format: " (bf16 %.1f)", rate {
                product.add(m: o, n: s, k: hw, dy: a.pointer, ldy: hw, x: b.pointer, ldx: hw, into: c.pointer, ldw: s)
            })
            product.finish()
        }
        var forwardTables: [String] = [], inputGradientTables: [String] = []
        for build in builds {
            let signs = WeightMatrix(rows: o, columns: s, binary: true, lookupTables: build)
            for i in 0..<o * s { signs.values.pointer[i] = i % 3 == 0 ? -1 : 1 }
            signs.valuesChanged()
            forwardTables.append(String(format: "%.1f", rate { signs.multiply(b.pointer, ldx: hw, count: hw, into: c.pointer, ldy: hw) }))
            inputGradientTables.append(String(format: "%.1f", rate { signs.multiplyTransposed(b.pointer, ldx: hw, count: hw, into: c.pointer, ldy: hw) }))
        }
        let tables = { (rates: [String]) in rates.isEmpty ? "" : " (tables " + rates.joined(separator: " / ") + ")" }
        print(name.padding(toLength: 22, withPad: " ", startingAt: 0)
              + String(format: " O=%3d ΣC=%3d HW=%4d  forward %.1f", o, s, hw, forward) + tables(forwardTables)
              + String(format: "  dW %.1f (as dWᵀ %.1f)", weightGradient, transposedWeightGradient) + bf16WeightGradient
              + String(format: "  dX %.1f", inputGradient) + tables(inputGradientTables))
    }
}
