import Foundation
import Testing

/// Seed 001's `/api/v1/runpod/test` and `/queue/stats` with several processes on one database:
/// they answer from the workers table, not from the workers the answering process holds.
@Suite("RunPod compat: test and queue stats across processes", .timeLimit(.minutes(5)))
struct RunPodWorkersTests {
    static let settings = BackendTests.fast.merging(["ATELIER_ALLOW_PRIVATE_HOSTS": "true"]) { $1 }

    @Test("a second runtime on the database reports and tests the worker the first one holds, with the row's token")
    func workerHeldElsewhere() async throws {
        let fake = try await FakeA1111.start()
        defer { Task { await fake.stop() } }
        let installation = try TestApp.freshInstallation()
        let result = await Result {
            try await TestApp.run(installation: installation, Self.settings) { first in
                let token = try await first.login()
                let id = try await BackendTests.onlyWorker(
                    first,
                    token,
                    #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)", "token": "webui:secret-pass"}"#
                )
                try await TestApp.run(installation: installation, Self.settings) { second in
                    // The first runtime keeps the lease, so the second never runs the worker.
                    #expect(first.runtime.generation.pool.isRunning(id))
                    #expect(!second.runtime.generation.pool.isRunning(id))
                    #expect(second.runtime.generation.pool.runningBackends.isEmpty)

                    let stats = try await second.request(.get, "/api/v1/runpod/queue/stats")
                    #expect(stats.status == .ok)
                    #expect(stats.json["workers"] as? [String] == ["a1111@gpu-1"])

                    let checksBefore = fake.script.withLockedValue { $0.requests.filter { $0.path == "/sdapi/v1/options" }.count }
                    let test = try await second.request(.post, "/api/v1/runpod/test")
                    #expect(test.status == .ok)
                    #expect(test.json["success"] as? Bool == true, "\(String(buffer: test.body))")
                    #expect(test.json["backend"] as? String == "a1111@gpu-1")
                    // The check reached the backend, with the credentials sealed in the row.
                    let checks = fake.script.withLockedValue { $0.requests.filter { $0.path == "/sdapi/v1/options" } }
                    #expect(checks.count > checksBefore)
                    #expect(checks.last?.authorization == "Basic \(Data("webui:secret-pass".utf8).base64EncodedString())")
                    #expect(!second.runtime.generation.pool.isRunning(id))
                }
            }
        }
        await TestDatabase.cleanUp(installation)
        try result.get()
    }

    @Test("a worker that is down answers success false naming it; a disabled worker is not listed")
    func downAndDisabled() async throws {
        let fake = try await FakeA1111.start()
        let url = fake.url
        try await TestApp.run(Self.settings) { app in
            let token = try await app.login()
            let id = try await BackendTests.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(url)"}"#)
            await fake.stop()
            let test = try await app.request(.post, "/api/v1/runpod/test")
            #expect(test.json["success"] as? Bool == false)
            #expect(test.json["backend"] as? String == "a1111@gpu-1")
            #expect((test.json["message"] as? String)?.contains("a1111@gpu-1") == true)

            let disabled = try await app.request(.patch, "/api/v1/workers/\(id)", token: token, json: #"{"enabled": false}"#)
            #expect(disabled.status == .ok)
            let stats = try await app.request(.get, "/api/v1/runpod/queue/stats")
            #expect(stats.json["workers"] as? [String] == [])
            let none = try await app.request(.post, "/api/v1/runpod/test")
            #expect(none.json["success"] as? Bool == false)
            #expect(none.json["backend"] as? String == "none")
        }
    }
}
