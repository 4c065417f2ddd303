import AsyncHTTPClient
import Atomics
import Core
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Downloads one file: N parallel range requests into `NAME.part` with a resume sidecar, SHA-256
/// computed as the bytes arrive (in file order, see `PieceScheduler`), checked against the
/// expected hash, then an atomic rename into place. Servers without range support get one stream.
package struct RangeDownloader: Sendable {
    let http: HubHTTP
    let logger: Logger

    package init(http: HubHTTP, logger: Logger) {
        self.http = http
        self.logger = logger
    }

    /// Downloads `request` to `destination` (a full path), using `workDir` for the partial file.
    package func download(
        _ request: FileRequest,
        to destination: String,
        workDir: String,
        options: DownloadOptions = DownloadOptions(),
        progress: @escaping @Sendable (DownloadProgress) -> Void = { _ in }
    ) async throws -> DownloadedFile {
        try FileManager.default.createDirectory(atPath: workDir, withIntermediateDirectories: true)
        let partPath = (workDir as NSString).appendingPathComponent(Self.partName(for: request))
        let probe = try await self.probe(request)
        let result: (sha256: String, size: Int64, resumed: Int64)
        switch probe.mode {
        case .ranges(let size):
            result = try await downloadRanges(
                request,
                probe: probe,
                size: size,
                partPath: partPath,
                options: options,
                progress: progress
            )
        case .stream(let response):
            result = try await downloadStream(
                request,
                response: response,
                partPath: partPath,
                limiter: options.limiter,
                progress: progress
            )
        }
        if let expected = request.expectedSize, expected != result.size {
            discard(partPath)
            throw AppError(
                .badGateway,
                "\(request.filename): expected \(expected) bytes but received \(result.size); the partial file was discarded",
                code: "size_mismatch"
            )
        }
        if let expected = request.expectedSHA256, expected != result.sha256 {
            discard(partPath)
            throw AppError(
                .badGateway,
                "\(request.filename): SHA-256 mismatch (expected \(expected), got \(result.sha256)); the file was corrupted in transit and was discarded — pull it again",
                code: "hash_mismatch"
            )
        }
        try FileManager.default.createDirectory(
            atPath: (destination as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true
        )
        guard rename(partPath, destination) == 0 else {
            throw FileError(path: destination, operation: "rename", code: errno)
        }
        try? FileManager.default.removeItem(atPath: partPath + ".json")
        return DownloadedFile(
            path: destination,
            size: result.size,
            sha256: result.sha256,
            suggestedFilename: probe.suggestedFilename,
            resumedBytes: result.resumed
        )
    }

    /// Part files are named by the request, so a retry of the same file finds its sidecar.
    static func partName(for request: FileRequest) -> String {
        let key = request.expectedSHA256 ?? SHA256.hash(data: Data(request.url.absoluteString.utf8)).hex
        return "\(key.prefix(16))-\(Placement.sanitize(request.filename)).part"
    }

    func discard(_ partPath: String) {
        try? FileManager.default.removeItem(atPath: partPath)
        try? FileManager.default.removeItem(atPath: partPath + ".json")
    }

    // MARK: probe

    struct Probe: Sendable {
        enum Mode: Sendable {
            case ranges(size: Int64)
            case stream(HubHTTP.Response)
        }
        var mode: Mode
        var finalURL: URL
        var etag: String?
        var suggestedFilename: String?
    }

    /// Asks for the first byte: a 206 with `Content-Range` means ranges work and tells the size; a 200
    /// means one stream (and that response is used for it).
    func probe(_ request: FileRequest, attempts: Int = 4) async throws -> Probe {
        var attempt = 0
        var response: HubHTTP.Response
        // 5xx and network failures are retried with backoff; other answers are final.
        while true {
            do {
                response = try await http.send(
                    url: request.url,
                    headers: [("Range", "bytes=0-0"), ("Accept-Encoding", "identity")],
                    credentials: request.credentials,
                    timeout: .seconds(60)
                )
                if response.status.code >= 500 && attempt + 1 < attempts {
                    _ = try? await response.collect(limit: 64 << 10)
                    attempt += 1
                    try await backoff(attempt: attempt, atLeast: 0)
                    continue
                }
                break
            } catch let error as HubTransportError {
                attempt += 1
                if attempt >= attempts { throw HubErrors.unreachable(request.url.host ?? "the server", error) }
                try await backoff(attempt: attempt, atLeast: 0)
            }
        }
        guard response.status == .partialContent || response.status == .ok else {
            let body = (try? await response.collect(limit: 64 << 10)).map { String(buffer: $0) } ?? ""
            throw request.describeError(response.status, response.headers, body)
        }
        let type = response.headers.first(name: "Content-Type")
        if ContentCheck.isWebPage(type, filename: request.filename), let explained = request.describeWebPage?(response.url) {
            _ = try? await response.collect(limit: 64 << 10)
            throw explained
        }
        try ContentCheck.contentType(type, filename: request.filename, host: response.url.host ?? "?")
        let etag = response.headers.first(name: "ETag")
        let suggested = ContentDisposition.filename(response.headers.first(name: "Content-Disposition"))
        if response.status == .partialContent, let range = response.headers.first(name: "Content-Range"),
            let total = Self.totalSize(contentRange: range)
        {
            _ = try? await response.collect(limit: 1 << 20)
            return Probe(mode: .ranges(size: total), finalURL: response.url, etag: etag, suggestedFilename: suggested)
        }
        return Probe(mode: .stream(response), finalURL: response.url, etag: etag, suggestedFilename: suggested)
    }

    static func totalSize(contentRange: String) -> Int64? {
        guard let slash = contentRange.lastIndex(of: "/") else { return nil }
        return Int64(contentRange[contentRange.index(after: slash)...].trimmingCharacters(in: .whitespaces))
    }
}

extension Digest {
    var hex: String { Hex.encode(self) }
}
