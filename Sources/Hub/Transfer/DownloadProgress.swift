/// A snapshot of one file's download, reported a few times a second.
package struct DownloadProgress: Sendable, Equatable {
    package var totalBytes: Int64?
    /// Bytes received in this run plus those already on disk from an earlier one.
    package var receivedBytes: Int64
    /// Bytes checked by SHA-256 so far (equals received at the end).
    package var hashedBytes: Int64
    /// Recent speed of this run.
    package var bytesPerSecond: Double
    package var connections: Int
    /// Bytes that were already on disk when this run started (resumed).
    package var resumedBytes: Int64

    package var fraction: Double? {
        guard let totalBytes, totalBytes > 0 else { return nil }
        return Double(receivedBytes) / Double(totalBytes)
    }

    package var etaSeconds: Double? {
        guard let totalBytes, bytesPerSecond > 1 else { return nil }
        return Double(max(0, totalBytes - receivedBytes)) / bytesPerSecond
    }
}

/// What a finished download produced.
package struct DownloadedFile: Sendable, Equatable {
    package var path: String
    package var size: Int64
    package var sha256: String
    /// Name the server suggested (`Content-Disposition`), if any.
    package var suggestedFilename: String?
    package var resumedBytes: Int64
}

/// Tuning of one download.
package struct DownloadOptions: Sendable {
    package var connections: Int
    package var pieceSize: Int
    /// Pieces allowed past the hasher (memory bound = window × piece size).
    package var window: Int
    package var maxAttempts: Int
    /// Shared bandwidth cap, if any.
    package var limiter: BandwidthLimiter?
    /// How long the piece the hasher waits for may be in flight before an idle connection fetches
    /// it again.
    package var hedgeAfter: Duration = .seconds(3)

    package init(
        connections: Int = 8,
        pieceSize: Int = 4 << 20,
        window: Int? = nil,
        maxAttempts: Int = 6,
        limiter: BandwidthLimiter? = nil
    ) {
        self.limiter = limiter
        self.connections = max(1, min(64, connections))
        self.pieceSize = max(64 << 10, pieceSize)
        self.window = window ?? self.connections * 2 + 2
        self.maxAttempts = max(1, maxAttempts)
    }
}
