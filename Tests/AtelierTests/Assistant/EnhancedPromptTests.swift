import Foundation
import HTTPTypes
import Testing

/// Seed 001's `use_enhanced_prompts: true` through the prompt-writer persona; `/health` with the
/// seed's `services` and `llm_backend`.
@Suite("Prompt enhancement and health", .timeLimit(.minutes(3)))
struct EnhancedPromptTests {
    @Test("with no provider the prompt is kept and the answer says so; with one, the job gets the written prompt")
    func enhancement() async throws {
        let upstream = try await FakeOpenAI.start(
            models: ["m"],
            apiKey: "sk-test-key-000000000001",
            answer: "\"anime girl, long blue hair, detailed eyes, soft light, masterpiece\""
        )
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            let token = try await app.login()
            let body = #"{"prompt": "anime girl with blue hair", "width": 512, "height": 512, "steps": 4, "use_enhanced_prompts": true}"#
            let kept = try await app.request(.post, "/api/v1/runpod/generate", token: token, json: body)
            #expect(kept.status == .ok)
            #expect((kept.json["message"] as? String)?.contains("no LLM provider is configured") == true, "\(kept.json)")
            let keptID = try #require(kept.json["task_id"] as? String)
            let keptJob = try await app.request(.get, "/api/v1/generations/\(keptID)", token: token)
            #expect(((keptJob.json["params"] as? [String: Any])?["prompt"] as? String) == "anime girl with blue hair")

            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let enhanced = try await app.request(.post, "/api/v1/runpod/generate", token: token, json: body)
            #expect(enhanced.json["message"] as? String == "Image generation started. Use /status/{task_id} to check progress.")
            let id = try #require(enhanced.json["task_id"] as? String)
            let job = try await app.request(.get, "/api/v1/generations/\(id)", token: token)
            #expect(
                ((job.json["params"] as? [String: Any])?["prompt"] as? String)
                    == "anime girl, long blue hair, detailed eyes, soft light, masterpiece",
                "the written prompt, unquoted: \(job.json)"
            )
            let asked = try #require(upstream.calls("chat/completions").last?.json["messages"] as? [[String: Any]])
            #expect((asked.first?["content"] as? String)?.contains("Stable Diffusion") == true, "the prompt writer's instructions")
            #expect(asked.last?["content"] as? String == "anime girl with blue hair")

            // Without the flag nothing is asked of the LLM.
            let before = upstream.calls("chat/completions").count
            _ = try await app.request(.post, "/api/v1/runpod/generate", token: token, json: #"{"prompt": "a cat", "steps": 4}"#)
            #expect(upstream.calls("chat/completions").count == before)

            // The LLM failing keeps the prompt and says why.
            upstream.behave(.status(500))
            let failed = try await app.request(.post, "/api/v1/runpod/generate", token: token, json: body)
            #expect(failed.status == .ok)
            #expect((failed.json["message"] as? String)?.contains("the LLM failed") == true, "\(failed.json)")
        }
    }

    @Test("no LLM call for a caller without credentials, nor for a request the hourly limit refuses")
    func enhancementIsNotFree() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "a richer prompt")
        defer { Task { await upstream.stop() } }
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "3"]) { app in
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let body = #"{"prompt": "a cat", "steps": 4, "use_enhanced_prompts": true}"#
            let anonymous = try await app.request(.post, "/api/v1/runpod/generate", json: body)
            #expect(anonymous.status == .ok, "\(anonymous.json)")
            #expect((anonymous.json["message"] as? String)?.contains("needs credentials") == true, "\(anonymous.json)")
            #expect(upstream.calls("chat/completions").isEmpty, "an anonymous caller spent the operator's LLM")

            let alice = try await app.makeUser("alice")
            let batch = #"{"prompts": ["a", "b", "c", "d"], "steps": 4, "use_enhanced_prompts": true}"#
            let refused = try await app.request(.post, "/api/v1/runpod/generate/batch", token: alice.token, json: batch)
            #expect(refused.status == .tooManyRequests, "\(refused.json)")
            #expect(upstream.calls("chat/completions").isEmpty, "a request over the hourly limit was enhanced first")
            let fits = try await app.request(.post, "/api/v1/runpod/generate", token: alice.token, json: body)
            #expect(fits.status == .ok)
            #expect(upstream.calls("chat/completions").count == 1)

            // A batch that fills the hour, then its retry with the same Idempotency-Key: the same
            // jobs back, no 429 and no second round of LLM calls.
            let pair = #"{"prompts": ["a", "b"], "steps": 4, "use_enhanced_prompts": true}"#
            let keyed: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "batch-1"]
            let first = try await app.request(.post, "/api/v1/runpod/generate/batch", token: alice.token, json: pair, headers: keyed)
            #expect(first.status == .ok, "\(first.detail)")
            #expect(upstream.calls("chat/completions").count == 3)
            let replay = try await app.request(.post, "/api/v1/runpod/generate/batch", token: alice.token, json: pair, headers: keyed)
            #expect(replay.status == .ok, "\(replay.detail)")
            #expect(replay.json["task_ids"] as? [String] == first.json["task_ids"] as? [String])
            #expect(upstream.calls("chat/completions").count == 3, "a replay is not enhanced again")
        }
    }

    @Test("/health has the seed's services (tts, stt, llm), database and llm_backend")
    func health() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            let before = try await app.request(.get, "/health")
            #expect((before.json["services"] as? [String: Any])?["llm"] as? String == "not configured")
            #expect(before.json.keys.contains("llm_backend"))
            try await app.addProvider("vllm", upstream, models: ["m"], priority: 1)
            let health = try await app.request(.get, "/health")
            #expect(health.json["status"] as? String == "healthy")
            #expect(health.json["database"] as? String == "connected")
            #expect(health.json["llm_backend"] as? String == "vllm")
            let services = try #require(health.json["services"] as? [String: String])
            #expect(services["llm"] == "running")
            #expect(services["tts"] != nil && services["stt"] != nil, "\(services)")
        }
    }
}
