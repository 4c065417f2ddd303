/// A snapshot of one file's download, reported a few times a second.
public struct DownloadProgress: Sendable, Equatable {
    public var totalBytes: Int64?
    /// Bytes received in this run plus those already on disk from an earlier one.
    public var receivedBytes: Int64
    /// Bytes checked by SHA-256 so far (equals received at the end).
    public var hashedBytes: Int64
    /// Recent speed of this run.
    public var bytesPerSecond: Double
    public var connections: Int
    /// Bytes that were already on disk when this run started (resumed).
    public var resumedBytes: Int64

    public var fraction: Double? {
        guard let totalBytes, totalBytes > 0 else { return nil }
        return Double(receivedBytes) / Double(totalBytes)
    }

    public var etaSeconds: Double? {
        guard let totalBytes, bytesPerSecond > 1 else { return nil }
        return Double(max(0, totalBytes - receivedBytes)) / bytesPerSecond
    }
}

/// What a finished download produced.
public struct DownloadedFile: Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var sha256: String
    /// Name the server suggested (`Content-Disposition`), if any.
    public var suggestedFilename: String?
    public var resumedBytes: Int64
}

/// Tuning of one download.
public struct DownloadOptions: Sendable {
    public var connections: Int
    public var pieceSize: Int
    /// Pieces allowed past the hasher (memory bound = window × piece size).
    public var window: Int
    public var maxAttempts: Int
    /// Shared bandwidth cap, if any.
    public var limiter: BandwidthLimiter?
    /// How long the piece the hasher waits for may be in flight before an idle connection fetches
    /// it again.
    public var hedgeAfter: Duration = .seconds(3)

    public init(connections: Int = 8, pieceSize: Int = 4 << 20, window: Int? = nil, maxAttempts: Int = 6,
                limiter: BandwidthLimiter? = nil) {
        self.limiter = limiter
        self.connections = max(1, min(64, connections))
        self.pieceSize = max(64 << 10, pieceSize)
        self.window = window ?? self.connections * 2 + 2
        self.maxAttempts = max(1, maxAttempts)
    }
}
