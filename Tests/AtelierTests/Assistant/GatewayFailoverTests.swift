import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

/// Failover between providers: a 5xx, a rate limit, a hang and a cut body move the request to
/// the next provider before anything reaches the client; a failing provider cools down; a stream
/// cut after it started ends with an error event and is never continued elsewhere.
@Suite("Gateway failover", .timeLimit(.minutes(3)))
struct GatewayFailoverTests {
    static let key = "sk-test-key-000000000001"

    /// Runs `body` with two upstreams serving model `m`: `primary` (priority 1) and `backup` (2).
    static func withTwo(
        mode: TestingSetup = .router,
        primaryTimeout: Int? = nil,
        _ body: @Sendable (TestApp, FakeOpenAI, FakeOpenAI) async throws -> Void
    ) async throws {
        let primary = try await FakeOpenAI.start(models: ["m"], apiKey: key, answer: "from primary")
        let backup = try await FakeOpenAI.start(models: ["m"], apiKey: key, answer: "from backup")
        let result = await Result {
            try await TestApp.run(mode: mode) { app in
                try await app.addProvider("primary", primary, models: ["m"], priority: 1, timeout: primaryTimeout)
                try await app.addProvider("backup", backup, models: ["m"], priority: 2)
                try await body(app, primary, backup)
            }
        }
        await primary.stop()
        await backup.stop()
        try result.get()
    }

