import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// A CDN / plain file host: serves `/files/NAME` with or without ranges, and can be told to
/// misbehave: slow connections, cut connections, wrong bytes, an HTML page instead of the file.
/// It records every request (path, Range, Authorization) and the bytes it sent.
final class FakeFileServer: Sendable {
    struct Behaviour: Sendable {
        var supportsRanges = true
        /// Per connection, bytes per second (nil = as fast as possible).
        var bytesPerSecond: Int?
        /// Cut the connection after this many body bytes, for the next `cutCount` requests.
        var cutAfterBytes: Int?
        var cutCount = 0
        /// Flip the byte at this file offset in every response that covers it.
        var corruptOffset: Int?
        /// Answer 200 with an HTML login page instead of the file.
        var htmlInstead = false
        /// The first request for a range starting at this offset stalls for `stallSeconds` (a
        /// stuck connection).
        var stallOffset: Int?
        var stallSeconds = 0.0
        /// Ends every stall early (so the server can stop without waiting them out).
        var stallReleased = false
        /// A signed-URL CDN: `/files/NAME` answers 403 unless its `sig` query is this; `/sign/NAME`
        /// redirects to the URL signed with it. Changing it expires every URL handed out before.
        var signature: String?
        /// Answer this status (e.g. 503) to the next `failCount` requests.
        var failStatus: Int?
        var failCount = 0
    }

    struct Record: Sendable {
        var path: String
        var range: String?
        var authorization: String?
        /// The Host the client sent (a pinned connection keeps the URL's name).
        var host: String? = nil
    }

    struct State: Sendable {
        var files: [String: Data] = [:]
        var behaviour = Behaviour()
        var records: [Record] = []
        var bytesSent: Int64 = 0
    }

    let state = NIOLockedValueBox(State())
    private let serverBox = NIOLockedValueBox<RunningServer?>(nil)
    /// Set once, right after start.
    var server: RunningServer { serverBox.withLockedValue { $0! } }

    static func start() async throws -> FakeFileServer {
        let fake = FakeFileServer()
        let router = Router()
        router.get("/files/{name}") { request, context in try fake.serve(request, context: context) }
        router.head("/files/{name}") { request, context in try fake.serve(request, context: context) }
        // A hub that redirects to a freshly signed CDN URL.
        router.get("/sign/{name}") { request, context in
            let signature = fake.state.withLockedValue { state -> String in
                state.records.append(Record(path: request.uri.path, range: nil, authorization: nil, host: request.head.authority))
                return state.behaviour.signature ?? ""
            }
            return Response(status: .found, headers: [.location: "/files/\(context.parameters.get("name") ?? "")?sig=\(signature)"])
        }
        // `302 Location: <to>`: a host that sends its clients elsewhere.
        router.get("/redirect") { request, _ in
            fake.state.withLockedValue {
                $0.records.append(Record(path: request.uri.path, range: nil, authorization: nil, host: request.head.authority))
            }
            return Response(status: .found, headers: [.location: request.uri.queryParameters["to"].map(String.init) ?? "/"])
        }
        let server = try await RunningServer.start(router)
        fake.serverBox.withLockedValue { $0 = server }
        return fake
    }

    func add(_ name: String, _ data: Data) { state.withLockedValue { $0.files[name] = data } }
    func behave(_ change: (inout Behaviour) -> Void) { state.withLockedValue { change(&$0.behaviour) } }
    var records: [Record] { state.withLockedValue { $0.records } }
    var bytesSent: Int64 { state.withLockedValue { $0.bytesSent } }

    /// Waits until no request has arrived for `quiet` (requests a client sent just before it
    /// stopped may still be on their way in), and returns the number of requests recorded.
    func settledRecordCount(quiet: Duration = .milliseconds(300)) async throws -> Int {
        var count = records.count
        var stableSince = ContinuousClock.now
        while ContinuousClock.now - stableSince < quiet {
            try await Task.sleep(for: .milliseconds(25))
            let now = records.count
            if now != count {
                count = now
                stableSince = ContinuousClock.now
            }
        }
        return count
    }

    /// Bytes asked for by range requests (not counting 1-byte probes) among `records`.
    static func requestedBytes(_ records: some Sequence<Record>) -> Int64 {
        records.reduce(0) { total, record in
            guard let range = record.range, range.hasPrefix("bytes="), range != "bytes=0-0" else { return total }
            let parts = range.dropFirst(6).split(separator: "-").compactMap { Int64($0) }
            return parts.count == 2 ? total + parts[1] - parts[0] + 1 : total
        }
    }
    func url(_ name: String, host: String = "localhost") -> String { "\(server.baseURL(host: host))/files/\(name)" }
    func stop() async { await server.stop() }

