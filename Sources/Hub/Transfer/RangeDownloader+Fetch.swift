import AsyncHTTPClient
import Atomics
import Core
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// What every connection of one ranged download shares, and the connection's loop: claim a run of
/// blocks, fetch it with one range request, write each block as soon as it is whole.
struct RunFetch: Sendable {
    let downloader: RangeDownloader
    /// The file's own URL (a hub's download endpoint), asked again when the CDN URL it redirected
    /// to has expired.
    let request: FileRequest
    /// Where the ranges are asked for now: the URL the first request was redirected to.
    let location: NIOLockedValueBox<Location>
    let name: String
    let size: Int64
    let blockSize: Int
    let file: PartFile
    let scheduler: BlockScheduler
    /// Bytes received (this run's plus those resumed), for progress and the tuner.
    let received: ManagedAtomic<Int64>
    let limiter: BandwidthLimiter?
    let attempts: Int
    /// Per connection: when it last received a byte (uptime ns), so a stuck one is noticed.
    let lastReceived: [ManagedAtomic<UInt64>]

    /// The CDN URL in use, the credentials for it (only on the file's own origin), and how many
    /// times it was renewed.
    struct Location: Sendable {
        var url: URL
        var credentials: Secret?
        var renewals = 0
    }

    /// Signed CDN URLs expire (an hour or so on the Hugging Face and Civitai CDNs), and a large file
    /// on a slow line takes longer: a 401, 403 or 410 from a URL the file's own URL redirected to
    /// asks that URL for a fresh one (at most this many times per download) and goes on.
    static let maxRenewals = 5

    var url: URL { location.withLockedValue { $0.url } }

    /// One connection, until every block is received or the download fails. Failed requests are
    /// retried with backoff (honouring Retry-After); `attempts` failures in a row without a block
    /// written end the download.
    func work(as worker: Int) async throws {
        var failures = 0
        var lastError: any Error = CancellationError()
        do {
            while let run = await scheduler.claim(worker: worker) {
                lastReceived[worker].store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                var wrote = 0
                do {
                    try await fetch(run, worker: worker, wrote: &wrote)
                    failures = 0
                } catch let expired as Expired {
                    await scheduler.abandon(worker: worker)
                    try await renew(after: expired)
                } catch let error as Retry {
                    await scheduler.abandon(worker: worker)
                    failures = wrote > 0 ? 1 : failures + 1
                    lastError = error.underlying
                    if failures >= attempts { throw await giveUp(lastError) }
                    downloader.logger.debug(
                        "range retry",
                        metadata: ["block": "\(run.first)", "attempt": "\(failures)", "error": "\(error.underlying)"]
                    )
                    try await downloader.backoff(attempt: failures - 1, atLeast: error.waitSeconds)
                }
            }
        } catch {
            await scheduler.abandon(worker: worker)
            await scheduler.fail(error)
            throw error
        }
    }

