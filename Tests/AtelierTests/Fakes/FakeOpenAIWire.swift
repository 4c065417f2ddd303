import Foundation

/// What a fake OpenAI-compatible upstream answers, before it becomes an HTTP response: a whole
/// body, or server-sent events written one by one.
enum OpenAIReply: Sendable {
    case body(status: Int, contentType: String, Data)
    /// Each element is one complete `data: …\n\n` event; the last is `data: [DONE]\n\n`.
    case events([Data])
}

/// The OpenAI wire format (as OpenAI, vLLM, Ollama and OpenRouter speak it): chat completions
/// whole and streamed, tool calls, errors, and a WAV for text-to-speech.
enum OpenAIWire {
    /// A fixed `created` time, so two runs of a test see the same bodies.
    static let created = 1_767_225_600
    static let toolArguments = #"{"city":"Paris"}"#
    /// The tool arguments as a model streams them: in pieces that only make JSON together.
    static let toolArgumentPieces = [#"{"city":"#, #""Paris"}"#]

    static func json(_ object: [String: Any], status: Int = 200) -> OpenAIReply {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return .body(status: status, contentType: "application/json", data)
    }

    static func error(_ status: Int, _ message: String, type: String, code: String?, param: String? = nil) -> OpenAIReply {
        json(
            ["error": ["message": message, "type": type, "param": (param as Any?) ?? NSNull(), "code": (code as Any?) ?? NSNull()] as [String: Any]],
            status: status
        )
    }

    /// The error body an upstream sends with a failing status, typed as OpenAI types it.
    static func failure(_ status: Int) -> OpenAIReply {
        switch status {
        case 401: return error(401, "Incorrect API key provided", type: "invalid_request_error", code: "invalid_api_key")
        case 429: return error(429, "Rate limit reached for requests", type: "rate_limit_error", code: "rate_limit_exceeded")
        case 503: return error(503, "The engine is currently overloaded, please try again later", type: "server_error", code: nil)
        case 500...: return error(status, "The server had an error while processing your request. Sorry about that!", type: "server_error", code: nil)
        default: return error(status, "The fake upstream was told to fail with \(status)", type: "invalid_request_error", code: nil)
        }
    }

    static func models(_ ids: [String]) -> OpenAIReply {
        json(["object": "list", "data": ids.map { ["id": $0, "object": "model", "created": created, "owned_by": "atelier-fake"] }])
    }

    /// The text of a message's `content`: a string, or the text parts of a list of parts.
    static func text(of message: [String: Any]) -> String {
        if let text = message["content"] as? String { return text }
        let parts = message["content"] as? [[String: Any]] ?? []
        return parts.compactMap { $0["type"] as? String == "text" ? $0["text"] as? String : nil }.joined(separator: " ")
    }

    /// The answer as streamed pieces: one per word, each but the last with its space, so the
    /// deltas put together are exactly the content of the same answer unstreamed.
    static func pieces(_ answer: String) -> [String] {
        let words = answer.split(whereSeparator: \.isWhitespace).map(String.init)
        return words.enumerated().map { $0.offset == words.count - 1 ? $0.element : $0.element + " " }
    }

    /// The tool the request asks for or offers first; nil when it has none or forbids calls.
    static func tool(in request: [String: Any]) -> String? {
        let tools = request["tools"] as? [[String: Any]] ?? []
        guard !tools.isEmpty, request["tool_choice"] as? String != "none" else { return nil }
        if let chosen = ((request["tool_choice"] as? [String: Any])?["function"] as? [String: Any])?["name"] as? String { return chosen }
        return (tools.first?["function"] as? [String: Any])?["name"] as? String
    }

    /// A chat completion for a request already checked: whole, or as its events when `stream`.
    static func completion(_ request: [String: Any], answer: String, id: String) -> OpenAIReply {
        let model = request["model"] as? String ?? ""
        let messages = request["messages"] as? [[String: Any]] ?? []
        let tool = Self.tool(in: request)
        let pieces = Self.pieces(answer)
        let promptTokens = max(1, messages.map { text(of: $0).split(whereSeparator: \.isWhitespace).count }.reduce(0, +))
        let completionTokens = tool == nil ? pieces.count : 12
        let usage = ["prompt_tokens": promptTokens, "completion_tokens": completionTokens, "total_tokens": promptTokens + completionTokens]
        let callID = "call_" + id.dropFirst("chatcmpl-".count)
        guard request["stream"] as? Bool == true else {
            var message: [String: Any] = ["role": "assistant", "content": pieces.joined()]
            if let tool {
                message["content"] = NSNull()
                message["tool_calls"] = [
                    ["id": callID, "type": "function", "function": ["name": tool, "arguments": toolArguments]] as [String: Any]
                ]
            }
            return json([
                "id": id, "object": "chat.completion", "created": created, "model": model, "usage": usage,
                "choices": [["index": 0, "message": message, "finish_reason": tool == nil ? "stop" : "tool_calls", "logprobs": NSNull()]],
            ])
        }
        let includeUsage = (request["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true
        func chunk(_ delta: [String: Any], finish: String? = nil) -> [String: Any] {
            var chunk: [String: Any] = [
                "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [["index": 0, "delta": delta, "finish_reason": (finish as Any?) ?? NSNull(), "logprobs": NSNull()]],
            ]
            // As OpenAI does: with usage asked for, every chunk carries `usage: null` but the last.
            if includeUsage { chunk["usage"] = NSNull() }
            return chunk
        }
        var chunks: [[String: Any]]
        if let tool {
            let call: [String: Any] = ["index": 0, "id": callID, "type": "function", "function": ["name": tool, "arguments": ""]]
            chunks = [chunk(["role": "assistant", "content": NSNull(), "tool_calls": [call]])]
            chunks += toolArgumentPieces.map { chunk(["tool_calls": [["index": 0, "function": ["arguments": $0]] as [String: Any]]]) }
            chunks.append(chunk([:], finish: "tool_calls"))
        } else {
            chunks = [chunk(["role": "assistant", "content": ""])]
            chunks += pieces.map { chunk(["content": $0]) }
            chunks.append(chunk([:], finish: "stop"))
        }
        if includeUsage {
            chunks.append(["id": id, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [Any](), "usage": usage])
        }
        let encoded = chunks.map { (try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data() }
        return .events(encoded.map { Data("data: ".utf8) + $0 + Data("\n\n".utf8) } + [Data("data: [DONE]\n\n".utf8)])
    }

    /// A 16-bit mono PCM WAV: a short sine tone, enough for a player or a decoder to accept.
    static func wav(seconds: Double = 0.2, hertz: Double = 440, sampleRate: Int = 24_000) -> Data {
        var samples = Data()
        for index in 0..<Int(Double(sampleRate) * seconds) {
            let value = Int16(sin(2 * Double.pi * hertz * Double(index) / Double(sampleRate)) * 8_000)
            withUnsafeBytes(of: value.littleEndian) { samples.append(contentsOf: $0) }
        }
        var wav = Data()
        func text(_ value: String) { wav.append(contentsOf: Array(value.utf8)) }
        func uint32(_ value: Int) { withUnsafeBytes(of: UInt32(value).littleEndian) { wav.append(contentsOf: $0) } }
        func uint16(_ value: Int) { withUnsafeBytes(of: UInt16(value).littleEndian) { wav.append(contentsOf: $0) } }
        text("RIFF")
        uint32(36 + samples.count)
        text("WAVEfmt ")
        uint32(16)  // fmt chunk size for PCM
        uint16(1)  // PCM
        uint16(1)  // mono
        uint32(sampleRate)
        uint32(sampleRate * 2)  // bytes per second
        uint16(2)  // bytes per frame
        uint16(16)  // bits per sample
        text("data")
        uint32(samples.count)
        wav.append(samples)
        return wav
    }
}
