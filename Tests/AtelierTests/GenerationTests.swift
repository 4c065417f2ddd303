import AtelierApp
import Atomics
import CompressNIO
import Core
import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SQLKit
import Storage
import Testing

@testable import Generation

@Suite("Generation queue, mock backend and seed 001's RunPod routes", .timeLimit(.minutes(5)))
struct GenerationTests {
    static func waitFor(
        _ app: TestApp,
        _ id: String,
        token: String? = nil,
        states: Set<String> = ["success", "failed", "cancelled"]
    ) async throws -> [String: Any] {
        for _ in 0..<400 {
            let status = try await app.request(.get, "/api/v1/runpod/status/\(id)", token: token)
            if states.contains(status.json["status"] as? String ?? "") { return status.json }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("generation \(id) did not reach \(states)")
        return [:]
    }

    @Test("seed 001: generate answers with a task id; status reaches success with an image URL that serves a PNG")
    func generateAndStatus() async throws {
        try await TestApp.run { app in
            let started = try await app.request(
                .post,
                "/api/v1/runpod/generate",
                json: """
                    {"prompt": "beautiful anime girl with blue hair, detailed eyes", "width": 832, "height": 1216, "steps": 30, "use_enhanced_prompts": true}
                    """
            )
            #expect(started.status == .ok)
            #expect(started.json["status"] as? String == "pending")
            #expect((started.json["message"] as? String)?.contains("/status/") == true)
            #expect(started.headers[.contentType] == "application/json; charset=utf-8")
            let id = try #require(started.json["task_id"] as? String)
            let done = try await Self.waitFor(app, id)
            #expect(done["status"] as? String == "success")
            let result = try #require(done["result"] as? [String: Any])
            #expect(result["success"] as? Bool == true)
            #expect(result["width"] as? Int == 832 && result["height"] as? Int == 1216 && result["steps"] as? Int == 30)
            #expect(result["prompt"] as? String == "beautiful anime girl with blue hair, detailed eyes")
            let url = try #require(result["image_url"] as? String)
            let image = try await app.request(.get, url)
            #expect(image.status == .ok)
            #expect(image.headers[.contentType] == "image/png")
            #expect(Array(Data(buffer: image.body).prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        }
    }

    @Test("the same prompt and seed give the same image; batches make one task per prompt")
    func deterministicAndBatch() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "0"]) { app in
            var urls: [String] = []
            for _ in 0..<2 {
                let started = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "a red fox", "seed": 42}"#)
                let done = try await Self.waitFor(app, try #require(started.json["task_id"] as? String))
                urls.append(try #require((done["result"] as? [String: Any])?["image_url"] as? String))
            }
            #expect(urls[0] == urls[1])
            let batch = try await app.request(
                .post,
                "/api/v1/runpod/generate/batch",
                json:
                    #"{"prompts": ["anime girl with blue hair", "anime girl with red hair", "anime girl with green hair"], "width": 832, "height": 1216, "steps": 30}"#
            )
            let ids = try #require(batch.json["task_ids"] as? [String])
            #expect(ids.count == 3)
            #expect(batch.json["count"] as? Int == 3 && batch.json["status"] as? String == "pending")
            #expect((batch.json["message"] as? String)?.contains("/status/") == true)
            #expect(batch.headers[.contentType] == "application/json; charset=utf-8")
            var images = Set<String>()
            for id in ids {
                let done = try await Self.waitFor(app, id)
                #expect(done["status"] as? String == "success")
                images.insert((done["result"] as? [String: Any])?["image_url"] as? String ?? "")
            }
            #expect(images.count == 3)
        }
    }