    /// Fetches `run` with one range request. Returns when the run is written, or when its remaining
    /// blocks were taken by another connection; throws `Retry` for what another attempt may fix.
    /// A block's bytes stay in the buffers the network delivered them in until the block is whole,
    /// and are written from there with one `pwritev`.
    private func fetch(_ run: BlockScheduler.Run, worker: Int, wrote: inout Int) async throws {
        let (url, credentials) = location.withLockedValue { ($0.url, $0.credentials) }
        let start = Int64(run.first) * Int64(blockSize)
        let last = min(size, Int64(run.end) * Int64(blockSize)) - 1
        var uncommitted: Int64 = 0
        var chunks: [ByteBuffer] = []
        var filled = 0
        do {
            let response: HubHTTP.Response
            do {
                response = try await downloader.http.send(
                    url: url,
                    headers: [("Range", "bytes=\(start)-\(last)"), ("Accept-Encoding", "identity")],
                    credentials: credentials,
                    timeout: .minutes(10)
                )
            } catch let error as HubTransportError {
                throw Retry(underlying: error)
            }
            guard response.status == .partialContent else {
                _ = try? await response.collect(limit: 64 << 10)
                let retryable = response.status.code >= 500 || response.status.code == 429
                if [401, 403, 410].contains(response.status.code) && url != request.url {
                    throw Expired(url: url, status: response.status.code)
                }
                let error = AppError(
                    .badGateway,
                    "\(url.host ?? "?") answered HTTP \(response.status.code) to a range request for \(name)",
                    code: "upstream_error"
                )
                if !retryable { throw error }
                throw Retry(underlying: error, waitSeconds: response.status.code == 429 ? min(60, HubErrors.retryAfter(response.headers)) : 0)
            }
            if let range = response.headers.first(name: "Content-Range"), !range.hasPrefix("bytes \(start)-") {
                throw AppError(.badGateway, "\(url.host ?? "?") sent the wrong range (\(range)) for \(name)", code: "upstream_error")
            }
            var index = run.first
            var end = run.end
            var blockLength = Int(RangeDownloader.length(of: index, size: size, pieceSize: blockSize))
            do {
                for try await chunk in response.body {
                    var chunk = chunk
                    let count = chunk.readableBytes
                    received.wrappingIncrement(by: Int64(count), ordering: .relaxed)
                    uncommitted += Int64(count)
                    lastReceived[worker].store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                    if let limiter { try await limiter.take(count) }
                    while chunk.readableBytes > 0 {
                        let take = min(chunk.readableBytes, blockLength - filled)
                        chunks.append(chunk.readSlice(length: take)!)
                        filled += take
                        guard filled == blockLength else { continue }
                        // Whole: write it unless another connection has taken it meanwhile.
                        guard let runEnd = await scheduler.commit(worker: worker, index) else {
                            received.wrappingDecrement(by: uncommitted, ordering: .relaxed)
                            return
                        }
                        // One write in flight per connection: it reads on while the block is written.
                        // Written here, blocking: this task runs on the download's own executor
                        // (`DownloadExecutor`), not on the shared pool.
                        try file.write(chunks: chunks, at: Int64(index) * Int64(blockSize))
                        await scheduler.written(index)
                        chunks = []
                        filled = 0
                        uncommitted -= Int64(blockLength)
                        wrote += 1
                        end = runEnd
                        index += 1
                        if index >= end {
                            // Done (or the rest was given to another connection): what the server
                            // still sends is not needed.
                            received.wrappingDecrement(by: uncommitted, ordering: .relaxed)
                            return
                        }
                        blockLength = Int(RangeDownloader.length(of: index, size: size, pieceSize: blockSize))
                    }
                }
            } catch let error as HubTransportError {
                throw Retry(underlying: error)
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as AppError {
                throw error
            } catch {
                // The body stream failed: a cut connection, a read timeout.
                throw Retry(underlying: error)
            }
            throw Retry(underlying: RangeDownloader.ShortPiece(expected: last - start + 1, got: Int64(index - run.first) * Int64(blockSize)))
        } catch {
            received.wrappingDecrement(by: uncommitted, ordering: .relaxed)
            throw error
        }
    }

    private func giveUp(_ lastError: any Error) async -> any Error {
        let error: any Error
        if let transport = lastError as? HubTransportError {
            error = HubErrors.unreachable(url.host ?? "the server", transport)
        } else if let appError = lastError as? AppError {
            error = AppError(appError.status, appError.detail + " (gave up after \(attempts) attempts)", code: "upstream_error")
        } else {
            error = AppError(
                .badGateway,
                "downloading \(name) from \(url.host ?? "?") kept failing (\(lastError)); run the pull again to resume",
                code: "upstream_error"
            )
        }
        await scheduler.fail(error)
        return error
    }

    /// Asks the file's own URL again for where to fetch it (unless another connection already
    /// did since `expired` was seen).
    private func renew(after expired: Expired) async throws {
        let (current, renewals) = location.withLockedValue { ($0.url, $0.renewals) }
        guard current == expired.url else { return }
        guard renewals < Self.maxRenewals else {
            throw AppError(
                .badGateway,
                "\(expired.url.host ?? "?") refused \(name) with HTTP \(expired.status) again after \(renewals) fresh links; run the pull again to resume",
                code: "upstream_error"
            )
        }
        let response = try await downloader.http.send(
            url: request.url,
            headers: [("Range", "bytes=0-0"), ("Accept-Encoding", "identity")],
            credentials: request.credentials,
            timeout: .seconds(60)
        )
        _ = try? await response.collect(limit: 1 << 20)
        guard response.status == .partialContent else {
            throw AppError(
                .badGateway,
                "\(expired.url.host ?? "?") refused \(name) with HTTP \(expired.status), and asking \(request.url.host ?? "?") for a fresh link answered HTTP \(response.status.code)",
                code: "upstream_error"
            )
        }
        let fresh = response.url
        let sameOrigin = HubHTTP.origin(fresh) == HubHTTP.origin(request.url)
        location.withLockedValue {
            $0 = Location(url: fresh, credentials: sameOrigin ? request.credentials : nil, renewals: renewals + 1)
        }
        downloader.logger.info("renewed an expired download link", metadata: ["file": "\(name)", "host": "\(fresh.host ?? "?")"])
    }

    /// The CDN refused a URL that worked before: its signature has probably expired.
    struct Expired: Error {
        var url: URL
        var status: UInt
    }

    /// A failure another attempt may fix: 5xx, 429, a cut connection, a short body.
    struct Retry: Error {
        var underlying: any Error
        var waitSeconds = 0
    }
}

extension RangeDownloader {
    struct ShortPiece: Error, CustomStringConvertible {
        var expected: Int64
        var got: Int64
        var description: String { "connection ended after \(got) of \(expected) bytes" }
    }
}

extension RunFetch {
    /// SHA-256 of the file, reading the blocks back in file order as they land (they are still in
    /// the page cache), into one reused buffer. The first block's leading bytes are checked too.
    func hashInOrder(hashed: ManagedAtomic<Int64>) async throws -> String {
        let blockCount = RangeDownloader.blockCount(size: size, blockSize: blockSize)
        let state = NIOLockedValueBox(SHA256())
        let host = url.host ?? "?"
        let name = self.name
        var cursor = 0
        while cursor < blockCount {
            let range = try await scheduler.nextForHash(limit: max(1, RangeDownloader.hashChunk / blockSize))
            let offset = Int64(range.lowerBound) * Int64(blockSize)
            let end = min(size, Int64(range.upperBound) * Int64(blockSize))
            let inspect: @Sendable (UnsafeRawBufferPointer) throws -> Void
            if range.lowerBound == 0 {
                inspect = { try ContentCheck.leadingBytes(ByteBuffer(bytes: $0.prefix(64)), filename: name, host: host) }
            } else {
                inspect = { _ in }
            }
            do {
                try await file.hash(state, count: Int(end - offset), at: offset, inspect: inspect)
            } catch {
                await scheduler.fail(error)
                throw error
            }
            hashed.wrappingIncrement(by: end - offset, ordering: .relaxed)
            await scheduler.hashed(upTo: range.upperBound)
            cursor = range.upperBound
        }
        return state.withLockedValue { $0.finalize().hex }
    }
}
