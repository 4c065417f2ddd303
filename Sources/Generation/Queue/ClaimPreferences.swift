/// What a worker asks of the queue when it claims: only jobs for checkpoints it has (empty: any),
/// preferably ones for the checkpoint it has loaded, and never leaving a job waiting past a bound.
public struct ClaimPreferences: Sendable {
    /// The worker's checkpoints; jobs naming another are not claimed. Empty accepts any.
    public var models: [String]
    /// The checkpoint loaded now; jobs for it (or naming none) come first, avoiding a swap.
    public var loadedModel: String?
    /// Off: plain fair order, as a FIFO scheduler would (the benchmark's baseline).
    public var modelAware: Bool
    /// A job older than this is taken first, whatever its model.
    public var maxWaitMillis: Int64
    /// How many of the first waiting jobs are considered.
    public var window: Int

    public init(models: [String] = [], loadedModel: String? = nil, modelAware: Bool = true, maxWaitMillis: Int64 = 120_000,
                window: Int = 64) {
        self.models = models
        self.loadedModel = loadedModel
        self.modelAware = modelAware
        self.maxWaitMillis = maxWaitMillis
        self.window = max(1, window)
    }

    public static let fifo = ClaimPreferences(modelAware: false)
}
