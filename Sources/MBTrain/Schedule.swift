import Foundation

/// Where SGDR's warm restarts fall.
public enum CycleBoundaries: String, CaseIterable {
    /// Periods T0, T0·m, T0·m², …: 2, 4, 8, 16 epochs, so 4 cycles end at epoch 30 (McDonnell's budgets).
    case mcdonnell
    /// Periods T0, T0, T0·m, T0·m², …: 2, 2, 4, 8 epochs, so cycles end at 2, 4, 8, 16, 32 (the paper's 32/256).
    case powerOfTwo = "power-of-two"
}

/// SGDR (cosine annealing with warm restarts, Loshchilov & Hutter) as a pure function of the
/// global step: `lr = lrMin + ½(lrMax − lrMin)(1 + cos(π·t/T))`, where T is the current cycle's
/// period in epochs and t the epochs since the cycle began, advancing per iteration
/// (step / stepsPerEpoch). Matches PyTorch's `CosineAnnealingWarmRestarts` stepped with fractional
/// epochs. Cycle boundaries are whole epochs, so they fall on exact steps.
public struct SGDRSchedule: Equatable {
    public var lrMax: Double
    public var lrMin: Double
    /// The first period, in epochs.
    public var t0Epochs: Int
    /// Each later period is the previous one times this.
    public var tMult: Int
    public var boundaries: CycleBoundaries
    public var stepsPerEpoch: Int
    /// The first epochs, over which the rate rises linearly from lrMin to the cosine's value.
    public var warmupEpochs: Int

    public init(lrMax: Double, lrMin: Double, t0Epochs: Int, tMult: Int, boundaries: CycleBoundaries,
                stepsPerEpoch: Int, warmupEpochs: Int = 0) {
        precondition(t0Epochs >= 1 && tMult >= 1 && stepsPerEpoch >= 1, "SGDR periods and steps per epoch must be positive")
        precondition(warmupEpochs >= 0, "a warm-up cannot be negative")
        self.warmupEpochs = warmupEpochs
        self.lrMax = lrMax
        self.lrMin = lrMin
        self.t0Epochs = t0Epochs
        self.tMult = tMult
        self.boundaries = boundaries
        self.stepsPerEpoch = stepsPerEpoch
    }

    /// The length of cycle `cycle` (counted from 0) in epochs; `Int.max` when it would be longer
    /// (periods grow geometrically: such a cycle lies beyond any budget).
    public func periodEpochs(ofCycle cycle: Int) -> Int {
        let growths = boundaries == .powerOfTwo ? max(0, cycle - 1) : cycle
        guard tMult > 1 else { return t0Epochs }
        var period = t0Epochs
        for _ in 0..<growths {
            period = saturating(period, times: tMult)
            if period == .max { break }
        }
        return period
    }

    /// The epoch at which `cycles` whole cycles end: 30 for 4 McDonnell cycles of 2, 4, 8, 16
    /// (`Int.max` when that is beyond `Int`).
    public func epochs(cycles: Int) -> Int {
        var end = 0
        for cycle in 0..<cycles {
            end = saturating(end, plus: periodEpochs(ofCycle: cycle))
            if end == .max { break }
        }
        return end
    }

    /// How many whole cycles end exactly at `epochs`, or nil when `epochs` is inside a cycle.
    public func cycles(endingAt epochs: Int) -> Int? {
        var cycles = 0
        var end = 0
        while end < epochs {
            end = saturating(end, plus: periodEpochs(ofCycle: cycles))
            cycles += 1
        }
        return end == epochs ? cycles : nil
    }

    /// The number of steps in a budget of `cycles` whole cycles (`Int.max` when beyond `Int`).
    public func totalSteps(cycles: Int) -> Int { saturating(epochs(cycles: cycles), times: stepsPerEpoch) }

    /// The cycle (from 0) that `step` (from 0) is in, its first step and its length in steps.
    public func position(ofStep step: Int) -> (cycle: Int, firstStep: Int, steps: Int) {
        precondition(step >= 0, "steps count from 0")
        var cycle = 0
        var first = 0
        while true {
            let steps = saturating(periodEpochs(ofCycle: cycle), times: stepsPerEpoch)
            if step - first < steps { return (cycle, first, steps) }
            first += steps
            cycle += 1
        }
    }

    public func cycle(ofStep step: Int) -> Int { position(ofStep: step).cycle }

    /// True for the last step of a cycle: after it the learning rate restarts (the trainer
    /// checkpoints there).
    public func isLastStepOfCycle(_ step: Int) -> Bool {
        let p = position(ofStep: step)
        return step == p.firstStep + p.steps - 1
    }

    /// The learning rate for `step` (from 0).
    public func learningRate(atStep step: Int) -> Double {
        let p = position(ofStep: step)
        let progress = Double(step - p.firstStep) / Double(p.steps)
        let cosine = lrMin + 0.5 * (lrMax - lrMin) * (1 + cos(Double.pi * progress))
        let warmupSteps = saturating(warmupEpochs, times: stepsPerEpoch)
        guard step < warmupSteps else { return cosine }
        return lrMin + (cosine - lrMin) * Double(step) / Double(warmupSteps)
    }
}

/// `a · b`, or `Int.max` where that overflows (both are positive here).
func saturating(_ a: Int, times b: Int) -> Int {
    let (product, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? .max : product
}

/// `a + b`, or `Int.max` where that overflows.
func saturating(_ a: Int, plus b: Int) -> Int {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}
