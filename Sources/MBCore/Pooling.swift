import Foundation

/// 2x2 average pooling, stride 2 (H and W even).
public final class AveragePool2x2 {
    public let output: Activation

    public init(channels: Int, inputHeight: Int, inputWidth: Int) {
        precondition(inputHeight % 2 == 0 && inputWidth % 2 == 0)
        output = Activation(channels: channels, height: inputHeight / 2, width: inputWidth / 2)
    }

    public func forward(_ x: Activation) {
        output.resize(batch: x.n)
        let ow = output.w, oh = output.h, iw = x.w
        for plane in 0..<(x.n * x.c) {
            let src = x.value.pointer + plane * x.plane, dst = output.value.pointer + plane * output.plane
            for yy in 0..<oh {
                let r0 = src + 2 * yy * iw, r1 = r0 + iw
                for xx in 0..<ow {
                    dst[yy * ow + xx] = 0.25 * (r0[2 * xx] + r0[2 * xx + 1] + r1[2 * xx] + r1[2 * xx + 1])
                }
            }
        }
    }

    public func backward(_ x: Activation) {
        let ow = output.w, oh = output.h, iw = x.w
        for plane in 0..<(x.n * x.c) {
            let dst = x.grad.pointer + plane * x.plane, src = output.grad.pointer + plane * output.plane
            for yy in 0..<oh {
                let r0 = dst + 2 * yy * iw, r1 = r0 + iw
                for xx in 0..<ow {
                    let g = 0.25 * src[yy * ow + xx]
                    r0[2 * xx] += g; r0[2 * xx + 1] += g; r1[2 * xx] += g; r1[2 * xx + 1] += g
                }
            }
        }
    }
}

/// Global average pooling of (N, C, H, W) into channels [offset, offset + C) of an (N, D, 1, 1)
/// activation, so that the pooled vectors of several blocks form one concatenated feature.
public struct GlobalAveragePool {
    public let channelOffset: Int

    public init(channelOffset: Int) { self.channelOffset = channelOffset }

    public func forward(_ x: Activation, into y: Activation) {
        let hw = x.plane, inv = 1 / Float(hw)
        for img in 0..<x.n {
            for ch in 0..<x.c {
                y.value.pointer[img * y.c + channelOffset + ch] = rowSum(x.value.pointer + (img * x.c + ch) * hw, hw) * inv
            }
        }
    }

    public func backward(_ x: Activation, output y: Activation) {
        let hw = x.plane, inv = 1 / Float(hw)
        for img in 0..<x.n {
            for ch in 0..<x.c {
                let g = y.grad.pointer[img * y.c + channelOffset + ch] * inv
                let dx = x.grad.pointer + (img * x.c + ch) * hw
                for p in 0..<hw { dx[p] += g }
            }
        }
    }
}

/// Mean softmax cross-entropy over a batch of logits (N, K), with top-1/top-5 counts.
public final class SoftmaxCrossEntropy {
    public let classes: Int
    public let logitGradient = Buffer()   // (N, K)

    public init(classes: Int) { self.classes = classes }

    public struct Result: Equatable {
        public var loss: Double          // mean over the batch
        public var lossSum: Double
        public var top1: Int
        public var top5: Int
    }

    /// Computes the loss and, when `gradient` is true, dLoss/dlogits into `logitGradient`.
    public func evaluate(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, count n: Int, gradient: Bool) -> Result {
        let k = classes
        if gradient { logitGradient.ensure(count: n * k) }
        var total = 0.0, top1 = 0, top5 = 0
        for i in 0..<n {
            let z = logits + i * k
            let label = Int(labels[i])
            precondition(label >= 0 && label < k, "label \(label) out of range 0..<\(k)")
            var zmax = z[0]
            for j in 1..<k { zmax = max(zmax, z[j]) }
            var sum = 0.0
            for j in 0..<k { sum += Double(expf(z[j] - zmax)) }
            let logSum = log(sum) + Double(zmax)
            total += logSum - Double(z[label])
            var greater = 0
            for j in 0..<k where z[j] > z[label] || (z[j] == z[label] && j < label) { greater += 1 }
            if greater == 0 { top1 += 1 }
            if greater < 5 { top5 += 1 }
            if gradient {
                let d = logitGradient.pointer + i * k
                for j in 0..<k { d[j] = Float(exp(Double(z[j]) - logSum) / Double(n)) }
                d[label] -= 1 / Float(n)
            }
        }
        return Result(loss: total / Double(n), lossSum: total, top1: top1, top5: top5)
    }
}
