/// How the queue runs: lease length, poll interval, retry backoff, scheduling.
package struct QueueSettings: Sendable {
    package var leaseMillis: Int64
    package var pollInterval: Duration
    /// The poll interval on PostgreSQL, where NOTIFY wakes workers.
    package var listenPollInterval: Duration
    package var retryBaseMillis: Int64
    package var modelAware: Bool
    package var maxWaitMillis: Int64

    package init(
        leaseMillis: Int64 = 30_000,
        pollInterval: Duration = .milliseconds(250),
        listenPollInterval: Duration = .seconds(2),
        retryBaseMillis: Int64 = 1_000,
        modelAware: Bool = true,
        maxWaitMillis: Int64 = 120_000
    ) {
        self.leaseMillis = leaseMillis
        self.pollInterval = pollInterval
        self.listenPollInterval = listenPollInterval
        self.retryBaseMillis = retryBaseMillis
        self.modelAware = modelAware
        self.maxWaitMillis = maxWaitMillis
    }
}