    @Test("bad input names the field; the hourly limit answers 429 with Retry-After")
    func validationAndLimit() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "2"]) { app in
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "  "}"#).detail.hasPrefix("prompt"))
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x", "width": 833}"#).detail.hasPrefix("width"))
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x", "steps": 0}"#).detail.hasPrefix("steps"))
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"width": 512}"#).status == .unprocessableContent)
            let emptyBatch = try await app.request(.post, "/api/v1/runpod/generate/batch", json: #"{"prompts": ["ok", ""]}"#)
            #expect(emptyBatch.detail.hasPrefix("prompts[1]"))
            // Values PostgreSQL cannot store (NUL) or index (a key of kilobytes) are named, never
            // a 500, on every generation route; the path's NUL is caught under the routes.
            let nul = "\\u0000"
            for (path, body, field) in [
                ("/api/v1/runpod/generate", #"{"prompt": "x", "model": "a\#(nul)"}"#, "model"),
                ("/api/v1/generations", #"{"prompt": "x", "loras": [{"name": "l\#(nul)"}]}"#, "loras[0].name"),
                ("/generate", #"{"prompt": "x", "model": "a\#(nul)"}"#, "model"),
            ] {
                let refused = try await app.request(.post, path, json: body)
                #expect(refused.status == .unprocessableContent && refused.detail.hasPrefix(field), "\(path): \(refused.detail)")
            }
            let longKey: HTTPFields = [HTTPField.Name("Idempotency-Key")!: String(repeating: "k", count: 3000)]
            let refusedKey = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x"}"#, headers: longKey)
            #expect(refusedKey.status == .unprocessableContent && refusedKey.detail.hasPrefix("Idempotency-Key"))
            #expect(try await app.request(.get, "/api/v1/runpod/status/gen_%00").status.code < 500)
            for _ in 0..<2 {
                #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "one"}"#).status == .ok)
            }
            let limited = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "three"}"#)
            #expect(limited.status == .tooManyRequests)
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 3000 && retryAfter <= 3601)
        }
    }

    @Test("a burst of concurrent requests cannot overshoot the hourly limit; a replayed idempotency key still answers")
    func limitUnderBurst() async throws {
        try await TestApp.run(["ATELIER_GENERATIONS_PER_HOUR": "5"]) { app in
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "first"]
            let keyed = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "keyed"}"#, headers: key)
            #expect(keyed.status == .ok)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<20 {
                    group.addTask { try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "burst \#(index)"}"#).status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .ok }.count == 4)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 16)
            let replay = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "keyed"}"#, headers: key)
            #expect(replay.status == .ok)
            #expect(replay.json["task_id"] as? String == keyed.json["task_id"] as? String)
            let batch = try await app.request(.post, "/api/v1/runpod/generate/batch", json: #"{"prompts": ["a", "b", "c", "d", "e", "f"]}"#)
            #expect(batch.status == .tooManyRequests)
            #expect(batch.detail.contains("asks for 6"))
        }
    }

    @Test("with ATELIER_AUTH_REQUIRED the routes need credentials; jobs are their owner's")
    func authAndOwnership() async throws {
        try await TestApp.run(["ATELIER_AUTH_REQUIRED": "true"]) { app in
            #expect(try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "x"}"#).status == .unauthorized)
            let (_, alice) = try await app.makeUser("alice")
            let (_, bob) = try await app.makeUser("bob")
            let started = try await app.request(.post, "/api/v1/runpod/generate", token: alice, json: #"{"prompt": "alice's"}"#)
            let id = try #require(started.json["task_id"] as? String)
            #expect(try await app.request(.get, "/api/v1/runpod/status/\(id)", token: bob).status == .notFound)
            #expect(try await app.request(.delete, "/api/v1/runpod/cancel/\(id)", token: bob).status == .notFound)
            #expect(try await app.request(.get, "/api/v1/generations/\(id)", token: alice).status == .ok)
            let admin = try await app.login()
            #expect(try await app.request(.get, "/api/v1/generations/\(id)", token: admin).status == .ok)
            // A guest account reads but neither starts nor cancels generations, on any route.
            let (_, guest) = try await app.makeUser("visitor", role: .guest)
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/api/v1/runpod/generate", #"{"prompt": "x"}"#),
                (.post, "/api/v1/runpod/generate/batch", #"{"prompts": ["x"]}"#),
                (.post, "/api/v1/generations", #"{"prompt": "x"}"#),
                (.post, "/generate", #"{"prompt": "x", "model": "m"}"#),
                (.delete, "/api/v1/runpod/cancel/\(id)", nil), (.delete, "/api/v1/generations/\(id)", nil),
            ] {
                let refused = try await app.request(method, path, token: guest, json: body)
                #expect(refused.status == .forbidden, "\(method) \(path): \(refused.status)")
            }
            #expect(try await app.request(.get, "/api/v1/generations", token: guest).status == .ok)
        }
    }

    @Test("cancel works while pending or running, and a second cancel is 409")
    func cancel() async throws {
        try await TestApp.run(["ATELIER_MOCK_DELAY_MS": "3000"]) { app in
            let started = try await app.request(.post, "/api/v1/runpod/generate", json: #"{"prompt": "slow"}"#)
            let id = try #require(started.json["task_id"] as? String)
            _ = try await Self.waitFor(app, id, states: ["started"])
            let cancelled = try await app.request(.delete, "/api/v1/runpod/cancel/\(id)")
            #expect(cancelled.json["status"] as? String == "cancelled")
            #expect(try await app.request(.delete, "/api/v1/runpod/cancel/\(id)").status == .conflict)
            let stats = try await app.request(.get, "/api/v1/runpod/queue/stats")
            #expect(stats.json["active_tasks"] as? Int == 0)
            #expect(stats.json["workers"] as? [String] == ["mock@mock"])
            #expect(stats.json["reserved_tasks"] as? Int == 0)
            #expect(stats.json["scheduled_tasks"] as? Int == 0)
            #expect(try await app.request(.post, "/api/v1/runpod/test").json["success"] as? Bool == true)
        }
    }

    @Test("native API: 202, Idempotency-Key, events end with done")
    func nativeAPI() async throws {
        try await TestApp.run { app in
            let token = try await app.login()
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "gen-1"]
            let first = try await app.request(.post, "/api/v1/generations", token: token, json: #"{"prompt": "a cat"}"#, headers: key)
            #expect(first.status == .accepted)
            let again = try await app.request(.post, "/api/v1/generations", token: token, json: #"{"prompt": "a cat"}"#, headers: key)
            let id = try #require(first.json["id"] as? String)
            #expect(again.json["id"] as? String == id)
            // An empty key, which some clients send when none is set, is no key.
            let unkeyed: HTTPFields = [HTTPField.Name("Idempotency-Key")!: ""]
            let plain = try await app.request(.post, "/api/v1/generations", token: token, json: #"{"prompt": "a cat"}"#, headers: unkeyed)
            #expect(plain.status == .accepted && plain.json["id"] as? String != id)
            let events = try await app.request(.get, "/api/v1/generations/\(id)/events", token: token)
            #expect(String(buffer: events.body).contains("event: done"))
            let job = try await app.request(.get, "/api/v1/generations/\(id)", token: token)
            #expect(job.json["status"] as? String == "success")
            #expect(((job.json["result"] as? [String: Any])?["image_urls"] as? [String])?.count == 1)
        }
    }

    @Test("a job whose worker died runs again once its lease expires")
    func reclaimsExpiredLease() async throws {
        try await TestApp.run { app in
            let now = Timestamp.millis(Date())
            let params = String(decoding: try JSONEncoder().encode(GenerationParams(prompt: "orphan")), as: UTF8.self)
            try await app.runtime.database.sql.raw(
                """
                INSERT INTO jobs (id, owner_id, kind, params, state, priority, attempt, max_attempts, run_after, lease_holder, lease_expires_at, created_at, updated_at, started_at)
                VALUES ('gen_orphan', 'guest:unknown', 'txt2img', \(bind: params), 'started', 0, 1, 3, \(bind: now), 'wrk_dead', \(bind: now - 1000), \(bind: now), \(bind: now), \(bind: now))
                """
            ).run()
            _ = try await app.runtime.generation.store.reapNow()
            await app.runtime.generation.pool.notify()
            let done = try await Self.waitFor(app, "gen_orphan")
            #expect(done["status"] as? String == "success")
            let job = try await app.runtime.generation.store.find(id: "gen_orphan")
            #expect(job?.attempt == 2)
        }
    }
}
