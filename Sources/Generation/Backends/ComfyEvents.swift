import Core
import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import WSClient

/// ComfyUI's `/ws` event stream for one job: sampling progress (`progress`, value of max) and the
/// moment the prompt finishes or fails (`executing` with no node, `execution_success`,
/// `execution_error`, `execution_interrupted`), which wakes the `/history` poll at once.
///
/// ComfyUI sends a prompt's events to the socket whose `clientId` queued it, so each job opens its
/// own socket under a fresh id. Prompts queued without a client id are announced to every socket,
/// so events that name another prompt are ignored. If the socket cannot be opened (a proxy without
/// WebSocket support, an old build), nothing breaks: the job polls `/history` as it would anyway.
final class ComfyEvents: Sendable {
    let clientID = UUID().uuidString.lowercased()
    /// Signalled when the prompt is done; the poll loop waits on it between polls.
    let done = WakeSignal()
    /// Signalled once the socket is open, or has failed to open.
    private let opened = WakeSignal()
    private let state = NIOLockedValueBox(State())
    private let reader = NIOLockedValueBox<Task<Void, Never>?>(nil)

    private struct State {
        /// The prompt `/prompt` answered with; nil until then.
        var prompt: String?
        /// Events that arrived before the answer (ComfyUI may start, or even finish, a prompt
        /// before the HTTP answer is read): the latest progress and the finished prompts, by id.
        var early: [String: Event] = [:]
        var stopped = false
    }

    /// `http(s)://host/prefix` → `ws(s)://host/prefix/ws?clientId=…`.
    static func socketURL(base: URL, clientID: String) -> String? {
        guard var parts = URLComponents(url: base, resolvingAgainstBaseURL: false) else { return nil }
        parts.scheme = parts.scheme == "https" ? "wss" : "ws"
        parts.path = (parts.path.hasSuffix("/") ? String(parts.path.dropLast()) : parts.path) + "/ws"
        parts.queryItems = [URLQueryItem(name: "clientId", value: clientID)]
        return parts.string
    }

    /// The socket URL, on the address the policy approved: the WebSocket client resolves names
    /// itself, so a checked name is replaced by its address (a `ws://` socket; `wss://` needs the
    /// name for its certificate and is left to polling). Nil: no socket.
    static func socketURL(base: URL, policy: AddressPolicy, clientID: String) async -> String? {
        if policy.allowPrivate { return socketURL(base: base, clientID: clientID) }
        guard base.scheme == "http", let approval = try? await policy.approve(base, field: "endpoint"),
            let address = approval.address, var parts = URLComponents(url: base, resolvingAgainstBaseURL: false)
        else { return nil }
        parts.percentEncodedHost = address.isIPv4 ? address.description : "[\(address)]"
        return parts.url.flatMap { socketURL(base: $0, clientID: clientID) }
    }

    /// Opens the socket and reads it in the background until `stop()`. Returns once it is open
    /// (ComfyUI drops events for a client that is not connected yet), has failed, or `wait` has
    /// passed.
    func start(
        base: URL,
        headers: [(String, String)],
        policy: AddressPolicy,
        logger: Logger,
        wait: Duration = .seconds(2),
        progress: @escaping @Sendable (Double) -> Void
    ) async {
        guard let url = await Self.socketURL(base: base, policy: policy, clientID: clientID) else { return }
        var configuration = WebSocketClientConfiguration()
        // Previews arrive as binary messages of a few hundred KiB; they are read and dropped.
        configuration.maxFrameSize = 16 << 20
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { configuration.additionalHeaders[field] = value }
        }
        let task = Task { [self] in
            do {
                try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                    self.opened.signal()
                    try await withTaskCancellationHandler {
                        var messages = inbound.makeAsyncIterator()
                        while let message = try await messages.nextMessage(maxSize: 16 << 20) {
                            guard case .text(let text) = message else { continue }
                            await self.handle(Self.event(text), progress: progress)
                        }
                    } onCancel: {
                        Task { try? await outbound.close(.normalClosure, reason: nil) }
                    }
                }
            } catch {
                logger.debug("ComfyUI events unavailable, polling /history only", metadata: ["error": "\(error)"])
            }
            self.opened.signal()
        }
        reader.withLockedValue { $0 = task }
        await opened.wait(timeout: wait)
    }

    /// Applies an event of the followed prompt; keeps one for a prompt not known yet.
    private func handle(_ event: (prompt: String?, event: Event), progress: @Sendable (Double) -> Void) async {
        let apply = state.withLockedValue { state -> Event? in
            guard !state.stopped else { return nil }
            switch (event.prompt, state.prompt) {
            case (nil, _):
                // Older builds send progress without a prompt id; the socket is this job's own.
                return event.event
            case (let about?, let followed?):
                return about == followed ? event.event : nil
            case (let about?, nil):
                // Bounded: prompts of other clients are announced to every socket.
                if event.event != .other, state.early.count < 64 || state.early[about] != nil, state.early[about] != .finished {
                    state.early[about] = event.event
                }
                return nil
            }
        }
        await self.apply(apply, progress: progress)
    }

    private func apply(_ event: Event?, progress: @Sendable (Double) -> Void) async {
        switch event {
        case .progress(let fraction)?: progress(fraction)
        case .finished?: done.signal()
        case .other?, nil: break
        }
    }

    /// The prompt id `/prompt` answered; events for other prompts are ignored from now on, and
    /// what already arrived for this one is applied.
    func follow(_ prompt: String, progress: @Sendable (Double) -> Void) async {
        let early = state.withLockedValue { state -> Event? in
            state.prompt = prompt
            defer { state.early = [:] }
            return state.early[prompt]
        }
        await apply(early, progress: progress)
    }

    /// Stops reading; no progress is reported after this returns.
    func stop() {
        state.withLockedValue { $0.stopped = true }
        reader.withLockedValue { $0 }?.cancel()
    }

    enum Event: Equatable {
        case progress(Double)
        case finished
        case other
    }

    /// One text message of ComfyUI's socket: the prompt it names (if any) and what it means.
    static func event(_ text: String) -> (prompt: String?, event: Event) {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
            let type = object["type"] as? String, let data = object["data"] as? [String: Any]
        else { return (nil, .other) }
        let about = data["prompt_id"] as? String
        switch type {
        case "progress":
            guard let value = (data["value"] as? NSNumber)?.doubleValue, let max = (data["max"] as? NSNumber)?.doubleValue, max > 0 else {
                return (about, .other)
            }
            // 1 is kept for the image actually being stored.
            return (about, .progress(min(0.99, Swift.max(0, value / max))))
        case "executing":
            // `node: null` is ComfyUI's "this prompt is done".
            return (about, about != nil && data["node"] is NSNull ? .finished : .other)
        case "execution_success", "execution_error", "execution_interrupted":
            return (about, about != nil ? .finished : .other)
        default:
            return (about, .other)
        }
    }
}
