import MBRowKernels

/// The nine taps of a 3x3 conv (stride 1, pad 1) over flattened (H·W) planes, for the factored
/// modulated conv: tap t reads `plane[p + offset(t)]`, `offset(t) = du·W + dv`, multiplied by a
/// 0/1 mask that is 1 where `p + δ_t` lies inside the image. Reads past a plane land in the
/// neighbouring plane or in zero padding around the buffer, and are masked.
public final class ModulatedTaps {
    public let height: Int
    public let width: Int
    public let masks: Buffer   // (9, H·W)

    public init(height: Int, width: Int) {
        self.height = height
        self.width = width
        masks = Buffer(count: 9 * height * width)
        for t in 0..<9 {
            for y in 0..<height {
                for x in 0..<width {
                    let sy = y + t / 3 - 1, sx = x + t % 3 - 1
                    masks.pointer[t * height * width + y * width + x] = sy >= 0 && sy < height && sx >= 0 && sx < width ? 1 : 0
                }
            }
        }
    }

    /// Floats a padded G buffer needs before and after its planes (reads at most W + 1 away).
    public var padding: Int { width + 1 }

    @inline(__always) public func offset(_ t: Int) -> Int { (t / 3 - 1) * width + (t % 3 - 1) }

    /// Y[i·k+j] = Σ_t M[j][t] · mask_t ⊙ shift_t(G[t·O'+i]) for one image: G is (9·O', H·W) with
    /// `padding` readable floats on both sides, M is (k, 9), Y is (O'·k, H·W).
    public func shiftSum(g: UnsafePointer<Float>, m: UnsafePointer<Float>, filters of: Int, k: Int,
                         into y: UnsafeMutablePointer<Float>) {
        let hw = height * width, mask = UnsafePointer(masks.pointer)
        // The 9 tap planes of filter i, on the stack (this runs once per image and conv use).
        withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: 9) { tp in
            for i in 0..<of {
                for t in 0..<9 { tp.initializeElement(at: t, to: g + (t * of + i) * hw + offset(t)) }
                RowKernels.forThisCPU.shiftSum(UnsafePointer(tp.baseAddress!), mask, hw, m, k, y + i * k * hw)
            }
        }
    }
}