    /// Deterministic pseudo-random content.
    static func content(size: Int, seed: UInt64 = 42) -> Data {
        var generator = seed
        var data = Data(count: size)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for index in words.indices {
                generator = generator &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                words[index] = generator
            }
            for index in (words.count * 8)..<size { raw[index] = UInt8(truncatingIfNeeded: index) }
        }
        return data
    }

    static func sha256(_ data: Data) -> String { SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() }

    func serve(_ request: Request, context: BasicRequestContext) throws -> Response {
        let name = context.parameters.get("name") ?? ""
        let (data, behaviour, failing, cutting) = state.withLockedValue { state -> (Data?, Behaviour, Int?, Int?) in
            state.records.append(
                Record(
                    path: request.uri.path,
                    range: request.headers[.range],
                    authorization: request.headers[.authorization],
                    host: request.head.authority
                )
            )
            var failing: Int?
            if let status = state.behaviour.failStatus, state.behaviour.failCount > 0 {
                state.behaviour.failCount -= 1
                failing = status
            }
            var cutting: Int?
            if let cut = state.behaviour.cutAfterBytes, state.behaviour.cutCount > 0 {
                state.behaviour.cutCount -= 1
                cutting = cut
            }
            return (state.files[name], state.behaviour, failing, cutting)
        }
        if let failing { return Response(status: .init(code: failing)) }
        if let signature = behaviour.signature, request.uri.queryParameters["sig"].map(String.init) != signature {
            return Response(status: .forbidden)
        }
        guard let data else { return Response(status: .notFound) }
        if behaviour.htmlInstead {
            return Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "<!DOCTYPE html><html><body>Please log in</body></html>"))
            )
        }
        var start = 0
        var end = data.count - 1
        var status = HTTPResponse.Status.ok
        var headers: HTTPFields = [
            .contentType: name.hasSuffix(".png") ? "image/png" : "application/octet-stream",
            .contentDisposition: "attachment; filename=\"\(name)\"",
        ]
        if behaviour.supportsRanges {
            headers[.acceptRanges] = "bytes"
            if let range = request.headers[.range], range.hasPrefix("bytes=") {
                let parts = range.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
                if let first = Int(parts[0]) {
                    start = first
                    if parts.count > 1, let last = Int(parts[1]) { end = min(last, data.count - 1) }
                }
                guard start <= end else {
                    return Response(status: .rangeNotSatisfiable, headers: [.contentRange: "bytes */\(data.count)"])
                }
                status = .partialContent
                headers[.contentRange] = "bytes \(start)-\(end)/\(data.count)"
            }
        }
        headers[.contentLength] = String(end - start + 1)
        if request.method == .head { return Response(status: status, headers: headers) }
        var slice = Data(data[start...end])
        if let corrupt = behaviour.corruptOffset, (start...end).contains(corrupt) {
            slice[slice.startIndex + (corrupt - start)] ^= 0xFF
        }
        let bytes = slice
        let rate = behaviour.bytesPerSecond
        var stall = 0.0
        if let offset = behaviour.stallOffset, offset == start, end > start {
            stall = behaviour.stallSeconds
            state.withLockedValue { $0.behaviour.stallOffset = nil }
        }
        let stallFor = stall
        return Response(
            status: status,
            headers: headers,
            body: .init { writer in
                if stallFor > 0 {
                    let until = ContinuousClock.now + .milliseconds(Int(stallFor * 1000))
                    while ContinuousClock.now < until && !self.state.withLockedValue({ $0.behaviour.stallReleased }) {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                }
                let chunkSize = 64 << 10
                var offset = 0
                while offset < bytes.count {
                    let count = min(chunkSize, bytes.count - offset)
                    if let cutting, offset + count > cutting {
                        let partial = max(0, cutting - offset)
                        if partial > 0 { try await writer.write(ByteBuffer(bytes: bytes[offset..<(offset + partial)])) }
                        self.state.withLockedValue { $0.bytesSent += Int64(partial) }
                        throw CutConnection()
                    }
                    try await writer.write(ByteBuffer(bytes: bytes[offset..<(offset + count)]))
                    self.state.withLockedValue { $0.bytesSent += Int64(count) }
                    offset += count
                    if let rate { try await Task.sleep(for: .milliseconds(count * 1000 / rate)) }
                }
                try await writer.finish(nil)
            }
        )
    }

    struct CutConnection: Error {}
}
