import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import SQLKit
import Testing

/// `/v1` against fake OpenAI-compatible upstreams over real HTTP: models, whole and streamed
/// answers, the persona's prompt, failover and cool-down, streams cut half-way, usage.
@Suite("OpenAI-compatible gateway", .timeLimit(.minutes(3)))
struct GatewayTests {
    @Test("models list personas × providers and the providers' models; a persona model gets its prompt; usage is recorded per key")
    func modelsAndChat() async throws {
        let upstream = try await FakeOpenAI.start(models: ["llama-3-8b"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["llama-3-8b"], priority: 1)
            let admin = try await app.login()
            let key = try await app.request(.post, "/api/v1/keys", token: admin, json: #"{"name": "openwebui"}"#)
            let apiKey = try #require(key.json["key"] as? String, "\(String(buffer: key.body))")

            let models = try await app.request(.get, "/v1/models", token: apiKey)
            #expect(models.status == .ok)
            let ids = (models.json["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
            #expect(ids.contains("anna-secretary-vllm") && ids.contains("marina-secretary-vllm") && ids.contains("llama-3-8b"), "\(ids)")
            #expect(!ids.contains { $0.hasPrefix("prompt_writer") }, "the prompt writer is the server's, not a chat model: \(ids)")
            #expect(models.json["object"] as? String == "list")
            let one = try await app.request(.get, "/v1/models/anna-secretary-vllm", token: apiKey)
            #expect(one.json["id"] as? String == "anna-secretary-vllm" && one.json["object"] as? String == "model")
            let none = try await app.request(.get, "/v1/models/gpt-9", token: apiKey)
            #expect(none.status == .notFound && (none.json["error"] as? [String: Any])?["code"] as? String == "model_not_found")

            let answer = try await app.request(.post, "/v1/chat/completions", token: apiKey, json: TestApp.chat("anna-secretary-vllm", "Привет"))
            #expect(answer.status == .ok, "\(String(buffer: answer.body))")
            let choices = try #require(answer.json["choices"] as? [[String: Any]])
            #expect((choices.first?["message"] as? [String: Any])?["content"] as? String == "Echo: Привет")
            let sent = try #require(upstream.calls("chat/completions").last)
            #expect(sent.authorization == "Bearer sk-test-key-000000000001", "the provider's key goes upstream")
            #expect(sent.json["model"] as? String == "llama-3-8b", "the persona model becomes the provider's model")
            let messages = try #require(sent.json["messages"] as? [[String: Any]])
            #expect(messages.first?["role"] as? String == "system")
            #expect((messages.first?["content"] as? String)?.contains("Анна") == true, "Anna's prompt first")

            // The provider's own model: passed as it is, no persona prompt.
            let direct = try await app.request(.post, "/v1/chat/completions", token: admin, json: TestApp.chat("llama-3-8b", "hi"))
            #expect(direct.status == .ok)
            #expect((upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count == 1)

            try await app.runtime.secretary.usage.flush()
            let rows = try await app.runtime.database.sql.raw(
                "SELECT key_id, prompt_tokens, completion_tokens, status FROM llm_usage ORDER BY at"
            ).all()
            #expect(rows.count == 2)
            let usage = try #require(answer.json["usage"] as? [String: Any])
            #expect(try rows[0].decode(column: "prompt_tokens", as: Int64.self) == Int64(usage["prompt_tokens"] as? Int ?? -1))
            #expect(try rows[0].decode(column: "key_id", as: String?.self) != nil, "per key")
            #expect(try rows[1].decode(column: "key_id", as: String?.self) == nil, "a JWT caller has no key")

            let unknown = try await app.request(.post, "/v1/chat/completions", token: apiKey, json: TestApp.chat("gpt-9", "hi"))
            #expect(unknown.status == .notFound)
            let error = try #require(unknown.json["error"] as? [String: Any], "OpenAI's error shape")
            #expect(error["code"] as? String == "model_not_found")
            let anonymous = try await app.request(.post, "/v1/chat/completions", json: TestApp.chat("llama-3-8b", "hi"))
            #expect(anonymous.status == .unauthorized)
            #expect((anonymous.json["error"] as? [String: Any])?["type"] as? String == "authentication_error")
            let bad = try await app.request(.post, "/v1/chat/completions", token: apiKey, json: #"{"model": "llama-3-8b"}"#)
            #expect(bad.status == .unprocessableContent)
            #expect((bad.json["error"] as? [String: Any])?["param"] as? String == "messages")
        }
    }

    @Test("tools and tool calls pass through both ways, whole and streamed, with the client's other fields untouched")
    func toolsPassThrough() async throws {
        let upstream = try await FakeOpenAI.start(models: ["llama-3-8b"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["llama-3-8b"], priority: 1)
            let admin = try await app.login()
            let tools =
                #"[{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]"#
            for stream in [false, true] {
                let body =
                    #"{"model": "llama-3-8b", "messages": [{"role": "user", "content": "Weather in Paris?"}], "tools": \#(tools), "tool_choice": "auto", "parallel_tool_calls": false, "stream": \#(stream)}"#
                let answer = try await app.request(.post, "/v1/chat/completions", token: admin, json: body)
                #expect(answer.status == .ok, "\(String(buffer: answer.body))")
                let sent = try #require(upstream.calls("chat/completions").last?.json)
                #expect((sent["tools"] as? [[String: Any]])?.first?["type"] as? String == "function", "tools reach the upstream")
                #expect(sent["tool_choice"] as? String == "auto" && sent["parallel_tool_calls"] as? Bool == false)
                if stream {
                    let chunks = eventData(answer.body).compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    let calls = chunks.compactMap {
                        (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["tool_calls"] as? [[String: Any]]
                    }
                    #expect((calls.first?.first?["function"] as? [String: Any])?["name"] as? String == "get_weather")
                    let arguments = calls.compactMap { ($0.first?["function"] as? [String: Any])?["arguments"] as? String }.joined()
                    #expect(arguments == OpenAIWire.toolArguments, "the argument pieces arrive in order")
                    #expect(eventData(answer.body).last == "[DONE]")
                } else {
                    let message = try #require((answer.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])
                    let call = try #require((message["tool_calls"] as? [[String: Any]])?.first)
                    #expect((call["function"] as? [String: Any])?["arguments"] as? String == OpenAIWire.toolArguments)
                    #expect((answer.json["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "tool_calls")
                }
            }
        }
    }

    @Test("a stream is passed through event by event; usage is counted, and sent only to a client that asked")
    func streaming() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "one two three four")
        defer { Task { await upstream.stop() } }
        try await TestApp.run(mode: .live) { app in
            try await app.addProvider("up", upstream, models: ["m"], priority: 1)
            let token = try await app.login()
            let plain = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "x", stream: true))
            #expect(plain.status == .ok)
            #expect(plain.headers[.contentType] == "text/event-stream")
            let data = eventData(plain.body)
            #expect(streamedText(data) == "one two three four")
            #expect(data.last == "[DONE]")
            #expect(!data.contains { $0.contains("\"choices\":[]") }, "no usage chunk for a client that did not ask: \(data)")
            #expect(upstream.calls("chat/completions").last.map { ($0.json["stream_options"] as? [String: Any])?["include_usage"] as? Bool } == true)

            let counted = try await app.request(.post, "/v1/chat/completions", token: token, json: TestApp.chat("m", "x", stream: true, usage: true))
            let usageChunk = try #require(eventData(counted.body).first { $0.contains("\"choices\":[]") })
            #expect(usageChunk.contains("completion_tokens"))
            try await app.runtime.secretary.usage.flush()
            let completion = try await app.runtime.database.sql.raw("SELECT CAST(SUM(completion_tokens) AS BIGINT) AS n FROM llm_usage").first()?
                .decode(column: "n", as: Int64.self)
            #expect((completion ?? 0) > 0, "both streams counted")

            // Pass-through, not buffering: with 300 ms between upstream events the first reaches
            // the client long before the last is written.
            upstream.chunkPause = .milliseconds(300)
            let port = try #require(app.client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions")
            request.method = .POST
            request.headers.add(name: "authorization", value: "Bearer \(token)")
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: TestApp.chat("m", "x", stream: true)))
            let started = ContinuousClock.now
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            var arrivals: [Duration] = []
            for try await _ in response.body { arrivals.append(ContinuousClock.now - started) }
            let first = try #require(arrivals.first)
            let last = try #require(arrivals.last)
            #expect(arrivals.count >= 4, "several separate writes: \(arrivals)")
            #expect(last - first >= .milliseconds(900), "events arrive as the upstream sends them: \(arrivals)")
        }
    }
}

