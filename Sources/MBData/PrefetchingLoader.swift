import Foundation

/// Training batches prepared on a background thread: while the caller computes step s, the
/// thread writes step s + 1. What a step holds depends only on (sampler, seed, step), never on
/// timing. A batch returned by `next()` stays valid until the following `next()` call.
public final class PrefetchingLoader {
    /// One prepared batch: this rank's `count` images (count, C, H, W) and labels.
    public final class Batch: @unchecked Sendable {
        public let images: UnsafeMutablePointer<Float>
        public let labels: UnsafeMutablePointer<Int32>
        public let count: Int
        public fileprivate(set) var globalStep = -1
        public fileprivate(set) var epoch = -1

        init(count: Int, imageSize: Int) {
            self.count = count
            images = .allocate(capacity: count * imageSize)
            labels = .allocate(capacity: count)
        }

        deinit {
            images.deallocate()
            labels.deallocate()
        }
    }

    private let shared: Shared
    private var nextStep: Int
    private let endStep: Int
    private var holdingBatch = false

    /// Prepares steps `firstStep ..< firstStep + steps` (endless when `steps` is nil). Resuming
    /// mid-epoch is `firstStep` = the saved global step.
    public init(writer: BatchWriter, sampler: TrainSampler, firstStep: Int = 0, steps: Int? = nil) {
        nextStep = firstStep
        endStep = steps.map { firstStep + $0 } ?? .max
        shared = Shared(slots: (0..<2).map { _ in Batch(count: sampler.localBatch, imageSize: writer.imageSize) })
        let shared = self.shared
        let (first, end) = (firstStep, endStep)
        let thread = Thread {
            var cachedEpoch = -1
            var order: [Int] = []
            var step = first
            while step < end {
                shared.freeSlots.wait()
                if shared.isStopped { break }
                let (epoch, batchInEpoch) = sampler.position(globalStep: step)
                if epoch != cachedEpoch {
                    order = sampler.order(epoch: epoch)
                    cachedEpoch = epoch
                }
                let slot = shared.slots[step % 2]
                writer.write(indices: sampler.localIndices(order: order, batch: batchInEpoch), epoch: epoch,
                             seed: sampler.seed, images: slot.images, labels: slot.labels)
                slot.globalStep = step
                slot.epoch = epoch
                shared.ready.signal()
                step += 1
            }
            shared.exited.signal()
        }
        thread.name = "mbc-loader"
        thread.start()
    }

    /// The next step's batch, or nil after the last step or `stop()`. Waits only if the thread
    /// is behind.
    public func next() -> Batch? {
        if holdingBatch {
            shared.freeSlots.signal()
            holdingBatch = false
        }
        guard nextStep < endStep, !shared.isStopped else { return nil }
        shared.ready.wait()
        let batch = shared.slots[nextStep % 2]
        nextStep += 1
        holdingBatch = true
        return batch
    }

    /// Stops the thread and waits for it; also done on deinit.
    public func stop() {
        guard !shared.isStopped else { return }
        shared.isStopped = true
        shared.freeSlots.signal()
        shared.exited.wait()
    }

    deinit { stop() }

    /// State the thread and the caller share; the semaphores order every access to the slots.
    private final class Shared: @unchecked Sendable {
        let slots: [Batch]
        // Starts at 0 and is signalled once per slot: libdispatch traps when a semaphore is
        // released holding less than its initial value, which a stopped loader may do.
        let freeSlots = DispatchSemaphore(value: 0)
        let ready = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var stopped = false

        init(slots: [Batch]) {
            self.slots = slots
            for _ in slots { freeSlots.signal() }
        }

        var isStopped: Bool {
            get { lock.lock(); defer { lock.unlock() }; return stopped }
            set { lock.lock(); stopped = newValue; lock.unlock() }
        }
    }
}
