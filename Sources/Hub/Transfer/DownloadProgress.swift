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
    /// Parallel connections per file; nil lets the download choose (`ConnectionTuner`): it starts
    /// with a few and adds more while that makes it faster.
    package var connections: Int?
    /// The largest block: the unit written, hashed and recorded for resume.
    package var pieceSize: Int
    /// The longest range request, in bytes (a CDN that checks every request wants few of them).
    package var maxRequestBytes: Int
    package var maxAttempts: Int
    /// Shared bandwidth cap, if any.
    package var limiter: BandwidthLimiter?
    /// How long the connection holding the block the hasher waits for may receive nothing before
    /// its blocks are fetched by another connection.
    package var hedgeAfter: Duration = .seconds(3)

    package init(
        connections: Int? = nil,
        pieceSize: Int = 256 << 10,
        maxRequestBytes: Int = 16 << 20,
        maxAttempts: Int = 6,
        limiter: BandwidthLimiter? = nil
    ) {
        self.limiter = limiter
        self.connections = connections.map { max(1, min(64, $0)) }
        self.pieceSize = max(64 << 10, pieceSize)
        self.maxRequestBytes = max(self.pieceSize, maxRequestBytes)
        self.maxAttempts = max(1, maxAttempts)
    }
}
