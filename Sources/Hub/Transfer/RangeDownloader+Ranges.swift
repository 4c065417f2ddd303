import AsyncHTTPClient
import Atomics
import Core
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

extension RangeDownloader {
    func downloadRanges(
        _ request: FileRequest,
        probe: Probe,
        size: Int64,
        partPath: String,
        options: DownloadOptions,
        progress: @escaping @Sendable (DownloadProgress) -> Void
    ) async throws -> (sha256: String, size: Int64, resumed: Int64) {
        let pieceSize = Self.pieceSize(for: size, maximum: options.pieceSize)
        let pieceCount = max(1, Int((size + Int64(pieceSize) - 1) / Int64(pieceSize)))
        let sidecarPath = partPath + ".json"
        var state = ResumeState(
            source: request.url.absoluteString,
            size: size,
            pieceSize: pieceSize,
            etag: probe.etag,
            expectedSHA256: request.expectedSHA256,
            pieces: String(repeating: "0", count: pieceCount)
        )
        if let previous = ResumeState.load(sidecarPath), previous.matches(state),
            previous.pieceCount == pieceCount, FileManager.default.fileExists(atPath: partPath)
        {
            state = previous
        } else {
            discard(partPath)
        }
        let file = try PartFile(path: partPath)
        defer { file.close() }
        let onDisk = (0..<pieceCount).map { state.isDone($0) }
        let resumedBytes = (0..<pieceCount).filter { onDisk[$0] }.reduce(Int64(0)) { $0 + Self.length(of: $1, size: size, pieceSize: pieceSize) }
        if let free = freeSpace(at: (partPath as NSString).deletingLastPathComponent), free < size - resumedBytes + (16 << 20) {
            throw AppError(
                .init(code: 507, reasonPhrase: "Insufficient Storage"),
                "not enough disk space for \(request.filename): it needs \(Format.bytes(size - resumedBytes)), \(Format.bytes(free)) is free",
                code: "no_space"
            )
        }
        if try file.size() != size { try file.truncate(to: size) }
        try state.save(sidecarPath)

        let baseState = state
        let scheduler = PieceScheduler(
            pieceCount: pieceCount,
            alreadyOnDisk: onDisk,
            window: options.window,
            hedgeAfter: options.hedgeAfter
        )
        let received = ManagedAtomic<Int64>(resumedBytes)
        let hashedBytes = ManagedAtomic<Int64>(0)
        let connections = min(options.connections, pieceCount)
        let fetchURL = probe.finalURL
        let sameOrigin = HubHTTP.origin(fetchURL) == HubHTTP.origin(request.url)
        let credentials = sameOrigin ? request.credentials : nil

        let report = ProgressReporter(
            total: size,
            resumed: resumedBytes,
            connections: connections,
            received: received,
            hashed: hashedBytes,
            callback: progress
        )
        do {
            let digest = try await withThrowingTaskGroup(of: String?.self) { group in
                // Ticker: progress, hedging checks and the resume sidecar.
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(200))
                        report.emit()
                        await scheduler.tick()
                        if await scheduler.changedSinceSave {
                            await scheduler.markSaved()
                            var snapshot = baseState
                            snapshot.pieces = String((await scheduler.onDiskMap).map { $0 ? "1" : "0" })
                            try? snapshot.save(sidecarPath)
                        }
                    }
                    return nil
                }
                for _ in 0..<connections {
                    group.addTask {
                        while let index = await scheduler.claim() {
                            let offset = Int64(index) * Int64(pieceSize)
                            let length = Self.length(of: index, size: size, pieceSize: pieceSize)
                            do {
                                let buffer = try await fetchPiece(
                                    url: fetchURL,
                                    credentials: credentials,
                                    offset: offset,
                                    length: length,
                                    attempts: options.maxAttempts,
                                    received: received,
                                    name: request.filename,
                                    limiter: options.limiter
                                )
                                try await file.write(buffer, at: offset)
                                await scheduler.complete(index, buffer)
                            } catch {
                                await scheduler.release(index)
                                await scheduler.fail(error)
                                throw error
                            }
                        }
                        return nil
                    }
                }
                group.addTask {
                    var hasher = SHA256()
                    for index in 0..<pieceCount {
                        let offset = Int64(index) * Int64(pieceSize)
                        let length = Self.length(of: index, size: size, pieceSize: pieceSize)
                        let buffer: ByteBuffer
                        switch try await scheduler.nextForHash() {
                        case .memory(let piece): buffer = piece
                        case .disk: buffer = try await file.read(count: Int(length), at: offset)
                        }
                        if index == 0 {
                            do {
                                try ContentCheck.leadingBytes(buffer, filename: request.filename, host: fetchURL.host ?? "?")
                            } catch {
                                await scheduler.fail(error)
                                throw error
                            }
                        }
                        buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                        hashedBytes.wrappingIncrement(by: Int64(buffer.readableBytes), ordering: .relaxed)
                        await scheduler.hashed()
                    }
                    return hasher.finalize().hex
                }
                var digest: String?
                while true {
                    do {
                        guard let result = try await group.next() else { break }
                        if let result {
                            digest = result
                            // The file is whole: stop the ticker and any hedged duplicate still running.
                            group.cancelAll()
                        }
                    } catch {
                        // Once the hash is in, a cancelled straggler's error does not matter.
                        if digest == nil { throw error }
                    }
                }
                guard let digest else { throw CancellationError() }
                return digest
            }
            report.emit()
            try await file.sync()
            return (digest, size, resumedBytes)
        } catch {
            // Keep what is on disk for the next attempt, unless the content itself was wrong.
            var snapshot = state
            snapshot.pieces = String((await scheduler.onDiskMap).map { $0 ? "1" : "0" })
            try? snapshot.save(sidecarPath)
            if let appError = error as? AppError, appError.code == "not_a_model_file" { discard(partPath) }
            throw error
        }
    }

    /// About 64 pieces per file, between 256 KiB and `maximum`, so small files still spread over
    /// the connections. It depends on the size only, so a resumed run splits the file the same way.
    static func pieceSize(for size: Int64, maximum: Int) -> Int {
        let target = Int(size / 64)
        let rounded = (target / (64 << 10)) * (64 << 10)
        return min(maximum, max(256 << 10, rounded))
    }

    static func length(of index: Int, size: Int64, pieceSize: Int) -> Int64 {
        let offset = Int64(index) * Int64(pieceSize)
        return min(Int64(pieceSize), size - offset)
    }

    /// One piece, with bounded retries (backoff with jitter, honouring Retry-After) on 5xx, 429,
    /// cut connections and short bodies.
    func fetchPiece(
        url: URL,
        credentials: Secret?,
        offset: Int64,
        length: Int64,
        attempts: Int,
        received: ManagedAtomic<Int64>,
        name: String,
        limiter: BandwidthLimiter? = nil
    ) async throws -> ByteBuffer {
        var lastError: any Error = CancellationError()
        for attempt in 0..<attempts {
            try Task.checkCancellation()
            var counted: Int64 = 0
            do {
                let response = try await http.send(
                    url: url,
                    headers: [("Range", "bytes=\(offset)-\(offset + length - 1)"), ("Accept-Encoding", "identity")],
                    credentials: credentials,
                    timeout: .minutes(10)
                )
                guard response.status == .partialContent else {
                    _ = try? await response.collect(limit: 64 << 10)
                    let retryable = response.status.code >= 500 || response.status.code == 429
                    let error = AppError(
                        .badGateway,
                        "\(url.host ?? "?") answered HTTP \(response.status.code) to a range request for \(name)",
                        code: retryable ? "retry" : "upstream_error"
                    )
                    if !retryable { throw error }
                    lastError = error
                    let wait = response.status.code == 429 ? min(60, HubErrors.retryAfter(response.headers)) : 0
                    try await backoff(attempt: attempt, atLeast: wait)
                    continue
                }
                if let range = response.headers.first(name: "Content-Range"), !range.hasPrefix("bytes \(offset)-") {
                    throw AppError(.badGateway, "\(url.host ?? "?") sent the wrong range (\(range)) for \(name)", code: "upstream_error")
                }
                var buffer = ByteBufferAllocator().buffer(capacity: Int(length))
                for try await chunk in response.body {
                    var chunk = chunk
                    let size = chunk.readableBytes
                    counted += Int64(size)
                    received.wrappingIncrement(by: Int64(size), ordering: .relaxed)
                    buffer.writeBuffer(&chunk)
                    if let limiter { try await limiter.take(size) }
                    if buffer.readableBytes > length { break }
                }
                guard buffer.readableBytes == length else {
                    throw ShortPiece(expected: length, got: Int64(buffer.readableBytes))
                }
                return buffer
            } catch let error as AppError where error.code != "retry" {
                received.wrappingDecrement(by: counted, ordering: .relaxed)
                throw error
            } catch is CancellationError {
                received.wrappingDecrement(by: counted, ordering: .relaxed)
                throw CancellationError()
            } catch {
                received.wrappingDecrement(by: counted, ordering: .relaxed)
                lastError = error
                logger.debug("piece retry", metadata: ["offset": "\(offset)", "attempt": "\(attempt + 1)", "error": "\(error)"])
                try await backoff(attempt: attempt, atLeast: 0)
            }
        }
        if let transport = lastError as? HubTransportError { throw HubErrors.unreachable(url.host ?? "the server", transport) }
        if let appError = lastError as? AppError {
            throw AppError(appError.status, appError.detail + " (gave up after \(attempts) attempts)", code: "upstream_error")
        }
        throw AppError(
            .badGateway,
            "downloading \(name) from \(url.host ?? "?") kept failing (\(lastError)); run the pull again to resume",
            code: "upstream_error"
        )
    }

    func backoff(attempt: Int, atLeast seconds: Int) async throws {
        let base = min(8.0, 0.25 * pow(2.0, Double(attempt)))
        let jittered = base * Double.random(in: 0.5...1.0)
        try await Task.sleep(for: .milliseconds(Int(max(Double(seconds), jittered) * 1000)))
    }

    struct ShortPiece: Error, CustomStringConvertible {
        var expected: Int64
        var got: Int64
        var description: String { "connection ended after \(got) of \(expected) bytes" }
    }
}

