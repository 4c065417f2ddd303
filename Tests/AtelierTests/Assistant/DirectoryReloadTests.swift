import Foundation
import Synchronization
import Testing

/// A provider added through the API is usable at once, also while the directory's periodic check
/// reloads at the same moment: an older reload finishing last must not put back the snapshot from
/// before the change (CI on PostgreSQL once answered a /chat right after the add with 503).
@Suite("Assistant directory reloads", .timeLimit(.minutes(2)))
struct DirectoryReloadTests {
    @Test("a provider added while other reloads run is in the snapshot as soon as the add returns")
    func addedProviderIsNeverLost() async throws {
        let upstream = try await FakeOpenAI.start(models: ["m"], apiKey: "sk-test-key-000000000001", answer: "ok")
        defer { Task { await upstream.stop() } }
        try await TestApp.run { app in
            let directory = app.runtime.secretary.gateway.directory
            let stop = ManagedFlag()
            // Reloads that start before each insert and may finish after the route's own reload.
            let background = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask { while !stop.isSet { try? await directory.reload() } }
                    }
                }
            }
            var missing: [String] = []
            for n in 0..<40 {
                let name = "p\(n)"
                _ = try await app.addProvider(name, upstream, models: ["m\(n)"], priority: n + 1)
                if !directory.snapshot.providers.contains(where: { $0.record.name == name }) { missing.append(name) }
            }
            stop.set()
            await background.value
            #expect(missing.isEmpty, "added, then missing from the snapshot: \(missing)")
        }
    }
}

/// Set once from the test, read by the reloading tasks.
final class ManagedFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}
