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

@Suite("Enqueueing under concurrency", .timeLimit(.minutes(5)))
struct EnqueueConcurrencyTests {
    @Test("concurrent enqueues (written together) all land; the same idempotency key in one burst makes one job")
    func groupCommit() async throws {
        try await SchedulingTests.withStore { store in
            let now = Timestamp.millis(Date())
            let distinct = try await withThrowingTaskGroup(of: [Job].self) { group in
                for index in 0..<200 {
                    group.addTask {
                        try await store.insert([Job.pending(owner: "o\(index % 7)", params: GenerationParams(prompt: "p\(index)"), now: now)])
                    }
                }
                return try await group.reduce(into: [Job]()) { $0 += $1 }
            }
            #expect(Set(distinct.map(\.id)).count == 200)
            let keyed = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await store.insert([
                            Job.pending(owner: "k", params: GenerationParams(prompt: "same \(index)"), idempotencyKey: "retry-1", now: now)
                        ])[0].id
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(keyed.count == 1)
            var claimed = 0
            while try await store.claimNow(holder: "w") != nil { claimed += 1 }
            #expect(claimed == 201)
        }
    }
}
