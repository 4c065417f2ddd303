import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The embeddable chat: the key shown once, answers only from allowed origins, through the
/// gateway on the owner's providers, a conversation per visitor, and a per-visitor rate limit.
@Suite("Chat widget", .timeLimit(.minutes(3)))
struct WidgetTests {
    @Test("one script tag; the key works only from an allowed origin; each visitor has a conversation; a flood is 429")
    func widget() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            let alice = try await app.makeUser("alice")
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let created = try await app.request(
                .post,
                "/admin/widgets",
                token: alice.token,
                json: #"{"name": "Shop", "persona": "marina", "allowed_origins": ["https://Shop.Example:443/"]}"#
            )
            #expect(created.status == .created)
            #expect(created.json["allowed_origins"] as? [String] == ["https://shop.example"], "origins are normalised")
            let key = try #require(created.json["widget_key"] as? String)
            #expect((created.json["embed"] as? String)?.contains("/widget.js\" data-widget-key=\"\(key)\"") == true)
            let id = try #require(created.json["id"] as? String)
            #expect(try await app.request(.get, "/admin/widgets/\(id)", token: alice.token).json["widget_key"] == nil, "shown once")

            let script = try await app.request(.get, "/widget.js")
            #expect(script.status == .ok)
            #expect(String(buffer: script.body).contains("/widget/chat"))

            func chat(
                _ text: String,
                origin: String? = "https://shop.example",
                key: String? = key,
                visitor: String = "v1"
            ) async throws
                -> TestResponse
            {
                var headers: HTTPFields = [:]
                if let origin { headers[.origin] = origin }
                if let key { headers[HTTPField.Name("X-Widget-Key")!] = key }
                return try await app.request(.post, "/widget/chat", json: #"{"message": "\#(text)", "visitor_id": "\#(visitor)"}"#, headers: headers)
            }
            let answer = try await chat("Есть доставка?")
            #expect(answer.status == .ok, "\(String(buffer: answer.body))")
            #expect(answer.json["response"] as? String == "Echo: Есть доставка?")
            #expect(answer.headers[.accessControlAllowOrigin] == "https://shop.example")
            let system = (upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.first?["content"] as? String
            #expect(system?.contains("Марина") == true, "the widget's persona")

            #expect(try await chat("hi", origin: "https://evil.example").status == .forbidden)
            #expect(try await chat("hi", origin: nil).status == .forbidden)
            #expect(try await chat("hi", key: "wk_nope_nope").status == .unauthorized)
            #expect(try await chat("hi", key: nil).status == .unauthorized)

            _ = try await chat("второй вопрос")
            let second = (upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count
            #expect(second == 4, "the visitor's conversation continues")
            _ = try await chat("hello", visitor: "v2")
            #expect((upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count == 2, "another visitor starts afresh")

            // A failing provider: the visitor hears that the assistant cannot answer, not which
            // provider failed and why.
            upstream.behave(.status(500))
            let failed = try await chat("hi", visitor: "v4")
            #expect(failed.status.code >= 500 && failed.detail.contains("cannot answer right now"), "\(failed.detail)")
            #expect(!failed.detail.contains("vllm") && !failed.detail.contains("500"), "\(failed.detail)")
            #expect(failed.headers[.accessControlAllowOrigin] == "https://shop.example")
            upstream.behave(.ok)

            // The owner's name for the widget goes into someone's page: escaped.
            let named = try await app.request(
                .post,
                "/admin/widgets",
                token: alice.token,
                json: #"{"name": "Shop \"A\" <b>", "persona": "marina", "allowed_origins": ["https://shop.example"]}"#
            )
            let embed = try #require(named.json["embed"] as? String, "\(named.detail)")
            #expect(embed.contains(#"data-title="Shop &quot;A&quot; &lt;b&gt;""#), "\(embed)")

            var limited = false
            for index in 0..<25 where !limited {
                limited = try await chat("q\(index)", visitor: "v3").status == .tooManyRequests
            }
            #expect(limited, "at most 20 a minute from one address")

            let rotated = try await app.request(.post, "/admin/widgets/\(id)/rotate-key", token: alice.token)
            #expect(rotated.json["widget_key"] as? String != key)
            #expect(try await chat("hi", visitor: "v9").status == .unauthorized, "the old key stops at once")
        }
    }
}