/// Per-key limits and the usage summary.
@Suite("Gateway limits and usage", .timeLimit(.minutes(3)))
struct GatewayLimitTests {
    @Test(
        "a key or an account over its requests a minute or its monthly tokens gets OpenAI's 429 with Retry-After; an account's limit covers its keys; usage sums per key"
    )
    func limits() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let alice = try await app.makeUser("alice")
            let created = try await app.request(.post, "/api/v1/keys", token: alice.token, json: #"{"name": "bot"}"#)
            let key = try #require(created.json["key"] as? String)
            let keyID = try #require(created.json["id"] as? String)
            let admin = try await app.login()
            let set = try await app.request(.put, "/admin/llm/limits/\(keyID)", token: admin, json: #"{"requests_per_minute": 2}"#)
            #expect(set.status == .ok, "\(String(buffer: set.body))")
            #expect(try await app.request(.put, "/admin/llm/limits/\(keyID)", token: alice.token, json: "{}").status == .forbidden)
            let read = try await app.request(.get, "/admin/llm/limits/\(keyID)", token: alice.token)
            #expect(read.status == .ok && read.json["requests_per_minute"] as? Int == 2 && read.json["monthly_tokens"] is NSNull, "\(read.json)")
            let stranger = try await app.makeUser("eve")
            #expect(try await app.request(.get, "/admin/llm/limits/\(keyID)", token: stranger.token).status == .notFound, "another owner's key")

            for _ in 0..<2 {
                #expect(try await app.request(.post, "/v1/chat/completions", token: key, json: TestApp.chat("m", "hi")).status == .ok)
            }
            let limited = try await app.request(.post, "/v1/chat/completions", token: key, json: TestApp.chat("m", "hi"))
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
            #expect((limited.json["error"] as? [String: Any])?["type"] as? String == "rate_limit_error")
            #expect(upstream.calls("chat/completions").count == 2, "refused before any upstream call")
            #expect(
                try await app.request(.post, "/v1/chat/completions", token: alice.token, json: TestApp.chat("m", "hi")).status == .ok,
                "her JWT is not that key"
            )

            // A token budget: the two answers above used more than 5 tokens.
            _ = try await app.request(.put, "/admin/llm/limits/\(keyID)", token: admin, json: #"{"monthly_tokens": 5}"#)
            let over = try await app.request(.post, "/v1/chat/completions", token: key, json: TestApp.chat("m", "hi"))
            #expect(over.status == .tooManyRequests)
            #expect(((over.json["error"] as? [String: Any])?["message"] as? String)?.contains("tokens") == true)

            let usage = try await app.request(.get, "/admin/llm/usage", token: alice.token)
            let lines = try #require(usage.json["items"] as? [[String: Any]])
            let keyLine = try #require(lines.first { $0["key_id"] as? String == keyID })
            #expect(keyLine["requests"] as? Int == 2)
            #expect((keyLine["prompt_tokens"] as? Int ?? 0) > 0)
            let bob = try await app.makeUser("bob")
            #expect((try await app.request(.get, "/admin/llm/usage", token: bob.token).json["items"] as? [Any])?.isEmpty == true)

            // An account's limit covers its JWT and every key it makes: a new key is no way around it.
            let limited2 = try await app.request(.put, "/admin/llm/limits/\(alice.id)", token: admin, json: #"{"requests_per_minute": 1}"#)
            #expect(limited2.status == .ok)
            let fresh = try await app.request(.post, "/api/v1/keys", token: alice.token, json: #"{"name": "another"}"#)
            let freshKey = try #require(fresh.json["key"] as? String)
            #expect(try await app.request(.post, "/v1/chat/completions", token: freshKey, json: TestApp.chat("m", "hi")).status == .ok)
            let second = try await app.request(.post, "/v1/chat/completions", token: alice.token, json: TestApp.chat("m", "hi"))
            #expect(second.status == .tooManyRequests)
            #expect(((second.json["error"] as? [String: Any])?["message"] as? String)?.contains("this account") == true)
            let third = try await app.request(.post, "/api/v1/keys", token: alice.token, json: #"{"name": "third"}"#)
            let thirdKey = try #require(third.json["key"] as? String)
            #expect(try await app.request(.post, "/v1/chat/completions", token: thirdKey, json: TestApp.chat("m", "hi")).status == .tooManyRequests)
            #expect(try await app.request(.post, "/v1/chat/completions", token: bob.token, json: TestApp.chat("m", "hi")).status == .ok)
        }
    }
}
