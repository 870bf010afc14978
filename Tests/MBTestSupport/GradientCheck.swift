import MBBase
import MBCore

/// Fills `count` floats at `p` with N(0, std²) draws.
public func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, std: Double = 1, rng: inout SplitMix64) {
    for i in 0..<count { p[i] = Float(rng.normal() * std) }
}

/// An activation of the given shape with N(0, 1) values.
public func randomActivation(n: Int, c: Int, h: Int, w: Int, rng: inout SplitMix64) -> Activation {
    let a = Activation(channels: c, height: h, width: w)
    a.resize(batch: n)
    fillNormal(a.value.pointer, count: a.count, rng: &rng)
    return a
}

/// Σ a[i]·b[i] in Double: the probe loss L = ⟨Y, R⟩ whose gradient dL/dY is R.
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// The outcome of comparing analytic gradients with central finite differences.
public struct GradientCheckResult: CustomStringConvertible {
    public var checked = 0
    /// Elements left out because the ±h perturbation flipped a ReLU (a kink lies inside the step).
    public var skippedAtKinks = 0
    public var worst = 0.0
    public var worstIndex = -1
    public var worstAnalytic = 0.0
    public var worstNumeric = 0.0
    public var description: String {
        "\(checked) elements (\(skippedAtKinks) skipped at kinks), worst error \(worst) at \(worstIndex): analytic \(worstAnalytic) vs numeric \(worstNumeric)"
    }
}

/// Central differences `(L(x+h) − L(x−h)) / 2h` for the elements `indices` of `values`, compared
/// with `analytic` by `|a − n| / max(|a| + |n|, floor)`: a relative error, with an absolute floor
/// for gradients near zero where Float32 rounding of L dominates. When `reluPattern` is given
/// (a fingerprint of which ReLUs are active, read after each `loss()`), an element whose ±h
/// evaluations change the pattern is skipped: a kink inside the step makes the difference
/// quotient meaningless there.
public func checkGradient(values: UnsafeMutablePointer<Float>, analytic: UnsafePointer<Float>, indices: [Int],
                          step h: Float, floor: Double, reluPattern: (() -> Int)? = nil,
                          loss: () -> Double) -> GradientCheckResult {
    var r = GradientCheckResult()
    for i in indices {
        let saved = values[i]
        let base = reluPattern.map { _ = loss(); return $0() }
        values[i] = saved + h
        let plus = loss()
        let patternPlus = reluPattern?()
        values[i] = saved - h
        let minus = loss()
        let patternMinus = reluPattern?()
        values[i] = saved
        if let base, patternPlus != base || patternMinus != base {
            r.skippedAtKinks += 1
            continue
        }
        let numeric = (plus - minus) / (Double(values[i] + h) - Double(values[i] - h))
        let a = Double(analytic[i])
        let err = abs(a - numeric) / max(abs(a) + abs(numeric), floor)
        r.checked += 1
        if err > r.worst || r.worstIndex < 0 {
            r.worst = err
            r.worstIndex = i
            r.worstAnalytic = a
            r.worstNumeric = numeric
        }
    }
    return r
}

/// Up to `limit` distinct indices in 0..<count, drawn deterministically (all when count ≤ limit).
public func sampleIndices(count: Int, limit: Int, rng: inout SplitMix64) -> [Int] {
    if count <= limit { return Array(0..<count) }
    var chosen = Set<Int>()
    while chosen.count < limit { chosen.insert(Int(rng.next() % UInt64(count))) }
    return chosen.sorted()
}

/// A fingerprint of the sign pattern of `count` floats (which ReLU outputs are positive).
public func positivePattern(_ p: UnsafePointer<Float>, count: Int, into hash: inout FNV1a) {
    for i in 0..<count { hash.add(p[i] > 0 ? 1 : 0) }
}