/// Computes speed and calls the progress callback; called from the ticker only.
final class ProgressReporter: Sendable {
    let total: Int64?
    let resumed: Int64
    let connections: Int
    let received: ManagedAtomic<Int64>
    let hashed: ManagedAtomic<Int64>
    let callback: @Sendable (DownloadProgress) -> Void
    private let last = ManagedAtomic<Int64>(0)
    private let lastTime = ManagedAtomic<UInt64>(DispatchTime.now().uptimeNanoseconds)
    private let speedBits = ManagedAtomic<UInt64>(0)

    init(
        total: Int64?,
        resumed: Int64,
        connections: Int,
        received: ManagedAtomic<Int64>,
        hashed: ManagedAtomic<Int64>,
        callback: @escaping @Sendable (DownloadProgress) -> Void
    ) {
        self.total = total
        self.resumed = resumed
        self.connections = connections
        self.received = received
        self.hashed = hashed
        self.callback = callback
        self.last.store(resumed, ordering: .relaxed)
    }

    func emit() {
        let now = DispatchTime.now().uptimeNanoseconds
        let bytes = received.load(ordering: .relaxed)
        let previous = last.exchange(bytes, ordering: .relaxed)
        let then = lastTime.exchange(now, ordering: .relaxed)
        let seconds = Double(now - then) / 1e9
        var speed = Double(bitPattern: speedBits.load(ordering: .relaxed))
        if seconds > 0.05 {
            let instant = Double(bytes - previous) / seconds
            speed = speed == 0 ? instant : speed * 0.7 + instant * 0.3
            speedBits.store(speed.bitPattern, ordering: .relaxed)
        }
        callback(
            DownloadProgress(
                totalBytes: total,
                receivedBytes: bytes,
                hashedBytes: hashed.load(ordering: .relaxed),
                bytesPerSecond: speed,
                connections: connections,
                resumedBytes: resumed
            )
        )
    }
}