    static func content(_ response: TestResponse) -> String? {
        ((response.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
    }

    @Test("a 500 moves the request to the next provider, and the failing one cools down; all failing is a 502 naming each")
    func serverErrors() async throws {
        try await Self.withTwo { app, primary, backup in
            let token = try await app.login()
            primary.behave(.status(500))
            let first = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(first.status == .ok)
            #expect(Self.content(first) == "from backup")
            #expect(primary.calls("chat/completions").count == 1)
            let second = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(Self.content(second) == "from backup")
            #expect(primary.calls("chat/completions").count == 1, "cooling down: not asked again")
            let listed = try await app.request(.get, "/admin/llm/providers", token: token)
            let primaryRow = (listed.json["items"] as? [[String: Any]])?.first { $0["name"] as? String == "primary" }
            #expect((primaryRow?["cooling_down"] as? String)?.contains("500") == true)

            backup.behave(.status(503))
            let failed = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(failed.status == .badGateway)
            let message = try #require((failed.json["error"] as? [String: Any])?["message"] as? String)
            #expect(message.contains("primary") && message.contains("backup") && message.contains("503"), "\(message)")
            #expect(!String(buffer: failed.body).contains(Self.key), "no key in errors")
        }
    }

    @Test("a provider whose port refuses connections is left for the next before the client sees anything, and cools down")
    func connectionRefused() async throws {
        let backup = try await FakeOpenAI.start(models: ["m"], apiKey: Self.key, answer: "from backup")
        defer { Task { await backup.stop() } }
        // A port that was free a moment ago: nothing listens there.
        let closed = try NodeLoraTests.freePort()
        try await TestApp.run { app in
            let admin = try await app.login()
            let dead = try await app.request(
                .post,
                "/admin/llm/providers",
                token: admin,
                json:
                    #"{"name": "dead", "kind": "openai", "base_url": "http://127.0.0.1:\#(closed)/v1", "api_key": "\#(Self.key)", "models": ["m"], "priority": 1}"#
            )
            #expect(dead.status == .created, "\(dead.detail)")
            try await app.addProvider("backup", backup, models: ["m"], priority: 2)
            for stream in [false, true] {
                let answer = try await app.request(.post, "/v1/chat/completions", token: admin, json: TestApp.chat("m", "hi", stream: stream))
                #expect(answer.status == .ok, "\(String(buffer: answer.body))")
                let text = stream ? streamedText(eventData(answer.body)) : Self.content(answer)
                #expect(text == "from backup")
            }
            let listed = try await app.request(.get, "/admin/llm/providers", token: admin)
            let row = (listed.json["items"] as? [[String: Any]])?.first { $0["name"] as? String == "dead" }
            #expect(row?["cooling_down"] is String, "the refusing provider cools down: \(row ?? [:])")
            #expect(backup.calls("chat/completions").count == 2)
        }
    }

    @Test("a 429 with Retry-After: the next provider answers; with none left a short wait is honoured, a long one is the client's 429")
    func rateLimits() async throws {
        try await Self.withTwo { app, primary, backup in
            let token = try await app.login()
            primary.behave(.status(429, retryAfter: 30))
            let moved = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(Self.content(moved) == "from backup")

            backup.behave(.status(429, retryAfter: 1), times: 1)
            let started = ContinuousClock.now
            let waited = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(waited.status == .ok, "\(String(buffer: waited.body))")
            #expect(ContinuousClock.now - started >= .milliseconds(900), "Retry-After: 1 was honoured")
            #expect(primary.calls("chat/completions").count == 1, "primary still cooling for its 30 s")

            backup.behave(.status(429, retryAfter: 20))
            let limited = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect((limited.json["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
        }
    }

    @Test(
        "a provider that hangs (a whole answer: for ten times its time), or cuts a whole answer, is left for the next before the client sees anything"
    )
    func hangsAndCuts() async throws {
        try await Self.withTwo(primaryTimeout: 1) { app, primary, _ in
            let token = try await app.login()
            primary.behave(.hang)
            let started = ContinuousClock.now
            let answered = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            let elapsed = ContinuousClock.now - started
            #expect(Self.content(answered) == "from backup")
            // A whole answer's head comes when the model is done: it gets ten times the 1 s.
            #expect(elapsed >= .milliseconds(9_900) && elapsed < .seconds(15), "ten times the primary's 1 s: \(elapsed)")

            // Cool-down over: a cut body also moves on.
            app.runtime.secretary.gateway.health.succeeded(
                try #require(app.runtime.secretary.directory.snapshot.provider(named: "primary")?.record.id)
            )
            primary.behave(.cutAfter(chunks: 1))
            let cut = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(Self.content(cut) == "from backup")

            // A stream whose first byte does not come in time moves on too.
            app.runtime.secretary.gateway.health.succeeded(
                try #require(app.runtime.secretary.directory.snapshot.provider(named: "primary")?.record.id)
            )
            primary.behave(.hang)
            let stream = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi", stream: true))
            #expect(streamedText(eventData(stream.body)) == "from backup")
        }
    }

    @Test("a stream whose head and a comment arrive, then nothing, is left for the next provider when its first-byte time runs out")
    func stallAfterHead() async throws {
        try await Self.withTwo(primaryTimeout: 1) { app, primary, backup in
            let token = try await app.login()
            primary.behave(.stallAfterComment, times: 1)
            let started = ContinuousClock.now
            let answer = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi", stream: true))
            let elapsed = ContinuousClock.now - started
            #expect(answer.status == .ok)
            let data = eventData(answer.body)
            #expect(streamedText(data) == "from backup", "\(data)")
            #expect(data.last == "[DONE]")
            #expect(!String(buffer: answer.body).contains("PROCESSING"), "the comment of the provider that was left is not passed on")
            #expect(!String(buffer: answer.body).contains("\"error\""))
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "left after its 1 s first-byte time: \(elapsed)")
            #expect(backup.calls("chat/completions").count == 1)
        }
    }

    @Test("a whole answer whose head arrives, then half its body and nothing more, is left for the next provider within its time")
    func bodyStall() async throws {
        try await Self.withTwo(primaryTimeout: 1) { app, primary, backup in
            let token = try await app.login()
            primary.behave(.stallBody, times: 1)
            let started = ContinuousClock.now
            let answer = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            let elapsed = ContinuousClock.now - started
            #expect(answer.status == .ok, "\(answer.detail)")
            #expect(String(buffer: answer.body).contains("from backup"))
            #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(10), "left after its 1 s: \(elapsed)")
            #expect(backup.calls("chat/completions").count == 1)
        }
    }

    @Test("a stream cut after it started ends with an error event; nothing from another provider is spliced on")
    func cutStream() async throws {
        try await Self.withTwo(mode: .live) { app, primary, backup in
            let token = try await app.login()
            primary.behave(.cutAfter(chunks: 2))
            let response = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi", stream: true))
            let data = eventData(response.body)
            #expect(data.last?.contains("upstream_stream_cut") == true, "\(data)")
            #expect(!data.contains("[DONE]"))
            #expect(!streamedText(data).contains("backup"))
            #expect(backup.calls("chat/completions").isEmpty, "never continued elsewhere")
            // The usage of a stream is handed to the recorder as its task ends, which may be just
            // after the client has read the last event.
            #expect(try await Self.usageRow(app)?.status == "cut")
        }
    }

    /// The usage row of the one request a test made (waiting for it: a stream's usage reaches
    /// the recorder as its task ends, which may be just after the client read the last event).
    static func usageRow(_ app: TestApp) async throws -> (status: String, prompt: Int64, completion: Int64)? {
        for _ in 0..<100 {
            try await app.runtime.secretary.usage.flush()
            if let row = try await app.runtime.database.sql.raw("SELECT status, prompt_tokens, completion_tokens FROM llm_usage").first() {
                return (
                    try row.decode(column: "status", as: String.self), try row.decode(column: "prompt_tokens", as: Int64.self),
                    try row.decode(column: "completion_tokens", as: Int64.self)
                )
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    @Test("a started stream that falls silent for the provider's time ends with an error event, and its usage is estimated, not zero")
    func stalledStream() async throws {
        try await Self.withTwo(mode: .live, primaryTimeout: 1) { app, primary, backup in
            let token = try await app.login()
            primary.behave(.stallAfter(chunks: 3))
            let started = ContinuousClock.now
            let response = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi", stream: true))
            let elapsed = ContinuousClock.now - started
            let data = eventData(response.body)
            #expect(data.last?.contains("upstream_stream_cut") == true && data.last?.contains("nothing for 1 s") == true, "\(data)")
            #expect(elapsed < .seconds(10), "cut after its 1 s of silence: \(elapsed)")
            #expect(backup.calls("chat/completions").isEmpty, "never continued elsewhere")
            let row = try #require(try await Self.usageRow(app))
            #expect(row.status == "cut" && row.prompt > 0 && row.completion > 0, "\(row)")
        }
    }

    @Test("a stream that closes cleanly before [DONE] and before any finish reason ends with an error event")
    func streamEndsEarly() async throws {
        try await Self.withTwo(mode: .live) { app, primary, _ in
            let token = try await app.login()
            primary.behave(.endAfter(chunks: 2))
            let response = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi", stream: true))
            let data = eventData(response.body)
            #expect(data.last?.contains("upstream_stream_cut") == true, "\(data)")
            #expect(!data.contains("[DONE]"))
            #expect(try await Self.usageRow(app)?.status == "cut")
        }
    }

    @Test("a whole answer that takes longer than the provider's time, but less than ten times it, is waited for, not asked again elsewhere")
    func slowWholeAnswer() async throws {
        try await Self.withTwo(primaryTimeout: 1) { app, primary, backup in
            let token = try await app.login()
            primary.behave(.firstByteDelay(ms: 2_500), times: 1)
            let answered = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "hi"))
            #expect(Self.content(answered) == "from primary")
            #expect(backup.calls("chat/completions").isEmpty, "the answer was not written twice")
        }
    }
}
