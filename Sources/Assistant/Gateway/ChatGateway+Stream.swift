import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import Synchronization

extension ChatGateway {
    /// A started stream: the events of the provider that answered, passed on as they arrive.
    package struct Stream: Sendable {
        package var events: AsyncThrowingStream<ByteBuffer, any Error>
        package var provider: String
    }

    /// Returns once a provider has sent its first event (the client's response can start then),
    /// or throws why none did. The rest arrives in `events`; a client that goes away cancels the
    /// upstream request.
    package func stream(_ request: ChatRequest, for principal: Principal) async throws -> Stream {
        try await limits.admit(principal)
        let route = try route(request, for: principal)
        let (events, continuation) = AsyncThrowingStream<ByteBuffer, any Error>.makeStream()
        let start = StartSignal()
        let producer = Task {
            do {
                try await run(route, request, principal) { candidate, response in
                    await pipe(response, candidate, request, continuation, start)
                }
            } catch {
                start.fail(error)
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in producer.cancel() }
        let provider = try await withTaskCancellationHandler {
            try await start.wait()
        } onCancel: {
            producer.cancel()
        }
        return Stream(events: events, provider: provider)
    }

    struct FirstByteTimeout: Error {}

    /// How long a started stream may fall silent before it counts as stalled: the provider's
    /// `timeout_seconds`, as for its first byte (keep-alive comments count as bytes).
    static func streamSilence(_ seconds: Int) -> Duration { .seconds(seconds) }

    /// Reads one provider's stream into `continuation`. Before the first event reaches the client
    /// this can still give up (`.retry`: no first byte in time, or the stream broke) and let the
    /// next provider answer; after it, a broken or stalled stream ends with an error event.
    func pipe(
        _ response: HTTPClientResponse,
        _ candidate: ModelRoute.Candidate,
        _ request: ChatRequest,
        _ continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation,
        _ start: StartSignal
    ) async -> BodyResult {
        let seconds = candidate.provider.record.timeoutSeconds
        let silence = Self.streamSilence(seconds)
        let progress = StreamProgress()
        do {
            return try await withThrowingTaskGroup(of: BodyResult?.self) { group in
                group.addTask {
                    // Before the first event: `seconds` for it. After: no silence over `silence`.
                    try? await Task.sleep(for: .seconds(seconds))
                    if Task.isCancelled { return nil }
                    guard progress.committed.isSet else { throw FirstByteTimeout() }
                    // Cancelled (the reader finished first): nothing to add.
                    guard (try? await Self.untilSilent(for: silence, since: { progress.lastBytes })) != nil, progress.end() else {
                        return nil
                    }
                    let reason = "the stream stopped: nothing for \(silence.components.seconds) s"
                    continuation.yield(Self.errorEvent(provider: candidate.provider.record.name, reason))
                    return .done(progress.estimate(request), status: "cut")
                }
                group.addTask {
                    await forward(response, candidate, request, continuation, start, progress)
                }
                while let result = try await group.next() {
                    if let result {
                        group.cancelAll()
                        return result
                    }
                }
                return .retry("the stream ended without an answer", timeout: false)
            }
        } catch {
            return .retry("no first byte within \(seconds) s", timeout: true)
        }
    }

    /// What a stream has done so far, shared by its reader and its watchdog.
    final class StreamProgress: Sendable {
        /// Set when the first event went to the client: from then on the answer is this provider's.
        let committed = Flag()
        private let state = Mutex((last: ContinuousClock.now, dataEvents: 0, ended: false))

        var lastBytes: ContinuousClock.Instant { state.withLock { $0.last } }

        func received(dataEvents: Int) {
            state.withLock {
                $0.last = .now
                $0.dataEvents += dataEvents
            }
        }

        /// The first to end the stream (the reader, or the watchdog on a stall) gets true; the
        /// other then adds nothing, so the client gets one end.
        func end() -> Bool {
            state.withLock { state in
                defer { state.ended = true }
                return !state.ended
            }
        }

        /// Usage for a stream that ended before the upstream said it: the request's bytes / 4 for
        /// the prompt (about a token per 4 bytes of JSON text), one token per data event (an event
        /// carries a token or a few), so a client that hangs up is not charged nothing.
        func estimate(_ request: ChatRequest) -> UpstreamUsage {
            UpstreamUsage(
                prompt_tokens: Int64(((try? request.upstreamBody(model: "", persona: nil))?.readableBytes ?? 0) / 4),
                completion_tokens: Int64(state.withLock { $0.dataEvents })
            )
        }
    }

    func forward(
        _ response: HTTPClientResponse,
        _ candidate: ModelRoute.Candidate,
        _ request: ChatRequest,
        _ continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation,
        _ start: StartSignal,
        _ progress: StreamProgress
    ) async -> BodyResult {
        var splitter = SSEEventSplitter()
        var usage: UpstreamUsage?
        var lastEvent: SSEEvent?
        let committed = progress.committed
        func send(_ bytes: ByteBuffer) {
            if !committed.isSet {
                committed.set()
                start.succeed(candidate.provider.record.name)
            }
            continuation.yield(bytes)
        }
        do {
            for try await buffer in response.body {
                // What one network read brought goes out as one write: a fast upstream's whole
                // stream is then a write or two, a slow one's events still leave as they come.
                var outgoing = ByteBuffer()
                var dataEvents = 0
                for var bytes in try splitter.push(buffer) {
                    let event = SSEEvent(bytes: bytes)
                    // A comment before any data is not an answer: it neither starts the client's
                    // stream nor stops the first-byte watchdog, so the provider can still be left.
                    if !committed.isSet, outgoing.readableBytes == 0, event.isComment { continue }
                    // Only counted and kept here; read once, at the end (a String per event would
                    // cost every stream).
                    if !event.isComment {
                        dataEvents += 1
                        lastEvent = event
                    }
                    if event.mentionsUsage, let data = event.data,
                        let probe = try? JSONDecoder().decode(UsageProbe.self, from: Data(data.utf8))
                    {
                        if let found = probe.usage { usage = found }
                        // The usage chunk was asked for by the gateway, not by this client.
                        if !request.wantsUsage, probe.choices?.isEmpty == true { continue }
                    }
                    outgoing.writeBuffer(&bytes)
                }
                progress.received(dataEvents: dataEvents)
                if outgoing.readableBytes > 0 { send(outgoing) }
            }
            if let rest = splitter.rest() { send(rest) }
            guard committed.isSet else { return .retry("the stream ended before any event", timeout: false) }
            guard progress.end() else { return .done(usage ?? progress.estimate(request), status: "cut") }
            // A stream that closes without `[DONE]`, a finish reason or its usage (which comes
            // last) was cut short, however cleanly the connection ended.
            if usage == nil, let last = lastEvent?.data, !last.hasPrefix("[DONE]"), !Self.hasFinishReason(last) {
                continuation.yield(Self.errorEvent(provider: candidate.provider.record.name, "the stream ended before the answer did"))
                return .done(usage ?? progress.estimate(request), status: "cut")
            }
            return .done(usage, status: "ok")
        } catch {
            guard committed.isSet else { return .retry("the stream broke before its first event: \(transport.describe(error))", timeout: false) }
            guard progress.end() else { return .done(usage ?? progress.estimate(request), status: "cut") }
            // Never continued from another provider: that would splice two answers into one.
            continuation.yield(Self.errorEvent(provider: candidate.provider.record.name, transport.describe(error)))
            return .done(usage ?? progress.estimate(request), status: "cut")
        }
    }

    /// Whether a chunk's JSON names a finish reason (`"finish_reason":"stop"`, not `null`).
    static func hasFinishReason(_ data: Substring) -> Bool {
        guard let range = data.range(of: "\"finish_reason\"") else { return false }
        let rest = data[range.upperBound...].drop { $0 == " " || $0 == ":" }
        return rest.first == "\""
    }

    static func errorEvent(provider: String, _ reason: String) -> ByteBuffer {
        struct Body: Encodable {
            struct Inner: Encodable {
                var message: String
                var type = "server_error"
                var code = "upstream_stream_cut"
                var param: String? = nil
            }
            var error: Inner
        }
        let message = "the upstream \(provider) ended the stream early (\(reason)); the answer above is incomplete"
        let data = (try? JSONEncoder().encode(Body(error: .init(message: message)))) ?? Data("{}".utf8)
        return ByteBuffer(string: "data: \(String(decoding: data, as: UTF8.self))\n\n")
    }
}

/// Set once, read from other tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// The handler waits here until the stream has a provider (or failed everywhere). Resolved once;
/// later calls do nothing.
final class StartSignal: Sendable {
    enum State {
        case waiting(CheckedContinuation<String, any Error>?)
        case started(String)
        case failed(any Error)
    }

    private let state = Mutex(State.waiting(nil))

    func wait() async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let resolved: Result<String, any Error>? = state.withLock { state in
                switch state {
                case .waiting:
                    state = .waiting(continuation)
                    return nil
                case .started(let provider): return .success(provider)
                case .failed(let error): return .failure(error)
                }
            }
            if let resolved { continuation.resume(with: resolved) }
        }
    }

    func succeed(_ provider: String) { resolve(.started(provider), .success(provider)) }

    func fail(_ error: any Error) { resolve(.failed(error), .failure(error)) }

    private func resolve(_ final: State, _ result: Result<String, any Error>) {
        let waiting: CheckedContinuation<String, any Error>?? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return .none }
            state = final
            return .some(continuation)
        }
        if case .some(.some(let continuation)) = waiting { continuation.resume(with: result) }
    }
}
