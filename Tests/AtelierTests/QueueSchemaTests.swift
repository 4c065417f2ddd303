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

@Suite("Queue schema", .timeLimit(.minutes(5)))
struct QueueSchemaTests {
    @Test("identifiers compare byte by byte on both databases: pages of jobs by id come in the same order, upper case before lower")
    func bytewiseIdentifiers() async throws {
        try await SchedulingTests.withStore { store in
            let database = store.database
            if database.kind == .postgres {
                let rows = try await database.sql.raw(
                    """
                    SELECT column_name, collation_name FROM information_schema.columns
                    WHERE table_schema = current_schema() AND table_name = 'jobs'
                      AND column_name IN ('id', 'owner_id', 'lease_holder', 'worker_id', 'idempotency_key')
                    """
                ).all()
                let collations = try Dictionary(
                    uniqueKeysWithValues: rows.map {
                        (try $0.decode(column: "column_name", as: String.self), try $0.decode(column: "collation_name", as: String?.self))
                    }
                )
                #expect(collations == ["id": "C", "owner_id": "C", "lease_holder": "C", "worker_id": "C", "idempotency_key": "C"])
            }
            let now = Timestamp.millis(Date())
            // Under a language's collation (en_US and the like) "gen_a1" sorts before "gen_B1".
            for id in ["gen_a1", "gen_B1", "gen_A2", "gen_b0"] {
                _ = try await store.insert([Job.pending(id: id, owner: "o", params: GenerationParams(prompt: id), now: now)])
            }
            let first = try await store.list(scope: .all, page: PageRequest(limit: 2))
            #expect(first.map(\.id) == ["gen_A2", "gen_B1", "gen_a1"])  // the page and one more, to tell there is a next
            let next = try await store.list(scope: .all, page: PageRequest(limit: 2, after: "gen_B1"))
            #expect(next.map(\.id) == ["gen_a1", "gen_b0"])
        }
    }
}
