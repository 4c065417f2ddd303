import Atomics
import Core
import Crypto
import Foundation
import NIOCore

extension RangeDownloader {
    /// One stream, for servers that do not serve ranges: hashed as it arrives, written in 4 MiB
    /// blocks. It cannot resume; an interrupted stream starts again.
    func downloadStream(
        _ request: FileRequest,
        response: HubHTTP.Response,
        partPath: String,
        limiter: BandwidthLimiter?,
        progress: @escaping @Sendable (DownloadProgress) -> Void
    ) async throws -> (sha256: String, size: Int64, resumed: Int64) {
        discard(partPath)
        let total = response.headers.first(name: "Content-Length").flatMap { Int64($0) } ?? request.expectedSize
        if let total, let free = freeSpace(at: (partPath as NSString).deletingLastPathComponent), free < total + (16 << 20) {
            throw AppError(
                .init(code: 507, reasonPhrase: "Insufficient Storage"),
                "not enough disk space for \(request.filename): it needs \(Format.bytes(total)), \(Format.bytes(free)) is free",
                code: "no_space"
            )
        }
        let file = try PartFile(path: partPath)
        defer { file.close() }
        let received = ManagedAtomic<Int64>(0)
        let hashed = ManagedAtomic<Int64>(0)
        let report = ProgressReporter(
            total: total,
            resumed: 0,
            connections: ManagedAtomic(1),
            received: received,
            hashed: hashed,
            callback: progress
        )
        let host = response.url.host ?? "?"
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(200))
                report.emit()
            }
        }
        defer { ticker.cancel() }
        var hasher = SHA256()
        var offset: Int64 = 0
        var block = ByteBufferAllocator().buffer(capacity: 4 << 20)
        var checked = false
        do {
            for try await chunk in response.body {
                var chunk = chunk
                if let limiter { try await limiter.take(chunk.readableBytes) }
                received.wrappingIncrement(by: Int64(chunk.readableBytes), ordering: .relaxed)
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                hashed.wrappingIncrement(by: Int64(chunk.readableBytes), ordering: .relaxed)
                block.writeBuffer(&chunk)
                if !checked && block.readableBytes >= 16 {
                    try ContentCheck.leadingBytes(block, filename: request.filename, host: host)
                    checked = true
                }
                if block.readableBytes >= 4 << 20 {
                    try await file.write(block, at: offset)
                    offset += Int64(block.readableBytes)
                    block.clear()
                }
            }
            if !checked { try ContentCheck.leadingBytes(block, filename: request.filename, host: host) }
            if block.readableBytes > 0 {
                try await file.write(block, at: offset)
                offset += Int64(block.readableBytes)
            }
        } catch let error as AppError {
            discard(partPath)
            throw error
        } catch {
            discard(partPath)
            throw AppError(
                .badGateway,
                "the download of \(request.filename) from \(host) was cut off after \(Format.bytes(offset)) (\(error)); this server does not allow resuming, so pull it again",
                code: "upstream_error"
            )
        }
        report.emit()
        try await file.sync()
        return (hasher.finalize().hex, offset, 0)
    }
}
