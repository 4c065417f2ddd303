import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import Testing

/// Adds providers through the admin API, as an operator does.
extension TestApp {
    @discardableResult
    func addProvider(
        _ name: String,
        _ fake: FakeOpenAI,
        models: [String],
        priority: Int,
        key: String = "sk-test-key-000000000001",
        timeout: Int? = nil,
        token: String? = nil
    ) async throws -> String {
        let admin = try await login()
        var fields = [
            #""name": "\#(name)""#, #""kind": "openai""#, #""base_url": "\#(fake.baseURL)""#, #""api_key": "\#(key)""#,
            #""models": [\#(models.map { "\"\($0)\"" }.joined(separator: ", "))]"#, #""priority": \#(priority)"#,
        ]
        if let timeout { fields.append(#""timeout_seconds": \#(timeout)"#) }
        let response = try await request(.post, "/admin/llm/providers", token: token ?? admin, json: "{\(fields.joined(separator: ", "))}")
        try #require(response.status == .created, "adding provider \(name): \(String(buffer: response.body))")
        return try #require(response.json["id"] as? String)
    }

    /// A chat completion body.
    static func chat(_ model: String, _ text: String, stream: Bool = false, usage: Bool = false) -> String {
        var body = #"{"model": "\#(model)", "messages": [{"role": "user", "content": "\#(text)"}]"#
        if stream { body += #", "stream": true"# }
        if usage { body += #", "stream_options": {"include_usage": true}"# }
        return body + "}"
    }
}

/// The `data:` payloads of an event stream, in order.
func eventData(_ body: ByteBuffer) -> [String] {
    String(buffer: body).components(separatedBy: "\n\n").compactMap { event in
        event.split(separator: "\n").first { $0.hasPrefix("data:") }.map { String($0.dropFirst(5)).trimmingCharacters(in: .whitespaces) }
    }
}

/// The text of streamed chat chunks, joined.
func streamedText(_ data: [String]) -> String {
    data.compactMap { item -> String? in
        guard let object = try? JSONSerialization.jsonObject(with: Data(item.utf8)) as? [String: Any],
            let choices = object["choices"] as? [[String: Any]], let delta = choices.first?["delta"] as? [String: Any]
        else { return nil }
        return delta["content"] as? String
    }.joined()
}
