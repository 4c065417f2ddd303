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

    /// Reads one provider's stream into `continuation`. Before the first event reaches the client
    /// this can still give up (`.retry`: no first byte in time, or the stream broke) and let the
    /// next provider answer; after it, a broken stream ends with an error event.
    func pipe(
        _ response: HTTPClientResponse,
        _ candidate: ModelRoute.Candidate,
        _ request: ChatRequest,
        _ continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation,
        _ start: StartSignal
    ) async -> BodyResult {
        let seconds = candidate.provider.record.timeoutSeconds
        let committed = Flag()
        do {
            return try await withThrowingTaskGroup(of: BodyResult?.self) { group in
                group.addTask {
                    try? await Task.sleep(for: .seconds(seconds))
                    if Task.isCancelled || committed.isSet { return nil }
                    throw FirstByteTimeout()
                }
                group.addTask {
                    await forward(response, candidate, request, continuation, start, committed)
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

    func forward(
        _ response: HTTPClientResponse,
        _ candidate: ModelRoute.Candidate,
        _ request: ChatRequest,
        _ continuation: AsyncThrowingStream<ByteBuffer, any Error>.Continuation,
        _ start: StartSignal,
        _ committed: Flag
    ) async -> BodyResult {
        var splitter = SSEEventSplitter()
        var usage: UpstreamUsage?
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
                for var bytes in try splitter.push(buffer) {
                    let event = SSEEvent(bytes: bytes)
                    // A comment before any data is not an answer: it neither starts the client's
                    // stream nor stops the first-byte watchdog, so the provider can still be left.
                    if !committed.isSet, outgoing.readableBytes == 0, event.isComment { continue }
                    if event.mentionsUsage, let data = event.data,
                        let probe = try? JSONDecoder().decode(UsageProbe.self, from: Data(data.utf8))
                    {
                        if let found = probe.usage { usage = found }
                        // The usage chunk was asked for by the gateway, not by this client.
                        if !request.wantsUsage, probe.choices?.isEmpty == true { continue }
                    }
                    outgoing.writeBuffer(&bytes)
                }
                if outgoing.readableBytes > 0 { send(outgoing) }
            }
            if let rest = splitter.rest() { send(rest) }
            guard committed.isSet else { return .retry("the stream ended before any event", timeout: false) }
            return .done(usage, status: "ok")
        } catch {
            guard committed.isSet else { return .retry("the stream broke before its first event: \(transport.describe(error))", timeout: false) }
            // Never continued from another provider: that would splice two answers into one.
            continuation.yield(Self.errorEvent(provider: candidate.provider.record.name, transport.describe(error)))
            return .done(usage, status: "cut")
        }
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
