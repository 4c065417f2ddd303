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
    private let promptID = NIOLockedValueBox<String?>(nil)
    private let reader = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// `http(s)://host/prefix` → `ws(s)://host/prefix/ws?clientId=…`.
    static func socketURL(base: URL, clientID: String) -> String? {
        guard var parts = URLComponents(url: base, resolvingAgainstBaseURL: false) else { return nil }
        parts.scheme = parts.scheme == "https" ? "wss" : "ws"
        parts.path = (parts.path.hasSuffix("/") ? String(parts.path.dropLast()) : parts.path) + "/ws"
        parts.queryItems = [URLQueryItem(name: "clientId", value: clientID)]
        return parts.string
    }

    /// Opens the socket and reads it in the background until `stop()`.
    func start(base: URL, headers: [(String, String)], logger: Logger, progress: @escaping @Sendable (Double) -> Void) {
        guard let url = Self.socketURL(base: base, clientID: clientID) else { return }
        var configuration = WebSocketClientConfiguration()
        // Previews arrive as binary messages of a few hundred KiB; they are read and dropped.
        configuration.maxFrameSize = 16 << 20
        for (name, value) in headers {
            if let field = HTTPField.Name(name) { configuration.additionalHeaders[field] = value }
        }
        let task = Task { [promptID, done] in
            do {
                try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) { inbound, outbound, _ in
                    try await withTaskCancellationHandler {
                        var messages = inbound.makeAsyncIterator()
                        while let message = try await messages.nextMessage(maxSize: 16 << 20) {
                            guard case .text(let text) = message else { continue }
                            switch Self.event(text, prompt: promptID.withLockedValue { $0 }) {
                            case .progress(let fraction): progress(fraction)
                            case .finished: await done.signal()
                            case .other: break
                            }
                        }
                    } onCancel: {
                        Task { try? await outbound.close(.normalClosure, reason: nil) }
                    }
                }
            } catch {
                logger.debug("ComfyUI events unavailable, polling /history only", metadata: ["error": "\(error)"])
            }
        }
        reader.withLockedValue { $0 = task }
    }

    /// The prompt id `/prompt` answered; events for other prompts are ignored from now on.
    func follow(_ prompt: String) {
        promptID.withLockedValue { $0 = prompt }
    }

    func stop() {
        reader.withLockedValue { $0 }?.cancel()
    }

    enum Event: Equatable {
        case progress(Double)
        case finished
        case other
    }

    /// One text message of ComfyUI's socket, as it concerns `prompt` (nil until `/prompt` answered:
    /// then only events without a prompt id count, as older builds send progress without one).
    static func event(_ text: String, prompt: String?) -> Event {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
              let type = object["type"] as? String, let data = object["data"] as? [String: Any]
        else { return .other }
        let about = data["prompt_id"] as? String
        if let about, about != prompt { return .other }
        switch type {
        case "progress":
            guard let value = (data["value"] as? NSNumber)?.doubleValue, let max = (data["max"] as? NSNumber)?.doubleValue, max > 0 else {
                return .other
            }
            // 1 is kept for the image actually being stored.
            return .progress(min(0.99, Swift.max(0, value / max)))
        case "executing":
            // `node: null` is ComfyUI's "this prompt is done".
            return about != nil && data["node"] is NSNull ? .finished : .other
        case "execution_success", "execution_error", "execution_interrupted":
            return about != nil ? .finished : .other
        default:
            return .other
        }
    }
}
