import Core
import Foundation
import NIOCore

/// A `/v1/chat/completions` body as the gateway needs it: the few fields it reads, and the whole
/// object kept to be passed on with only `model`, the persona's system message and
/// `stream_options` changed.
package struct ChatRequest: Sendable {
    package var body: JSONValue
    package var model: String
    package var stream: Bool
    /// The client asked for the final usage chunk (`stream_options.include_usage`).
    package var wantsUsage: Bool
    package var messages: [JSONValue]

    package static let maxMessages = 10_000

    package static func parse(_ buffer: ByteBuffer) throws -> ChatRequest {
        let body: JSONValue
        do { body = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: buffer)) } catch {
            throw AppError.badRequest("the body is not valid JSON; send a chat completion request as OpenAI documents it")
        }
        guard body.isObject else { throw AppError.badRequest("the body must be a JSON object") }
        guard let model = body[field: "model"]?.stringValue, !model.isEmpty else {
            throw AppError.validation(field: "model", "required: a model id from GET /v1/models")
        }
        guard let messages = body[field: "messages"]?.arrayValue, !messages.isEmpty else {
            throw AppError.validation(field: "messages", "required: a non-empty array of {role, content}")
        }
        guard messages.count <= maxMessages else { throw AppError.validation(field: "messages", "at most \(maxMessages) messages") }
        for (index, message) in messages.enumerated() {
            guard message.isObject, message[field: "role"]?.stringValue != nil else {
                throw AppError.validation(field: "messages[\(index)]", "each message is an object with a role")
            }
        }
        if let stream = body[field: "stream"], stream != .null, stream.boolValue == nil {
            throw AppError.validation(field: "stream", "must be true or false")
        }
        let stream = body[field: "stream"]?.boolValue ?? false
        let wantsUsage = body[field: "stream_options"]?[field: "include_usage"]?.boolValue ?? false
        return ChatRequest(body: body, model: model, stream: stream, wantsUsage: wantsUsage, messages: messages)
    }

    /// A request built in code (the `/chat` route, the assistant bot, prompt enhancement).
    package init(model: String, messages: [JSONValue], stream: Bool = false) {
        self.model = model
        self.messages = messages
        self.stream = stream
        wantsUsage = false
        body = .object([("model", .string(model)), ("messages", .array(messages)), ("stream", .bool(stream))])
    }

    init(body: JSONValue, model: String, stream: Bool, wantsUsage: Bool, messages: [JSONValue]) {
        self.body = body
        self.model = model
        self.stream = stream
        self.wantsUsage = wantsUsage
        self.messages = messages
    }

    /// The body for one upstream: its model id, the persona's prompt first, and usage asked for
    /// on streams (the gateway counts it; a client that did not ask does not get the chunk).
    func upstreamBody(model: String, persona: Persona?) throws -> ByteBuffer {
        var body = self.body
        body.set("model", .string(model))
        if let persona {
            let system: JSONValue = .object([("role", "system"), ("content", .string(persona.system_prompt))])
            body.set("messages", .array([system] + messages))
        }
        if stream {
            var options = body[field: "stream_options"] ?? .object([])
            if !options.isObject { options = .object([]) }
            options.set("include_usage", true)
            body.set("stream_options", options)
        }
        return ByteBuffer(data: try body.jsonData())
    }

    static func message(_ role: String, _ content: String) -> JSONValue {
        .object([("role", .string(role)), ("content", .string(content))])
    }
}

/// OpenAI's `usage` object, as upstreams send it in answers and in the last stream chunk.
struct UpstreamUsage: Decodable {
    var prompt_tokens: Int64?
    var completion_tokens: Int64?
}

struct UsageProbe: Decodable {
    struct Ignored: Decodable {}
    var usage: UpstreamUsage?
    var choices: [Ignored]?
}
