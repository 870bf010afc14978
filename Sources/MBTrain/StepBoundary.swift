/// A checkpoint written at a step boundary.
enum CheckpointWrite: Equatable {
    /// `best.safetensors`, when this boundary's evaluation beats the best test top-1 so far.
    case bestIfImproved
    /// The kept checkpoint of the SGDR cycle (counted from 0) that ended with the step.
    case cycleEnd(cycle: Int)
    /// `step-N.safetensors`, pruned to `checkpoint.keep_last`, written for `reason`.
    case step(reason: StepCheckpointReason)
}

/// Why a `step-N` checkpoint is written; when several apply, the first listed here is given.
enum StepCheckpointReason: Equatable {
    /// The ranks agreed to stop.
    case stop
    /// An epoch on `checkpoint.every_epochs` ended.
    case periodic
    /// The run's last step (its budget or `--max-steps`), unless a cycle checkpoint already
    /// covers it.
    case last
}

/// What the trainer does after completing a step: a pure function of the step count, the run's
/// last step, whether the ranks agreed to stop, the schedule and the config.
struct StepBoundary: Equatable {
    /// Whole epochs completed.
    var epoch: Int
    var endsEpoch: Bool
    /// Score the test set: at an epoch end on `log.eval_every_epochs` or at a cycle end, and after
    /// the last step.
    var evaluate: Bool
    /// The checkpoints to write, in order.
    var checkpoints: [CheckpointWrite]

    /// BatchNorm running statistics are per rank during training; an evaluation or a checkpoint
    /// reads their average over the ranks.
    var averagesStatistics: Bool { evaluate || !checkpoints.isEmpty }

    /// The boundary after `completedSteps` steps of a run that ends at `lastStep`.
    init(afterStep completedSteps: Int, lastStep: Int, stopping: Bool, schedule: SGDRSchedule, config: TrainingConfig) {
        let stepsPerEpoch = schedule.stepsPerEpoch
        epoch = completedSteps / stepsPerEpoch
        endsEpoch = completedSteps % stepsPerEpoch == 0
        let cycleEnded = schedule.isLastStepOfCycle(completedSteps - 1)
        let last = completedSteps == lastStep
        evaluate = endsEpoch && (epoch % config.log.evalEveryEpochs == 0 || cycleEnded) || last
        let periodic = endsEpoch && epoch % config.checkpoint.everyEpochs == 0

        checkpoints = []
        if evaluate && config.checkpoint.keepBest { checkpoints.append(.bestIfImproved) }
        if cycleEnded { checkpoints.append(.cycleEnd(cycle: schedule.cycle(ofStep: completedSteps - 1))) }
        if stopping {
            checkpoints.append(.step(reason: .stop))
        } else if periodic {
            checkpoints.append(.step(reason: .periodic))
        } else if last && !cycleEnded {
            checkpoints.append(.step(reason: .last))
        }
    }
}
