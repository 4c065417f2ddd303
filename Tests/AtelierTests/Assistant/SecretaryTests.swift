import Assistant
import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SQLKit
import Testing

/// Seed 004's `/chat` and `/reset_conversation`, the admin panel's sessions and its SSE chat:
/// conversations remembered per owner and persona, trimmed to the context, and isolated.
@Suite("Secretary conversations", .timeLimit(.minutes(3)))
struct SecretaryTests {
    @Test("/chat answers in the seed's shape and remembers the conversation; /reset_conversation forgets it with the seed's answer")
    func chatAndReset() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let alice = try await app.makeUser("alice")
            let first = try await app.request(.post, "/chat", token: alice.token, json: #"{"message": "Привет", "persona": "anna"}"#)
            #expect(first.status == .ok, "\(String(buffer: first.body))")
            #expect(first.json["response"] as? String == "Echo: Привет")
            _ = try await app.request(.post, "/chat", token: alice.token, json: #"{"message": "Как дела?", "persona": "anna"}"#)
            let sent = try #require(upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])
            #expect(sent.map { $0["role"] as? String ?? "" } == ["system", "user", "assistant", "user"], "the conversation so far: \(sent)")
            #expect((sent.first?["content"] as? String)?.contains("Анна") == true)

            // Her phone conversation (/process_call) is forgotten with the chat.
            let sessions = app.runtime.secretary.secretary.sessions
            let call = try await sessions.current(owner: alice.id, persona: "anna", source: "call", now: 1)
            try await sessions.append(session: call.id, role: "user", content: "по телефону", now: 2)

            let reset = try await app.request(.post, "/reset_conversation", token: alice.token)
            #expect(try await sessions.messages(session: call.id, limit: 10).isEmpty, "the call's conversation is forgotten too")
            #expect(reset.status == .ok)
            #expect(reset.json["status"] as? String == "ok")
            #expect(reset.json["message"] as? String == "Контекст сброшен")
            _ = try await app.request(.post, "/chat", token: alice.token, json: #"{"message": "Снова", "persona": "anna"}"#)
            #expect((upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count == 2, "forgotten")

            // A persona added later, first by name, does not replace anna as the default.
            let admin = try await app.login()
            let alex = #"{"name": "alex", "display_name": "Alex", "system_prompt": "You are Alex.", "voice": "anna_en", "language": "en"}"#
            #expect(try await app.request(.post, "/admin/personas", token: admin, json: alex).status == .created)
            _ = try await app.request(.post, "/chat", token: alice.token, json: #"{"message": "Кто вы?"}"#)
            let defaultPrompt = (upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.first?["content"] as? String
            #expect(defaultPrompt?.contains("Анна") == true, "\(defaultPrompt ?? "")")

            // Marina's conversation is another one; an unknown persona is a 422 naming the known.
            _ = try await app.request(.post, "/chat", token: alice.token, json: #"{"message": "Hi", "persona": "marina"}"#)
            #expect((upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])?.count == 2)
            let unknown = try await app.request(.post, "/chat", token: alice.token, json: #"{"message": "Hi", "persona": "olga"}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(unknown.detail.contains("anna"))
            #expect(try await app.request(.post, "/chat", json: #"{"message": "Hi"}"#).status == .unauthorized)
        }
    }

    @Test("a long conversation is trimmed to the context: the newest messages that fit are sent")
    func trimming() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "ok")
        defer { Task { await upstream.stop() } }
        try await TestApp.run(["ATELIER_ASSISTANT_CONTEXT_TOKENS": "2000"]) { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let token = try await app.login()
            let long = String(repeating: "слово ", count: 200)  // about 400 tokens by the estimate
            for index in 0..<6 {
                let answer = try await app.request(.post, "/chat", token: token, json: #"{"message": "\#(index) \#(long)"}"#)
                #expect(answer.status == .ok)
            }
            let sent = try #require(upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])
            let texts = sent.compactMap { $0["content"] as? String }
            #expect(texts.last?.hasPrefix("5 ") == true, "the new message is always sent")
            #expect(!texts.contains { $0.hasPrefix("0 ") }, "the oldest fell out")
            #expect(sent.count < 12, "trimmed: \(sent.count) messages")
        }
    }

    @Test("a provider's context_tokens trims the conversation to its window; 0 goes back to the installation's")
    func providerContext() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "ok")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            let id = try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let token = try await app.login()
            let small = try await app.request(.patch, "/admin/llm/providers/\(id)", token: token, json: #"{"context_tokens": 2000}"#)
            #expect(small.status == .ok, "\(small.detail)")
            #expect(small.json["context_tokens"] as? Int == 2000)
            let bad = try await app.request(.patch, "/admin/llm/providers/\(id)", token: token, json: #"{"context_tokens": 5}"#)
            #expect(bad.status == .unprocessableContent && bad.detail.contains("context_tokens"))
            let long = String(repeating: "слово ", count: 200)  // about 400 tokens by the estimate
            func sent(_ index: Int) async throws -> [String] {
                #expect(try await app.request(.post, "/chat", token: token, json: #"{"message": "\#(index) \#(long)"}"#).status == .ok)
                let messages = try #require(upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])
                return messages.compactMap { $0["content"] as? String }
            }
            for index in 0..<5 { _ = try await sent(index) }
            #expect(!(try await sent(5)).contains { $0.hasPrefix("0 ") }, "the oldest fell out of a 2000-token window")
            // Back to the installation's 8192 tokens: the whole conversation fits again.
            _ = try await app.request(.patch, "/admin/llm/providers/\(id)", token: token, json: #"{"context_tokens": 0}"#)
            #expect(try await sent(6).contains { $0.hasPrefix("0 ") })
        }
    }

    @Test("sessions are owned: another user's is 404, guests read only; /admin/chat/stream speaks the seed's SSE and stores the turn")
    func sessionsAndStream() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "Добрый день, чем помочь?")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let alice = try await app.makeUser("alice")
            let bob = try await app.makeUser("bob")
            let guest = try await app.makeUser("gus", role: .guest)
            let created = try await app.request(.post, "/admin/chat/sessions", token: alice.token, json: #"{"persona": "marina", "title": "Заявки"}"#)
            #expect(created.status == .created)
            let id = try #require(created.json["id"] as? String)

            let streamed = try await app.request(
                .post,
                "/admin/chat/stream",
                token: alice.token,
                json: #"{"session_id": "\#(id)", "message": "Здравствуйте"}"#
            )
            #expect(streamed.status == .ok)
            let data = eventData(streamed.body)
            #expect(data.last == "[DONE]")
            let pieces = data.dropLast().compactMap { item in
                (try? JSONSerialization.jsonObject(with: Data(item.utf8)) as? [String: Any])?["message"] as? String
            }
            #expect(pieces.joined() == "Добрый день, чем помочь?", "\(data)")
            let session = try await app.request(.get, "/admin/chat/sessions/\(id)", token: alice.token)
            let messages = try #require(session.json["messages"] as? [[String: Any]])
            #expect(messages.map { $0["role"] as? String ?? "" } == ["user", "assistant"])

            // The seed's GET form, with the message in the query (as EventSource can only GET).
            let query = "message=\("Ещё вопрос".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")&session_id=\(id)"
            let viaGet = try await app.request(.get, "/admin/chat/stream?\(query)", token: alice.token)
            #expect(viaGet.status == .ok)
            #expect(viaGet.headers[.contentType]?.hasPrefix("text/event-stream") == true)
            #expect(eventData(viaGet.body).last == "[DONE]")
            let afterGet = try await app.request(.get, "/admin/chat/sessions/\(id)", token: alice.token)
            #expect((afterGet.json["messages"] as? [[String: Any]])?.count == 4, "the GET turn is stored too")
            #expect(try await app.request(.get, "/admin/chat/stream?session_id=\(id)", token: alice.token).status == .unprocessableContent)
            #expect(try await app.request(.get, "/admin/chat/stream?\(query)").status == .unauthorized)
            #expect(try await app.request(.get, "/admin/chat/stream?\(query)", token: guest.token).status == .forbidden)

            #expect(try await app.request(.get, "/admin/chat/sessions/\(id)", token: bob.token).status == .notFound)
            #expect(try await app.request(.delete, "/admin/chat/sessions/\(id)", token: bob.token).status == .notFound)
            #expect(
                try await app.request(.post, "/admin/chat/stream", token: bob.token, json: #"{"session_id": "\#(id)", "message": "x"}"#).status
                    == .notFound
            )
            #expect(try await app.request(.post, "/admin/chat/sessions", token: guest.token, json: #"{}"#).status == .forbidden)
            #expect(try await app.request(.get, "/admin/chat/sessions", token: guest.token).status == .ok)
            let admin = try await app.request(.get, "/admin/chat/sessions", token: try await app.login())
            #expect((admin.json["items"] as? [Any])?.count == 1, "an admin sees every owner's sessions")
            let renamed = try await app.request(.put, "/admin/chat/sessions/\(id)", token: alice.token, json: #"{"title": "Лиды"}"#)
            #expect(renamed.json["title"] as? String == "Лиды")
            #expect(try await app.request(.delete, "/admin/chat/sessions/\(id)", token: alice.token).status == .noContent)
        }
    }

    /// The files of the speech cache (synthesised answers).
    static func speechCache(_ app: TestApp) -> Set<String> {
        let cache = (app.runtime.config.dataDir as NSString).appendingPathComponent("speech-cache")
        return Set(((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []).filter { !$0.hasPrefix(".") })
    }

    @Test("a /chat answer is spoken into the cache in the background, in the persona's voice")
    func backgroundSynthesis() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "Добрый день")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let token = try await app.login()
            let answer = try await app.request(.post, "/chat", token: token, json: #"{"message": "Привет"}"#)
            #expect(answer.json["response"] as? String == "Добрый день")
            try await waitUntil("the answer's audio in the cache", timeout: .seconds(20)) { !Self.speechCache(app).isEmpty }
        }
    }

    @Test(
        "a /v1 answer of a persona model is spoken into the cache too, streamed or not, and /v1/audio/speech takes it from there; another model's is not"
    )
    func backgroundSynthesisOnV1() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "Добрый день")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let token = try await app.login()
            @Sendable func files() -> Set<String> { Self.speechCache(app) }
            func ask(_ model: String, stream: Bool) async throws -> String {
                let answer = try await app.request(
                    .post,
                    "/v1/chat/completions",
                    token: token,
                    json: #"{"model": "\#(model)", "stream": \#(stream), "messages": [{"role": "user", "content": "Привет"}]}"#
                )
                #expect(answer.status == .ok, "\(answer.detail)")
                return String(buffer: answer.body)
            }
            // A provider's own model: passed through, nothing spoken.
            #expect(try await ask("m", stream: true).contains("[DONE]"))
            #expect(try await ask("m", stream: false).contains("Добрый день"))
            // anna, streamed: her voice says the whole answer once the stream has ended.
            #expect(try await ask("anna-secretary-vllm", stream: true).contains("[DONE]"))
            try await waitUntil("anna's audio in the cache", timeout: .seconds(20)) { files().count == 1 }
            // marina, not streamed: her voice, a second file.
            #expect(try await ask("marina-secretary-vllm", stream: false).contains("Добрый день"))
            try await waitUntil("marina's audio in the cache", timeout: .seconds(20)) { files().count == 2 }
            let before = files()
            // The client asks for the audio of anna's answer: the cached file, nothing new made.
            let speech = try await app.request(
                .post,
                "/v1/audio/speech",
                token: token,
                json: #"{"model": "tts-1", "input": "Добрый день", "voice": "anna_ru", "response_format": "wav"}"#
            )
            #expect(speech.status == .ok, "\(speech.detail)")
            #expect(files() == before, "served from the cache")
        }
    }

    @Test(
        "a streamed persona answer is spoken sentence by sentence while it streams; at the end the whole is in the cache, the sentences joined",
        .enabled(if: EspeakSynthesizer.isAvailable(), "needs espeak-ng")
    )
    func speaksWhileStreaming() async throws {
        let text = "Good morning. How can I help you today? I am here for you."
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: text)
        upstream.chunkPause = .milliseconds(300)
        defer { Task { await upstream.stop() } }
        try await TestApp.run(mode: .live) { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let token = try await app.login()
            let speech = app.runtime.secretary.speech
            let voice = try #require(VoiceCatalog.find("anna_ru"))
            let sentences = ["Good morning.", "How can I help you today?", "I am here for you."]
            let keys = sentences.map { speech.cacheKey(text: $0, voice: voice, speed: nil) }
            let port = try #require(app.client.port)
            let streamed = Task {
                var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/chat/completions")
                request.method = .POST
                request.headers.add(name: "authorization", value: "Bearer \(token)")
                request.headers.add(name: "content-type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: TestApp.chat("anna-secretary-vllm", "Привет", stream: true)))
                let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
                var body = ""
                for try await chunk in response.body { body += String(buffer: chunk) }
                return (body, ContinuousClock.now)
            }
            // The first sentence is spoken while the rest (about three seconds of it) still streams.
            try await waitUntil("the first sentence spoken", timeout: .seconds(20)) { await speech.cache.get(keys[0]) != nil }
            let spokenAt = ContinuousClock.now
            let (body, endedAt) = try await streamed.value
            #expect(body.contains("[DONE]"))
            #expect(endedAt - spokenAt > .milliseconds(500), "the first sentence was spoken only as the stream ended")

            let wholeKey = speech.cacheKey(text: text, voice: voice, speed: nil)
            try await waitUntil("the whole answer in the cache", timeout: .seconds(20)) { await speech.cache.get(wholeKey) != nil }
            var parts = 0.0
            for key in keys { parts += try WAVAudio.parse(try #require(await speech.cache.get(key))).duration }
            let whole = try WAVAudio.parse(try #require(await speech.cache.get(wholeKey))).duration
            #expect(abs(whole - parts) < 0.01, "the whole is its sentences joined: \(whole) s, sentences \(parts) s")
        }
    }
}
