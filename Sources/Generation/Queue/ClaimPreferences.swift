/// What a worker asks of the queue when it claims: only jobs for checkpoints it has (empty: any),
/// preferably ones for the checkpoint it has loaded, and never leaving a job waiting past a bound.
///
/// The policy (checked by `SchedulerTrace` against FIFO): among the first waiting jobs in fair
/// order, jobs that have waited past `maxWaitMillis` go first (in fair order); then jobs for the
/// loaded checkpoint (no swap); then jobs for checkpoints no other worker has loaded. A job whose
/// checkpoint another worker has loaded is left to that worker until it has waited
/// `swapHoldMillis`, so two GPUs do not both load the same checkpoint for one batch.
package struct ClaimPreferences: Sendable {
    /// The worker's checkpoints; jobs naming another are not claimed. Empty accepts any.
    package var models: [String]
    /// The checkpoint loaded now; jobs for it (or naming none) come first, avoiding a swap.
    package var loadedModel: String?
    /// Checkpoints other workers have loaded now.
    package var loadedElsewhere: [String]
    /// Off: plain fair order, as a FIFO scheduler would (the benchmark's baseline).
    package var modelAware: Bool
    /// A job older than this is taken first, whatever its model.
    package var maxWaitMillis: Int64
    /// How long a job for a checkpoint loaded on another worker is left to that worker.
    package var swapHoldMillis: Int64
    /// How many of the first waiting jobs are considered, and so the most one claim takes. 128
    /// rather than 64: with a deep queue, half the claim statements (measured: about 10 % more
    /// jobs per second end to end through the mock, and less database time per job).
    package var window: Int
    package static let standardWindow = 128

    package init(
        models: [String] = [],
        loadedModel: String? = nil,
        loadedElsewhere: [String] = [],
        modelAware: Bool = true,
        maxWaitMillis: Int64 = 120_000,
        swapHoldMillis: Int64? = nil,
        window: Int = standardWindow
    ) {
        self.models = models
        self.loadedModel = loadedModel
        self.loadedElsewhere = Array(Set(loadedElsewhere.filter { $0 != loadedModel })).sorted()
        self.modelAware = modelAware
        self.maxWaitMillis = maxWaitMillis
        self.swapHoldMillis = swapHoldMillis ?? maxWaitMillis / 2
        self.window = max(1, window)
    }

    package static let fifo = ClaimPreferences(modelAware: false)
}
